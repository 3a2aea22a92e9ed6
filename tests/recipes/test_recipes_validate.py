"""Every shipped recipe loads, validates, and resolves against tiny stand-in models."""

from __future__ import annotations

import pytest
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, BertConfig

from alembert.config import StudentConfig
from alembert.config.recipes import list_recipes, load_recipe
from alembert.models.mobilebert import mobilebert_config
from alembert.models.student import build_student
from alembert.objective.terms import resolve_matches
from tests.conftest import tiny_config


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_loads_and_resolves(name):
    config = load_recipe(name)
    assert config.recipe == name
    mlm = config.task == "mlm"
    if config.student.architecture == "mobilebert":  # paper-sized shapes, as configs only (no 25M-332M weights)
        _resolve_mobilebert(config, mlm)
        return
    # per-head attention maps need equal head counts: a recipe that fixes the student's (TinyBERT: 12) gets a
    # stand-in teacher with as many
    teacher_config = tiny_config("bert", layers=6, hidden=48, heads=config.student.num_heads or 4, ffn=96)
    teacher = (AutoModelForMaskedLM if mlm else AutoModelForSequenceClassification).from_config(teacher_config)
    if config.student.path is None:
        student, _ = build_student(teacher, config.student, masked_lm=mlm)
    else:
        student = teacher
    for stage in config.stages:
        stage.train_config(config.train)
        resolve_matches(stage, teacher.config, student.config, has_mlm_labels=mlm)


def test_at_least_the_distilbert_recipes_ship():
    assert {"distilbert-task", "distilbert-general"} <= set(list_recipes())


def test_tinybert_recipes_ship():
    assert {"tinybert-general", "tinybert-task"} <= set(list_recipes())


def _resolve_mobilebert(config, mlm: bool) -> None:
    """ibbert-teacher distils a BERT; the mobilebert recipes distil a full-size IB-BERT (4 heads, 24 blocks)."""
    if config.student.mobilebert_shape.preset == "ibbert-large":
        teacher_config = tiny_config("bert", layers=6, hidden=48, heads=4, ffn=96)
    else:
        ibbert = StudentConfig(architecture="mobilebert", mobilebert={"preset": "ibbert-large"})
        teacher_config = mobilebert_config(BertConfig(), ibbert)
    student_config = mobilebert_config(teacher_config, config.student)
    for stage in config.stages:
        stage.train_config(config.train)
        resolve_matches(stage, teacher_config, student_config, has_mlm_labels=mlm)


def test_mobilebert_recipes_ship():
    names = {"mobilebert-progressive", "mobilebert-joint", "mobilebert-auxiliary", "mobilebert-task", "ibbert-teacher"}
    assert names <= set(list_recipes())


def test_recipes_reduce_as_the_authors_code_does():
    """DistilBERT's L_ce over every non-padding token; TinyBERT's soft CE averaged over classes; MiniLM's KL terms
    averaged per sequence (1/(A_h·|x|))."""
    from alembert.config.recipes import load_recipe

    def matches(recipe):
        return {m.name: m for stage in load_recipe(recipe).stages for m in stage.matches}

    assert matches("distilbert-general")["ce"].mask == "attention_mask"
    assert matches("tinybert-task")["pred"].params["class_reduction"] == "mean"
    for recipe in ("minilm", "minilm-task", "minilm-ta"):
        assert {matches(recipe)[name].params["reduction"] for name in ("at", "vr")} == {"sequence"}
    for recipe in ("minilmv2", "minilmv2-task"):
        assert matches(recipe)["qkv"].params["reduction"] == "sequence"
