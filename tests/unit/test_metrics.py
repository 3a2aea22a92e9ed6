"""Metrics equal scikit-learn/scipy on the same predictions; `alembert evaluate` writes them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from alembert.cli import main
from alembert.tasks.glue import get_task
from alembert.tasks.metrics import compute_metrics
from tests.conftest import save_tiny_model


def test_metrics_equal_sklearn_and_scipy():
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    mrpc = compute_metrics(predictions, labels, get_task("mrpc"))
    assert mrpc["f1"] == pytest.approx(100 * f1_score(labels, predictions))
    assert mrpc["accuracy"] == pytest.approx(100 * accuracy_score(labels, predictions))
    cola = compute_metrics(predictions, labels, get_task("cola"))
    assert cola["matthews_correlation"] == pytest.approx(100 * matthews_corrcoef(labels, predictions))
    scores, targets = rng.normal(size=100), rng.normal(size=100)
    stsb = compute_metrics(scores, targets, get_task("stsb"))
    assert stsb["pearson"] == pytest.approx(100 * pearsonr(scores, targets)[0])
    assert stsb["spearman"] == pytest.approx(100 * spearmanr(scores, targets)[0])


def test_evaluate_cli_writes_predictions_and_metrics_equal_to_sklearn(tmp_path, sst2_dir):
    model = save_tiny_model(tmp_path / "model", "bert")
    out = tmp_path / "eval"
    assert main(["evaluate", str(model), "--task", "sst2", "--data", str(sst2_dir), "--output", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]["dev"]
    predictions = [line.split("\t")[1] for line in (out / "predictions_dev.tsv").read_text().splitlines()[1:]]
    labels = [line.split("\t")[1] for line in (sst2_dir / "dev.tsv").read_text().splitlines()[1:]]
    assert metrics["accuracy"] == pytest.approx(100 * accuracy_score(labels, predictions))
