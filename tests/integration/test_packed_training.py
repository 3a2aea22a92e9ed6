"""Packed training (``train.pack_sequences``) on tiny models: the same losses as padded training, step by step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alembert import distill, load_recipe
from alembert.errors import ConfigError
from tests.conftest import write_sst2
from tests.integration.test_tinybert_pipeline import SHRINK, events, tiny_model


def teacher_without_dropout(folder: Path) -> Path:
    """A tiny teacher whose config (and so the student's, which copies it) has no dropout: runs are comparable."""
    tiny_model(folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def run_tinybert(tmp_path: Path, name: str, *overrides: str):
    teacher = teacher_without_dropout(tmp_path / "teacher")
    sst2 = write_sst2(tmp_path / "SST-2", train=48, dev=8)
    settings = [f"teacher.path={teacher}", f"data.train={sst2}", f"output_dir={tmp_path / name}", *SHRINK]
    settings += ["data.augment=null", "train.max_steps=4", "data.length_grouped=false", *overrides]
    return distill(load_recipe("tinybert-task", settings)).output_dir


def test_packed_steps_give_the_padded_losses(tmp_path):
    only_intermediate = "stages.prediction.matches.pred.weight=0"
    padded = run_tinybert(tmp_path, "padded", only_intermediate, "train.pack_sequences=never")
    packed = run_tinybert(tmp_path, "packed", only_intermediate, "train.pack_sequences=always")
    assert [(e["teacher"], e["student"]) for e in events(padded, "packing")] == [(False, False)]
    assert [(e["teacher"], e["student"]) for e in events(packed, "packing")] == [(True, True)]
    (counts,) = [(e["teacher"], e["student"]) for e in events(packed, "packed_batches")]
    assert counts[0] == counts[1] >= 2  # most batches ran packed (one with little padding may run padded)
    padded_losses = [e["loss"] for e in events(padded, "train")]
    packed_losses = [e["loss"] for e in events(packed, "train")]
    assert len(padded_losses) == 4
    assert packed_losses == pytest.approx(padded_losses, rel=1e-4)  # the weights moved the same way every step


def test_auto_packs_where_exact_and_always_refuses_logits_before_training(tmp_path):
    auto = run_tinybert(tmp_path, "auto")  # intermediate stage (masked token losses) + prediction stage (logits)
    decisions = {e["stage"]: (e["teacher"], e["student"]) for e in events(auto, "packing")}
    assert decisions == {"intermediate": (True, True), "prediction": (False, False)}  # CPU: packed where exact
    with pytest.raises(ConfigError, match=r"pack_sequences=always.*stage 'prediction'.*logits"):
        run_tinybert(tmp_path, "always", "train.pack_sequences=always")
    assert not (tmp_path / "always" / "checkpoints").exists()  # refused before the first stage started
