"""Analytic FLOPs: a hand count for a tiny BERT, agreement with PyTorch's FLOP counter, and the papers' totals."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModelForSequenceClassification, BertConfig, MobileBertConfig

from alembert.bench.flops import count_flops, encoder_shape
from alembert.errors import ModelError
from tests.conftest import FAMILIES, tiny_config


def test_hand_count_tiny_bert():
    # 2 layers, width d=32, FFN f=64, s=16 tokens, 2 labels; a multiply-add is 2 FLOPs
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=2)
    flops = count_flops(config, 16)
    layers, s, d, f = 2, 16, 32, 64
    assert flops.attention_projections == 2 * layers * s * (4 * d * d) == 262_144  # Q, K, V, O
    assert flops.attention_matmuls == 2 * layers * (2 * s * s * d) == 65_536  # QKᵀ and AV
    assert flops.ffn == 2 * layers * s * (2 * d * f) == 262_144
    assert flops.head == 2 * (d * d + d * 2) == 2_176  # pooler on [CLS] + classifier
    assert flops.embeddings == flops.bottlenecks == 0
    assert flops.total == 592_000
    assert flops.to_dict()["encoder"] == flops.total - flops.head


def _tiny_mobilebert() -> MobileBertConfig:
    return MobileBertConfig(
        vocab_size=100,
        embedding_size=16,
        hidden_size=64,
        true_hidden_size=16,
        intra_bottleneck_size=16,
        intermediate_size=32,
        num_attention_heads=2,
        num_hidden_layers=2,
        max_position_embeddings=64,
    )


@pytest.mark.parametrize("family", [*FAMILIES, "mobilebert"])
def test_matches_torch_flop_counter(family):
    config = _tiny_mobilebert() if family == "mobilebert" else tiny_config(family)
    config.num_labels = 3
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").eval()
    input_ids = torch.randint(5, config.vocab_size, (1, 12))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
    assert count_flops(config, 12).total == counter.get_total_flops()


def test_papers_totals_at_seq_128():
    bert_base = count_flops(BertConfig(), 128).total
    tinybert = count_flops(BertConfig(num_hidden_layers=4, hidden_size=312, intermediate_size=1200), 128).total
    mobilebert = count_flops(MobileBertConfig(), 128).total
    assert bert_base == pytest.approx(22.5e9, rel=0.01)  # TinyBERT/MobileBERT tables: 22.5B
    assert tinybert == pytest.approx(1.2e9, rel=0.05)  # TinyBERT table: 1.2B
    assert mobilebert == pytest.approx(5.7e9, rel=0.07)  # MobileBERT table: 5.7B (their count is not specified)


def test_attention_grows_quadratically():
    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    short, long = count_flops(config, 8), count_flops(config, 16)
    assert long.attention_matmuls == 4 * short.attention_matmuls
    assert long.ffn == 2 * short.ffn
    assert count_flops(config, 8, head=False).head == 0


def test_shape_and_unknown_type():
    assert encoder_shape(tiny_config("distilbert")) == {
        "layers": 4,
        "hidden": 32,
        "ffn": 64,
        "heads": 2,
        "embedding": 32,
    }
    config = BertConfig()
    config.model_type = "gpt2"
    with pytest.raises(ModelError, match="no analytic count"):
        count_flops(config)
