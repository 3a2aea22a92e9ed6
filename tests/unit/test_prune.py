"""Structured pruning (Minitron): activation importance, kept units, exact slicing, layer rules and clear errors."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    BertForTokenClassification,
    ElectraForPreTraining,
)

from alembert.errors import ConfigError
from alembert.models.importance import activation_importance
from alembert.models.prune import plan_pruning, prune_model, prune_teacher
from alembert.models.prune_plan import uniform_layers
from tests.conftest import SPECIAL, VOCAB, tiny_config


HEADS = {"base": AutoModel, "seq": AutoModelForSequenceClassification, "mlm": AutoModelForMaskedLM}


def _model(family: str = "bert", head: str = "seq", *, embedding: int | None = None, init: float = 0.02, **shape):
    torch.manual_seed(0)
    config = tiny_config(family, **{"heads": 4, **shape})
    config.initializer_range = init
    if embedding is not None:
        config.embedding_size = embedding
    if head == "pretraining":
        return ElectraForPreTraining(config).eval()
    return HEADS[head].from_config(config).eval()


def _batches(count: int = 2, *, seed: int = 0, size: int = 4, length: int = 12) -> list[dict[str, torch.Tensor]]:
    """Random token batches with padding (mask 0) at the end of some rows."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        ids = torch.randint(len(SPECIAL), len(VOCAB), (size, length), generator=generator)
        mask = torch.ones_like(ids)
        for row in range(1, size):
            mask[row, length - 2 * row :] = 0
        ids[mask == 0] = 0
        batches.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)})
    return batches


def _outputs(model, batch) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    result = {"last_hidden": out.hidden_states[-1]}
    if getattr(out, "logits", None) is not None:
        result["logits"] = out.logits
    return result


def _assert_same_outputs(teacher, student, batches) -> None:
    for batch in batches:
        expected, got = _outputs(teacher, batch), _outputs(student, batch)
        assert expected.keys() == got.keys()
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], atol=1e-5, rtol=0)


def _shape(model) -> tuple[int, int, int, int]:
    c = model.config
    return c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size


IDENTITY_CASES = [
    ("bert", "base", None),
    ("bert", "seq", None),
    ("bert", "mlm", None),
    ("roberta", "base", None),
    ("roberta", "seq", None),
    ("roberta", "mlm", None),
    ("electra", "base", 16),
    ("electra", "seq", 16),
    ("electra", "mlm", 16),
    ("electra", "pretraining", 16),
    ("electra", "base", 32),
    ("electra", "seq", 32),
    ("electra", "mlm", 32),
]


@pytest.mark.parametrize(("family", "head", "embedding"), IDENTITY_CASES)
def test_pruning_to_the_teachers_shape_reproduces_it(family, head, embedding):
    teacher = _model(family, head, embedding=embedding)
    batches = _batches()
    student, report = prune_model(teacher, _shape(teacher), activation_importance(teacher, batches))
    assert type(student) is type(teacher) and report.params_after == report.params_before
    assert report.layers == (0, 1, 2, 3) and report.heads == ((0, 1, 2, 3),) * 4 and not report.head_dims_cut
    assert hasattr(student.base_model, "embeddings_project") == (embedding == 16)
    _assert_same_outputs(teacher, student, batches)
    if head == "mlm":  # the decoder stays tied to the word embeddings
        assert student.get_output_embeddings().weight is student.get_input_embeddings().weight


def test_no_importance_needed_when_nothing_is_ranked():
    teacher = _model()
    student, report = prune_model(teacher, (2, 32, 4, 64), layers=[1, 3])
    assert report.layers == (1, 3) and student.config.num_hidden_layers == 2
    with pytest.raises(ConfigError, match="importance is needed to choose the FFN neurons"):
        prune_model(teacher, (4, 32, 4, 48))
    with pytest.raises(ConfigError, match="importance is needed to choose the layers"):
        prune_model(teacher, (2, 32, 4, 64), layers="importance")


@pytest.mark.parametrize("family", ["bert", "roberta", "electra"])
def test_a_zeroed_ffn_neuron_ranks_lowest_and_pruning_it_changes_nothing(family):
    teacher, neuron = _model(family), 5
    with torch.no_grad():
        for layer in teacher.base_model.encoder.layer:
            layer.intermediate.dense.weight[neuron] = 0
            layer.intermediate.dense.bias[neuron] = 0
            layer.output.dense.weight[:, neuron] = 0
    batches = _batches()
    importance = activation_importance(teacher, batches)
    assert (importance.neurons.argmin(dim=1) == neuron).all() and (importance.neurons[:, neuron] == 0).all()
    student, _ = prune_model(teacher, (4, 32, 4, 63), importance)
    _assert_same_outputs(teacher, student, batches)


