"""Hooked attention capture under the default (sdpa) kernel equals what the eager kernel computes."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForSequenceClassification, MobileBertConfig

from alembert.errors import ModelError
from alembert.features.capture import ATTENTION_REPRESENTATIONS, AttentionCapture, attention_shape
from alembert.features.extract import Features, forward_features
from tests.conftest import FAMILIES, tiny_config


def family_config(family: str):
    if family == "mobilebert":
        config = MobileBertConfig(
            vocab_size=100,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=32,
            embedding_size=16,
            intra_bottleneck_size=16,
            true_hidden_size=16,
        )
    else:
        config = tiny_config(family)
    config.initializer_range = 0.2  # larger than the default: scores of order 1-5, so 1e-5 agreement means something
    return config


def model_pair(family: str):
    """The same random weights under the default kernel and under eager."""
    torch.manual_seed(0)
    default = AutoModelForSequenceClassification.from_config(copy.deepcopy(family_config(family))).eval()
    eager = AutoModelForSequenceClassification.from_config(
        copy.deepcopy(family_config(family)), attn_implementation="eager"
    ).eval()
    eager.load_state_dict(default.state_dict())
    return default, eager


def padded_batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(5, 90, (3, 9), generator=generator)
    attention_mask = torch.ones(3, 9, dtype=torch.long)
    attention_mask[1, 6:] = 0
    attention_mask[2, 3:] = 0
    input_ids[attention_mask == 0] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def eager_pre_softmax(model: nn.Module, batch, monkeypatch) -> list[torch.Tensor]:
    """Eager's own pre-softmax scores: the input of each ``softmax`` call in the eager forward."""
    recorded, softmax = [], F.softmax

    def recording(x, *args, **kwargs):
        recorded.append(x.detach().clone())
        return softmax(x, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "softmax", recording)
    with torch.no_grad():
        model(**batch)
    monkeypatch.setattr(torch.nn.functional, "softmax", softmax)
    return recorded


