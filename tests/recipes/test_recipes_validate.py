"""Every shipped recipe loads, validates, and resolves against tiny stand-in models."""

from __future__ import annotations

import pytest
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

from alembert.models.student import build_student
from alembert.objective import resolve_matches
from alembert.recipes import list_recipes, load_recipe
from tests.conftest import tiny_config


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_loads_and_resolves(name):
    config = load_recipe(name)
    assert config.recipe == name
    mlm = config.task == "mlm"
    teacher_config = tiny_config("bert", layers=6, hidden=48, heads=4, ffn=96)
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
