"""Teacher-output cache: exact w.r.t. what the objective reads, reused when nothing changed, rebuilt when stale."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from alembert import ConfigError, apply_overrides, parse_config
from alembert.config import DistillConfig
from alembert.data.batches import build_train_loader, tokenize_examples
from alembert.data.readers import Example
from alembert.features.cache_build import build_teacher_cache
from alembert.features.extract import forward_features
from alembert.features.teacher_cache import data_fingerprint, teacher_fingerprint
from alembert.losses import LOSSES
from tests.conftest import POSITIVE, save_tiny_model


REQUESTED = {
    ("logits", None),
    ("embeddings", 0),
    ("hidden", 2),
    ("attention_scores", 4),
    ("attention_probs", 1),
    ("value_relation", 3),
    ("qkv_relation", 2),
}
LOSS_OF = {
    "embeddings": "mse",
    "hidden": "cosine",
    "attention_scores": "attention_mse",
    "attention_probs": "attention_kl",
    "value_relation": "value_relation_kl",
    "qkv_relation": "qkv_relation_kl",
}


PARAMS = {"qkv_relation": {"relation_heads": 2}}


def _examples(count: int, shift: int = 0) -> list[Example]:
    words = ["the", "film", "was", "very", "w1", "w2", "and", "plot", *POSITIVE]
    return [Example((" ".join(words[: 3 + (i * 5 + shift) % 12]),), i % 2, i + 2, i) for i in range(count)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = save_tiny_model(tmp_path_factory.mktemp("t") / "teacher", "bert")
    teacher = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    dataset = tokenize_examples(_examples(24), tokenizer, max_length=32)
    return folder, teacher, tokenizer, dataset


def _build(teacher, dataset, tokenizer, cache_dir: Path, dtype: str = "float32", requested=REQUESTED):
    return build_teacher_cache(
        teacher,
        dataset,
        requested,
        tokenizer=tokenizer,
        cache_dir=cache_dir,
        dtype=dtype,
        accelerator=Accelerator(cpu=True),
        batch_size=5,
    )


def test_cached_features_match_the_teacher_on_every_representation(setup, tmp_path):
    _, teacher, tokenizer, dataset = setup
    student = AutoModelForSequenceClassification.from_pretrained(save_tiny_model(tmp_path / "s", seed=3)).eval()
    cache, record = _build(teacher, dataset, tokenizer, tmp_path)
    assert len(record["built"]) == len(REQUESTED) and not record["reused"]
    loader = build_train_loader(dataset, tokenizer, batch_size=7, seed=0)  # other batches, other padding
    for batch in loader:
        with torch.no_grad():
            live = forward_features(teacher, batch, REQUESTED)
            student_features = forward_features(student, batch, REQUESTED)
        cached = cache.features(batch)
        mask = batch["attention_mask"].bool()
        torch.testing.assert_close(cached.logits, live.logits, atol=1e-5, rtol=1e-5)
        for representation, layer in REQUESTED - {("logits", None)}:
            got, want = cached.get(representation, layer), live.get(representation, layer)
            assert got.shape == want.shape
            if representation in ("hidden", "embeddings", "value_relation", "qkv_relation"):
                axis = 1 if representation in ("hidden", "embeddings") else 2
                keep = _token_weights(mask, got, axis)
                torch.testing.assert_close(got * keep, want * keep, atol=1e-5, rtol=1e-5)
            else:  # (batch, heads, query, key): real query/key pairs only
                pairs = (mask[:, None, :, None] & mask[:, None, None, :]).expand_as(got)
                torch.testing.assert_close(got[pairs], want[pairs], atol=1e-5, rtol=1e-5)
            # the loss the objective computes (masked) is the same against the cache as against the live teacher
            student_value = student_features.get(representation, layer)
            loss, params = LOSSES[LOSS_OF[representation]], PARAMS.get(representation, {})
            torch.testing.assert_close(
                loss(student_value, got, mask=mask, **params), loss(student_value, want, mask=mask, **params)
            )


def _token_weights(mask: torch.Tensor, value: torch.Tensor, axis: int) -> torch.Tensor:
    """0/1 tensor broadcastable to ``value`` that keeps the real tokens on ``axis``."""
    shape = [1] * value.ndim
    shape[0], shape[axis] = mask.shape[0], mask.shape[1]
    return mask.to(value.dtype).reshape(shape)


@pytest.mark.parametrize(("dtype", "tolerance"), [("float16", (5e-3, 2e-3)), ("bfloat16", (4e-2, 1.6e-2))])
def test_half_storage_is_close_half_the_size_and_logits_stay_float32(setup, tmp_path, dtype, tolerance):
    _, teacher, tokenizer, dataset = setup
    requested = {("logits", None), ("hidden", 4)}
    cache, _ = _build(teacher, dataset, tokenizer, tmp_path / dtype, dtype=dtype, requested=requested)
    full, _ = _build(teacher, dataset, tokenizer, tmp_path / "float32", requested=requested)
    names = sorted(p.name for p in cache.folder.glob("*.bin"))
    assert names == [f"hidden-4-{dtype}.bin", "logits-na-float32.bin"]
    half, whole = (c.folder / f"hidden-4-{d}.bin" for c, d in ((cache, dtype), (full, "float32")))
    assert half.stat().st_size * 2 == whole.stat().st_size
    batch = next(iter(build_train_loader(dataset, tokenizer, batch_size=8, seed=1)))
    with torch.no_grad():
        live = forward_features(teacher, batch, requested)
    cached = cache.features(batch)
    torch.testing.assert_close(cached.logits, live.logits, atol=1e-6, rtol=1e-6)
    mask = batch["attention_mask"].bool()
    atol, rtol = tolerance
    got, want = cached.get("hidden", 4)[mask], live.get("hidden", 4)[mask]
    torch.testing.assert_close(got, want, atol=atol, rtol=rtol)


def test_reused_when_unchanged_and_rebuilt_when_stale(setup, tmp_path):
    folder, teacher, tokenizer, dataset = setup
    requested = {("logits", None), ("hidden", 2)}
    first, _ = _build(teacher, dataset, tokenizer, tmp_path, requested=requested)
    again, record = _build(teacher, dataset, tokenizer, tmp_path, requested=requested)
    assert again.folder == first.folder and not record["built"] and len(record["reused"]) == 2
    # another stage asks for one more layer: only that entry is computed
    _, record = _build(teacher, dataset, tokenizer, tmp_path, requested=requested | {("hidden", 4)})
    assert list(record["built"]) == ["hidden-4-float32"] and len(record["reused"]) == 2
    # other weights, other data: other keys, never the old entries
    other_teacher = AutoModelForSequenceClassification.from_pretrained(
        save_tiny_model(tmp_path / "other", "bert", seed=1)
    ).eval()
    assert teacher_fingerprint(other_teacher) != teacher_fingerprint(teacher)
    changed, record = _build(other_teacher, dataset, tokenizer, tmp_path, requested=requested)
    assert changed.folder != first.folder and len(record["built"]) == 2
    other_data = tokenize_examples(_examples(24, shift=1), tokenizer, max_length=32)
    assert data_fingerprint(other_data) != data_fingerprint(dataset)
    moved, record = _build(teacher, other_data, tokenizer, tmp_path, requested=requested)
    assert moved.folder not in (first.folder, changed.folder) and len(record["built"]) == 2
    # a damaged entry (truncated file, or metadata of another key) is detected and rebuilt
    data_file = first.folder / "hidden-2-float32.bin"
    data_file.write_bytes(data_file.read_bytes()[:-4])
    meta = first.folder / "logits-na-float32.json"
    meta.write_text(meta.read_text().replace('"key": "', '"key": "0'))
    _, record = _build(teacher, dataset, tokenizer, tmp_path, requested=requested)
    assert "not" in record["built"]["hidden-2-float32"] and "bytes" in record["built"]["hidden-2-float32"]
    assert record["built"]["logits-na-float32"] == "built for another teacher or dataset"


def test_config_refuses_uncacheable_runs():
    base = {
        "task": "sst2",
        "teacher": {"path": "t", "cache": True},
        "stages": [{"name": "s", "matches": [{"name": "h", "representation": "hidden", "layers": "final"}]}],
    }
    base = apply_overrides(base, ["stages.0.matches.0.loss=mse", "stages.0.matches.0.mask=attention_mask"])
    parse_config(DistillConfig, base)
    with pytest.raises(ConfigError, match="teacher.cache.*masks its inputs at random"):
        parse_config(DistillConfig, apply_overrides(base, ["task=mlm"]))
    with pytest.raises(ConfigError, match=r"stages.s.matches.h.mask: teacher.cache keeps real tokens"):
        parse_config(DistillConfig, apply_overrides(base, ["stages.0.matches.0.mask=none"]))
