"""MobileBERT / IB-BERT architectures: presets, the paper's parameter counts, config sections, teacher init."""

from __future__ import annotations

import typing

import pytest
import torch
from transformers import AutoModelForSequenceClassification, BertConfig, MobileBertForMaskedLM, MobileBertModel

from alembert.config import MobileBertShape, StudentConfig
from alembert.errors import ConfigError
from alembert.models.mobilebert import MOBILEBERT_PRESETS, build_mobilebert, copy_outer_weights, mobilebert_config
from tests.conftest import tiny_config, tiny_mobilebert_student


def shape(preset: str, **mobilebert) -> StudentConfig:
    return StudentConfig(architecture="mobilebert", mobilebert={"preset": preset, **mobilebert})


def meta_parameters(preset: str) -> int:
    """Parameters of the encoder (embeddings + blocks; no pooler, no head), built on the meta device (no memory)."""
    with torch.device("meta"):
        model = MobileBertModel(mobilebert_config(BertConfig(), shape(preset)), add_pooling_layer=False)
    return sum(p.numel() for p in model.parameters())


def test_the_config_literal_lists_every_preset():
    assert set(typing.get_args(MobileBertShape.model_fields["preset"].annotation)) == set(MOBILEBERT_PRESETS)


@pytest.mark.parametrize(
    ("preset", "exact", "paper"),
    [
        ("mobilebert", 24_581_888, 25.3e6),
        ("mobilebert-no-opt", 24_581_888, 25.3e6),
        ("mobilebert-tiny", 15_485_696, 15.1e6),
    ],
)
def test_mobilebert_parameter_counts_match_the_paper(preset, exact, paper):
    # the released configs give these exact counts; the paper rounds its own accounting to 25.3M / 15.1M (3% off)
    count = meta_parameters(preset)
    assert count == exact
    assert abs(count - paper) / paper < 0.03


def test_ibbert_parameter_count_matches_the_paper_up_to_the_shared_query_key_bottleneck():
    count = meta_parameters("ibbert-large")
    assert count == 332_027_648
    # the reference IB-BERT reads queries and keys from the 512 feature map; transformers adds a shared 512->1024
    # bottleneck (weights, bias, LayerNorm) and gives the query/key layers 1024 inputs instead of 512
    config = mobilebert_config(BertConfig(), shape("ibbert-large"))
    body, feature_map = config.true_hidden_size, config.hidden_size
    extra_per_block = (feature_map * body + body) + 2 * body + 2 * (body - feature_map) * body
    reference = count - config.num_hidden_layers * extra_per_block
    assert reference == 294_205_184
    assert abs(reference - 293e6) / 293e6 < 0.005


def test_presets_have_the_papers_shapes():
    mobile = mobilebert_config(BertConfig(), shape("mobilebert"))
    assert (mobile.hidden_size, mobile.true_hidden_size, mobile.intermediate_size) == (512, 128, 512)
    assert (mobile.num_hidden_layers, mobile.num_attention_heads, mobile.num_feedforward_networks) == (24, 4, 4)
    assert (mobile.normalization_type, mobile.hidden_act, mobile.embedding_size, mobile.trigram_input) == (
        "no_norm",
        "relu",
        128,
        True,
    )
    ib = mobilebert_config(BertConfig(), shape("ibbert-large"))
    assert (ib.hidden_size, ib.true_hidden_size, ib.intermediate_size, ib.num_feedforward_networks) == (
        512,
        1024,
        4096,
        1,
    )
    assert (ib.normalization_type, ib.hidden_act, ib.num_hidden_layers, ib.num_attention_heads) == (
        "layer_norm",
        "gelu",
        24,
        4,
    )
    tiny = mobilebert_config(BertConfig(), shape("mobilebert-tiny"))
    assert (
        tiny.use_bottleneck_attention and not tiny.key_query_shared_bottleneck and tiny.num_feedforward_networks == 2
    )


def test_explicit_fields_scale_a_preset_down_and_labels_and_vocab_come_from_the_teacher():
    teacher = tiny_config("bert")
    teacher.num_labels = 3
    cfg = tiny_mobilebert_student(
        24, {"bottleneck_size": 16, "embedding_size": 8, "num_feedforward_networks": 2, "activation": "gelu"}
    )
    config = mobilebert_config(teacher, cfg)
    assert (config.num_hidden_layers, config.hidden_size, config.true_hidden_size, config.embedding_size) == (
        2,
        32,
        16,
        8,
    )
    assert (config.num_feedforward_networks, config.hidden_act, config.normalization_type) == (2, "gelu", "no_norm")
    assert (config.vocab_size, config.max_position_embeddings, config.num_labels) == (teacher.vocab_size, 64, 3)
    bottleneck = mobilebert_config(
        teacher, cfg.model_copy(update={"mobilebert": MobileBertShape(attention_input="bottleneck")})
    )
    assert bottleneck.use_bottleneck_attention and not bottleneck.key_query_shared_bottleneck