def _attention_matches(teacher, student, plan, *, unscaled: bool = False) -> float:
    """Largest gap between teacher and student attention blocks (context, output dense) on the same input.

    The teacher sees random hidden states that are zero on the dropped hidden channels; the student the kept ones.
    A narrower head forces a narrower hidden size (BERT ties head_dim = hidden / heads), and LayerNorm statistics
    over fewer channels differ, so whole-model outputs cannot match exactly: the attention block is compared.
    """
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 9, teacher.config.hidden_size, generator=generator)
    dropped = torch.ones(x.shape[-1], dtype=torch.bool)
    dropped[plan.hidden] = False
    x[..., dropped] = 0
    gap = 0.0
    with torch.no_grad():
        for j, t in enumerate(plan.layers):
            t_att, s_att = teacher.base_model.encoder.layer[t].attention, student.base_model.encoder.layer[j].attention
            if unscaled:
                s_att.self.query.weight /= plan.q_scale
                s_att.self.query.bias /= plan.q_scale
            t_ctx, s_ctx = t_att.self(x)[0], s_att.self(x[..., plan.hidden])[0]
            t_out, s_out = t_att.output.dense(t_ctx), s_att.output.dense(s_ctx)
            gap = max(gap, (s_ctx - t_ctx[..., plan.v[j]]).abs().max().item())
            gap = max(gap, (s_out - t_out[..., plan.hidden]).abs().max().item())
    return gap


def test_a_zeroed_head_ranks_lowest_and_pruning_it_keeps_the_attention_block():
    teacher, head = _model(init=0.3), 2
    d = teacher.config.hidden_size // teacher.config.num_attention_heads
    rows = slice(head * d, (head + 1) * d)
    with torch.no_grad():
        for layer in teacher.base_model.encoder.layer:
            for linear in (layer.attention.self.query, layer.attention.self.key, layer.attention.self.value):
                linear.weight[rows] = 0
                linear.bias[rows] = 0
            layer.attention.output.dense.weight[:, rows] = 0
    importance = activation_importance(teacher, _batches())
    assert (importance.heads.argmin(dim=1) == head).all() and (importance.heads[:, head] == 0).all()
    plan = plan_pruning(teacher, (4, 24, 3, 64), importance)
    assert plan.heads == ((0, 1, 3),) * 4 and not plan.head_dims_cut and "whole heads" in plan.head_case
    student, report = prune_model(teacher, (4, 24, 3, 64), importance)
    assert report.heads == plan.heads
    assert _attention_matches(teacher, student, plan) < 1e-5


def test_zeroed_head_dims_rank_lowest_and_narrowing_heads_keeps_the_attention_scale():
    """Q/K dim 3 and V dim 5 of every head carry nothing: narrowing each head by one drops them (separately)."""
    teacher, qk_dim, v_dim = _model(init=0.3), 3, 5  # large weights: peaked attention, so a wrong score scale shows
    d = teacher.config.hidden_size // teacher.config.num_attention_heads
    qk_rows = [h * d + qk_dim for h in range(teacher.config.num_attention_heads)]
    v_rows = [h * d + v_dim for h in range(teacher.config.num_attention_heads)]
    with torch.no_grad():
        for layer in teacher.base_model.encoder.layer:
            for linear, rows in ((layer.attention.self.query, qk_rows), (layer.attention.self.key, qk_rows)):
                linear.weight[rows] = 0
                linear.bias[rows] = 0
            layer.attention.self.value.weight[v_rows] = 0
            layer.attention.self.value.bias[v_rows] = 0
            layer.attention.output.dense.weight[:, v_rows] = 0
    importance = activation_importance(teacher, _batches())
    assert (importance.qk_dims.argmin(dim=2) == qk_dim).all() and (importance.qk_dims[..., qk_dim] == 0).all()
    assert (importance.v_dims.argmin(dim=2) == v_dim).all() and (importance.v_dims[..., v_dim] == 0).all()
    plan = plan_pruning(teacher, (4, 28, 4, 64), importance)
    assert plan.head_dims_cut and plan.heads == ((0, 1, 2, 3),) * 4 and "narrowed" in plan.head_case
    assert plan.q_scale == pytest.approx(math.sqrt(7 / 8))
    assert all(len(qk) == 28 and not set(qk_rows) & set(qk.tolist()) for qk in plan.qk)
    assert all(len(v) == 28 and not set(v_rows) & set(v.tolist()) for v in plan.v)
    student, report = prune_model(teacher, (4, 28, 4, 64), importance)
    assert report.head_dims_cut and student.config.hidden_size == 28
    assert _attention_matches(teacher, student, plan) < 1e-5
    assert _attention_matches(teacher, student, plan, unscaled=True) > 1e-3  # the test sees the scaling


