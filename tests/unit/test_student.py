"""Students built from the teacher: shapes, copied layers, families, clear errors."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from alembert.config import StudentConfig
from alembert.errors import ConfigError
from alembert.models.load import load_model
from alembert.models.student import build_student, student_layer_sources
from alembert.tasks.glue import get_task
from tests.conftest import FAMILIES, save_tiny_model, tiny_config


def _teacher(family: str, layers: int = 4):
    torch.manual_seed(0)
    config = tiny_config(family, layers=layers)
    config.num_labels = 2
    return AutoModelForSequenceClassification.from_config(config)


def _layer_params(model, index: int) -> dict[str, torch.Tensor]:
    marker = f".layer.{index}."
    return {k.split(marker, 1)[1]: v for k, v in model.state_dict().items() if marker in k}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_other_copies_layers_0_2_and_embeddings(family):
    teacher = _teacher(family)
    student, init = build_student(teacher, StudentConfig(init="every_other"), masked_lm=False)
    assert student.config.num_hidden_layers == 2 and init.teacher_layers == (0, 2)
    for student_layer, teacher_layer in ((0, 0), (1, 2)):
        s, t = _layer_params(student, student_layer), _layer_params(teacher, teacher_layer)
        assert s and s.keys() == t.keys()
        assert all(torch.equal(s[k], t[k]) for k in s)
    embeddings = [k for k in student.state_dict() if "embeddings" in k]
    assert embeddings and all(torch.equal(student.state_dict()[k], teacher.state_dict()[k]) for k in embeddings)


@pytest.mark.parametrize("family", FAMILIES)
def test_explicit_layers_and_random_init(family):
    teacher = _teacher(family)
    student, init = build_student(teacher, StudentConfig(init=[3]), masked_lm=False)
    s, t = _layer_params(student, 0), _layer_params(teacher, 3)
    assert init.teacher_layers == (3,) and all(torch.equal(s[k], t[k]) for k in s)
    random_student, random_init = build_student(teacher, StudentConfig(init="random", num_layers=3), masked_lm=False)
    assert random_student.config.num_hidden_layers == 3 and random_init.copied == 0


def test_narrow_student_from_explicit_shape():
    teacher = _teacher("bert")
    student, _ = build_student(
        teacher,
        StudentConfig(init="random", num_layers=2, hidden_size=16, num_heads=2, intermediate_size=24),
        masked_lm=False,
    )
    assert (student.config.hidden_size, student.config.intermediate_size) == (16, 24)
    assert student.config.vocab_size == teacher.config.vocab_size


def test_bad_student_specs():
    teacher = _teacher("bert")
    with pytest.raises(ConfigError, match=r"teacher layer\(s\) \[9\] out of range"):
        student_layer_sources(StudentConfig(init=[0, 9]), 4)
    with pytest.raises(ConfigError, match="needs the teacher's hidden size"):
        build_student(teacher, StudentConfig(init="every_other", hidden_size=16, num_heads=2), masked_lm=False)
    with pytest.raises(ConfigError, match="num_layers is 3"):
        student_layer_sources(StudentConfig(init="every_other", num_layers=3), 4)
    with pytest.raises(ValueError, match="not divisible"):
        StudentConfig(hidden_size=30, num_heads=4)


def test_half_precision_checkpoint_loads_as_fp32_master_weights(tmp_path):
    """An fp16 teacher (as many Hub checkpoints are) is trained against in fp32; its student is fp32 too."""
    folder = save_tiny_model(tmp_path / "teacher", "bert")
    model = load_model(folder, head="sequence_classification", task=get_task("sst2"))
    model.half().save_pretrained(folder)
    teacher = load_model(folder, head="sequence_classification", task=get_task("sst2"))
    assert {p.dtype for p in teacher.parameters()} == {torch.float32}
    student, _ = build_student(teacher, StudentConfig(init="every_other"), masked_lm=False)
    assert {p.dtype for p in student.parameters()} == {torch.float32}
