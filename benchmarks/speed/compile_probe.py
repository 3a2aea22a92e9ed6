"""What ``train.compile: auto``'s CPU probe measures on a TinyBERT intermediate stage: eager and compiled step times
(forward and backward, taking turns, compile time excluded) on the first SST-2 batch (batch 32, max_length 64),
and the choice it makes. Random weights built in code, in two shapes: ``tiny`` (a 4×64 teacher, a 2×32 student)
and ``4x312`` (a BERT-base-shaped teacher, TinyBERT's 4×312 student).

    python -m benchmarks.speed.compile_probe --data path/to/SST-2 --tokenizer path/to/bert-tokenizer --shape 4x312

``--pack never`` times the eager step on padded batches (``auto`` packs them on a CPU, which the compiled step
cannot). The stage-length rule is lifted so that the probe always runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig

from alembert.config import StageConfig, TrainConfig
from alembert.data.batches import build_train_loader, tokenize_examples
from alembert.data.readers import read_examples
from alembert.objective.terms import DistillationObjective, resolve_matches
from alembert.tasks.glue import get_task
from alembert.train import step_choice as compiled
from alembert.train.loop import StageInputs, StageSpec, StageTrainer
from alembert.train.runlog import RunLog
from alembert.train.setup import prepare_stage
from benchmarks.common import command_line, result_path, write_result_json
from benchmarks.speed.compiled_step import MATCHES


SHAPES = {
    "tiny": (
        BertConfig(num_hidden_layers=4, hidden_size=64, intermediate_size=128, num_attention_heads=4),
        BertConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=4),
    ),
    "4x312": (BertConfig(), BertConfig(num_hidden_layers=4, hidden_size=312, intermediate_size=1200)),
}


def probe(data: Path, tokenizer_path: Path, shape: str, pack: str, steps: int) -> dict:
    """Run the probe once and return its ``compile`` event."""
    compiled.MIN_EAGER_SECONDS, compiled.PROBE_STEPS = 0.0, steps
    teacher_config, student_config = SHAPES[shape]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    examples = read_examples(data / "train.tsv", get_task("sst2"))[:2000]
    dataset = tokenize_examples(examples, tokenizer, max_length=64)
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_config(teacher_config)
    torch.manual_seed(1)
    student = AutoModelForSequenceClassification.from_config(student_config)
    accelerator = Accelerator(cpu=True)
    stage = StageConfig.model_validate({"name": "intermediate", "matches": MATCHES})
    objective = DistillationObjective(
        resolve_matches(stage, teacher_config, student_config), 0.0, teacher_config, student_config
    )
    loader = build_train_loader(dataset, tokenizer, batch_size=32, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        log = RunLog(Path(folder) / "log.jsonl", accelerator)
        cfg = TrainConfig(max_steps=1000, compile="auto", pack_sequences=pack)
        spec = StageSpec("intermediate", cfg, Path(folder) / "stage", max_length=64)
        prepared = prepare_stage(StageInputs(accelerator, student, teacher, objective, loader, log), spec)
        trainer = StageTrainer(prepared)
        batch = next(iter(prepared.loader))
        begin = time.perf_counter()
        trainer.step(batch)
        seconds = time.perf_counter() - begin
        trainer.step.close()
        events = [json.loads(line) for line in log.path.read_text().splitlines()]
    event = next(e for e in events if e["event"] == "compile")
    tokens = {"batch": list(batch["input_ids"].shape), "real_tokens": int(batch["attention_mask"].sum())}
    return {"shape": shape, "pack_sequences": pack, **tokens, "probe_seconds": round(seconds, 1), **event}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a GLUE SST-2 folder (train.tsv)")
    parser.add_argument("--tokenizer", type=Path, required=True, help="a BERT (uncased) tokenizer folder")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--pack", choices=("auto", "never"), default="auto")
    parser.add_argument("--steps", type=int, default=3, help="timed steps of each kind")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    report = probe(args.data, args.tokenizer, args.shape, args.pack, args.steps)
    report["command"] = command_line("benchmarks.speed.compile_probe")
    output = args.output or result_path(f"compile_probe_{args.shape}_{args.pack}", quick=True)
    write_result_json(output, report)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
