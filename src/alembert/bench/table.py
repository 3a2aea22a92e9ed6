"""The terminal table of a :class:`~alembert.bench.compare.BenchResult` (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from alembert.bench.compare import BenchResult


__all__ = ["print_bench"]


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{suffix}"


def print_bench(result: BenchResult, console: Console | None = None) -> None:
    """Models (params, GFLOPs) and then one row per (batch size, backend, model) cell."""
    console = console or Console()
    env = result.environment
    models = Table(title="models")
    for column in ("model", "type", "shape", "params (emb / trm)", f"GFLOPs @ {result.config['seq_len']}"):
        models.add_column(column)
    for name, info in result.models.items():
        shape = info["shape"]
        p = info["parameters"]
        models.add_row(
            name + (" (baseline)" if name == result.baseline else ""),
            info["model_type"],
            f"{shape['layers']}×{shape['hidden']}" if shape else "?",
            f"{p['total'] / 1e6:.1f}M ({p['embeddings'] / 1e6:.1f}M / {p['transformer'] / 1e6:.1f}M)",
            _fmt((info["flops"] or {}).get("total", 0) / 1e9 if info["flops"] else None, ".2f"),
        )
    console.print(models)
    table = Table(
        title=f"latency (threads {env['threads']}, {env['processor']}, load {env.get('load_average_start')})"
    )
    headers = ("batch", "backend", "model", "median ms", "p90 ms", "ex/s", "GFLOP/s", "peak MB", "speed-up (range)")
    for column in headers:
        table.add_column(column)
    for m in result.measurements:
        if m.error:
            table.add_row(str(m.batch_size), m.backend, m.model, f"failed: {m.error}", *[""] * 5)
            continue
        speedup = _fmt(m.speedup, ".2f", "×")
        if m.speedup_min is not None:
            speedup += f" ({m.speedup_min:.2f}–{m.speedup_max:.2f})"
        if m.reliable is False:
            speedup = f"≈{speedup}?"
        table.add_row(
            str(m.batch_size),
            m.backend,
            m.model,
            _fmt(m.median_ms, ".2f"),
            _fmt(m.p90_ms, ".2f"),
            _fmt(m.throughput, ".1f"),
            _fmt(m.gflops_per_s, ".1f"),
            _fmt(m.peak_rss_mb, ".1f"),
            speedup,
        )
    console.print(table)
    doubtful = sorted({reason for m in result.measurements if m.reliable is False for reason in m.reasons})
    if doubtful:
        console.print(f"≈…? marks figures that are not reliable: {'; '.join(doubtful)}", style="yellow")
    peak = env.get("matmul_peak")
    if peak:
        console.print(f"fp32 matmul peak here: {peak['best_gflops']:.1f} GFLOP/s ({peak['threads']} threads)")
