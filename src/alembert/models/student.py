"""Build a student from the teacher: a new shape, and weights copied from chosen teacher layers."""

from __future__ import annotations

import copy
import math
import re

from torch import nn
from transformers import AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification, PreTrainedModel

from alembert.config import StudentConfig
from alembert.errors import ConfigError
from alembert.models.init import StudentInit
from alembert.models.load import num_layers
from alembert.models.mobilebert import build_mobilebert


__all__ = ["StudentInit", "build_student", "copy_teacher_weights", "student_layer_sources"]

_LAYER_KEY = re.compile(r"\.layer\.(\d+)\.")
_INTERMEDIATE_ATTR = {"distilbert": "hidden_dim"}


def student_layer_sources(cfg: StudentConfig, teacher_num_layers: int) -> tuple[int, ...]:
    """Teacher layers (0-based) the student's layers come from; ``()`` for random init.

    ``every_other`` keeps layers 0, 2, 4, … (DistilBERT: "taking one layer out of two").
    """
    if cfg.init in ("random", "pruned"):  # pruned: the layers are chosen when the teacher is cut
        return ()
    if cfg.init == "teacher":
        sources = tuple(range(teacher_num_layers))
    elif cfg.init == "every_other":
        sources = tuple(range(0, teacher_num_layers, 2))
    else:
        sources = tuple(cfg.init)
    bad = [i for i in sources if not 0 <= i < teacher_num_layers]
    if bad:
        raise ConfigError(
            f"student.init: teacher layer(s) {bad} out of range; the teacher has layers 0..{teacher_num_layers - 1}"
        )
    if cfg.num_layers is not None and cfg.num_layers != len(sources):
        raise ConfigError(
            f"student.num_layers is {cfg.num_layers} but init '{cfg.init}' gives {len(sources)} layers; "
            "pass an explicit list of teacher layers or init: random"
        )
    return sources


def _student_config(teacher: PreTrainedModel, cfg: StudentConfig, layers: int):
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = layers
    if cfg.hidden_size is not None:
        config.hidden_size = cfg.hidden_size
    if cfg.num_heads is not None:
        config.num_attention_heads = cfg.num_heads
    if cfg.intermediate_size is not None:
        setattr(config, _INTERMEDIATE_ATTR.get(config.model_type, "intermediate_size"), cfg.intermediate_size)
    if config.hidden_size % config.num_attention_heads:
        raise ConfigError(
            f"student: hidden_size {config.hidden_size} is not divisible by num_heads {config.num_attention_heads}"
        )
    config.architectures = None
    return config


def copy_teacher_weights(student: nn.Module, teacher: nn.Module, layer_sources: tuple[int, ...]) -> int:
    """Copy every teacher tensor whose name and shape match into the student; layer ``j`` ← ``layer_sources[j]``.

    Returns:
        The number of student tensors copied.
    """
    teacher_state = teacher.state_dict()
    student_state = student.state_dict()
    copied = 0
    for key, value in student_state.items():
        match = _LAYER_KEY.search(key)
        source = key
        if match:
            j = int(match.group(1))
            if j >= len(layer_sources):
                continue
            source = key[: match.start()] + f".layer.{layer_sources[j]}." + key[match.end() :]
        if source in teacher_state and teacher_state[source].shape == value.shape:
            student_state[key] = teacher_state[source].detach().clone()
            copied += 1
    student.load_state_dict(student_state)
    return copied


def build_student(
    teacher: PreTrainedModel, cfg: StudentConfig, *, masked_lm: bool
) -> tuple[PreTrainedModel, StudentInit]:
    """Build the student described by ``cfg`` from the teacher's architecture (not used when ``cfg.path`` is set).

    Args:
        teacher: the loaded teacher (its config gives the family, vocabulary and defaults).
        cfg: the student section of the run config.
        masked_lm: build an MLM head (general distillation) instead of a classification head. A head-less
            teacher (``AutoModel``) gets a head-less student whatever this says.

    Returns:
        The student and a summary of how it was initialised.
    """
    if cfg.init == "pruned":
        raise ConfigError("student.init: pruned cuts the teacher with calibration data: use alembert.run.students")
    if cfg.architecture == "mobilebert":  # a family of its own, whatever the teacher's (models/mobilebert.py)
        return build_mobilebert(teacher, cfg, masked_lm=masked_lm)
    teacher_layers = num_layers(teacher.config)
    sources = student_layer_sources(cfg, teacher_layers)
    layers = len(sources) if sources else (cfg.num_layers or math.ceil(teacher_layers / 2))
    config = _student_config(teacher, cfg, layers)
    if sources and config.hidden_size != teacher.config.hidden_size:
        raise ConfigError(
            f"student.init '{cfg.init}' copies teacher layers, which needs the teacher's hidden size "
            f"{teacher.config.hidden_size} (got {config.hidden_size}); use init: random for a narrower student"
        )
    auto = AutoModelForMaskedLM if masked_lm else AutoModelForSequenceClassification
    if teacher.base_model is teacher:  # the encoder alone
        auto = AutoModel
    student = auto.from_config(config, attn_implementation=teacher.config._attn_implementation)
    copied = copy_teacher_weights(student, teacher, sources) if sources else 0
    return student, StudentInit(sources, copied, len(student.state_dict()))
