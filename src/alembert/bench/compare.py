"""Measure models side by side the way the papers report them: parameters, FLOPs, latency, throughput, memory and
speed-ups against a baseline, with every (model, backend, batch size) cell interleaved round by round so that
all models see the same machine load."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from alembert.bench.backends import Runner, build_runner, check_backends
from alembert.bench.env import bench_environment, load_average, measure_matmul_peak
from alembert.bench.flops import count_flops, encoder_shape
from alembert.bench.latency import count_parameters
from alembert.bench.memory import peak_rss_delta_mb
from alembert.errors import AlembertError, ConfigError
from alembert.export.onnx import Exporter, random_inputs


__all__ = ["BenchConfig", "BenchResult", "Measurement", "bench_models", "time_block"]


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
        memory: record the peak resident memory of one pass per cell.
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
    """Latency statistics of one (model, backend, batch size) cell; ``error`` is set if the backend failed."""

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


def time_block(call: Callable[[], object], *, warmup: int, runs: int, max_seconds: float) -> list[float]:
    """``warmup`` untimed calls, then up to ``runs`` timed ones (milliseconds), stopping after ``max_seconds``."""
    for _ in range(warmup):
        call()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < runs:
        begin = time.perf_counter()
        call()
        times.append((time.perf_counter() - begin) * 1000.0)
        if time.perf_counter() - start > max_seconds:
            break
    return times


def _load(models: Mapping[str, PreTrainedModel | str] | Sequence[str]) -> dict[str, tuple[PreTrainedModel, str]]:
    from alembert.models.load import load_model

    if not isinstance(models, Mapping):
        named: dict[str, PreTrainedModel | str] = {}
        for path in models:
            name = Path(path).name or str(path)
            named[name if name not in named else f"{name}#{len(named)}"] = path
        models = named
    if not models:
        raise ConfigError("bench: no models given")
    loaded = {}
    for name, model in models.items():
        if isinstance(model, str):
            loaded[name] = (load_model(model, head="sequence_classification").eval(), model)
        else:
            loaded[name] = (model.eval(), "in memory")
    return loaded


def _describe(model: PreTrainedModel, source: str, seq_len: int) -> dict[str, Any]:
    try:
        flops: dict[str, int] | None = count_flops(model.config, seq_len).to_dict()
        shape: dict[str, int] | None = encoder_shape(model.config)
    except AlembertError:
        flops = shape = None
    return {
        "source": source,
        "model_type": model.config.model_type,
        "shape": shape,
        "parameters": count_parameters(model),
        "flops": flops,
    }


def bench_models(
    models: Mapping[str, PreTrainedModel | str] | Sequence[str],
    *,
    baseline: str | None = None,
    config: BenchConfig | None = None,
    workdir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Benchmark models against a baseline on every backend and batch size, interleaved.

    Args:
        models: model folders (named after the folder), or ``name -> model or folder``.
        baseline: name of the model that speed-ups are relative to (default: the first).
        config: what to measure.
        workdir: where ONNX exports go (default: a temporary folder, deleted afterwards).
        progress: called with a short message before each phase (e.g. ``print``).

    Returns:
        Per-cell measurements; ``speedup`` compares with the baseline on the same backend and batch size,
        ``speedup_vs_reference`` with the baseline on the first backend.
    """
    config = config or BenchConfig()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or previous_threads)
    try:
        return _bench(models, baseline, config, workdir, progress or (lambda _msg: None))
    finally:
        torch.set_num_threads(previous_threads)


