"""The teacher-vs-student report: ``metrics.json``, ``report.md``, the model card and the terminal table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from alembert.bench.latency import count_parameters, environment, measure_latency


__all__ = ["RunReport", "measure_pair_latency", "print_report", "write_model_card", "write_report"]


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


def measure_pair_latency(
    teacher: nn.Module,
    student: nn.Module,
    *,
    rounds: int = 3,
    runs: int = 10,
    seq_len: int = 128,
    batch_size: int = 1,
) -> dict[str, Any]:
    """CPU latency of teacher and student (batch 1 unless told), interleaved over ``rounds`` so both see the same
    machine load.

    Returns:
        Median-of-rounds milliseconds for each, the speed-up and the environment.
    """
    models = {"teacher": teacher, "student": student}
    positions = [getattr(m.config, "max_position_embeddings", seq_len) for m in models.values()]
    seq_len = min(seq_len, *positions)  # a model with fewer positions is timed at its own limit
    devices = {name: model.device for name, model in models.items()}
    for model in models.values():
        model.to("cpu")
    medians: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            medians[name].append(measure_latency(model, batch_size=batch_size, seq_len=seq_len, runs=runs).median_ms)
    for name, model in models.items():
        model.to(devices[name])
    result = {name: sorted(values)[len(values) // 2] for name, values in medians.items()}
    return {
        "batch_size": batch_size,
        "seq_len": seq_len,
        "teacher_ms": result["teacher"],
        "student_ms": result["student"],
        "speedup": result["teacher"] / result["student"],
        "environment": environment(),
    }


def _rows(report: RunReport) -> list[tuple[str, str, str, str]]:
    rows = []
    for who in ("teacher", "student"):
        metrics = report.teacher_metrics if who == "teacher" else report.student_metrics
        score = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()) or "n/a"
        params = report.parameters.get(who, {}).get("total")
        latency = report.latency.get(f"{who}_ms")
        rows.append(
            (
                who,
                score,
                f"{params / 1e6:.1f}M" if params else "n/a",
                f"{latency:.1f} ms" if latency else "n/a",
            )
        )
    return rows


def print_report(report: RunReport, console: Console | None = None) -> None:
    """The teacher-vs-student table on the terminal."""
    table = Table(title=f"alembert · {report.recipe or 'distill'} · {report.task}")
    for column in ("model", "dev score", "parameters", "CPU latency (batch 1, seq 128)"):
        table.add_column(column)
    for row in _rows(report):
        table.add_row(*row)
    console = console or Console()
    console.print(table)
    extras = []
    if report.retention is not None:
        extras.append(f"retention {report.retention:.1f}% of the teacher's {report.main_metric}")
    if report.latency:
        extras.append(f"{report.latency['speedup']:.2f}x faster")
    teacher_params = report.parameters.get("teacher", {}).get("total")
    student_params = report.parameters.get("student", {}).get("total")
    if teacher_params and student_params:
        extras.append(f"{teacher_params / student_params:.2f}x fewer parameters")
    if extras:
        console.print(" · ".join(extras))


def _markdown_table(report: RunReport) -> str:
    lines = ["| model | dev score | parameters | CPU latency (batch 1, seq 128) |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in _rows(report)]
    if report.retention is not None:
        lines.append(f"\nRetention: **{report.retention:.1f}%** of the teacher's {report.main_metric}.")
    if report.latency:
        lines.append(
            f"Speed-up at batch 1: **{report.latency['speedup']:.2f}×** "
            f"({report.latency['environment']['processor']}, {torch.get_num_threads()} threads)."
        )
    batched = report.latency.get("batch_32")
    if batched:
        lines.append(
            f"At batch 32: teacher {batched['teacher_ms']:.1f} ms, student {batched['student_ms']:.1f} ms "
            f"(**{batched['speedup']:.2f}×**)."
        )
    return "\n".join(lines)


def write_report(report: RunReport, output_dir: Path) -> None:
    """``report.md`` in the run folder."""
    text = f"# alembert report: {report.recipe or 'distill'} on {report.task}\n\nTeacher: `{report.teacher_path}`\n\n"
    (output_dir / "report.md").write_text(text + _markdown_table(report) + "\n", encoding="utf-8")


def write_model_card(path: Path, report: RunReport) -> None:
    """A Hugging Face model card naming the teacher, the recipe and the metrics."""
    tags = ["alembert", "knowledge-distillation", report.recipe or "distillation"]
    front = "---\nlibrary_name: transformers\ntags:\n" + "".join(f"- {t}\n" for t in tags) + "---\n"
    init = f"Student layers initialised from teacher layers {report.student_init}.\n\n" if report.student_init else ""
    body = (
        f"# Distilled student ({report.recipe or 'custom recipe'})\n\n"
        f"Distilled with [alembert](https://pypi.org/project/alembert/) from the teacher `{report.teacher_path}` "
        f"on task `{report.task}`.\n\n{init}## Results\n\n{_markdown_table(report)}\n\n"
        "## Use\n\n```python\nfrom transformers import AutoModelForSequenceClassification, AutoTokenizer\n"
        "model = AutoModelForSequenceClassification.from_pretrained('path/to/this/folder')\n"
        "tokenizer = AutoTokenizer.from_pretrained('path/to/this/folder')\n```\n"
    )
    path.write_text(front + body, encoding="utf-8")
