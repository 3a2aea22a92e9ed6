"""MobileBERT's operational optimisations (NoNorm, ReLU) on this machine's CPU, next to the paper's Pixel 4 table.

The paper (Sun et al. 2020, Table 8; the survey's latency table) times the same MobileBERT with LayerNorm or NoNorm
and GELU or ReLU: 192 / 167 / 92 / 62 ms (TFLite, Pixel 4, batch 1, sequence 128). Here the four variants share one
set of random weights (``mobilebert`` preset, 25.3M-parameter shape, 2-label head; NoNorm and LayerNorm have the same
``weight``/``bias`` tensors) and are timed with ``alembert.bench`` at batch 1, sequence 128, PyTorch fp32: every
variant once per round, rounds interleaved so all see the same machine load, medians over all runs, per-round
ratio range against LayerNorm & gelu. About 1.5 minutes with the defaults (16 rounds × 3 runs, 1 thread)::

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python -m benchmarks.speed.mobilebert_nonorm_relu

Writes ``benchmarks/results/mobilebert_nonorm_relu.json`` (every run, the environment) and regenerates
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, BertConfig

from alembert.bench.compare import BenchConfig, bench_models
from alembert.bench.table import print_bench
from alembert.config import StudentConfig
from alembert.models.mobilebert import mobilebert_config
from benchmarks import tables
from benchmarks.common import stamp_run, write_result_json
from benchmarks.readme import update_readme


HERE = Path(__file__).resolve().parents[1]  # benchmarks/
# name -> (normalization_type, hidden_act, the paper's latency in ms)
VARIANTS: dict[str, tuple[str, str, float]] = {
    "LayerNorm & gelu": ("layer_norm", "gelu", 192.0),
    "LayerNorm & relu": ("layer_norm", "relu", 167.0),
    "NoNorm & gelu": ("no_norm", "gelu", 92.0),
    "NoNorm & relu": ("no_norm", "relu", 62.0),
}
BASELINE = "LayerNorm & gelu"
PAPER = "Sun et al. 2020 (MobileBERT), latency table: Pixel 4, TFLite, batch 1, sequence 128, 5.7B FLOPs each"


def build_models() -> dict[str, torch.nn.Module]:
    """The four variants of one MobileBERT, with identical weights."""
    models: dict[str, torch.nn.Module] = {}
    state = None
    for name, (norm, act, _paper) in VARIANTS.items():
        student = StudentConfig(architecture="mobilebert", mobilebert={"normalization": norm, "activation": act})
        config = mobilebert_config(BertConfig(num_labels=2), student)
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_config(config).eval()
        if state is None:
            state = model.state_dict()
        model.load_state_dict(state)
        models[name] = model
    return models


@torch.inference_mode()
def op_shares(model: torch.nn.Module, passes: int = 3) -> dict[str, float]:
    """Share of the forward pass's self CPU time spent in normalisation and activation ops (torch.profiler).

    Load on a shared machine scales every op alike, so these shares are steadier than absolute latencies.
    """
    inputs = {"input_ids": torch.randint(5, 30000, (1, 128)), "attention_mask": torch.ones(1, 128, dtype=torch.long)}
    model(**inputs)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for _ in range(passes):
            model(**inputs)
    times = {event.key: event.self_cpu_time_total for event in profiler.key_averages()}
    total = sum(times.values())
    groups = {"layer_norm": ("layer_norm",), "gelu": ("gelu",), "relu": ("relu",), "matmul": ("addmm", "mm", "bmm")}
    shares = {
        group: sum(t for key, t in times.items() if any(key == f"aten::{n}" or key.endswith(f"_{n}") for n in names))
        / total
        for group, names in groups.items()
    }
    return {**shares, "total_ms_per_pass": total / passes / 1000.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sdpa", help="comma-separated alembert.bench backends (default sdpa)")
    parser.add_argument("--rounds", type=int, default=16, help="many short rounds: fairer under changing load")
    parser.add_argument("--runs", type=int, default=3, help="timed passes per variant and round")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1: steadier when shared)")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "mobilebert_nonorm_relu.json")
    args = parser.parse_args(argv)
    config = BenchConfig(
        backends=tuple(args.backends.split(",")),
        batch_sizes=(1,),
        seq_len=128,
        rounds=args.rounds,
        runs=args.runs,
        warmup=args.warmup,
        max_cell_seconds=30.0,
        memory=False,
        exporter="torchscript",
        threads=args.threads,
    )
    started = time.time()
    models = build_models()
    result = bench_models(models, baseline=BASELINE, config=config, progress=lambda m: print(m, flush=True))
    torch.set_num_threads(args.threads)
    result.environment["op_shares"] = {name: op_shares(model) for name, model in models.items()}
    stamp_run(result.environment, "benchmarks.speed.mobilebert_nonorm_relu", started)
    result.environment["paper"] = {"source": PAPER, "latency_ms": {k: v[2] for k, v in VARIANTS.items()}}
    write_result_json(args.output, {"command": result.environment["command"], **result.to_dict()})
    update_readme()
    print_bench(result)
    print(tables.mobilebert_nonorm_relu(result.to_dict()))
    print(f"wrote {args.output} in {result.environment['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