@pytest.mark.parametrize("family", ["bert", "electra"])
def test_a_pruned_student_round_trips_through_from_pretrained(family, tmp_path):
    teacher = _model(family)
    teacher.config.id2label, teacher.config.label2id = {0: "neg", 1: "pos"}, {"neg": 0, "pos": 1}
    batches = _batches()
    student, report = prune_teacher(teacher, (2, 24, 3, 40), batches, layers="importance")
    assert report.importance_seconds > 0 and report.params_after < report.params_before
    student.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(teacher) and _shape(loaded) == (2, 24, 3, 40)
    assert loaded.config.id2label == {0: "neg", 1: "pos"} and loaded.config.architectures == [type(teacher).__name__]
    assert getattr(loaded.config, "embedding_size", 16) == 16
    _assert_same_outputs(student, loaded, batches)
    assert report.to_dict()["student_shape"] == {
        "num_layers": 2,
        "hidden_size": 24,
        "num_heads": 3,
        "intermediate_size": 40,
    }


def test_importance_follows_the_data_and_only_the_real_tokens_and_not_the_seed():
    teacher = _model().train()  # dropout on: importance must still run in eval mode
    first = activation_importance(teacher, _batches(seed=0))
    assert teacher.training
    other = activation_importance(teacher, _batches(seed=1))
    for field in ("heads", "qk_dims", "v_dims", "neurons", "hidden", "blocks"):
        assert not torch.equal(getattr(first, field), getattr(other, field)), field
    torch.manual_seed(123)
    again = activation_importance(teacher, _batches(seed=0))
    torch.manual_seed(456)
    assert all(torch.equal(getattr(first, f), getattr(again, f)) for f in ("heads", "neurons", "hidden", "blocks"))
    plans = [plan_pruning(teacher, (3, 24, 3, 40), imp, layers="importance") for imp in (first, again)]
    assert plans[0].layers == plans[1].layers and plans[0].heads == plans[1].heads
    assert torch.equal(plans[0].hidden, plans[1].hidden)
    # padding (mask 0) tokens do not count: the same real tokens with more padding give the same importance
    batch = _batches(1)[0]
    padded = {k: torch.cat([v, torch.zeros(v.shape[0], 5, dtype=v.dtype)], dim=1) for k, v in batch.items()}
    padded["input_ids"][:, -5:] = 7
    first, other = activation_importance(teacher, [batch]), activation_importance(teacher, [padded])
    assert first.tokens == other.tokens
    for field in ("heads", "qk_dims", "v_dims", "neurons", "hidden", "blocks"):
        torch.testing.assert_close(getattr(other, field), getattr(first, field), atol=1e-5, rtol=1e-5)


