"""Is the teacher worth distilling? Its dev score against what a model that ignores its input scores.

A teacher whose classifier rows are in another label order than the task's, whose head was never trained, or that
was fine-tuned on another task scores near chance; distilling it produces a near-chance student, and the only
symptom would be the final table. The run warns before training, with the scores.
"""

from __future__ import annotations

import numpy as np

from alembert.data.sources import TaskData
from alembert.notices import warn
from alembert.tasks.glue import dev_suffix
from alembert.tasks.metrics import chance_scores
from alembert.tasks.task import Task


__all__ = ["check_teacher_scores"]

# a teacher must beat the best constant prediction by this many points (accuracy, F1) or correlation points
MARGIN = 1.0


def check_teacher_scores(
    teacher_metrics: dict[str, float], main_metric: str, task: Task, data: TaskData, teacher: str
) -> bool:
    """Warn when the teacher does not score above chance on the dev set that selects the model.

    Args:
        teacher_metrics: the teacher's dev metrics (MNLI mismatched keys end in ``_mm``).
        main_metric: the selecting metric (``accuracy``, ``mcc``, …).
        task: the GLUE task.
        data: the run's data; its dev set gives the label distribution.
        teacher: the teacher's path (for the message).

    Returns:
        Whether the teacher scored above chance (``True`` when it cannot be checked).
    """
    score = teacher_metrics.get(main_metric)
    dataset = next((ds for name, ds in data.dev.items() if dev_suffix(name) == ""), None)
    if score is None or dataset is None or "labels" not in dataset.column_names or len(dataset) == 0:
        return True
    chance = chance_scores(np.asarray(dataset["labels"]), task).get(main_metric.removesuffix("_mm"))
    if chance is None or score > chance + MARGIN:
        return True
    warn(
        f"teacher '{teacher}' scores {score:.2f} {main_metric} on the {task.name} dev set, no better than chance "
        f"({chance:.2f}, always predicting one class): check that it was fine-tuned on {task.name} and that its "
        "labels are in the task's order (alembert evaluate shows its scores)"
    )
    return False
