"""From a config's ``task`` value (a GLUE name or a task mapping) to a :class:`~alembert.tasks.task.Task`, and
the task a saved model's run recorded."""

from __future__ import annotations

import json
from pathlib import Path

from alembert.config.task import TaskConfig
from alembert.tasks.glue import GLUE_TASKS, get_task
from alembert.tasks.task import Task, task_from_config


__all__ = ["recorded_task", "resolve_task"]


def resolve_task(task: str | TaskConfig | Task) -> Task:
    """The task a config names or describes (``mlm`` has no task: general distillation reads raw text).

    Raises:
        ConfigError: an unknown GLUE name (with a close-match suggestion and how to declare one's own task).
    """
    if isinstance(task, Task):
        return task
    if isinstance(task, TaskConfig):
        return task_from_config(task)
    return get_task(task)


def recorded_task(model: str | Path) -> str | TaskConfig | None:
    """The task a saved model was trained on, as its alembert run recorded it (``metrics.json`` of the run folder
    that holds the model: ``runs/x/student`` -> ``runs/x/metrics.json``); ``None`` when there is no such record."""
    record = Path(model).expanduser().parent / "metrics.json"
    try:
        spec = json.loads(record.read_text(encoding="utf-8")).get("task_spec")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(spec, dict) or not spec.get("name"):
        return None
    if spec["name"] in GLUE_TASKS:
        return spec["name"]
    return TaskConfig(
        name=spec["name"],
        text_columns=spec["text_columns"],
        label_column=spec.get("label_column", "label"),
        labels=None if spec.get("regression") else spec.get("labels"),
        regression=bool(spec.get("regression")),
        metrics=spec.get("metrics"),
    )
