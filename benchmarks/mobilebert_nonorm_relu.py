"""MobileBERT's operational optimisations (NoNorm, ReLU) on this machine's CPU, next to the paper's Pixel 4 table.

The paper (Sun et al. 2020, Table 8; the survey's latency table) times the same MobileBERT with LayerNorm or NoNorm
and GELU or ReLU: 192 / 167 / 92 / 62 ms (TFLite, Pixel 4, batch 1, sequence 128). Here the four variants share one
set of random weights (``mobilebert`` preset, 25.3M-parameter shape, 2-label head; NoNorm and LayerNorm have the same
``weight``/``bias`` tensors) and are timed with ``alembert.bench`` at batch 1, sequence 128, PyTorch fp32: every
variant once per round, rounds interleaved so all see the same machine load, medians over all runs, per-round
ratio range against LayerNorm & gelu. About 1.5 minutes with the defaults (16 rounds × 3 runs, 1 thread)::

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python benchmarks/mobilebert_nonorm_relu.py

Writes ``benchmarks/results/mobilebert_nonorm_relu.json`` (every run, the environment) and
``benchmarks/results/mobilebert_nonorm_relu.md`` (the README-ready table); ``--readme`` also puts the table into
``benchmarks/README.md`` between its markers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from readme_section import stamp_run, update_readme_section
from transformers import AutoModelForSequenceClassification, BertConfig

from alembert.bench.compare import BenchConfig, bench_models
from alembert.bench.table import print_bench
from alembert.config import StudentConfig
from alembert.models.mobilebert import mobilebert_config


HERE = Path(__file__).resolve().parent
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


def markdown_table(result) -> str:
    """One row per variant: the paper's latency and ratio, then this machine's median, p10-p90 and ratio range."""
    cfg, env = result.config, result.environment
    backends = cfg["backends"]
    head = ["Setting", "Paper ms (Pixel 4)", "Paper × vs LN&gelu"]
    for backend in backends:
        head += [f"{backend} median ms (p10–p90)", f"{backend} × vs LN&gelu (per-round range)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    paper_base = VARIANTS[BASELINE][2]
    for name, (_norm, _act, paper) in VARIANTS.items():
        row = [name, f"{paper:.0f}", f"{paper_base / paper:.2f}×"]
        for backend in backends:
            m = result.find(name, backend, 1)
            if m.error:
                row += [f"failed: {m.error}", "–"]
                continue
            row.append(f"{m.median_ms:.1f} ({m.p10_ms:.1f}–{m.p90_ms:.1f})")
            row.append(f"{m.speedup:.2f}× ({m.speedup_min:.2f}–{m.speedup_max:.2f})")
        lines.append("| " + " | ".join(row) + " |")
    info = result.models[BASELINE]
    shares = env.get("op_shares", {})
    if shares:
        lines += ["", "Profiled share of CPU time (one thread, torch.profiler, 3 passes):", ""]
        lines += ["| Setting | LayerNorm | GELU | ReLU | matmul |", "|---|---|---|---|---|"]
        for name, share in shares.items():
            cells = [f"{share[k]:.1%}" for k in ("layer_norm", "gelu", "relu", "matmul")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    notes = [
        "",
        f"Measured {time.strftime('%Y-%m-%d', time.gmtime())} with `{env['command']}`: {env['processor']}, "
        f"{env['cpu_count']} cores, flags {', '.join(env['cpu_flags']) or 'none'}, {env['threads']} threads, torch "
        f"{env['torch']}, transformers {env['transformers']}; load average {env['load_average_start']} → "
        f"{env['load_average_end']} (shared machine). Batch 1, sequence 128, fp32, random weights shared by the four "
        f"variants ({info['parameters']['total'] / 1e6:.1f}M parameters with the 2-label head, "
        f"{info['flops']['total'] / 1e9:.2f} GFLOPs analytic); {cfg['rounds']} interleaved rounds × {cfg['runs']} "
        f"runs after {cfg['warmup']} warm-up per round. Paper: {PAPER}.",
    ]
    return "\n".join(lines + notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sdpa", help="comma-separated alembert.bench backends (default sdpa)")
    parser.add_argument("--rounds", type=int, default=16, help="many short rounds: fairer under changing load")
    parser.add_argument("--runs", type=int, default=3, help="timed passes per variant and round")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1: steadier when shared)")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "mobilebert_nonorm_relu.json")
    parser.add_argument("--readme", action="store_true", help="also update benchmarks/README.md")
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
    stamp_run(result.environment, "mobilebert_nonorm_relu.py", started)
    result.environment["paper"] = {"source": PAPER, "latency_ms": {k: v[2] for k, v in VARIANTS.items()}}
    table = markdown_table(result)
    result.write_json(args.output)
    args.output.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    if args.readme:
        update_readme_section("mobilebert_nonorm_relu", "MobileBERT: NoNorm and ReLU on CPU", table)
    print_bench(result)
    print(table)
    print(f"wrote {args.output} and {args.output.with_suffix('.md')} in {result.environment['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
