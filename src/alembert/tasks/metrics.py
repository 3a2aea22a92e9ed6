"""Task metrics (GLUE's official ones and macro-F1), computed with scikit-learn and scipy, in percent."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from alembert.tasks.task import Task


__all__ = ["METRICS", "chance_scores", "compute_metrics", "predictions_from_logits"]

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


def chance_scores(labels: np.ndarray, task: Task) -> dict[str, float]:
    """What a model that ignores its input scores: each metric's best over the constant predictions (the majority
    class for accuracy, always-positive for F1, 0 for correlations).

    Args:
        labels: the dev set's gold labels.
        task: the task.
    """
    if task.is_regression:
        return {metric: 0.0 for metric in task.metrics}
    best: dict[str, float] = {}
    with warnings.catch_warnings():  # constant predictions make F1/MCC undefined for a class: scikit-learn warns
        warnings.simplefilter("ignore")
        for label in range(task.num_labels):
            for metric, value in compute_metrics(np.full(len(labels), label), labels, task).items():
                best[metric] = max(best.get(metric, value), value)
    return best
