"""``alembert report``: compare finished runs in the papers' table shape (Model | #Params | per-task scores |
average | inference time | speed-up), with loss curves and an accuracy-vs-latency plot, as Markdown and HTML.

Runs are folders written by :func:`alembert.run.distill.distill` (``metrics.json``, ``log.jsonl``, ``config.yaml``).
"""

from __future__ import annotations

import base64
import html
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembert.errors import DataError
from alembert.files import FolderClaim
from alembert.report.plots import plot_loss_curves, plot_pareto
from alembert.tasks.glue import GLUE_TASKS, score_columns


__all__ = ["ReportRow", "RunSummary", "comparison_rows", "load_run", "write_comparison"]

# table columns in GLUE order; MNLI has a matched and a mismatched column, as in the papers' tables
_TASK_ORDER = [column for task in GLUE_TASKS for column in ((task, "mnli-mm") if task == "mnli" else (task,))]
_COLUMN_NAMES = {**{name: task.folder for name, task in GLUE_TASKS.items()}, "mnli": "MNLI-m", "mnli-mm": "MNLI-mm"}


@dataclass(frozen=True)
class RunSummary:
    """What the report needs from one run folder."""

    name: str
    path: Path
    metrics: dict[str, Any]
    losses: dict[str, list[tuple[int, float]]]


@dataclass
class ReportRow:
    """One model row of the comparison table."""

    label: str
    parameters: int | None = None
    scores: dict[str, float] = field(default_factory=dict)
    seed_scores: dict[str, list[float]] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    speedups: list[float] = field(default_factory=list)

    @property
    def average(self) -> float | None:
        """Mean of the per-task main scores."""
        return statistics.fmean(self.scores.values()) if self.scores else None

    @property
    def latency(self) -> float | None:
        """Median batch-1 latency (ms) over the runs that measured it."""
        return statistics.median(self.latency_ms) if self.latency_ms else None

    @property
    def speedup(self) -> float | None:
        """Median over runs of the speed-up measured side by side with the teacher."""
        return statistics.median(self.speedups) if self.speedups else None


def load_run(path: str | Path) -> RunSummary:
    """Read a run folder (``metrics.json`` is required; ``log.jsonl`` gives the loss curves)."""
    folder = Path(path)
    metrics_file = folder / "metrics.json"
    if not metrics_file.is_file():
        raise DataError(f"report: {folder} is not a finished run (no metrics.json)")
    try:
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"report: {metrics_file}: not valid JSON ({err.msg}, line {err.lineno})") from None
    losses: dict[str, list[tuple[int, float]]] = {}
    log = folder / "log.jsonl"
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted run
            if record.get("event") == "train" and "loss" in record and "step" in record:
                losses.setdefault(str(record.get("stage", "train")), []).append((record["step"], record["loss"]))
    return RunSummary(folder.resolve().name, folder, metrics, losses)


def comparison_rows(runs: list[RunSummary], *, group_seeds: bool = False) -> tuple[list[ReportRow], list[str]]:
    """Group runs into table rows: one teacher row, then one row per student (recipe, or run name on clashes).

    Args:
        runs: finished run folders.
        group_seeds: runs of one recipe on one task are seeds of one experiment: the row shows their median
            (DistilBERT's protocol) instead of a row per run.

    Returns:
        The rows and the tasks (columns) in GLUE order.
    """
    teacher = ReportRow("Teacher")
    students: dict[str, ReportRow] = {}
    tasks: set[str] = set()
    for run in runs:
        m = run.metrics
        task = m.get("task", "?")
        tasks.add(task)
        if "student_metrics" not in m:  # a fine-tuning run: one model
            row = students.setdefault(run.name, ReportRow(run.name))
            row.scores.update(score_columns(task, m.get("metrics", {})))
            tasks.update(row.scores)
            continue
        params = m.get("parameters", {})
        latency = m.get("latency") or {}
        for column, score in score_columns(task, m.get("teacher_metrics", {}), m.get("main_metric")).items():
            teacher.scores.setdefault(column, score)
            tasks.add(column)
        teacher.parameters = teacher.parameters or params.get("teacher", {}).get("total")
        label = m.get("recipe") or run.name
        if label in students and task in students[label].scores and not group_seeds:
            label = run.name
        row = students.setdefault(label, ReportRow(label))
        row.parameters = row.parameters or params.get("student", {}).get("total")
        for column, score in score_columns(task, m.get("student_metrics", {}), m.get("main_metric")).items():
            row.seed_scores.setdefault(column, []).append(score)
            row.scores[column] = statistics.median(row.seed_scores[column])
            tasks.add(column)
        if latency.get("student_ms"):
            row.latency_ms.append(latency["student_ms"])
            teacher.latency_ms.append(latency["teacher_ms"])
            row.speedups.append(latency["speedup"])
            teacher.speedups.append(1.0)
    ordered = sorted(tasks, key=lambda t: (_TASK_ORDER.index(t) if t in _TASK_ORDER else len(_TASK_ORDER), t))
    rows = ([teacher] if teacher.scores or teacher.parameters else []) + list(students.values())
    return rows, ordered


