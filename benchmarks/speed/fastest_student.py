"""A distilled student on its fastest CPU backend against the BERT-base teacher shape in PyTorch fp32 (issue 6).

The student is a trained folder (e.g. the TinyBERT 4×312 SST-2 student of
``benchmarks/experiments/sst2_8k/tinybert.yaml``);
the 12×768 baseline has BERT-base's shape with random weights (latency does not depend on the values). Steps:

1. ``alembert.export.export_model``: the student to ONNX fp32 and dynamic int8, checked against PyTorch, with the
   dev scores of PyTorch, ONNX fp32 and ONNX int8 (the accuracy cost of each backend).
2. ``alembert.bench.bench_models``: BERT-base and the student on PyTorch fp32 (sdpa), ONNX Runtime fp32 and int8
   at batch 1, sequence length 128, every cell interleaved round by round.
3. Speed-ups: the student's fastest backend over BERT-base PyTorch fp32 (the issue's headline), and like for like
   (each model on its own fastest backend).

Run (about 5 minutes on 2 cores)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.speed.fastest_student --student runs/sst2-8k-tinybert/student \
        --task sst2 --data runs/data/sst2-8k

Writes ``benchmarks/results/fastest_student.json`` and its table in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from transformers import AutoModelForSequenceClassification, BertConfig

from alembert.bench.compare import BenchConfig, bench_models
from alembert.bench.results import BenchResult
from alembert.run.export import export_model
from alembert.tasks.glue import get_task
from alembert.train.checkpoint import write_json_atomic
from benchmarks import tables
from benchmarks.common import command_line
from benchmarks.readme import update_readme


HERE = Path(__file__).resolve().parents[1]  # benchmarks/
BASELINE = "BERT-base 12×768 (random weights)"
BACKENDS = ("sdpa", "ort", "ort-int8")


def fastest(result: BenchResult, model: str, allowed: tuple[str, ...]) -> tuple[str, float]:
    """The backend with the lowest median latency at batch 1, and that latency (ms)."""
    cells = [result.find(model, backend, 1) for backend in allowed]
    best = min((c for c in cells if c.median_ms is not None), key=lambda c: c.median_ms)
    return best.backend, best.median_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", required=True, help="trained student folder")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--data", required=True, help="GLUE task folder (its dev set is scored)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, help="intra-op threads (default: torch's)")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "fastest_student.json")
    args = parser.parse_args(argv)
    student_name = f"student {Path(args.student).parent.name}"
    with tempfile.TemporaryDirectory() as tmp:
        exported = export_model(args.student, Path(tmp) / "onnx", int8=True, task=args.task, data=args.data)
        baseline = AutoModelForSequenceClassification.from_config(BertConfig(num_labels=2)).eval()
        config = BenchConfig(
            backends=BACKENDS,
            batch_sizes=(1,),
            seq_len=128,
            rounds=args.rounds,
            runs=args.runs,
            memory=False,
            matmul_peak=False,
            threads=args.threads,
        )
        result = bench_models(
            {BASELINE: baseline, student_name: args.student},
            baseline=BASELINE,
            config=config,
            workdir=Path(tmp) / "bench",
            progress=lambda m: print(m, flush=True),
        )
    metric = get_task(args.task).main_metric
    scores = exported.accuracy  # torch (PyTorch fp32), ort, ort-int8
    student_backend, student_ms = fastest(result, student_name, BACKENDS)
    baseline_backend, baseline_ms = fastest(result, BASELINE, BACKENDS)
    reference_ms = result.find(BASELINE, "sdpa", 1).median_ms
    backend_key = {"sdpa": "torch"}.get(student_backend, student_backend)
    summary = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": command_line("benchmarks.speed.fastest_student", argv),
        "student": args.student,
        "metric": metric,
        "dev_scores": scores,
        "student_fastest": student_backend,
        "student_fastest_score": scores[backend_key][metric],
        "fp32_score": scores["torch"][metric],
        "score_change": scores[backend_key][metric] - scores["torch"][metric],
        "headline_speedup": reference_ms / student_ms,
        "baseline_fastest": baseline_backend,
        "like_for_like_speedup": baseline_ms / student_ms,
        "pytorch_fp32_speedup": reference_ms / result.find(student_name, "sdpa", 1).median_ms,
        "rounds": args.rounds,
        "runs": args.runs,
        "environment": result.environment,
        "cells": [m.__dict__ for m in result.measurements],
    }
    write_json_atomic(args.output, summary)
    update_readme()
    print(tables.fastest_student(summary))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
