"""DistilBERT's speed protocol: one full pass over a GLUE dev set at batch size 1 on CPU (Sanh et al. 2019 timed
STS-B dev: BERT-base 668 s, DistilBERT 410 s). Models are interleaved chunk by chunk so that they share the
machine's load; only forward passes are timed (tokenisation happens first, untimed)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alembert.bench.backends import build_runner
from alembert.bench.env import bench_environment
from alembert.bench.timing import time_once
from alembert.config import DataConfig
from alembert.config.task import TaskConfig
from alembert.data.sources import load_examples
from alembert.errors import ConfigError, DataError
from alembert.export.onnx import Exporter
from alembert.models.load import check_model_source, load_model, load_tokenizer
from alembert.tasks.resolve import resolve_task
from alembert.tasks.task import labels_from_model


__all__ = ["DevPassResult", "time_dev_pass"]


@dataclass(frozen=True)
class DevPassResult:
    """Seconds for one pass over a dev split at batch size 1, per model, and speed-ups over the baseline."""

    task: str
    split: str
    examples: int
    backend: str
    baseline: str
    seconds: dict[str, float]
    median_example_ms: dict[str, float]
    speedup: dict[str, float]
    environment: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def time_dev_pass(
    models: Sequence[str] | Mapping[str, str],
    task: str | TaskConfig,
    data: str,
    *,
    baseline: str | None = None,
    backend: str = "sdpa",
    max_length: int = 128,
    max_examples: int | None = None,
    chunk_size: int = 50,
    exporter: Exporter = "dynamo",
    progress: Callable[[str], None] | None = None,
) -> DevPassResult:
    """Time every model over the task's dev set, one example at a time, interleaved in chunks.

    Args:
        models: model folders (each with its tokenizer), or ``name -> folder``.
        task: GLUE task name (``stsb`` for DistilBERT's protocol), or a task of one's own.
        data: a GLUE task folder or dev file, read with :mod:`alembert.data`.
        baseline: the model speed-ups are relative to (default: the first).
        backend: a key of :data:`alembert.bench.backends.BACKENDS`.
        max_length: truncation length.
        max_examples: time only the first examples (a quick check); ``None`` is the whole split.
        chunk_size: examples per model before switching to the next model.
        exporter: ONNX exporter for the ``ort`` backends.
        progress: called with a short message per phase.
    """
    say = progress or (lambda _msg: None)
    glue_task = resolve_task(task)
    named = dict(models) if isinstance(models, Mapping) else {Path(p).name or p: p for p in models}
    if not named:
        raise ConfigError("dev pass: no models given")
    baseline = baseline or next(iter(named))
    if baseline not in named:
        raise ConfigError(f"dev pass: baseline '{baseline}' is not one of the models ({', '.join(named)})")
    id2label = getattr(check_model_source(next(iter(named.values()))), "id2label", None)
    glue_task = labels_from_model(glue_task, id2label)  # only the texts are used; the labels must still parse
    splits = load_examples(DataConfig(dev=data, max_length=max_length), glue_task, "dev")
    if not splits:
        raise DataError(f"dev pass: no dev file for task {glue_task.name} in {data}")
    split, examples = next(iter(splits.items()))
    examples = examples[:max_examples] if max_examples else examples
    feeds: dict[str, list[dict[str, np.ndarray]]] = {}
    calls = {}
    with tempfile.TemporaryDirectory(prefix="alembert-devpass-") as tmp:
        for name, path in named.items():
            say(f"preparing {name} on {backend}")
            tokenizer = load_tokenizer(path)
            model = load_model(path, head="sequence_classification", task=glue_task if glue_task.resolved else None)
            runner = build_runner(model, backend, Path(tmp) / name, exporter=exporter)
            feeds[name] = [
                dict(tokenizer(*e.texts, truncation=True, max_length=max_length, return_tensors="np"))
                for e in examples
            ]
            calls[name] = runner
        times: dict[str, list[float]] = {name: [] for name in named}
        for start in range(0, len(examples), chunk_size):
            say(f"examples {start}-{min(start + chunk_size, len(examples))} of {len(examples)}")
            for name, runner in calls.items():
                for inputs in feeds[name][start : start + chunk_size]:
                    times[name].append(time_once(runner.bind(inputs)))
    seconds = {name: float(sum(values)) for name, values in times.items()}
    return DevPassResult(
        task=glue_task.name,
        split=split,
        examples=len(examples),
        backend=backend,
        baseline=baseline,
        seconds=seconds,
        median_example_ms={name: float(np.median(values) * 1000.0) for name, values in times.items()},
        speedup={name: seconds[baseline] / value for name, value in seconds.items()},
        environment=bench_environment(),
    )