def _cells(row: ReportRow, tasks: list[str]) -> list[str]:
    def number(value: float | None, fmt: str) -> str:
        return "–" if value is None else format(value, fmt)

    params = "–" if row.parameters is None else f"{row.parameters / 1e6:.1f}M"
    scores = [number(row.scores.get(t), ".1f") for t in tasks]
    average = number(row.average, ".1f") + ("" if len(row.scores) == len(tasks) else "*")
    latency = "–" if row.latency is None else f"{row.latency:.1f} ms"
    speedup = "–" if row.speedup is None else f"{row.speedup:.2f}×"
    return [row.label, params, *scores, average if row.scores else "–", latency, speedup]


def _headers(tasks: list[str]) -> list[str]:
    names = [_COLUMN_NAMES.get(t, t) for t in tasks]
    return ["Model", "#Params", *names, "Average", "Inference time", "Speed-up"]


def _latency_note(runs: list[RunSummary]) -> str:
    env = next((r.metrics["latency"] for r in runs if (r.metrics.get("latency") or {}).get("environment")), None)
    if env is None:
        return "No latency was measured (bench_latency off)."
    e = env["environment"]
    return (
        f"Inference time: median CPU latency at batch {env['batch_size']}, sequence length {env['seq_len']}, "
        f"{e.get('threads')} threads, {e.get('processor')}, torch {e.get('torch')}; speed-up measured side by side "
        "with the teacher in each run. Scores: each task's main dev metric; * = average over fewer tasks."
    )


def write_comparison(
    runs: list[str | Path],
    output_dir: str | Path,
    *,
    markdown: bool = True,
    title: str | None = None,
    group_seeds: bool = False,
    new_folder: bool = False,
) -> dict[str, Path]:
    """Write ``report.html`` (images embedded as base64), the PNGs and, if ``markdown``, ``report.md``.

    Args:
        runs: run folders.
        output_dir: where the report goes (created if needed).
        markdown: also write ``report.md`` (``pipeline.distill`` leaves its own ``report.md`` and skips it).
        title: heading (default: the run names).
        group_seeds: one row per recipe with the median over its runs of a task (see :func:`comparison_rows`).
        new_folder: ``output_dir`` must be absent or empty (``alembert report``): an earlier report or a run
            folder is never overwritten.

    Returns:
        Paths of the files written, by kind (``html``, ``markdown``, ``loss_curves``, ``pareto``).
    """
    if not runs:
        raise DataError("report: give at least one run folder")
    out = Path(output_dir)
    claim = None
    if new_folder:
        claim = FolderClaim.acquire(out, what="report: --output", must_be_empty=True, hint="choose a new folder")
    try:
        summaries = [load_run(r) for r in runs]
    except BaseException:
        if claim is not None:
            claim.release()
        raise
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _write(summaries, out, markdown, title, group_seeds)
    finally:
        if claim is not None:
            claim.release()


def _write(
    summaries: list[RunSummary], out: Path, markdown: bool, title: str | None, group_seeds: bool
) -> dict[str, Path]:
    rows, tasks = comparison_rows(summaries, group_seeds=group_seeds)
    title = title or "alembert report: " + ", ".join(s.name for s in summaries)
    written = {"loss_curves": plot_loss_curves({s.name: s.losses for s in summaries}, out / "loss_curves.png")}
    points = {r.label: (r.latency, r.average) for r in rows if r.latency is not None and r.average is not None}
    if points:
        xlabel = "CPU latency, batch 1 (ms)"
        written["pareto"] = plot_pareto(points, out / "pareto.png", xlabel=xlabel, ylabel="average dev score")
    headers, body = _headers(tasks), [_cells(r, tasks) for r in rows]
    note = _latency_note(summaries)
    images = [(kind, path) for kind, path in written.items()]
    if markdown:
        lines = [f"# {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        lines += ["", note, ""] + [f"![{kind}]({path.name})" for kind, path in images]
        written["markdown"] = out / "report.md"
        written["markdown"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    written["html"] = out / "report.html"
    written["html"].write_text(_html(title, headers, body, note, images), encoding="utf-8")
    return written


def _html(title: str, headers: list[str], body: list[list[str]], note: str, images: list[tuple[str, Path]]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>\n" for cells in body)
    figures = "".join(
        f'<figure><img alt="{esc(kind)}" src="data:image/png;base64,'
        f'{base64.b64encode(path.read_bytes()).decode("ascii")}"><figcaption>{esc(kind.replace("_", " "))}'
        "</figcaption></figure>\n"
        for kind, path in images
    )
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{style}</style></head>\n<body><h1>{esc(title)}</h1>\n<table><thead><tr>{head}</tr></thead>"
        f"<tbody>\n{rows}</tbody></table>\n<p>{esc(note)}</p>\n{figures}</body></html>\n"
    )