def test_importance_matches_a_direct_computation():
    teacher = _model()
    ids = torch.randint(5, len(VOCAB), (3, 10), generator=torch.Generator().manual_seed(0))
    importance = activation_importance(teacher, [{"input_ids": ids, "attention_mask": torch.ones_like(ids)}])
    with torch.no_grad():
        hidden = teacher(input_ids=ids, output_hidden_states=True).hidden_states
        cosine = torch.nn.functional.cosine_similarity(torch.stack(hidden[:-1]), torch.stack(hidden[1:]), dim=-1)
        torch.testing.assert_close(importance.blocks, 1 - cosine.mean(dim=(1, 2)), atol=1e-5, rtol=1e-4)
        attention = teacher.base_model.encoder.layer[0].attention.self
        q, k, v = (
            lin(hidden[0]).view(3, 10, 4, 8).transpose(1, 2)
            for lin in (attention.query, attention.key, attention.value)
        )
        context = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1) @ v  # (batch, heads, tokens, dim)
    torch.testing.assert_close(importance.heads[0], context.norm(dim=-1).mean(dim=(0, 2)), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(importance.v_dims[0], context.abs().mean(dim=(0, 2)), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(importance.qk_dims[0], (q.abs() * k.abs()).mean(dim=(0, 2)), atol=1e-5, rtol=1e-4)


def test_layer_rules():
    assert uniform_layers(6, 4) == (0, 2, 3, 5)
    assert uniform_layers(12, 6) == (0, 2, 4, 7, 9, 11)
    assert uniform_layers(12, 4) == (0, 4, 7, 11)
    assert uniform_layers(4, 4) == (0, 1, 2, 3) and uniform_layers(4, 1) == (3,)
    teacher = _model()
    importance = dataclasses.replace(
        activation_importance(teacher, _batches(1)), blocks=torch.tensor([0.1, 0.9, 0.2, 0.8])
    )
    for rule, expected in (("uniform", (0, 3)), ("importance", (1, 3)), ([3, 0], (3, 0))):
        student, report = prune_model(teacher, (2, 32, 4, 64), importance, layers=rule)
        assert report.layers == expected
        for j, t in enumerate(expected):
            s_layer, t_layer = student.base_model.encoder.layer[j], teacher.base_model.encoder.layer[t]
            assert all(torch.equal(a, b) for a, b in zip(s_layer.state_dict().values(), t_layer.state_dict().values()))
    with pytest.raises(ConfigError, match="out of range"):
        prune_model(teacher, (2, 32, 4, 64), layers=[0, 4])
    with pytest.raises(ConfigError, match="lists 3 teacher layers for a 2-layer student"):
        prune_model(teacher, (2, 32, 4, 64), layers=[0, 1, 2])
    with pytest.raises(ConfigError, match="'uniform', 'importance' or a list"):
        prune_model(teacher, (2, 32, 4, 64), layers="every_other")


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((5, 32, 4, 64), "larger than the teacher's \\(num_layers 5 > 4\\)"),
        ((4, 64, 4, 128), "hidden_size 64 > 32, intermediate_size 128 > 64"),
        ((4, 32, 8, 64), "num_heads 8 > 4"),
        ((4, 30, 4, 64), "hidden_size 30 is not divisible by num_heads 4"),
        ((4, 32, 2, 64), "cannot widen heads, use at least 4 heads"),
        ((4, 32, 0, 64), "must be positive"),
        ((4, 32, 4), "shape must be"),
    ],
)
def test_impossible_shapes_are_clear_errors(shape, message):
    with pytest.raises(ConfigError, match=message):
        prune_model(_model(), shape)


@pytest.mark.parametrize("family", ["mpnet", "distilbert"])
def test_unsupported_families_are_clear_errors(family):
    config = tiny_config(family, heads=4)
    model = AutoModelForSequenceClassification.from_config(config)
    with pytest.raises(ConfigError, match=f"family '{family}' is not supported; supported families: bert, roberta"):
        prune_model(model, (2, 32, 4, 64))
    with pytest.raises(ConfigError, match="not supported"):
        activation_importance(model, _batches(1))


def test_unsupported_heads_and_electra_widths_are_clear_errors():
    with pytest.raises(ConfigError, match="BertForTokenClassification is not supported \\(supported bert classes"):
        prune_model(BertForTokenClassification(tiny_config("bert", heads=4)), (2, 32, 4, 64))
    electra = _model("electra")  # embedding_size 16 < hidden 32: embeddings_project
    with pytest.raises(ConfigError, match="equal to the embedding_size \\(16\\)"):
        prune_model(electra, (4, 16, 4, 64), activation_importance(electra, _batches(1)))
    other = _model(layers=2)
    with pytest.raises(ConfigError, match="another model shape"):
        prune_model(_model(), (4, 24, 3, 64), activation_importance(other, _batches(1)))


def test_a_minilm_sized_teacher_prunes_to_the_tinybert_shape():
    torch.manual_seed(0)
    config = tiny_config("bert", layers=6, hidden=384, heads=12, ffn=1536)
    config.max_position_embeddings = 512
    teacher = AutoModelForSequenceClassification.from_config(config).eval()
    batches = [
        {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]} for b in _batches(8, size=32, length=64)
    ]
    student, report = prune_teacher(teacher, (4, 312, 12, 1200), batches)
    assert _shape(student) == (4, 312, 12, 1200) and report.layers == (0, 2, 3, 5) and report.head_dims_cut
    state = student.state_dict()
    assert state["bert.embeddings.word_embeddings.weight"].shape == (len(VOCAB), 312)
    assert state["bert.encoder.layer.3.attention.self.query.weight"].shape == (312, 312)
    assert state["bert.encoder.layer.3.intermediate.dense.weight"].shape == (1200, 312)
    assert state["bert.encoder.layer.3.output.dense.weight"].shape == (312, 1200)
    assert state["classifier.weight"].shape == (2, 312)
    assert report.params_after == sum(
        p.numel() for p in AutoModelForSequenceClassification.from_config(student.config).parameters()
    )
    with_bert_vocabulary = report.params_after + (30522 - len(VOCAB)) * 312
    assert 14.3e6 < with_bert_vocabulary < 14.5e6