def test_student_section_errors():
    with pytest.raises(ValueError, match="architecture is not mobilebert"):
        StudentConfig(mobilebert={"preset": "mobilebert"})
    with pytest.raises(ValueError, match="no teacher layers to copy"):
        StudentConfig(architecture="mobilebert", init="every_other")
    with pytest.raises(ValueError, match="preset"):
        StudentConfig(architecture="mobilebert", mobilebert={"preset": "mobilebert-huge"})
    assert StudentConfig(architecture="mobilebert").init == "random"  # default for a new family
    with pytest.raises(ConfigError, match="bottleneck_size 18 is not divisible by num_heads 4"):
        mobilebert_config(tiny_config("bert"), shape("mobilebert", bottleneck_size=18))


def test_init_teacher_copies_embeddings_and_head_but_never_a_layernorm_into_a_nonorm():
    torch.manual_seed(0)
    tiny = {"num_layers": 2, "hidden_size": 32, "num_heads": 4, "intermediate_size": 32}
    teacher_cfg = StudentConfig(
        architecture="mobilebert",
        mobilebert={"preset": "ibbert-large", "bottleneck_size": 64, "embedding_size": 16},
        **tiny,
    )
    teacher = MobileBertForMaskedLM(mobilebert_config(tiny_config("bert"), teacher_cfg))
    with torch.no_grad():  # a trained LayerNorm (not the default ones/zeros a fresh NoNorm also has)
        teacher.mobilebert.embeddings.LayerNorm.weight.fill_(2.0)
        for name, parameter in teacher.named_parameters():
            if ".layer." in name:
                parameter.add_(1.0)  # no block tensor may be copied, not even the zero-initialised biases
    student_cfg = StudentConfig(
        architecture="mobilebert", init="teacher", mobilebert={"bottleneck_size": 16, "embedding_size": 16}, **tiny
    )
    student, init = build_mobilebert(teacher, student_cfg, masked_lm=True)
    assert isinstance(student, MobileBertForMaskedLM) and init.teacher_layers == () and init.copied > 0
    t, s = teacher.state_dict(), student.state_dict()
    for key in (
        "mobilebert.embeddings.word_embeddings.weight",
        "mobilebert.embeddings.embedding_transformation.weight",
    ):
        assert torch.equal(s[key], t[key])
    assert torch.equal(s["cls.predictions.transform.dense.weight"], t["cls.predictions.transform.dense.weight"])
    assert not torch.equal(s["mobilebert.embeddings.LayerNorm.weight"], t["mobilebert.embeddings.LayerNorm.weight"])
    assert all(not torch.equal(s[k], t[k]) for k in s if ".layer." in k and k in t and s[k].shape == t[k].shape)
    assert copy_outer_weights(student, teacher) == init.copied


def test_a_mobilebert_student_of_a_bert_teacher_shares_only_the_vocabulary_and_labels(tmp_path):
    config = tiny_config("bert")
    config.num_labels = 3
    teacher = AutoModelForSequenceClassification.from_config(config)
    cfg = tiny_mobilebert_student(32, {"bottleneck_size": 16})
    with pytest.raises(ConfigError, match="from a bert teacher it copies only the token embeddings.*hidden size 32"):
        build_mobilebert(teacher, cfg.model_copy(update={"init": "teacher"}), masked_lm=False)
    student, init = build_mobilebert(teacher, cfg, masked_lm=False)
    assert type(student).__name__ == "MobileBertForSequenceClassification" and init.copied == 0
    student.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(reloaded).__name__ == "MobileBertForSequenceClassification"
    assert (reloaded.config.vocab_size, reloaded.config.num_labels) == (config.vocab_size, 3)


def test_init_teacher_from_a_bert_teacher_copies_its_token_embeddings_when_widths_match():
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_config(tiny_config("bert"))  # hidden 32
    cfg = StudentConfig(
        architecture="mobilebert",
        init="teacher",
        num_layers=2,
        hidden_size=32,
        num_heads=4,
        intermediate_size=32,
        mobilebert={"preset": "ibbert-large", "bottleneck_size": 64, "embedding_size": 32},
    )
    student, init = build_mobilebert(teacher, cfg, masked_lm=False)
    assert init.copied == 1
    assert torch.equal(student.get_input_embeddings().weight, teacher.get_input_embeddings().weight)
    fresh, _ = build_mobilebert(teacher, cfg.model_copy(update={"init": "random"}), masked_lm=False)
    assert not torch.equal(fresh.get_input_embeddings().weight, teacher.get_input_embeddings().weight)
