"""Progressive knowledge transfer: one config entry becomes one stage per student block, each freezing the rest."""

from __future__ import annotations

import pytest
from transformers import MobileBertForSequenceClassification

from alembert.config import DistillConfig, StageConfig, StudentConfig
from alembert.config.io import apply_overrides, dump_config, load_config, parse_config
from alembert.errors import ConfigError
from alembert.models.mobilebert import mobilebert_config
from alembert.objective.progressive import expand_progressive, planned_num_layers
from alembert.objective.terms import resolve_matches
from alembert.train.loop import freeze_except
from tests.conftest import tiny_config


LAYERED = [
    {"name": "fmt", "representation": "hidden", "layers": "uniform", "loss": "mse", "mask": "attention_mask"},
    {"name": "at", "representation": "attention_probs", "layers": "uniform", "loss": "attention_kl"},
]


def run_config(student: dict, **template) -> dict:
    return {
        "task": "sst2",
        "teacher": {"path": "teacher"},
        "student": student,
        "train": {"max_steps": 7},
        "stages": [
            {"name": "layer", "progressive": True, "matches": LAYERED, "train": {"learning_rate": 1e-3}, **template},
            {"name": "prediction", "task_loss_weight": 1.0},
        ],
    }


def planned(config: DistillConfig) -> list[StageConfig]:
    """The stages a run plans (progressive templates expanded), for a student whose depth the config states."""
    return expand_progressive(config.stages, planned_num_layers(config.student))


def test_one_entry_expands_into_one_stage_per_block():
    config = parse_config(DistillConfig, run_config({"init": "random", "num_layers": 3}))
    assert [s.name for s in config.stages] == ["layer", "prediction"]  # the config keeps the template
    stages = planned(config)
    assert [s.name for s in stages] == ["layer-1", "layer-2", "layer-3", "prediction"]
    layer2 = stages[1]
    assert layer2.trainable == ["*.layer.1.*"] and layer2.progressive is None
    assert stages[0].trainable == ["*.layer.0.*", "*embeddings.*"]
    assert [(m.name, m.layers, m.student_layer) for m in layer2.matches] == [
        ("fmt", "uniform", 2),
        ("at", "uniform", 2),
    ]
    assert layer2.train == {"learning_rate": 1e-3} and stages[-1].trainable is None


def test_the_depth_comes_from_the_student_section_or_from_progressive_num_layers():
    mobilebert = parse_config(DistillConfig, run_config({"architecture": "mobilebert"}))  # preset: 24 blocks
    assert len(planned(mobilebert)) == 25
    listed = parse_config(DistillConfig, run_config({"init": [0, 5]}, progressive={"train_embeddings": False}))
    assert [s.trainable for s in planned(listed)[:2]] == [["*.layer.0.*"], ["*.layer.1.*"]]
    saved = parse_config(DistillConfig, run_config({"path": "runs/student"}, progressive={"num_layers": 2}))
    assert [s.name for s in planned(saved)] == ["layer-1", "layer-2", "prediction"]
    with pytest.raises(ValueError, match="set progressive.num_layers"):
        planned(parse_config(DistillConfig, run_config({"path": "runs/student"})))
    too_many = parse_config(
        DistillConfig, run_config({"init": "random", "num_layers": 3}, progressive={"num_layers": 4})
    )
    with pytest.raises(ValueError, match="num_layers is 4 but the student has 3 layers"):
        planned(too_many)


def test_bad_templates():
    with pytest.raises(ValueError, match="set `trainable`"):
        StageConfig(name="x", progressive=True, matches=LAYERED, trainable=["*"])
    logits = {"name": "kd", "representation": "logits", "loss": "kl_div"}
    with pytest.raises(ValueError, match=r"matches \['kd'\] need a `layers` map"):
        StageConfig(name="x", progressive=True, matches=[*LAYERED, logits])
    assert StageConfig(name="x", progressive=False, task_loss_weight=1.0).progressive is None


def test_overrides_reach_the_template_and_the_saved_config_reloads_unchanged(tmp_path):
    data = apply_overrides(run_config({"init": "random", "num_layers": 2}), ["stages.layer.train.max_steps=3"])
    config = parse_config(DistillConfig, data)
    assert [s.train_config(config.train).max_steps for s in planned(config)] == [3, 3, 7]
    dump_config(config, tmp_path / "config.yaml")  # what a run folder keeps: the template, as configured
    assert load_config(DistillConfig, tmp_path / "config.yaml") == config


def test_student_layer_picks_one_pair_of_the_layer_map():
    stage = StageConfig(name="s", matches=[{**LAYERED[0], "student_layer": 2}])
    (match,) = resolve_matches(stage, tiny_config("bert", layers=6), tiny_config("bert", layers=3))
    assert (match.teacher_layer, match.student_layer, match.name) == (4, 2, "fmt")
    final = StageConfig(name="s", matches=[{**LAYERED[0], "layers": "final", "student_layer": 1}])
    with pytest.raises(ConfigError, match="no pair for student layer 1"):
        resolve_matches(final, tiny_config("bert", layers=6), tiny_config("bert", layers=3))
    with pytest.raises(ValueError, match="not both"):
        StageConfig(name="s", matches=[{**LAYERED[0], "teacher_layer": 2}])


def test_each_generated_stage_trains_exactly_its_block():
    student = StudentConfig(
        architecture="mobilebert", num_layers=3, hidden_size=32, num_heads=4, intermediate_size=32,
        mobilebert={"bottleneck_size": 16, "embedding_size": 8},
    )  # fmt: skip
    model = MobileBertForSequenceClassification(mobilebert_config(tiny_config("bert"), student))
    config = parse_config(DistillConfig, run_config(student.model_dump(exclude_defaults=True)))
    for layer, stage in enumerate(planned(config)[:3], start=1):
        freeze_except(model, stage.trainable)
        trained = {name for name, p in model.named_parameters() if p.requires_grad}
        block = {name for name, _ in model.named_parameters() if f".layer.{layer - 1}." in name}
        embeddings = {name for name, _ in model.named_parameters() if ".embeddings." in name}
        assert trained == (block | embeddings if layer == 1 else block)
    freeze_except(model, None)
    assert all(p.requires_grad for p in model.parameters())