@pytest.mark.parametrize("family", [*FAMILIES, "mobilebert"])
def test_capture_equals_eager(family, monkeypatch):
    default, eager = model_pair(family)
    assert default.config._attn_implementation == ("eager" if family == "mpnet" else "sdpa")
    batch = padded_batch()
    layers = range(1, default.config.num_hidden_layers + 1)
    requested = [(rep, layer) for rep in ("attention_scores", "attention_probs") for layer in layers]
    with torch.no_grad():
        features = forward_features(default, batch, requested)
        reference = eager(**batch, output_attentions=True)
    eager_scores = eager_pre_softmax(eager, batch, monkeypatch)
    assert len(eager_scores) == len(layers)
    tokens = batch["attention_mask"].bool()
    for layer in layers:
        probs = features.get("attention_probs", layer)
        scores = features.get("attention_scores", layer)
        assert probs.dtype == scores.dtype == torch.float32
        torch.testing.assert_close(probs, reference.attentions[layer - 1], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(scores.softmax(-1), reference.attentions[layer - 1], rtol=1e-5, atol=1e-5)
        padded_keys = ~tokens[:, None, None, :].expand_as(scores)
        expected = eager_scores[layer - 1]
        torch.testing.assert_close(scores[~padded_keys], expected[~padded_keys], rtol=1e-5, atol=1e-5)
        assert scores[padded_keys].max() < -1e30 and expected[padded_keys].max() < -1e30
        assert probs[padded_keys].abs().max() == 0
        assert scores[~padded_keys].abs().max() > 0.5  # the comparison is not vacuous


@pytest.mark.parametrize("family", ["bert", "distilbert", "mpnet"])
def test_scores_equal_a_manual_qk_product(family):
    default, _ = model_pair(family)
    batch = padded_batch()
    with torch.no_grad():
        features = forward_features(default, batch, [("attention_scores", 2), ("hidden", 1)])
        hidden = features.get("hidden", 1)  # input of block 2
        base = default.base_model
        layer = (base.transformer if family == "distilbert" else base.encoder).layer[1]
        attention = {"bert": lambda: layer.attention.self, "distilbert": lambda: layer.attention}.get(
            family, lambda: layer.attention.attn
        )()
        names = {"bert": ("query", "key"), "distilbert": ("q_lin", "k_lin"), "mpnet": ("q", "k")}[family]
        heads, width = attention_shape(default.config)
        q, k = (getattr(attention, n)(hidden).view(3, 9, heads, width // heads).transpose(1, 2) for n in names)
        manual = q @ k.transpose(-1, -2) / (width // heads) ** 0.5
        if family == "mpnet":
            manual = manual + base.encoder.compute_position_bias(hidden)
    scores = features.get("attention_scores", 2)
    real_keys = batch["attention_mask"].bool()[:, None, None, :].expand_as(scores)
    torch.testing.assert_close(scores[real_keys], manual[real_keys], rtol=1e-5, atol=1e-5)
    assert (scores[~real_keys] == torch.finfo(torch.float32).min).all()


def test_value_and_qkv_relation_inputs():
    default, _ = model_pair("bert")
    batch = padded_batch()
    with torch.no_grad():
        features = forward_features(default, batch, [("value_relation", 3), ("qkv_relation", 3), ("hidden", 2)])
        attention = default.bert.encoder.layer[2].attention.self
        hidden = features.get("hidden", 2)
        expected = [m(hidden) for m in (attention.query, attention.key, attention.value)]
    values = features.get("value_relation", 3)
    assert values.shape == (3, 2, 9, 16)
    torch.testing.assert_close(values.transpose(1, 2).reshape(3, 9, 32), expected[2])
    qkv = features.get("qkv_relation", 3)
    assert qkv.shape == (3, 3, 9, 32)
    for i in range(3):
        torch.testing.assert_close(qkv[:, i], expected[i])


def test_hooks_only_on_mapped_layers_and_removed_after(monkeypatch):
    default, _ = model_pair("bert")
    layers = default.bert.encoder.layer
    seen = []

    def forward_spy(module, args, output):
        seen.append([len(layer.attention.self.query._forward_hooks) for layer in layers])

    spy = layers[3].register_forward_hook(forward_spy)
    forward_features(default, padded_batch(), [("attention_probs", 2)])
    spy.remove()
    assert seen == [[0, 1, 0, 0]]  # only block 2 (layers[1]) was hooked during the pass
    assert all(not m._forward_hooks for m in default.modules())
    with pytest.raises(RuntimeError, match="boom"):
        with AttentionCapture(default, [("attention_probs", 1)], None):
            raise RuntimeError("boom")
    assert all(not m._forward_hooks for m in default.modules())


def test_gradient_reaches_the_student_and_bf16_autocast_still_gives_fp32():
    default, _ = model_pair("bert")
    default.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = forward_features(default, padded_batch(), [("attention_probs", 4)])
    probs = features.get("attention_probs", 4)
    assert probs.dtype == torch.float32
    probs.pow(2).sum().backward()
    assert default.bert.encoder.layer[3].attention.self.query.weight.grad is not None
    assert default.bert.encoder.layer[3].attention.self.value.weight.grad is None  # V is not in the probs


def test_works_through_a_ddp_wrapper(tmp_path):
    import torch.distributed as dist

    default, eager = model_pair("roberta")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        wrapped = nn.parallel.DistributedDataParallel(default)
        batch = padded_batch()
        with torch.no_grad():
            features = forward_features(wrapped, batch, [("attention_probs", 1)])
            reference = eager(**batch, output_attentions=True).attentions[0]
        torch.testing.assert_close(features.get("attention_probs", 1), reference, rtol=1e-5, atol=1e-5)
    finally:
        dist.destroy_process_group()


def test_missing_or_empty_captures_raise():
    default, _ = model_pair("bert")
    other, _ = model_pair("bert")
    capture = AttentionCapture(default, [("attention_probs", 1)], None)
    with capture:
        other(**padded_batch())  # a different model ran: the hooks never fired
    with pytest.raises(RuntimeError, match="did not fire"):
        capture.features()
    features = Features(default(**padded_batch()), {})
    for representation in sorted(ATTENTION_REPRESENTATIONS):
        with pytest.raises(RuntimeError, match="not captured"):
            features.get(representation, 1)
    with pytest.raises(ValueError, match="out of range"):
        AttentionCapture(default, [("attention_probs", 5)], None)


def test_unknown_family_is_a_model_error():
    class Config:
        model_type = "gpt2"
        num_attention_heads = 2

    with pytest.raises(ModelError, match="gpt2"):
        attention_shape(Config())
