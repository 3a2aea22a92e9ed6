"""alembert export: ONNX round trip (fp32 within 1e-4 of PyTorch), int8 runs, self-contained folder, dev scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoConfig, AutoTokenizer

from alembert.cli import main
from alembert.errors import ConfigError
from alembert.export.onnx import export_onnx_file, max_abs_difference, onnx_session, random_inputs
from alembert.models.load import load_model
from alembert.run.export import export_model
from tests.conftest import FAMILIES, save_tiny_model


@pytest.mark.parametrize("family", FAMILIES)
def test_fp32_round_trip_every_family(tmp_path, family):
    folder = save_tiny_model(tmp_path / family, family, layers=2)
    model = load_model(str(folder), head="sequence_classification")
    path = export_onnx_file(model, tmp_path / "model.onnx", exporter="torchscript")
    session = onnx_session(path)
    for batch, seq, padded in ((1, 5, False), (3, 40, True), (4, 17, True)):  # shapes unlike the traced ones
        inputs = random_inputs(model, batch, seq, seed=batch, padded=padded)
        assert max_abs_difference(model, session, inputs) <= 1e-4


def test_dynamo_exporter_round_trip(tmp_path):
    folder = save_tiny_model(tmp_path / "bert", "bert", layers=2)
    model = load_model(str(folder), head="sequence_classification")
    session = onnx_session(export_onnx_file(model, tmp_path / "model.onnx", exporter="dynamo"))
    assert max_abs_difference(model, session, random_inputs(model, 3, 33, padded=True)) <= 1e-4


def test_export_folder_int8_and_dev_scores(tmp_path, sst2_dir):
    folder = save_tiny_model(tmp_path / "student", "distilbert", layers=2)
    out = tmp_path / "onnx"
    result = export_model(
        str(folder), out, int8=True, task="sst2", data=str(sst2_dir), exporter="torchscript", choose_backend=True
    )
    assert result.max_abs_diff <= 1e-4
    assert {p.name for p in out.iterdir()} >= {"model.onnx", "model_int8.onnx", "config.json", "export.json"}
    tokenizer = AutoTokenizer.from_pretrained(out)  # self-contained: tokenizer and config next to the .onnx
    assert AutoConfig.from_pretrained(out).model_type == "distilbert"
    encoded = tokenizer(["a great film"], return_tensors="np")
    int8 = onnx_session(out / "model_int8.onnx")
    logits = int8.run(["logits"], {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})
    assert logits[0].shape == (1, 2) and np.isfinite(logits[0]).all()
    assert set(result.accuracy) == {"torch", "ort", "ort-int8"}
    assert result.accuracy["torch"]["accuracy"] == pytest.approx(result.accuracy["ort"]["accuracy"])
    assert 0.0 <= result.int8_agreement <= 1.0 and result.int8_max_abs_diff is not None
    assert result.backend_choice["chosen"] in {"sdpa", "ort", "ort-int8"}
    assert set(result.backend_choice["median_ms"]) == {"sdpa", "ort", "ort-int8"}
    saved = json.loads((out / "export.json").read_text())
    assert saved["files"] == {"fp32": "model.onnx", "int8": "model_int8.onnx"} and saved["source"] == str(folder)


def test_export_refuses_bad_input(tmp_path, capsys):
    folder = save_tiny_model(tmp_path / "m", "bert", layers=1)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(ConfigError, match="already holds files"):
        export_model(str(folder), tmp_path / "full")
    with pytest.raises(ConfigError, match="go together"):
        export_model(str(folder), tmp_path / "new", task="sst2")
    assert main(["export", str(folder), "--output", str(tmp_path / "o"), "--task", "sst2"]) == 2
    assert "go together" in capsys.readouterr().err
