"""``alembert report``: compare finished runs in the papers' table shape (Model | #Params | per-task scores |
average | retention | speed-ups), with per-term loss curves, the dev metric over steps and a score-vs-speed plot,
as Markdown and HTML (with each run's config and software versions).

Speed is compared through ratios each run measured side by side with its teacher (:mod:`alembert.bench.pair`),
never through absolute latencies of different runs, so the plot and the speed-up columns agree. Runs are named
``task/recipe/seed-N``; runs that would share a name get their folder appended.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembert.errors import DataError
from alembert.files import FolderClaim
from alembert.report.html import render_html
from alembert.report.runs import RunSummary, load_run, name_runs
from alembert.report.summary import speed_note
from alembert.tasks.glue import GLUE_TASKS, get_task, score_columns


__all__ = ["ReportRow", "RunSummary", "comparison_rows", "load_run", "write_comparison"]

# table columns in GLUE order; MNLI has a matched and a mismatched column, as in the papers' tables
_TASK_ORDER = [column for task in GLUE_TASKS for column in ((task, "mnli-mm") if task == "mnli" else (task,))]
_COLUMN_NAMES = {**{name: task.folder for name, task in GLUE_TASKS.items()}, "mnli": "MNLI-m", "mnli-mm": "MNLI-mm"}


@dataclass
class ReportRow:
    """One model row of the comparison table."""

    label: str
    parameters: int | None = None
    scores: dict[str, float] = field(default_factory=dict)
    seed_scores: dict[str, list[float]] = field(default_factory=dict)
    retentions: list[float] = field(default_factory=list)
    speedups: dict[str, list[float]] = field(default_factory=dict)
    unreliable: set[str] = field(default_factory=set)

    @property
    def average(self) -> float | None:
        """Mean of the per-task main scores."""
        return statistics.fmean(self.scores.values()) if self.scores else None

    @property
    def retention(self) -> float | None:
        """Median over runs of the student's main score as a percentage of its teacher's."""
        return statistics.median(self.retentions) if self.retentions else None

    def speedup_at(self, setting: str) -> float | None:
        """Median over runs of the speed-up measured side by side with the teacher at ``setting``."""
        values = self.speedups.get(setting)
        return statistics.median(values) if values else None

    @property
    def speedup(self) -> float | None:
        """The speed-up at the first setting measured (the task's lengths when known)."""
        return self.speedup_at(next(iter(self.speedups))) if self.speedups else None


def _main_score(metrics: dict[str, float], task: str, main_metric: str | None) -> float | None:
    key = main_metric or (get_task(task).main_metric if task in GLUE_TASKS else next(iter(metrics), None))
    return metrics.get(key) if key else None


def _speed_settings(latency: dict[str, Any]) -> list[dict[str, Any]]:
    if latency.get("settings"):
        return latency["settings"]
    if latency.get("speedup") is not None:  # a run from before several settings and verdicts were recorded
        return [{"name": f"seq {latency.get('seq_len', 128)}", "speedup": latency["speedup"], "reliable": None}]
    return []


def _columns(task: str, metrics: dict[str, float], main_metric: str | None) -> dict[str, float]:
    """A run's table cells: GLUE's (MNLI-m and MNLI-mm), or ``{task: main score}`` for a task of one's own."""
    if task in GLUE_TASKS:
        return score_columns(task, metrics, main_metric)
    score = _main_score(metrics, task, main_metric)
    return {} if score is None else {task: score}


def comparison_rows(runs: list[RunSummary], *, group_seeds: bool = False) -> tuple[list[ReportRow], list[str]]:
    """Group runs into table rows: one teacher row, then one row per student (recipe, or run name on clashes).

    Args:
        runs: finished run folders.
        group_seeds: runs of one recipe on one task are seeds of one experiment: the row shows their median
            (DistilBERT's protocol) instead of a row per run.

    Returns:
        The rows and the tasks (columns) in GLUE order, then others alphabetically.
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
            row.scores.update(_columns(task, m.get("metrics", {}), m.get("main_metric")))
            tasks.update(row.scores)
            continue
        params = m.get("parameters", {})
        teacher_columns = _columns(task, m.get("teacher_metrics", {}), m.get("main_metric"))
        for column, score in teacher_columns.items():
            teacher.scores.setdefault(column, score)
            tasks.add(column)
        teacher.parameters = teacher.parameters or params.get("teacher", {}).get("total")
        label = m.get("recipe") or run.name
        if label in students and task in students[label].scores and not group_seeds:
            label = run.name
        row = students.setdefault(label, ReportRow(label))
        row.parameters = row.parameters or params.get("student", {}).get("total")
        for column, score in _columns(task, m.get("student_metrics", {}), m.get("main_metric")).items():
            row.seed_scores.setdefault(column, []).append(score)
            row.scores[column] = statistics.median(row.seed_scores[column])
            tasks.add(column)
            if column == task and teacher_columns.get(column):
                row.retentions.append(100.0 * score / teacher_columns[column])
        for setting in _speed_settings(m.get("latency") or {}):
            row.speedups.setdefault(setting["name"], []).append(setting["speedup"])
            teacher.speedups.setdefault(setting["name"], []).append(1.0)
            if not setting.get("reliable"):
                row.unreliable.add(setting["name"])
    ordered = sorted(tasks, key=lambda t: (_TASK_ORDER.index(t) if t in _TASK_ORDER else len(_TASK_ORDER), t))
    rows = ([teacher] if teacher.scores or teacher.parameters else []) + list(students.values())
    return rows, ordered


def _settings_of(rows: list[ReportRow]) -> list[str]:
    names = list(dict.fromkeys(name for row in rows for name in row.speedups))
    return sorted(names, key=lambda name: (name != "task lengths", name))


def _cells(row: ReportRow, tasks: list[str], settings: list[str]) -> list[str]:
    def number(value: float | None, fmt: str) -> str:
        return "–" if value is None else format(value, fmt)

    params = "–" if row.parameters is None else f"{row.parameters / 1e6:.1f}M"
    scores = [number(row.scores.get(t), ".1f") for t in tasks]
    average = number(row.average, ".1f") + ("" if len(row.scores) == len(tasks) else "*")
    retention = "–" if row.retention is None else f"{row.retention:.1f}%"
    speeds = []
    for setting in settings:
        value = row.speedup_at(setting)
        text = "–" if value is None else f"{value:.2f}×"
        speeds.append(f"≈{text}?" if value is not None and setting in row.unreliable else text)
    return [row.label, params, *scores, average if row.scores else "–", retention, *speeds]


def _headers(tasks: list[str], settings: list[str]) -> list[str]:
    names = [_COLUMN_NAMES.get(t, t) for t in tasks]
    return ["Model", "#Params", *names, "Average", "Retention", *[f"Speed-up ({s})" for s in settings]]


def _notes(runs: list[RunSummary], rows: list[ReportRow]) -> list[str]:
    notes = [
        "Scores: each task's main dev metric (student: median over seeds); * = average over fewer tasks; retention: "
        "student score as a percentage of its own teacher's."
    ]
    measured = [r for r in runs if _speed_settings(r.metrics.get("latency") or {})]
    if not measured:
        return [*notes, "Speed not measured (bench_latency: false)."]
    notes.append(
        "Speed-ups: each run's student against its teacher, measured side by side in that run (batch 1, CPU); no "
        "absolute times of different runs are compared. ≈x? marks a figure its measurement judged unreliable, or "
        "an older run's that was never checked."
    )
    notes += [f"{r.name}: {speed_note(r.metrics['latency'])}" for r in measured]
    return notes


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
        markdown: also write ``report.md`` (``distill`` leaves its own ``report.md`` and skips it).
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
        summaries = name_runs([load_run(r) for r in runs])
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
    from alembert.report.plots import plot_pareto, plot_training  # matplotlib only when a report is drawn

    rows, tasks = comparison_rows(summaries, group_seeds=group_seeds)
    settings = _settings_of(rows)
    title = title or "alembert report: " + ", ".join(s.name for s in summaries)
    written = {"loss_curves": plot_training(summaries, out / "loss_curves.png")}
    if settings:
        points = {
            f"{r.label} ({_cells(r, [], settings[:1])[-1]})": (1.0 / r.speedup_at(settings[0]), r.average)
            for r in rows
            if r.speedup_at(settings[0]) and r.average is not None
        }
        if len(points) > 1:
            xlabel = f"inference time relative to the teacher ({settings[0]}, batch 1, measured side by side)"
            written["pareto"] = plot_pareto(points, out / "pareto.png", xlabel=xlabel, ylabel="average dev score")
    headers, body = _headers(tasks, settings), [_cells(r, tasks, settings) for r in rows]
    notes = _notes(summaries, rows)
    images = list(written.items())
    if markdown:
        lines = [f"# {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        lines += ["", *[f"{note}\n" for note in notes]] + [f"![{kind}]({path.name})" for kind, path in images]
        written["markdown"] = out / "report.md"
        written["markdown"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    written["html"] = out / "report.html"
    written["html"].write_text(render_html(title, headers, body, notes, images, summaries), encoding="utf-8")
    return written
