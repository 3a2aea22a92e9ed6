"""A task is data: its text columns, its labels (or regression) and its metrics. GLUE is a table of them
(:mod:`.glue`); a task of the user's own comes from the config's ``task`` mapping (:func:`resolve_task`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from alembert.config.task import CLASSIFICATION_METRICS, TaskConfig
from alembert.errors import ConfigError, DataError


__all__ = ["Task", "infer_labels", "label_text", "labels_from_model", "task_from_config"]

DEFAULT_CLASSIFICATION_METRICS = ("accuracy", "f1_macro")
DEFAULT_REGRESSION_METRICS = ("pearson", "spearman")


@dataclass(frozen=True)
class Task:
    """One classification or regression task.

    Attributes:
        name: lower-case key (``sst2``, ``imdb``).
        text_fields: the one or two text columns.
        label_field: the label column (for CoLA's header-less files, see ``no_header_label_column``).
        labels: label values as the data holds them, in model-output order; ``()`` for regression; ``None`` until
            they are read from the training data (or from a trained model's ``id2label``).
        metrics: reported metrics; the first selects the best checkpoint.
        label_names: names for ``id2label`` when they differ from the values (SST-2: ``0``/``1`` are
            ``negative``/``positive``, the ``datasets`` ClassLabel names); data may use either.
        labels_from: where the labels came from (error messages and the run record).
        folder: folder name in the GLUE download (``SST-2``); ``None`` for other tasks.
        dev_files: dev file names in a task folder (MNLI has matched and mismatched).
        test_files: unlabelled test file names.
        header: GLUE TSV files have a header (CoLA's do not).
        no_header_columns: column indices of the texts in header-less files (CoLA).
        no_header_label_column: column index of the label in header-less files (CoLA).
        hub_name: ``datasets.load_dataset`` path and config (GLUE); empty for other tasks.
    """

    name: str
    text_fields: tuple[str, ...]
    label_field: str = "label"
    labels: tuple[str, ...] | None = None
    metrics: tuple[str, ...] = DEFAULT_CLASSIFICATION_METRICS
    label_names: tuple[str, ...] | None = None
    labels_from: str = "declared in the task"
    folder: str | None = None
    dev_files: tuple[str, ...] = ("dev.tsv",)
    test_files: tuple[str, ...] = ("test.tsv",)
    header: bool = True
    no_header_columns: tuple[int, ...] = ()
    no_header_label_column: int = -1
    hub_name: tuple[str, str] = ("", "")

    @property
    def is_regression(self) -> bool:
        """True for a task with one numeric output (STS-B)."""
        return self.labels == ()

    @property
    def resolved(self) -> bool:
        """Whether the labels are known (always for regression)."""
        return self.labels is not None

    @property
    def num_labels(self) -> int:
        """Width of the classification head (1 for regression)."""
        if self.labels is None:
            raise DataError(f"task {self.name}: its labels are not known yet (they are read from the training data)")
        return len(self.labels) or 1

    @property
    def main_metric(self) -> str:
        """The metric used to pick the best checkpoint."""
        return self.metrics[0]

    @property
    def names(self) -> tuple[str, ...]:
        """Label names for ``id2label`` (the ClassLabel names of GLUE tasks, else the label values)."""
        return self.label_names or self.labels or ()

    def with_labels(self, labels: Iterable[str], source: str) -> Task:
        """This task with its labels (and names) set, e.g. from the training data.

        Raises:
            DataError: fewer than two labels, or a binary-only metric with more than two.
        """
        labels = tuple(labels)
        if len(labels) < 2:
            raise DataError(
                f"task {self.name}: the labels {source} are {list(labels)}; a classification task needs at least "
                "two (or declare regression: true)"
            )
        if "f1" in self.metrics and len(labels) != 2:
            raise ConfigError(
                f"task.metrics: f1 is binary F1, but task {self.name} has {len(labels)} labels ({source}); "
                "use f1_macro"
            )
        return replace(self, labels=labels, label_names=None, labels_from=source)

    def to_dict(self) -> dict[str, Any]:
        """The task as recorded in a run (``metrics.json``): enough to evaluate the model again."""
        return {
            "name": self.name,
            "text_columns": list(self.text_fields),
            "label_column": self.label_field,
            "regression": self.is_regression,
            "labels": None if self.labels is None else list(self.labels),
            "label_names": list(self.names),
            "labels_from": self.labels_from,
            "metrics": list(self.metrics),
        }


def task_from_config(config: TaskConfig) -> Task:
    """The :class:`Task` a config's ``task`` mapping describes (labels still unknown when not listed)."""
    if config.regression:
        metrics, labels = tuple(config.metrics or DEFAULT_REGRESSION_METRICS), ()
    else:
        metrics = tuple(config.metrics or DEFAULT_CLASSIFICATION_METRICS)
        labels = tuple(config.labels) if config.labels is not None else None
    assert config.regression or all(m in CLASSIFICATION_METRICS for m in metrics)  # TaskConfig checked it
    return Task(
        name=config.name.lower(),
        text_fields=tuple(config.text_columns),
        label_field=config.label_column,
        labels=labels,
        metrics=metrics,
        dev_files=("dev.tsv", "validation.tsv"),
    )


def label_text(raw: Any) -> str:
    """A label value as text: ``1``, ``1.0`` and ``"1"`` are all ``"1"``; other values are stripped strings."""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def _as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def infer_labels(seen: Iterable[str]) -> tuple[str, ...]:
    """The sorted set of labels seen: in numeric order when every label is an integer (``2`` before ``10``)."""
    unique = set(seen)
    if unique and all(_as_int(label) is not None for label in unique):
        return tuple(sorted(unique, key=int))
    return tuple(sorted(unique))


_GENERIC = "LABEL_"


def labels_from_model(task: Task, id2label: Mapping[int | str, str] | None, *, what: str = "model") -> Task:
    """For a task whose labels are not declared: the labels a trained model was saved with, in its order.

    A model's ``id2label`` is the authority for the meaning of its outputs (a fine-tuned teacher recorded the
    labels of its training data there). Transformers' placeholders (``LABEL_0``...) say nothing and are ignored.
    """
    if task.resolved or not id2label:
        return task
    names = [str(id2label[key]) for key in sorted(id2label, key=int)]
    if all(name == f"{_GENERIC}{i}" for i, name in enumerate(names)):
        return task
    return task.with_labels(names, f"from the {what}'s id2label")
