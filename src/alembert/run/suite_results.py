"""What a finished ``alembert glue`` suite measured: scores per task and row (median over seeds), and the
teacher and each row's student timed side by side, turned into the table's rows."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembert.bench.compare import BenchConfig, bench_models
from alembert.config import FinetuneConfig
from alembert.report.glue_table import TableRow
from alembert.run.suite_plan import GlueSuiteConfig, PlannedRun
from alembert.tasks.glue import get_task, score_columns


__all__ = ["collect_scores", "models_to_time", "table_rows", "time_rows"]


def _main_scores(planned: PlannedRun) -> dict[str, tuple[str, float, float | None]]:
    """Per table column (the task; MNLI also ``mnli-mm``, its mismatched dev set): (metric, student score, teacher
    score) of a finished run (a fine-tuning run has no teacher score)."""
    metrics = json.loads((planned.folder / "metrics.json").read_text(encoding="utf-8"))
    if isinstance(planned.config, FinetuneConfig):
        main = get_task(planned.task).main_metric
        student, teacher = score_columns(planned.task, metrics["metrics"], main), {}
    else:
        main = metrics["main_metric"]
        student = score_columns(planned.task, metrics["student_metrics"], main)
        teacher = score_columns(planned.task, metrics["teacher_metrics"], main)
    return {
        column: (main if column == planned.task else f"{main}_mm", value, teacher.get(column))
        for column, value in student.items()
    }


def collect_scores(config: GlueSuiteConfig, runs: list[PlannedRun]) -> dict[str, dict[str, Any]]:
    """Per task (MNLI: ``mnli`` matched and ``mnli-mm`` mismatched): the metric, the teacher's score and, per row,
    each seed's score and their median."""
    scores: dict[str, dict[str, Any]] = {}
    for planned in runs:
        if planned.task == "general" or planned.label == "teacher":
            continue
        for column, (main, student, teacher) in _main_scores(planned).items():
            entry = scores.setdefault(column, {"metric": main, "teacher": None})
            if teacher is not None:
                entry["teacher"] = teacher
            per_seed = entry.setdefault(planned.label, {"seeds": {}})
            per_seed["seeds"][str(planned.config.train.seed)] = student
            per_seed["median"] = statistics.median(per_seed["seeds"].values())
    for column, entry in scores.items():
        if entry["teacher"] is None:  # only fine-tuning rows: the teacher's own fine-tuning scored it
            task = column.removesuffix("-mm")
            teacher_run = Path(config.output_dir) / task / "teacher" / "metrics.json"
            if teacher_run.is_file():
                teacher_metrics = json.loads(teacher_run.read_text(encoding="utf-8"))["metrics"]
                entry["teacher"] = teacher_metrics.get(entry["metric"])
    return scores


def models_to_time(config: GlueSuiteConfig, runs: list[PlannedRun]) -> dict[str, str]:
    """The teacher and each row's first student on the first task, by row name."""
    task = config.tasks[0]
    models: dict[str, str] = {}
    for planned in runs:
        if planned.task != task or planned.label in models:
            continue
        if planned.label == "teacher":
            models["teacher"] = str(planned.folder / "model")
        else:
            folder = "model" if isinstance(planned.config, FinetuneConfig) else "student"
            models[planned.label] = str(planned.folder / folder)
    if "teacher" not in models:
        models = {"teacher": config.teachers[task], **models}
    return models


def time_rows(
    models: dict[str, str], say: Callable[[str], None], *, seq_len: int = 128
) -> dict[str, dict[str, float | int | None]]:
    """Parameters, batch-1 latency at ``seq_len`` tokens and speed-up over the teacher, every model timed in the
    same interleaved rounds on one thread."""
    bench = BenchConfig(
        backends=("sdpa",),
        batch_sizes=(1,),
        seq_len=seq_len,
        rounds=5,
        runs=10,
        memory=False,
        matmul_peak=False,
        threads=1,
    )
    result = bench_models(models, baseline="teacher", config=bench, progress=say)
    timed: dict[str, dict[str, float | int | None]] = {}
    for cell in result.measurements:
        parameters = result.models[cell.model]["parameters"]["total"]
        timed[cell.model] = {"parameters": parameters, "latency_ms": cell.median_ms, "speedup": cell.speedup}
    return timed


def table_rows(config: GlueSuiteConfig, scores: dict[str, dict[str, Any]], timed: dict) -> list[TableRow]:
    """The GLUE table's rows: the teacher, then every suite row that has a score, with its timing."""
    teacher_scores = {t: e["teacher"] for t, e in scores.items() if e["teacher"] is not None}
    rows = [TableRow("teacher", teacher_scores, **_timing(timed.get("teacher")))]
    for row in config.all_rows:
        if not any(row.name in e for e in scores.values()):
            continue  # not run by this call
        row_scores = {t: e[row.name]["median"] for t, e in scores.items() if row.name in e}
        seeds = {t: e[row.name]["seeds"] for t, e in scores.items() if row.name in e}
        note = f"from {row.student}" if row.student else ""
        rows.append(
            TableRow(row.name, row_scores, **_timing(timed.get(row.name)), paper_retention=row.paper_retention,
                     note=note, seeds=seeds)
        )  # fmt: skip
    return rows


def _timing(cell: dict | None) -> dict[str, Any]:
    if not cell:
        return {}
    return {"parameters": cell["parameters"], "latency_ms": cell["latency_ms"], "speedup": cell["speedup"]}
