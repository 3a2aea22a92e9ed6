"""What reports read from a finished run folder (``metrics.json``, ``log.jsonl``, ``config.yaml``), and the names
runs are shown under (``task/recipe/seed-N``, distinct even when folders share a name)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from alembert.errors import DataError


__all__ = ["RunSummary", "load_run", "name_runs", "run_label"]

_NOT_TERMS = frozenset({"event", "time", "stage", "step", "loss", "lr", "tokens", "tokens_per_s"})


@dataclass(frozen=True)
class RunSummary:
    """What the reports need from one run folder.

    Attributes:
        name: the run's label (``sst2/distilbert-task/seed-42``).
        path: the run folder.
        metrics: the content of ``metrics.json``.
        losses: stage -> ``[(step, total loss)]``.
        terms: stage -> term -> ``[(step, value)]`` (each weighted loss term the log recorded).
        evals: stage -> ``[(step, {metric: value})]`` (dev scores during training).
        config: the resolved ``config.yaml`` text (empty if absent).
    """

    name: str
    path: Path
    metrics: dict[str, Any]
    losses: dict[str, list[tuple[int, float]]]
    terms: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)
    evals: dict[str, list[tuple[int, dict[str, float]]]] = field(default_factory=dict)
    config: str = ""


def _read_log(path: Path) -> tuple[dict, dict, dict]:
    losses: dict[str, list[tuple[int, float]]] = {}
    terms: dict[str, dict[str, list[tuple[int, float]]]] = {}
    evals: dict[str, list[tuple[int, dict[str, float]]]] = {}
    if not path.is_file():
        return losses, terms, evals
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted run
        stage, step = str(record.get("stage", "train")), record.get("step")
        if step is None:
            continue
        numbers = {k: v for k, v in record.items() if k not in _NOT_TERMS and isinstance(v, (int, float))}
        if record.get("event") == "train" and "loss" in record:
            losses.setdefault(stage, []).append((step, record["loss"]))
            for term, value in numbers.items():
                terms.setdefault(stage, {}).setdefault(term, []).append((step, value))
        elif record.get("event") == "eval" and numbers:
            evals.setdefault(stage, []).append((step, numbers))
    return losses, terms, evals


def run_label(metrics: dict[str, Any], config: dict[str, Any], folder: Path) -> str:
    """``task/recipe/seed-N`` (``task/finetune/seed-N`` for a fine-tuning run), from what the run recorded."""
    task = metrics.get("task") or "?"
    kind = "finetune" if "student_metrics" not in metrics else metrics.get("recipe") or "distill"
    seed = metrics.get("seed", (config.get("train") or {}).get("seed"))
    return f"{task}/{kind}/seed-{seed}" if seed is not None else f"{task}/{kind}/{folder.name}"


def load_run(path: str | Path) -> RunSummary:
    """Read a run folder (``metrics.json`` is required; ``log.jsonl`` gives the curves, ``config.yaml`` the
    settings shown in the HTML report)."""
    folder = Path(path)
    metrics_file = folder / "metrics.json"
    if not metrics_file.is_file():
        raise DataError(f"report: {folder} is not a finished run (no metrics.json)")
    try:
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"report: {metrics_file}: not valid JSON ({err.msg}, line {err.lineno})") from None
    config_file = folder / "config.yaml"
    config_text = config_file.read_text(encoding="utf-8") if config_file.is_file() else ""
    try:
        config = yaml.safe_load(config_text) or {}
    except yaml.YAMLError:
        config = {}
    losses, terms, evals = _read_log(folder / "log.jsonl")
    name = run_label(metrics, config if isinstance(config, dict) else {}, folder.resolve())
    return RunSummary(name, folder, metrics, losses, terms, evals, config_text)


def name_runs(runs: list[RunSummary]) -> list[RunSummary]:
    """The runs with distinct names: a name two runs share gets each run's folder (as much of its path as it
    takes to tell them apart) appended."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    renamed = []
    for run in runs:
        if counts[run.name] == 1:
            renamed.append(run)
            continue
        twins = [other.path.resolve().parts for other in runs if other.name == run.name]
        parts = run.path.resolve().parts
        depth = 1
        while depth < len(parts) and sum(1 for t in twins if t[-depth:] == parts[-depth:]) > 1:
            depth += 1
        renamed.append(replace(run, name=f"{run.name} ({'/'.join(parts[-depth:])})"))
    return renamed
