"""The records of a benchmark: what to measure (:class:`BenchConfig`) and what was measured."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alembert.bench.backends import check_backends
from alembert.errors import ConfigError
from alembert.export.onnx import Exporter


__all__ = ["BenchConfig", "BenchResult", "Measurement"]


@dataclass(frozen=True)
class BenchConfig:
    """What to measure.

    Attributes:
        backends: keys of :data:`alembert.bench.backends.BACKENDS`; the first is the reference backend.
        batch_sizes: examples per forward pass.
        seq_len: tokens per example (no padding).
        rounds: interleaved rounds; every cell is timed once per round.
        runs: timed forward passes per cell and round (after ``warmup``).
        warmup: untimed passes per cell and round.
        max_cell_seconds: stop timing a cell in a round after this long (at least one pass is timed).
        memory: record the extra peak resident memory of each cell's first pass (activations, buffers, arenas;
            the weights are ``weights_mb``).
        exporter: ONNX exporter for the ``ort`` backends.
        matmul_peak: measure this machine's fp32 matmul GFLOP/s to put achieved GFLOP/s in proportion.
        threads: intra-op threads for PyTorch and ONNX Runtime during the run (default: PyTorch's current
            setting). On a loaded machine, fewer threads than cores avoids stalls at OpenMP barriers.
        ort_spinning: let ONNX Runtime's idle threads spin (off by default so they do not slow the next cell).
    """

    backends: tuple[str, ...] = ("sdpa", "ort", "ort-int8")
    batch_sizes: tuple[int, ...] = (1, 32)
    seq_len: int = 128
    rounds: int = 3
    runs: int = 5
    warmup: int = 1
    max_cell_seconds: float = 20.0
    memory: bool = True
    exporter: Exporter = "dynamo"
    matmul_peak: bool = True
    threads: int | None = None
    ort_spinning: bool = False

    def __post_init__(self) -> None:
        check_backends(self.backends)
        if not self.backends or not self.batch_sizes:
            raise ConfigError("bench: give at least one backend and one batch size")
        for name in ("seq_len", "rounds", "runs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bench: {name} must be at least 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"bench: threads must be at least 1, got {self.threads}")
        if min(self.batch_sizes) < 1 or self.warmup < 0:
            raise ConfigError("bench: batch sizes must be positive and warmup non-negative")


@dataclass(frozen=True)
class Measurement:
    """Latency statistics of one (model, backend, batch size) cell; ``error`` is set if the backend failed.

    ``reliable`` is ``False`` (with ``reasons``) when the per-round speed-ups spread more than ±10% or the machine
    ran more work than it has cores (:func:`alembert.bench.timing.judge`).
    """

    model: str
    backend: str
    batch_size: int
    seq_len: int
    median_ms: float | None = None
    p10_ms: float | None = None
    p90_ms: float | None = None
    runs: int = 0
    throughput: float | None = None
    gflops_per_s: float | None = None
    peak_fraction: float | None = None
    peak_rss_mb: float | None = None
    weights_mb: float | None = None
    speedup: float | None = None
    speedup_min: float | None = None
    speedup_max: float | None = None
    speedup_vs_reference: float | None = None
    reliable: bool | None = None
    reasons: tuple[str, ...] = ()
    error: str | None = None


@dataclass
class BenchResult:
    """Everything one :func:`bench_models` call measured, with the environment."""

    baseline: str
    reference_backend: str
    config: dict[str, Any]
    environment: dict[str, Any]
    models: dict[str, dict[str, Any]]
    measurements: list[Measurement] = field(default_factory=list)

    def find(self, model: str, backend: str, batch_size: int) -> Measurement:
        """The measurement of one cell."""
        for m in self.measurements:
            if (m.model, m.backend, m.batch_size) == (model, backend, batch_size):
                return m
        raise KeyError((model, backend, batch_size))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {**asdict(self), "measurements": [asdict(m) for m in self.measurements]}

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as indented JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path
