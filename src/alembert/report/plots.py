"""Report figures with matplotlib (``Figure`` objects, no pyplot state): training curves (loss terms, dev metric)
and score vs relative inference time."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from alembert.report.runs import RunSummary


__all__ = ["pareto_front", "plot_pareto", "plot_training"]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower latency ``x``, higher score ``y``).

    Returned in order of increasing latency.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _steps(ax: Axes) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimizer step")
    ax.grid(True, alpha=0.3)


def _style(count: int) -> dict[str, object]:
    """Markers for short runs, so that a run with a handful of logged steps still shows its points."""
    return {"marker": "o", "markersize": 3} if count < 30 else {}


def _loss_panel(ax: Axes, run: RunSummary, offsets: dict[str, int]) -> None:
    several = len(run.losses) > 1
    values: list[float] = []
    for stage, points in run.losses.items():
        shift = offsets[stage]
        prefix = f"{stage}: " if several else ""
        steps = [shift + step for step, _ in points]
        total = [loss for _, loss in points]
        values += total
        ax.plot(steps, total, label=f"{prefix}total", linewidth=2.0, **_style(len(points)))
        for term, term_points in run.terms.get(stage, {}).items():
            term_values = [v for _, v in term_points]
            values += term_values
            ax.plot([shift + s for s, _ in term_points], term_values, label=f"{prefix}{term}", linewidth=1.0,
                    alpha=0.8, **_style(len(term_points)))  # fmt: skip
    if not ax.lines:
        ax.text(0.5, 0.5, "no training log", ha="center", va="center", transform=ax.transAxes)
        return
    if min(values) > 0 and max(values) / min(values) > 10:
        ax.set_yscale("log")
    ax.set_ylabel("loss (weighted terms)")
    ax.legend(fontsize=7, ncol=2)


def _eval_panel(ax: Axes, run: RunSummary, offsets: dict[str, int]) -> None:
    metric = run.metrics.get("main_metric")
    for stage, records in run.evals.items():
        points = [(offsets[stage] + step, values[metric]) for step, values in records if metric in values]
        if points:
            ax.plot([s for s, _ in points], [v for _, v in points], label=f"student ({stage})", **_style(len(points)))
    teacher = (run.metrics.get("teacher_metrics") or {}).get(metric)
    if teacher is not None and ax.lines:
        ax.axhline(teacher, color="tab:gray", linestyle="--", linewidth=1.0, label=f"teacher {teacher:.2f}")
    if not ax.lines:
        ax.text(0.5, 0.5, "not evaluated during training (no dev set)", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
        return
    ax.set_ylabel(f"dev {metric}")
    ax.legend(fontsize=7)


def plot_training(runs: Sequence[RunSummary], path: str | Path) -> Path:
    """Per run, a row of two panels: every weighted loss term and the total over steps, and the dev metric over
    steps with the teacher's score (steps continue across stages).

    Args:
        runs: the runs (their ``name`` titles the row).
        path: the PNG to write.
    """
    figure = Figure(figsize=(12.0, 3.6 * max(len(runs), 1)), layout="constrained")
    axes = figure.subplots(max(len(runs), 1), 2, squeeze=False)
    for (loss_ax, eval_ax), run in zip(axes, runs):
        offsets, offset = {}, 0
        for stage in dict.fromkeys([*run.losses, *run.evals]):
            offsets[stage] = offset
            steps = [s for s, _ in run.losses.get(stage, [])] + [s for s, _ in run.evals.get(stage, [])]
            offset += max(steps, default=0)
        _loss_panel(loss_ax, run, offsets)
        _eval_panel(eval_ax, run, offsets)
        for ax, what in ((loss_ax, "training loss"), (eval_ax, "dev metric")):
            ax.set_title(f"{run.name}: {what}", fontsize=10)
            _steps(ax)
    figure.savefig(path, dpi=100)
    return Path(path)


def plot_pareto(
    points: Mapping[str, tuple[float, float]], path: str | Path, *, xlabel: str, ylabel: str, title: str = ""
) -> Path:
    """Scatter of score against latency with the Pareto front drawn and its members ringed.

    Args:
        points: ``label -> (latency, score)``.
        path: the PNG to write.
        xlabel: x-axis label (latency and its conditions).
        ylabel: y-axis label (the score).
        title: figure title.
    """
    labels = list(points)
    values = [points[label] for label in labels]
    front = pareto_front(values)
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = figure.subplots()
    ax.scatter([x for x, _ in values], [y for _, y in values], s=36, color="tab:blue", zorder=3, label="model")
    if front:
        fx = [values[i][0] for i in front]
        fy = [values[i][1] for i in front]
        ax.step(fx, fy, where="post", color="tab:red", linewidth=1.2, zorder=2, label="Pareto front")
        ax.scatter(fx, fy, s=140, facecolors="none", edgecolors="tab:red", linewidths=1.5, zorder=4)
    for label, (x, y) in zip(labels, values):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    figure.savefig(path, dpi=110)
    return Path(path)
