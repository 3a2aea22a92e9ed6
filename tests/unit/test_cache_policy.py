"""teacher.cache: auto caches only where the cache is exact and saves teacher passes; storage follows precision."""

from __future__ import annotations

from types import SimpleNamespace

import datasets
import pytest

from alembert import ConfigError, apply_overrides, parse_config
from alembert.config import DistillConfig, TrainConfig
from alembert.run.cache_policy import cache_blocker, cache_dtype, later_cached_features, passes_over_data


def _config(*overrides: str) -> DistillConfig:
    base = {
        "task": "sst2",
        "teacher": {"path": "t"},
        "stages": [{"name": "s", "matches": [{"name": "h", "representation": "logits", "loss": "kl_div"}]}],
    }
    return parse_config(DistillConfig, apply_overrides(base, list(overrides)))


HIDDEN = SimpleNamespace(name="hidn/t4-s2", representation="hidden", mask="attention_mask")
LOGITS = SimpleNamespace(name="kd", representation="logits", mask="none")
ROWS = datasets.Dataset.from_dict({"idx": list(range(100))})


def test_defaults_are_auto_and_storage_follows_the_run_precision():
    teacher = _config().teacher
    assert teacher.cache == "auto" and teacher.cache_dtype == "auto"
    assert [cache_dtype("auto", p) for p in ("no", "bf16", "fp16")] == ["float32", "bfloat16", "float16"]
    assert cache_dtype("float16", "no") == "float16" and cache_dtype("float32", "bf16") == "float32"
    assert _config("teacher.cache=true").teacher.cache is True
    assert _config("teacher.cache=false").teacher.cache is False
    with pytest.raises(ConfigError, match="teacher.cache_dtype"):
        _config("teacher.cache_dtype=int8")


def test_passes_count_epochs_or_what_max_steps_amount_to():
    assert passes_over_data(TrainConfig(epochs=5), 100) == 5
    assert passes_over_data(TrainConfig(max_steps=10, batch_size=20), 100) == 2
    assert passes_over_data(TrainConfig(max_steps=10, batch_size=5, gradient_accumulation_steps=2), 100, 2) == 2


def test_auto_caches_a_multi_epoch_stage_on_fixed_data_only():
    config, train = _config(), TrainConfig(epochs=3)
    assert cache_blocker(config, [HIDDEN, LOGITS], train, ROWS, 1) is None
    assert "1 time(s)" in cache_blocker(config, [HIDDEN], TrainConfig(epochs=1), ROWS, 1)
    assert "0.5 time(s)" in cache_blocker(config, [HIDDEN], TrainConfig(max_steps=5, batch_size=10), ROWS, 1)
    unmasked = SimpleNamespace(name="attn", representation="attention_scores", mask="none")
    assert "match attn compares padded positions" in cache_blocker(config, [HIDDEN, unmasked], train, ROWS, 1)
    assert "task: mlm" in cache_blocker(_config("task=mlm"), [HIDDEN], train, ROWS, 1)
    assert "tokenizer of its own" in cache_blocker(_config("student.tokenizer=tok"), [LOGITS], train, ROWS, 1)


def test_the_first_cached_stage_also_computes_what_later_cached_stages_read():
    hidden = SimpleNamespace(**vars(HIDDEN), teacher_layer=4, student_layer=2)
    logits = SimpleNamespace(**vars(LOGITS), teacher_layer=None, student_layer=None)
    three, one = TrainConfig(epochs=3), TrainConfig(epochs=1)
    stages = [([hidden], three), ([], three), ([logits], three)]  # the middle stage is plain fine-tuning
    assert later_cached_features(_config(), stages, ROWS, 1) == [{("logits", None)}, {("logits", None)}, set()]
    # a later stage that will run live (one pass under auto; or cache: false) is not computed ahead
    assert later_cached_features(_config(), [([hidden], three), ([logits], one)], ROWS, 1) == [set(), set()]
    assert later_cached_features(_config("teacher.cache=true"), [([hidden], three), ([logits], one)], ROWS, 1)[0] == {
        ("logits", None)
    }
    assert later_cached_features(_config("teacher.cache=false"), stages, ROWS, 1) == [set(), set(), set()]
