"""Official GLUE metrics, computed with scikit-learn and scipy."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from alembert.tasks.glue import GlueTask


__all__ = ["chance_scores", "compute_metrics", "predictions_from_logits"]


def predictions_from_logits(logits: np.ndarray, task: GlueTask) -> np.ndarray:
    """Class ids (argmax) for classification, the single output for regression."""
    return logits[:, 0] if task.is_regression else logits.argmax(axis=-1)


def compute_metrics(predictions: np.ndarray, labels: np.ndarray, task: GlueTask) -> dict[str, float]:
    """The task's official metrics, in percent (GLUE convention), keyed by name.

    MRPC and QQP report F1 and accuracy; STS-B Pearson and Spearman; CoLA Matthews correlation; others accuracy.
    """
    results: dict[str, float] = {}
    for metric in task.metrics:
        if metric == "accuracy":
            value = accuracy_score(labels, predictions)
        elif metric == "f1":
            value = f1_score(labels, predictions)
        elif metric == "matthews_correlation":
            value = matthews_corrcoef(labels, predictions)
        elif metric == "pearson":
            value = pearsonr(predictions, labels)[0]
        elif metric == "spearman":
            value = spearmanr(predictions, labels)[0]
        else:  # pragma: no cover - registry and this table are kept in sync by tests
            raise KeyError(metric)
        results[metric] = float(100.0 * value)
    return results


def chance_scores(labels: np.ndarray, task: GlueTask) -> dict[str, float]:
    """What a model that ignores its input scores: each metric's best over the constant predictions (the majority
    class for accuracy, always-positive for F1, 0 for correlations).

    Args:
        labels: the dev set's gold labels.
        task: the GLUE task.
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
