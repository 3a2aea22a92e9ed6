"""Attention and relation matches are validated against teacher/student configs before training."""

from __future__ import annotations

import pytest
import torch
from transformers import AlbertConfig, AutoModelForSequenceClassification

from alembert.config import StageConfig
from alembert.errors import ConfigError, ModelError
from alembert.features.extract import forward_features
from alembert.objective.terms import DistillationObjective, resolve_matches
from tests.conftest import tiny_config


TEACHER = tiny_config("bert", layers=4, hidden=32, heads=4)
SAME_HEADS = tiny_config("bert", layers=2, hidden=16, heads=4)
OTHER_HEADS = tiny_config("bert", layers=2, hidden=24, heads=2)


def stage(**match) -> StageConfig:
    return StageConfig.model_validate({"name": "s", "matches": [match]})


def resolve(match: dict, student=SAME_HEADS, teacher=TEACHER):
    return resolve_matches(stage(**match), teacher, student, has_mlm_labels=True)


AT = {"representation": "attention_probs", "layers": "final", "loss": "attention_kl", "mask": "attention_mask"}
VR = {"representation": "value_relation", "layers": "final", "loss": "value_relation_kl", "mask": "attention_mask"}
QKV = {
    "representation": "qkv_relation",
    "teacher_layer": 3,
    "student_layer": 2,
    "loss": "qkv_relation_kl",
    "mask": "attention_mask",
    "params": {"relation_heads": 8, "relations": ["qq", "kk", "vv"]},
}


def test_minilm_matches_resolve_on_the_last_layers():
    (at,) = resolve(AT)
    (vr,) = resolve(VR)
    assert (at.teacher_layer, at.student_layer) == (vr.teacher_layer, vr.student_layer) == (4, 2)


def test_minilm_v1_needs_equal_head_counts():
    for match in (AT, VR, {**AT, "representation": "attention_scores", "loss": "attention_mse"}):
        with pytest.raises(ConfigError, match=r"same number of attention heads \(teacher 4, student 2\)"):
            resolve(match, student=OTHER_HEADS)


def test_minilmv2_relation_heads_work_with_other_head_counts_and_widths():
    (match,) = resolve(QKV, student=OTHER_HEADS)
    assert match.params == {"relation_heads": 8, "relations": ["qq", "kk", "vv"]}
    assert isinstance(match.params["relation_heads"], int)
    with pytest.raises(ConfigError, match=r"relation_heads: 5 must divide .*teacher width 32, student width 24"):
        resolve({**QKV, "params": {"relation_heads": 5}}, student=OTHER_HEADS)
    with pytest.raises(ConfigError, match="needs relation_heads"):
        resolve({**QKV, "params": {}})
    with pytest.raises(ConfigError, match="relations"):
        resolve({**QKV, "params": {"relation_heads": 8, "relations": ["qz"]}})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layers": None, "teacher_layer": 0, "student_layer": 1}, "layer 0 is the embedding output"),
        ({"projection": "linear"}, "needs no projection"),
        ({"mask": "mlm_positions"}, "always excludes padding"),
        ({"loss": "mse"}, "compared with attention_kl or attention_mse"),
    ],
)
def test_bad_attention_matches(change, message):
    with pytest.raises(ConfigError, match=message):
        resolve({**AT, **change})


def test_relations_need_the_padding_mask_and_losses_need_their_representation():
    with pytest.raises(ConfigError, match="need mask: attention_mask"):
        resolve({**VR, "mask": "none"})
    with pytest.raises(ConfigError, match="needs representation attention_probs"):
        resolve({"representation": "hidden", "layers": "final", "loss": "attention_kl"})
    (match,) = resolve({**AT, "mask": "none"})  # allowed: padded keys are already masked in the maps
    assert match.mask == "none"


def test_unsupported_family_is_a_model_error():
    albert = AlbertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4)
    with pytest.raises(ModelError, match="albert"):
        resolve(AT, student=albert)


def test_objective_computes_attention_terms_through_hooks():
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_config(TEACHER).eval()
    student = AutoModelForSequenceClassification.from_config(OTHER_HEADS)
    matches = resolve_matches(
        StageConfig.model_validate({"name": "s", "matches": [QKV, {**AT, "name": "at"}]}), TEACHER, TEACHER
    )
    assert [m.name for m in matches] == ["qkv_relation/qkv_relation_kl", "at"]
    matches = resolve_matches(StageConfig.model_validate({"name": "s", "matches": [QKV]}), TEACHER, OTHER_HEADS)
    objective = DistillationObjective(matches, 0.0, TEACHER, OTHER_HEADS)
    batch = {
        "input_ids": torch.randint(5, 90, (2, 6)),
        "attention_mask": torch.tensor([[1] * 6, [1] * 3 + [0] * 3]),
    }
    with torch.no_grad():
        teacher_features = forward_features(teacher, batch, objective.requested("teacher"))
    loss, terms = objective(forward_features(student, batch, objective.requested("student")), teacher_features, batch)
    assert loss.item() > 0 and set(terms) == {"qkv_relation/qkv_relation_kl"}
    loss.backward()
    assert student.bert.encoder.layer[1].attention.self.value.weight.grad.abs().sum() > 0


def test_attention_only_objective_trains_under_ddp(tmp_path):
    """Under DDP every parameter must get a gradient each step, also when the loss never reads the logits."""
    import torch.distributed as dist

    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_config(TEACHER).eval()
    student = AutoModelForSequenceClassification.from_config(SAME_HEADS)
    matches = resolve_matches(StageConfig.model_validate({"name": "s", "matches": [AT, VR]}), TEACHER, SAME_HEADS)
    objective = DistillationObjective(matches, 0.0, TEACHER, SAME_HEADS)
    batch = {"input_ids": torch.randint(5, 90, (2, 6)), "attention_mask": torch.tensor([[1] * 6, [1] * 4 + [0] * 2])}
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        head = student.classifier.weight.detach().clone()
        wrapped = torch.nn.parallel.DistributedDataParallel(student)
        optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.1)
        for _ in range(3):
            with torch.no_grad():
                teacher_features = forward_features(teacher, batch, objective.requested("teacher"))
            features = forward_features(wrapped, batch, objective.requested("student"))
            loss, _ = objective(features, teacher_features, batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    finally:
        dist.destroy_process_group()
    assert torch.equal(student.classifier.weight, head)  # the head got exact zero gradients: SGD left it alone
