"""Report figures with matplotlib (``Figure`` objects, no pyplot state): loss curves and accuracy vs latency."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure


__all__ = ["pareto_front", "plot_loss_curves", "plot_pareto"]


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


def plot_loss_curves(curves: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]], path: str | Path) -> Path:
    """One panel per run, one line per stage (steps continue across stages), log-scaled loss.

    Args:
        curves: ``run -> stage -> [(step, loss), ...]``.
        path: the PNG to write.
    """
    runs = [name for name, stages in curves.items() if any(stages.values())] or list(curves)
    columns = min(len(runs), 2) or 1
    rows = max(math.ceil(len(runs) / columns), 1)
    figure = Figure(figsize=(6.0 * columns, 3.6 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(runs):
            ax.set_visible(False)
            continue
        run = runs[index]
        offset = 0
        positive = True
        for stage, points in curves[run].items():
            if not points:
                continue
            steps = [offset + step for step, _ in points]
            losses = [loss for _, loss in points]
            positive = positive and min(losses) > 0
            ax.plot(steps, losses, label=stage, linewidth=1.5)
            offset = steps[-1]
        if positive and ax.lines:
            ax.set_yscale("log")
        if not ax.lines:
            ax.text(0.5, 0.5, "no training log", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(run, fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3)
        if len(ax.lines) > 1:
            ax.legend(fontsize=8)
    figure.savefig(path, dpi=110)
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
