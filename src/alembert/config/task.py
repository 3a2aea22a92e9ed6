"""The ``task`` section: a built-in task name (``sst2``, ``mlm``) or a task of the user's own, described as data.

A task of one's own is a mapping: its name, the text column(s), the label column, and either the label values (in
model-output order; default: the sorted set of labels seen in the training data) or ``regression: true``, and the
metrics to report (the first one selects the best checkpoint)::

    task: {name: imdb, text_columns: [text], label_column: label, metrics: [accuracy, f1]}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from alembert.config.sections import _Frozen


__all__ = [
    "CLASSIFICATION_METRICS",
    "METRIC_NAMES",
    "REGRESSION_METRICS",
    "TASK_UNION_TAGS",
    "TaskConfig",
    "TaskField",
    "task_name",
]

MetricName = Literal["accuracy", "f1", "f1_macro", "matthews_correlation", "pearson", "spearman"]
METRIC_NAMES: tuple[str, ...] = MetricName.__args__  # type: ignore[attr-defined]
CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "f1", "f1_macro", "matthews_correlation")
REGRESSION_METRICS: tuple[str, ...] = ("pearson", "spearman")


class TaskConfig(_Frozen):
    """A classification or regression task of the user's own (GLUE tasks are built in: ``task: sst2``)."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Names the task in reports and run folders (imdb)."
    )
    text_columns: list[str] = Field(min_length=1, max_length=2, description="One text column, or a pair.")
    label_column: str = "label"
    labels: list[str] | None = Field(
        default=None,
        description="Label values as they appear in the data, in model-output order; default: the sorted set of "
        "labels seen in the training data (numbers in numeric order), recorded in the run.",
    )
    regression: bool = Field(default=False, description="One numeric output (like STS-B) instead of classes.")
    metrics: list[MetricName] | None = Field(
        default=None,
        description="Reported on dev sets; the first selects the best checkpoint. Default: accuracy and f1_macro "
        "(classification), pearson and spearman (regression). f1 is the binary F1 of the second label.",
    )

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_as_text(cls, value: Any) -> Any:
        """``labels: [0, 1, 2]`` in YAML are numbers; labels are compared as the text the data files hold."""
        if isinstance(value, list):
            return [str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in value]
        return value

    @model_validator(mode="after")
    def _check(self) -> TaskConfig:
        if self.name == "mlm":
            raise ValueError("task.name: 'mlm' is general distillation on raw text; choose another name")
        if self.labels is not None:
            if self.regression:
                raise ValueError("task: give either labels (classification) or regression: true, not both")
            if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
                raise ValueError(f"task.labels: need at least two distinct labels, got {self.labels}")
        allowed = REGRESSION_METRICS if self.regression else CLASSIFICATION_METRICS
        wrong = [m for m in self.metrics or [] if m not in allowed]
        if wrong:
            kind = "regression" if self.regression else "classification"
            raise ValueError(f"task.metrics: {wrong} do not apply to a {kind} task; choose from {list(allowed)}")
        if self.metrics is not None and not self.metrics:
            raise ValueError("task.metrics: give at least one metric (or leave the key out for the defaults)")
        if self.labels is not None and "f1" in (self.metrics or []) and len(self.labels) != 2:
            raise ValueError(f"task.metrics: f1 is binary F1, but there are {len(self.labels)} labels; use f1_macro")
        return self


def _task_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "task-name"
    if isinstance(value, (dict, TaskConfig)):
        return "task-spec"
    return None


# Pydantic puts a union member's tag into an error's location; config.io leaves these out of the key it reports.
TASK_UNION_TAGS = frozenset({"task-name", "task-spec"})

TaskField = Annotated[
    Union[Annotated[str, Tag("task-name")], Annotated[TaskConfig, Tag("task-spec")]],  # noqa: UP007 (tags)
    Discriminator(
        _task_kind,
        custom_error_type="task_kind",
        custom_error_message="a task name (sst2, mlm, ...) or a mapping {name, text_columns, label_column, "
        "labels | regression, metrics}",
    ),
]


def task_name(task: str | TaskConfig) -> str:
    """The name of a ``task`` section, whichever form it has."""
    return task if isinstance(task, str) else task.name
