"""Terminal tables that commands end with (rich only, so that light commands stay light): scores by metric name,
rounded; the recipes; the GLUE suite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table


__all__ = ["glue_table", "recipes_table", "scores_table"]


def _number(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


def scores_table(
    title: str, rows: Mapping[str, Mapping[str, float]], *, extra: Mapping[str, str] | None = None
) -> Table:
    """One row per model or split, one column per metric (percent, 2 decimals).

    Args:
        title: the table's title.
        rows: row label -> metric name -> value.
        extra: optional caption (e.g. where the model was saved).
    """
    metrics = list(dict.fromkeys(name for scores in rows.values() for name in scores))
    table = Table(title=title, caption=" · ".join(f"{k}: {v}" for k, v in (extra or {}).items()) or None)
    table.add_column("")
    for name in metrics or ["dev score"]:
        table.add_column(name, justify="right")
    for label, scores in rows.items():
        table.add_row(label, *([_number(scores.get(name)) for name in metrics] or ["no dev set"]))
    return table


def recipes_table(recipes: Sequence[tuple[str, str]]) -> Table:
    """Recipe names and their one-line summaries (paper and variant)."""
    table = Table(title="alembert recipes (use a name with `alembert distill NAME` or `alembert recipes show NAME`)")
    table.add_column("recipe", style="bold", no_wrap=True)
    table.add_column("paper and variant")
    for name, summary in recipes:
        table.add_row(name, summary)
    return table


def glue_table(scores: Mapping[str, Mapping[str, Any]], recipes: Sequence[str]) -> Table:
    """The suite's table: per task the metric, the teacher's score and each recipe's median over seeds."""
    table = Table(title="alembert glue: dev scores (student: median over seeds)")
    for column in ("task", "metric", "teacher", *recipes, *(f"{r} retention" for r in recipes)):
        table.add_column(column, justify="left" if column in ("task", "metric") else "right")
    for task, entry in scores.items():
        teacher = entry.get("teacher")
        medians = [entry.get(r, {}).get("median") for r in recipes]
        retention = [f"{100 * m / teacher:.1f}%" if isinstance(m, (int, float)) and teacher else "–" for m in medians]
        table.add_row(task, entry.get("metric", "?"), _number(teacher), *[_number(m) for m in medians], *retention)
    return table
