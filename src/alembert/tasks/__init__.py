"""Tasks: what a model is trained and scored on. A task is data (:class:`Task`); GLUE is a built-in table of them
(:mod:`.glue`); a task of one's own comes from the config (:func:`resolve_task`); metrics in :mod:`.metrics`."""

from alembert.tasks.glue import GLUE_TASKS, GlueTask, get_task
from alembert.tasks.resolve import resolve_task
from alembert.tasks.task import Task, infer_labels, labels_from_model


__all__ = ["GLUE_TASKS", "GlueTask", "Task", "get_task", "infer_labels", "labels_from_model", "resolve_task"]
