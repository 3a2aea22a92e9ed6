"""TinyBERT's objective: shapes for a narrower student, head-count errors, layer maps, zero-weight terms, ablations."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification, BertConfig

from alembert.config import StageConfig
from alembert.config.recipes import load_recipe
from alembert.errors import ConfigError
from alembert.features.extract import forward_features
from alembert.objective.layer_maps import expand_layer_map
from alembert.objective.terms import DistillationObjective, resolve_matches
from tests.conftest import tiny_config


BERT_BASE = BertConfig()  # 12 x 768, 12 heads
TINYBERT = BertConfig(num_hidden_layers=4, hidden_size=312, num_attention_heads=12, intermediate_size=1200)


def stage(name: str = "intermediate", overrides: list[str] | None = None) -> StageConfig:
    config = load_recipe("tinybert-task", overrides or [])
    return next(s for s in config.stages if s.name == name)


def test_intermediate_stage_resolves_for_4x312_student_of_bert_base():
    assert TINYBERT.hidden_size // TINYBERT.num_attention_heads == 26
    matches = resolve_matches(stage(), BERT_BASE, TINYBERT)
    pairs = {m.name: (m.teacher_layer, m.student_layer) for m in matches}
    assert pairs["embd"] == (0, 0)
    mapped = [(3, 1), (6, 2), (9, 3), (12, 4)]  # g(m) = 3m
    assert [pairs[f"hidn/t{t}-s{s}"] for t, s in mapped] == mapped
    assert [pairs[f"attn/t{t}-s{s}"] for t, s in mapped] == mapped
    objective = DistillationObjective(matches, 0.0, BERT_BASE, TINYBERT)
    # W_e and one shared W_h (shared_projection), both 312 -> 768; attention needs none
    assert sorted(objective.projections) == ["embd", "hidn"]
    assert all(tuple(p.weight.shape) == (768, 312) for p in objective.projections.values())
    per_layer = resolve_matches(
        stage(overrides=["stages.intermediate.matches.hidn.shared_projection=false"]), BERT_BASE, TINYBERT
    )
    assert len(DistillationObjective(per_layer, 0.0, BERT_BASE, TINYBERT).projections) == 5


def test_attention_maps_need_equal_head_counts():
    student = BertConfig(num_hidden_layers=4, hidden_size=312, num_attention_heads=4, intermediate_size=1200)
    with pytest.raises(ConfigError, match=r"same number of attention heads \(teacher 12, student 4\)"):
        resolve_matches(stage(), BERT_BASE, student)
    no_attention = stage(overrides=["stages.intermediate.matches.attn.weight=0"])
    with pytest.raises(ConfigError, match="same number of attention heads"):  # a zero weight is still validated
        resolve_matches(no_attention, BERT_BASE, student)


def test_hidden_projection_is_required_for_a_narrower_student():
    overrides = ["stages.intermediate.matches.hidn.projection=none"]
    with pytest.raises(ConfigError, match="student width 312 != teacher width 768; add `projection: linear`"):
        resolve_matches(stage(overrides=overrides), BERT_BASE, TINYBERT)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ("uniform", "at most as many student blocks as teacher blocks"),
        ([(13, 1)], "teacher layer 13 out of range"),
        ([(12, 5)], "student layer 5 out of range"),
        ([(-1, 1)], "teacher layer -1 out of range"),
    ],
)
def test_impossible_layer_maps_are_rejected(layers, message):
    teacher_layers, student_layers = (4, 6) if layers == "uniform" else (12, 4)
    with pytest.raises(ConfigError, match=message):
        expand_layer_map(layers, teacher_layers, student_layers)


def test_attention_on_the_embedding_layer_is_rejected():
    overrides = ["stages.intermediate.matches.attn.layers=[[0, 0], [12, 4]]"]
    with pytest.raises(ConfigError, match="layer 0 is the embedding output and has no self-attention"):
        resolve_matches(stage(overrides=overrides), BERT_BASE, TINYBERT)


def test_narrow_student_attention_scores_have_teacher_shape():
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_config(tiny_config("bert", layers=4, hidden=48, heads=12))
    student = AutoModelForSequenceClassification.from_config(tiny_config("bert", layers=2, hidden=24, heads=12))
    matches = resolve_matches(stage(), teacher.config, student.config)
    objective = DistillationObjective(matches, 0.0, teacher.config, student.config)
    batch = {
        "input_ids": torch.randint(5, 90, (3, 7)),
        "attention_mask": torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4]),
    }
    teacher_features = forward_features(teacher, batch, objective.requested("teacher"))
    student_features = forward_features(student, batch, objective.requested("student"))
    assert student_features.get("attention_scores", 1).shape == teacher_features.get("attention_scores", 2).shape
    assert student_features.get("attention_scores", 1).shape == (3, 12, 7, 7)
    loss, terms = objective(student_features, teacher_features, batch)
    assert torch.isfinite(loss) and {"embd", "attn/t2-s1", "hidn/t4-s2"} <= set(terms)
    loss.backward()
    assert all(p.grad is not None for p in objective.projections.parameters())


def test_zero_weight_terms_are_neither_extracted_nor_computed():
    matches = resolve_matches(stage(overrides=["stages.intermediate.matches.attn.weight=0"]), BERT_BASE, TINYBERT)
    objective = DistillationObjective(matches, 0.0, BERT_BASE, TINYBERT)
    assert {rep for rep, _ in objective.requested("student")} == {"embeddings", "hidden"}
    assert not any(name.startswith("attn") for name in (m.name for m in objective.matches))


def test_zero_weight_terms_are_still_validated():
    bad = ["stages.intermediate.matches.attn.weight=0", "stages.intermediate.matches.attn.layers=[[13, 1]]"]
    with pytest.raises(ConfigError, match="teacher layer 13 out of range"):
        resolve_matches(stage(overrides=bad), BERT_BASE, TINYBERT)


ABLATIONS = {
    "No Embd": (["stages.intermediate.matches.embd.weight=0"], {"hidn", "attn"}, {"pred"}),
    "No Attn": (["stages.intermediate.matches.attn.weight=0"], {"embd", "hidn"}, {"pred"}),
    "No Hidn": (["stages.intermediate.matches.hidn.weight=0"], {"embd", "attn"}, {"pred"}),
    "No Pred": (
        ["stages.prediction.matches.pred.weight=0", "stages.prediction.task_loss_weight=1"],
        {"embd", "hidn", "attn"},
        set(),
    ),
    "No DA": (["data.augment=null"], {"embd", "hidn", "attn"}, {"pred"}),
}


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_ablations_are_overrides(name):
    overrides, intermediate, prediction = ABLATIONS[name]
    config = load_recipe("tinybert-task", overrides)
    terms = {}
    for s in config.stages:
        terms[s.name] = {m.name.split("/")[0] for m in resolve_matches(s, BERT_BASE, TINYBERT)}
    assert terms == {"intermediate": intermediate, "prediction": prediction}
    assert (config.data.augment is None) == (name == "No DA")
    if name == "No Pred":
        assert config.stages[1].task_loss_weight == 1


def test_no_td_and_full_gd_overrides():
    full = load_recipe("tinybert-task", ["student.path=runs/tinybert-general/student"])
    assert full.student.path == "runs/tinybert-general/student"
    no_td = load_recipe(
        "tinybert-task",
        ["stages=[{name: finetune, task_loss_weight: 1.0, train: {epochs: 3, learning_rate: 3.0e-5}}]"],
    )
    assert [(s.name, s.matches, s.task_loss_weight) for s in no_td.stages] == [("finetune", [], 1.0)]
    assert load_recipe("tinybert-task").student.path is None  # "No GD" is the default


def test_augmentation_is_rejected_for_general_distillation():
    with pytest.raises(ConfigError, match="augmentation applies to a task's labelled data"):
        load_recipe("tinybert-general", ["data.augment={model: some/mlm}"])
