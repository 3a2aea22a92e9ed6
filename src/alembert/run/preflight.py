"""Checks of a run's inputs that need no weights and no data reading: what ``distill --dry-run`` runs, and what
:func:`~alembert.run.distill.distill` checks first."""

from __future__ import annotations

from pathlib import Path

from alembert.config import DataConfig, DistillConfig
from alembert.errors import DataError
from alembert.models.load import check_model_source
from alembert.run.inputs import check_max_length
from alembert.tasks.resolve import resolve_task


__all__ = ["check_data_paths", "preflight"]


def check_data_paths(data: DataConfig) -> None:
    """Every data file or folder the section names exists (Hub names are checked when they are loaded).

    Raises:
        DataError: naming the key and the path.
    """
    if data.format == "hub":
        if not data.hub_name:
            raise DataError("data.hub_name: format hub needs a dataset name")
        return
    if data.train is None:
        raise DataError("data.train: no training data given (a task folder or a file)")
    for key in ("train", "dev", "test"):
        value = getattr(data, key)
        if value is not None and not Path(value).exists():
            raise DataError(f"data.{key}: '{value}' not found")


def preflight(config: DistillConfig) -> None:
    """Validate what a run will read, without reading it: the task name, the teacher (its config), the student
    folder, the data paths and the sequence length.

    Raises:
        ConfigError, DataError, ModelError: the first problem, naming the key or path.
    """
    if config.task != "mlm":
        resolve_task(config.task)
    teacher = check_model_source(config.teacher.path, what="teacher", revision=config.teacher.revision)
    if config.student.path is not None:
        check_model_source(config.student.path, what="student")
    check_data_paths(config.data)
    check_max_length(config.data.max_length, teacher)
