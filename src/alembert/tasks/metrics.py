"""Task metrics (GLUE's official ones and macro-F1), computed with scikit-learn and scipy, in percent."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from alembert.tasks.task import Task


__all__ = ["METRICS", "compute_metrics", "predictions_from_logits"]

# name -> (predictions, labels) -> value in [-1, 1]; the names are alembert.config.task.METRIC_NAMES (tested)
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": lambda p, y: accuracy_score(y, p),
    "f1": lambda p, y: f1_score(y, p),  # binary, positive class = label 1 (GLUE's MRPC/QQP convention)
    "f1_macro": lambda p, y: f1_score(y, p, average="macro"),
    "matthews_correlation": lambda p, y: matthews_corrcoef(y, p),
    "pearson": lambda p, y: pearsonr(p, y)[0],
    "spearman": lambda p, y: spearmanr(p, y)[0],
}


def predictions_from_logits(logits: np.ndarray, task: Task) -> np.ndarray:
    """Class ids (argmax) for classification, the single output for regression."""
    return logits[:, 0] if task.is_regression else logits.argmax(axis=-1)


def compute_metrics(predictions: np.ndarray, labels: np.ndarray, task: Task) -> dict[str, float]:
    """The task's metrics, in percent (GLUE convention), keyed by name, the main metric first.

    MRPC and QQP report F1 and accuracy; STS-B Pearson and Spearman; CoLA Matthews correlation; others accuracy;
    a task of one's own what it declares (default accuracy and macro-F1, or Pearson and Spearman).
    """
    return {metric: float(100.0 * METRICS[metric](predictions, labels)) for metric in task.metrics}
