"""Measure models side by side the way the papers report them: parameters, FLOPs, latency, throughput, memory and
speed-ups against a baseline, with every (model, backend, batch size) cell interleaved round by round so that
all models see the same machine load."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from alembert.bench.backends import Runner, build_runner
from alembert.bench.env import bench_environment, measure_matmul_peak
from alembert.bench.flops import count_flops, encoder_shape
from alembert.bench.latency import count_parameters
from alembert.bench.memory import peak_rss_delta_mb
from alembert.bench.results import BenchConfig, BenchResult, Measurement
from alembert.bench.timing import judge, load_average, sample_times
from alembert.errors import AlembertError, ConfigError
from alembert.export.onnx import random_inputs


__all__ = [
    "BenchConfig",
    "BenchResult",
    "Measurement",
    "bench_models",
    "model_names",
    "time_block",
]  # re-exported types


def time_block(call: Callable[[], object], *, warmup: int, runs: int, max_seconds: float) -> list[float]:
    """``warmup`` untimed calls, then up to ``runs`` single timed ones (milliseconds), stopping after ``max_seconds``
    (at least one; see :func:`alembert.bench.timing.sample_times`)."""
    for _ in range(warmup):
        call()
    return [1000.0 * t for t in sample_times(call, seconds=max_seconds, runs=runs)]


_OUTPUT_FOLDERS = ("student", "model")  # what distill and finetune call the model inside a run folder


def model_names(paths: Sequence[str]) -> dict[str, str]:
    """A distinct name per model folder: its run folder (``runs/a/student`` -> ``a``), with as many parent folders
    as it takes to tell two apart (``x/a`` and ``y/a``); the same folder given twice gets ``#2``."""

    def pieces(path: str) -> list[str]:
        found = [p for p in Path(path).expanduser().parts if p not in ("/", ".")] or [str(path)]
        return found[:-1] if len(found) > 1 and found[-1] in _OUTPUT_FOLDERS else found

    split = {path: pieces(path) for path in paths}
    names: dict[str, str] = {}
    taken: dict[str, int] = {}
    for path, own in split.items():
        depth = 1
        while depth < len(own) and any(
            other[-depth:] == own[-depth:] for other_path, other in split.items() if other_path != path
        ):
            depth += 1
        name = "/".join(own[-depth:])
        taken[name] = taken.get(name, 0) + 1
        names[path] = name if taken[name] == 1 else f"{name}#{taken[name]}"
    return names


def _load(models: Mapping[str, PreTrainedModel | str] | Sequence[str]) -> dict[str, tuple[PreTrainedModel, str]]:
    from alembert.models.load import load_model

    if not isinstance(models, Mapping):
        models = {name: path for path, name in model_names(list(models)).items()}
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
        memory = _memory(runners, inputs, config) if config.memory else {}  # first calls: arenas and buffers count
        peaks: list[dict[str, Any]] = []
        times = _interleave(runners, inputs, list(loaded), config, say, peaks)
    if peaks:  # measured once per round, like the models: the best is the least disturbed by other work
        environment["matmul_peak"] = {
            **max(peaks, key=lambda p: p["best_gflops"]),
            "per_round_best_gflops": [p["best_gflops"] for p in peaks],
        }
    result = BenchResult(
        baseline=baseline,
        reference_backend=config.backends[0],
        config=asdict(config),
        environment=environment,
        models=described,
        measurements=[],
    )
    result.environment["load_average_end"] = load_average()
    loads = [environment.get("load_average_start"), result.environment["load_average_end"]]
    for batch in config.batch_sizes:
        for backend in config.backends:
            for name in loaded:
                cell = _cell(
                    name, backend, batch, config, times, runners, errors, memory, described, baseline, environment
                )
                result.measurements.append(_judged(cell, loads))
    return result


def _interleave(runners, inputs, names: list[str], config: BenchConfig, say, peaks: list) -> dict[tuple, list]:
    times: dict[tuple, list[list[float]]] = {}
    for round_index in range(config.rounds):
        say(f"round {round_index + 1}/{config.rounds}")
        if config.matmul_peak:
            peaks.append(measure_matmul_peak())
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
    """Peak extra RSS of each cell's first forward pass (before any timing, so that ONNX Runtime's arena growth
    and PyTorch's buffers are seen; ``compile`` is measured after its compiling call)."""
    memory = {}
    for (name, backend), runner in runners.items():
        for batch in config.batch_sizes:
            call = runner.bind(inputs[name, batch])
            if backend == "compile":
                call()
            memory[name, backend, batch] = peak_rss_delta_mb(call)
    return memory


def _cell(name, backend, batch, config, times, runners, errors, memory, described, baseline, environment):
    if (name, backend) in errors:
        return Measurement(name, backend, batch, config.seq_len, error=errors[name, backend])
    rounds = times[name, backend, batch]
    flat = [t for block in rounds for t in block]
    median = statistics.median(flat)
    quantiles = statistics.quantiles(flat, n=10, method="inclusive") if len(flat) > 1 else [median] * 9
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


def _judged(cell: Measurement, loads: list) -> Measurement:
    """The cell with a verdict: its per-round speed-ups agree within ±10% and the machine was not overloaded."""
    if cell.error or cell.median_ms is None:
        return cell
    spread = None
    if cell.speedup_min is not None and cell.speedup:
        spread = (cell.speedup_max - cell.speedup_min) / 2 / cell.speedup
    verdict = judge(spread, loads)
    return replace(cell, reliable=verdict.reliable, reasons=verdict.reasons)


def _speedups(times, base_key, rounds: list[list[float]]) -> dict[str, float | None]:
    base = times.get(base_key)
    if not base:
        return {"speedup": None, "speedup_min": None, "speedup_max": None}
    per_round = [statistics.median(b) / statistics.median(m) for b, m in zip(base, rounds)]
    overall = statistics.median([t for b in base for t in b]) / statistics.median([t for m in rounds for t in m])
    return {"speedup": overall, "speedup_min": min(per_round), "speedup_max": max(per_round)}
