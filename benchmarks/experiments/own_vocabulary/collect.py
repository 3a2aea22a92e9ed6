"""Collect the own-vocabulary rows (``run.sh`` here) into ``results/own_vocabulary.json`` and their table in
``benchmarks/README.md``. Every number is read from a finished run folder; rows not finished are listed as missing.

    python -m benchmarks.experiments.own_vocabulary.collect --runs runs/own-vocabulary --teacher TEACHER
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks import tables
from benchmarks.common import RESULTS, command_line, write_result_json
from benchmarks.readme import update_readme


HARDWARE = "AMD EPYC, 2 cores, 1 thread per process (training beside other one-thread jobs)"
BASE = "alembert distill benchmarks/experiments/sst2_8k/tinybert.yaml --set teacher.path=$TEACHER"
NO_ATTN = "--set stages.intermediate.matches.attn.weight=0"
OWN_VOCAB = (
    "--set student.tokenizer=8000 --set stages.intermediate.matches.embd.representation=embeddings@words "
    "--set stages.intermediate.matches.hidn.representation=hidden@words"
)
# folder, label, the matches of its intermediate stage, command
ROWS: list[tuple[str, str, str, str]] = [
    ("own-vocab-8k", "its own WordPiece vocabulary", "embeddings@words, hidden@words",
     f"{BASE} {NO_ATTN} {OWN_VOCAB} --output runs/own-vocabulary/own-vocab-8k"),
    ("teacher-vocab-no-attn", "the teacher's vocabulary", "embeddings, hidden",
     f"{BASE} {NO_ATTN} --output runs/own-vocabulary/teacher-vocab-no-attn"),
    ("teacher-vocab", "the teacher's vocabulary, full recipe", "embeddings, hidden, attention_scores",
     f"{BASE} --output runs/own-vocabulary/teacher-vocab"),
    ("own-vocab-8k-attn", "its own WordPiece vocabulary, full recipe",
     "embeddings@words, hidden@words, attention_scores@words",
     f"{BASE} {OWN_VOCAB} --set stages.intermediate.matches.attn.representation=attention_scores@words "
     "--output runs/own-vocabulary/own-vocab-8k-attn"),
]  # fmt: skip


def _events(run: Path, kind: str) -> list[dict]:
    lines = (run / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == kind]


def dev_pass_latency(bench: dict, folder: str) -> dict:
    """The row's batch-1 latency from an ``alembert bench --dev-task`` record (models named by run folder)."""
    if folder not in bench["median_example_ms"]:
        raise SystemExit(f"{folder}: not in the bench record (models: {', '.join(bench['median_example_ms'])})")
    return {
        "student_ms": bench["median_example_ms"][folder],
        "teacher_ms": bench["median_example_ms"][bench["baseline"]],
        "speedup": bench["speedup"][folder],
        "reliable": True,
        "load_average": bench["environment"].get("load_average_start"),
    }


def run_row(runs: Path, folder: str, label: str, matches: str, command: str, bench: dict | None = None) -> dict:
    """One row from ``runs/folder``: dev accuracy, parameters, vocabulary, latency and training speed.

    The latency comes from ``bench`` (every model timed side by side) when given, else from the run's own report.
    """
    run = runs / folder
    metrics_path = run / "metrics.json"
    if not metrics_path.is_file():
        return {"folder": folder, "label": label, "matches": matches, "command": command, "missing": True}
    m = json.loads(metrics_path.read_text(encoding="utf-8"))
    student_config = json.loads((run / "student" / "config.json").read_text(encoding="utf-8"))
    vocabulary = _events(run, "student_vocabulary")
    latency = dev_pass_latency(bench, folder) if bench else (m.get("latency") or {})
    return {
        "folder": folder,
        "label": label,
        "matches": matches,
        "command": command,
        "student_accuracy": m["student_metrics"]["accuracy"],
        "teacher_accuracy": m["teacher_metrics"]["accuracy"],
        "vocab_size": student_config["vocab_size"],
        "embedding_rows_from_teacher": vocabulary[0].get("embedding_rows_from_teacher") if vocabulary else None,
        "parameters": m["parameters"]["student"],
        "teacher_parameters": m["parameters"]["teacher"],
        "student_ms_batch1": latency.get("student_ms"),
        "teacher_ms_batch1": latency.get("teacher_ms"),
        "speedup_batch1": latency.get("speedup"),
        "latency_reliable": latency.get("reliable"),
        "load_average": latency.get("load_average"),
        "stages": {
            name: {"steps": s["global_step"], "examples_per_second": s["examples_per_second"]}
            for name, s in m["stages"].items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/own-vocabulary"))
    parser.add_argument("--teacher", required=True, help="the fine-tuned SST-2 teacher the rows used")
    parser.add_argument("--output", type=Path, default=RESULTS / "own_vocabulary.json")
    parser.add_argument("--bench", type=Path, help="an `alembert bench --dev-task` record timing every row's student")
    args = parser.parse_args(argv)
    bench = json.loads(args.bench.read_text(encoding="utf-8")) if args.bench else None
    rows = [run_row(args.runs, *spec, bench=bench) for spec in ROWS]
    record = {
        "command": command_line("benchmarks.experiments.own_vocabulary.collect", argv),
        "experiment": "bash benchmarks/experiments/own_vocabulary/run.sh ../shared/data/glue/SST-2 $TEACHER",
        "teacher": args.teacher,
        "hardware": HARDWARE,
        "data": "runs/data/sst2-8k: 8,000 SST-2 training rows (make_subset, seed 0); the full 872-row dev set",
        "seed": 42,
        "latency": (
            {"command": bench["command"], "examples": bench["examples"], "environment": bench["environment"]}
            if bench
            else None
        ),
        "rows": rows,
    }
    write_result_json(args.output, record)
    update_readme()
    print(tables.own_vocabulary(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
