"""Tasks: what a model is trained and scored on (the GLUE table in :mod:`.glue`; metrics in :mod:`.metrics`)."""

from alembert.tasks.glue import GLUE_TASKS, GlueTask, get_task


__all__ = ["GLUE_TASKS", "GlueTask", "get_task"]
