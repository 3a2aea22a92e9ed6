"""The teacher-vs-student report of one run: ``metrics.json`` (:class:`RunReport`), ``report.md`` and the terminal
table. Speeds come from one side-by-side measurement (:func:`alembert.bench.pair.measure_pair_speed`); a figure
that measurement judged unreliable is printed with its reasons, never as a bare number."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from torch import nn

from alembert.bench.latency import count_parameters


__all__ = ["RunReport", "format_speedup", "markdown_table", "print_report", "speed_note", "write_report"]


@dataclass
class RunReport:
    """Everything ``metrics.json`` records about a distillation run."""

    task: str
    recipe: str | None
    teacher_path: str
    main_metric: str | None
    teacher_metrics: dict[str, float]
    student_metrics: dict[str, float]
    stages: dict[str, Any] = field(default_factory=dict)
    student_init: list[int] | None = None
    parameters: dict[str, dict[str, int]] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    task_spec: dict[str, Any] | None = None
    seed: int | None = None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def retention(self) -> float | None:
        """Student score as a percentage of the teacher's on the main metric."""
        if not self.main_metric or self.main_metric not in self.teacher_metrics:
            return None
        teacher = self.teacher_metrics[self.main_metric]
        if self.main_metric == "neg_perplexity" or teacher == 0:
            return None
        return 100.0 * self.student_metrics[self.main_metric] / teacher

    def fill_parameters(self, teacher: nn.Module, student: nn.Module) -> None:
        """Record parameter counts (embeddings / Transformer / other)."""
        self.parameters = {"teacher": count_parameters(teacher), "student": count_parameters(student)}

    def to_dict(self) -> dict[str, Any]:
        """JSON form, with the derived retention."""
        return {**asdict(self), "retention": self.retention}


def _settings(latency: dict[str, Any]) -> list[dict[str, Any]]:
    """The measured length settings; a ``metrics.json`` from before they existed had one, at ``seq_len``."""
    if latency.get("settings"):
        return list(latency["settings"])
    if latency.get("speedup") is None:
        return []
    legacy = {k: latency.get(k) for k in ("teacher_ms", "student_ms", "speedup")}
    return [{"name": f"seq {latency.get('seq_len', 128)}", **legacy, "reliable": None, "reasons": []}]


def format_speedup(setting: dict[str, Any]) -> str:
    """``2.01×`` when reliable; ``≈2.01×?`` when judged unreliable or never judged (older runs)."""
    value = f"{setting['speedup']:.2f}×"
    return value if setting.get("reliable") else f"≈{value}?"


def speed_note(latency: dict[str, Any]) -> str:
    """How the speed was measured and, for unreliable figures, why they are not facts."""
    settings = _settings(latency)
    if not settings:
        return "Speed not measured (bench_latency: false)."
    load = latency.get("load_average") or {}
    env = latency.get("environment") or {}
    parts = [
        f"Speed: batch 1 on the CPU ({env.get('processor', '?')}, {env.get('threads', '?')} threads), teacher and "
        f"student interleaved over {latency.get('rounds', '?')} rounds; load average {load.get('start')} → "
        f"{load.get('end')} on {load.get('cores', '?')} cores."
    ]
    for s in settings:
        if s.get("speedup_min") is not None:
            text = f"{s['name']}: {s['speedup']:.2f}× (rounds {s['speedup_min']:.2f}–{s['speedup_max']:.2f}×)"
            parts.append(text + ("." if s.get("reliable") else f", UNRELIABLE ({'; '.join(s['reasons'])})."))
        else:
            parts.append(f"{s['name']}: {s['speedup']:.2f}×, measured once, no spread or load recorded (not checked).")
    return " ".join(parts)


def _table_rows(report: RunReport) -> tuple[list[str], list[list[str]]]:
    metric_names = list(report.student_metrics or report.teacher_metrics)
    settings = _settings(report.latency)
    headers = ["model", *[f"dev {m}" for m in metric_names], "parameters"]
    headers += [f"ms/seq ({s['name']})" for s in settings]
    rows = []
    for who in ("teacher", "student"):
        metrics = report.teacher_metrics if who == "teacher" else report.student_metrics
        params = report.parameters.get(who, {}).get("total")
        cells = [who, *[f"{metrics[m]:.2f}" if m in metrics else "–" for m in metric_names]]
        cells.append(f"{params / 1e6:.1f}M" if params else "–")
        cells += [f"{s[f'{who}_ms']:.1f}" + ("" if s.get("reliable") else "?") for s in settings]
        rows.append(cells)
    return headers, rows


def _summary_line(report: RunReport) -> str:
    extras = []
    if report.retention is not None:
        extras.append(f"retention {report.retention:.1f}% of the teacher's {report.main_metric}")
    for setting in _settings(report.latency):
        extras.append(f"speed-up {format_speedup(setting)} ({setting['name']})")
    teacher_params = report.parameters.get("teacher", {}).get("total")
    student_params = report.parameters.get("student", {}).get("total")
    if teacher_params and student_params:
        extras.append(f"{teacher_params / student_params:.2f}× fewer parameters")
    return " · ".join(extras)


def print_report(report: RunReport, console: Console | None = None) -> None:
    """The teacher-vs-student table on the terminal, then retention, speed-ups and how far to trust them."""
    headers, rows = _table_rows(report)
    table = Table(title=f"alembert · {report.recipe or 'distill'} · {report.task}")
    for i, column in enumerate(headers):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console = console or Console()
    console.print(table)
    line = _summary_line(report)
    if line:
        console.print(line, soft_wrap=True, highlight=False)
    if not report.latency.get("reliable", True) and report.latency.get("settings"):
        console.print(speed_note(report.latency), soft_wrap=True, highlight=False, style="yellow")


def markdown_table(report: RunReport) -> str:
    """The table, retention and speed lines of ``report.md`` and of the model card."""
    headers, rows = _table_rows(report)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    summary = _summary_line(report)
    if summary:
        lines += ["", summary + "."]
    lines += ["", speed_note(report.latency)]
    batched = report.latency.get("batch_32")
    if batched:
        lines.append(
            f"At batch 32 (seq {batched['seq_len']}): teacher {batched['teacher_ms']:.1f} ms, student "
            f"{batched['student_ms']:.1f} ms per batch (**{batched['speedup']:.2f}×**)."
        )
    return "\n".join(lines)


def write_report(report: RunReport, output_dir: Path) -> None:
    """``report.md`` in the run folder."""
    text = f"# alembert report: {report.recipe or 'distill'} on {report.task}\n\nTeacher: `{report.teacher_path}`\n\n"
    (output_dir / "report.md").write_text(text + markdown_table(report) + "\n", encoding="utf-8")
