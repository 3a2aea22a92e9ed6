"""The GLUE table in the papers' shape: one row per model, one column per task's main metric (MNLI: matched and
mismatched, ``mnli`` and ``mnli-mm``, both in the average as in TinyBERT's table), the average, the retention of the
teacher's average, and parameters, latency and speed-up measured side by side."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from alembert.tasks.glue import get_task


__all__ = ["TableRow", "glue_markdown", "retention"]

_METRIC_NAMES = {"matthews_correlation": "MCC", "accuracy": "acc", "f1": "F1", "pearson": "Pearson"}


@dataclass(frozen=True)
class TableRow:
    """One model of the table.

    Attributes:
        name: row label.
        scores: task → main-metric score (× 100), the median over seeds.
        parameters: parameter count, or ``None`` when not measured.
        latency_ms: median CPU latency, or ``None``.
        speedup: the teacher's latency over this model's, both timed in the same interleaved rounds.
        paper_retention: the paper's retention (%) for the same recipe, as a reference.
        note: what the row is (init, corpus tokens, …).
    """

    name: str
    scores: dict[str, float]
    parameters: int | None = None
    latency_ms: float | None = None
    speedup: float | None = None
    paper_retention: float | None = None
    note: str = ""
    seeds: dict[str, dict[str, float]] = field(default_factory=dict)

    def average(self, tasks: Sequence[str]) -> float | None:
        """Mean over ``tasks`` (``None`` if a task has no score)."""
        if any(t not in self.scores for t in tasks):
            return None
        return statistics.mean(self.scores[t] for t in tasks)


def retention(row: TableRow, teacher: TableRow, tasks: Sequence[str]) -> float | None:
    """The row's average as a percentage of the teacher's."""
    mine, theirs = row.average(tasks), teacher.average(tasks)
    return 100.0 * mine / theirs if mine is not None and theirs else None


def glue_markdown(rows: Sequence[TableRow], tasks: Sequence[str], *, latency_note: str = "") -> str:
    """A markdown table; the first row is the teacher (retention and speed-up are relative to it)."""
    teacher = rows[0]
    headers = ["Model", "#Params"]
    for task in tasks:
        glue = get_task(task.removesuffix("-mm"))
        metric = _METRIC_NAMES.get(glue.main_metric, glue.main_metric)
        headers.append(f"{_column_name(task, tasks)} ({metric})")
    headers += ["Avg", "Retention", "Paper retention", "Latency (ms)", "Speed-up"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = [row.name, _millions(row.parameters)]
        cells += [_number(row.scores.get(task), "{:.1f}") for task in tasks]
        kept = retention(row, teacher, tasks)
        cells += [
            _number(row.average(tasks), "{:.1f}"),
            _number(kept, "{:.1f}%"),
            _number(row.paper_retention, "{:.1f}%"),
            _number(row.latency_ms, "{:.1f}"),
            _number(row.speedup, "{:.2f}x"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- **{row.name}**: {row.note}" for row in rows if row.note]
    tail = "\n".join(notes)
    return "\n".join(lines) + ("\n\n" + latency_note if latency_note else "") + ("\n\n" + tail if tail else "") + "\n"


def _column_name(task: str, tasks: Sequence[str]) -> str:
    """``MNLI-m`` and ``MNLI-mm`` when both MNLI dev sets are columns (as in the papers' tables), else the folder."""
    folder = get_task(task.removesuffix("-mm")).folder
    if task.endswith("-mm"):
        return f"{folder}-mm"
    return f"{folder}-m" if f"{task}-mm" in tasks else folder


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _millions(count: int | None) -> str:
    return "-" if count is None else f"{count / 1e6:.1f}M"