def _bench(models, baseline: str | None, config: BenchConfig, workdir, say: Callable[[str], None]) -> BenchResult:
    loaded = _load(models)
    baseline = baseline or next(iter(loaded))
    if baseline not in loaded:
        raise ConfigError(f"bench: baseline '{baseline}' is not one of the models ({', '.join(loaded)})")
    environment = {**bench_environment(), "ort_spinning": config.ort_spinning}
    if config.matmul_peak:
        say("measuring the fp32 matmul peak")
        environment["matmul_peak"] = measure_matmul_peak()
    for name, (model, _source) in loaded.items():
        positions = getattr(model.config, "max_position_embeddings", None)
        if positions is not None and config.seq_len > positions:
            raise ConfigError(f"bench: seq_len {config.seq_len} exceeds {name}'s {positions} position embeddings")
    described = {name: _describe(model, source, config.seq_len) for name, (model, source) in loaded.items()}
    with tempfile.TemporaryDirectory(prefix="alembert-bench-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        runners, errors = {}, {}
        for name, (model, _source) in loaded.items():
            for backend in config.backends:
                say(f"preparing {name} on {backend}")
                try:
                    runners[name, backend] = build_runner(
                        model, backend, root / name, exporter=config.exporter, spinning=config.ort_spinning
                    )
                except AlembertError as err:
                    errors[name, backend] = str(err)
        inputs = {
            (name, batch): random_inputs(model, batch, config.seq_len, seed=batch)
            for name, (model, _source) in loaded.items()
            for batch in config.batch_sizes
        }
        times = _interleave(runners, inputs, list(loaded), config, say)
        memory = _memory(runners, inputs, config) if config.memory else {}
    result = BenchResult(
        baseline=baseline,
        reference_backend=config.backends[0],
        config=asdict(config),
        environment=environment,
        models=described,
        measurements=[],
    )
    result.environment["load_average_end"] = load_average()
    for batch in config.batch_sizes:
        for backend in config.backends:
            for name in loaded:
                result.measurements.append(
                    _cell(
                        name, backend, batch, config, times, runners, errors, memory, described, baseline, environment
                    )
                )
    return result


def _interleave(runners, inputs, names: list[str], config: BenchConfig, say) -> dict[tuple, list[list[float]]]:
    times: dict[tuple, list[list[float]]] = {}
    for round_index in range(config.rounds):
        say(f"round {round_index + 1}/{config.rounds}")
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for batch in config.batch_sizes:
            for backend in config.backends:
                for name in order:
                    runner: Runner | None = runners.get((name, backend))
                    if runner is None:
                        continue
                    call = runner.bind(inputs[name, batch])
                    block = time_block(
                        call, warmup=config.warmup, runs=config.runs, max_seconds=config.max_cell_seconds
                    )
                    times.setdefault((name, backend, batch), []).append(block)
    return times


def _memory(runners, inputs, config: BenchConfig) -> dict[tuple, float | None]:
    return {
        (name, backend, batch): peak_rss_delta_mb(runner.bind(inputs[name, batch]))
        for (name, backend), runner in runners.items()
        for batch in config.batch_sizes
    }


def _cell(name, backend, batch, config, times, runners, errors, memory, described, baseline, environment):
    if (name, backend) in errors:
        return Measurement(name, backend, batch, config.seq_len, error=errors[name, backend])
    rounds = times[name, backend, batch]
    flat = [t for block in rounds for t in block]
    median = statistics.median(flat)
    quantiles = statistics.quantiles(flat, n=10) if len(flat) > 1 else [median] * 9
    flops = (described[name]["flops"] or {}).get("total")
    gflops = flops * batch / (median / 1000.0) / 1e9 if flops else None
    peak = (environment.get("matmul_peak") or {}).get("best_gflops")
    speedups = _speedups(times, (baseline, backend, batch), rounds)
    reference = times.get((baseline, config.backends[0], batch))
    vs_reference = statistics.median([t for b in reference for t in b]) / median if reference else None
    return Measurement(
        model=name,
        backend=backend,
        batch_size=batch,
        seq_len=config.seq_len,
        median_ms=median,
        p10_ms=quantiles[0],
        p90_ms=quantiles[-1],
        runs=len(flat),
        throughput=batch / (median / 1000.0),
        gflops_per_s=gflops,
        peak_fraction=gflops / peak if gflops and peak else None,
        peak_rss_mb=memory.get((name, backend, batch)),
        weights_mb=runners[name, backend].weights_mb,
        speedup_vs_reference=vs_reference,
        **speedups,
    )


def _speedups(times, base_key, rounds: list[list[float]]) -> dict[str, float | None]:
    base = times.get(base_key)
    if not base:
        return {"speedup": None, "speedup_min": None, "speedup_max": None}
    per_round = [statistics.median(b) / statistics.median(m) for b, m in zip(base, rounds)]
    overall = statistics.median([t for b in base for t in b]) / statistics.median([t for m in rounds for t in m])
    return {"speedup": overall, "speedup_min": min(per_round), "speedup_max": max(per_round)}
