"""MobileBERT students and IB-BERT teachers (Sun et al. 2020, arXiv:2004.02984) as transformers ``MobileBertConfig``.

Both have a 512-wide feature map between blocks (``hidden_size``), the width at which knowledge is transferred;
inside a block, a linear *bottleneck* maps it to ``intra_bottleneck_size`` (MobileBERT 128, IB-BERT 1024: an
inverted bottleneck) and back. Embeddings are 128-wide, concatenated over a 3-token window (``trigram_input``) and
projected to 512. Presets reproduce the released configs of google-research/mobilebert (``config/*.json``):

============================  ===========  =====  ========  ====  ======  ===========  =======================
preset                        bottleneck   FFN    FFNs      norm  act     attention    params (no pooler/head)
============================  ===========  =====  ========  ====  ======  ===========  =======================
``mobilebert``                128          512    4         no    relu    shared q/k   24.58M (paper 25.3M)
``mobilebert-no-opt``         128          512    4         LN    gelu    shared q/k   24.58M (paper 25.3M)
``mobilebert-tiny``           128          512    2         no    relu    bottleneck   15.49M (paper 15.1M)
``ibbert-large``              1024         4096   1         LN    gelu    shared q/k   332.0M (paper 293M)
============================  ===========  =====  ========  ====  ======  ===========  =======================

IB-BERT: the reference config computes queries, keys and values from the 512-wide feature map (294.2M parameters,
the paper's 293M). transformers' MobileBERT always feeds queries and keys of ``intra_bottleneck_size`` width, so the
closest expressible teacher keeps the values on the feature map and takes queries/keys from a shared 512→1024
bottleneck (``key_query_shared_bottleneck``), 1.57M parameters more per block. Nothing else differs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    MobileBertConfig,
    PreTrainedModel,
)

from alembert.config import StudentConfig
from alembert.errors import ConfigError
from alembert.models.init import StudentInit


__all__ = ["MOBILEBERT_PRESETS", "build_mobilebert", "copy_outer_weights", "mobilebert_config"]

_MOBILEBERT: dict[str, Any] = {  # config/uncased_L-24_H-128_B-512_A-4_F-4_OPT.json
    "hidden_size": 512,
    "num_hidden_layers": 24,
    "num_attention_heads": 4,
    "intermediate_size": 512,
    "intra_bottleneck_size": 128,
    "embedding_size": 128,
    "trigram_input": True,
    "use_bottleneck": True,
    "key_query_shared_bottleneck": True,
    "use_bottleneck_attention": False,
    "num_feedforward_networks": 4,
    "normalization_type": "no_norm",
    "hidden_act": "relu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.1,
    "classifier_activation": False,
}
MOBILEBERT_PRESETS: dict[str, dict[str, Any]] = {
    "mobilebert": _MOBILEBERT,
    # the paper's "MobileBERT w/o OPT" (LayerNorm & gelu row of the latency table)
    "mobilebert-no-opt": {**_MOBILEBERT, "normalization_type": "layer_norm", "hidden_act": "gelu"},
    # config/uncased_L-24_H-128_B-512_A-4_F-2_tiny_OPT.json
    "mobilebert-tiny": {
        **_MOBILEBERT,
        "num_feedforward_networks": 2,
        "use_bottleneck_attention": True,
        "key_query_shared_bottleneck": False,
    },
    # config/uncased_L-24_H-1024_B-512_A-4.json, with shared q/k bottleneck (see the module docstring)
    "ibbert-large": {
        **_MOBILEBERT,
        "intra_bottleneck_size": 1024,
        "intermediate_size": 4096,
        "num_feedforward_networks": 1,
        "normalization_type": "layer_norm",
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "classifier_activation": True,
    },
}
_ATTENTION_INPUT = {
    "shared_bottleneck": {"key_query_shared_bottleneck": True, "use_bottleneck_attention": False},
    "bottleneck": {"key_query_shared_bottleneck": False, "use_bottleneck_attention": True},
}
_INHERITED = ("vocab_size", "max_position_embeddings", "type_vocab_size", "pad_token_id")
_LABELS = ("id2label", "label2id", "problem_type")


def mobilebert_config(teacher_config: Any, cfg: StudentConfig) -> MobileBertConfig:
    """The ``MobileBertConfig`` of a ``student.architecture: mobilebert`` section (no weights are built).

    Vocabulary, positions, token types, padding id and the task's labels come from the teacher, so both read the
    same token ids and predict the same classes.

    Raises:
        ConfigError: the bottleneck width is not divisible by the number of heads.
    """
    shape = cfg.mobilebert_shape
    kwargs = dict(MOBILEBERT_PRESETS[shape.preset])
    kwargs.update({key: getattr(teacher_config, key) for key in _INHERITED if hasattr(teacher_config, key)})
    kwargs.update({key: getattr(teacher_config, key) for key in _LABELS if getattr(teacher_config, key, None)})
    overrides = {
        "num_hidden_layers": cfg.num_layers,
        "hidden_size": cfg.hidden_size,
        "num_attention_heads": cfg.num_heads,
        "intermediate_size": cfg.intermediate_size,
        "intra_bottleneck_size": shape.bottleneck_size,
        "embedding_size": shape.embedding_size,
        "num_feedforward_networks": shape.num_feedforward_networks,
        "normalization_type": shape.normalization,
        "hidden_act": shape.activation,
    }
    kwargs.update({key: value for key, value in overrides.items() if value is not None})
    if shape.attention_input is not None:
        kwargs.update(_ATTENTION_INPUT[shape.attention_input])
    if kwargs["intra_bottleneck_size"] % kwargs["num_attention_heads"]:
        raise ConfigError(
            f"student.mobilebert.bottleneck_size {kwargs['intra_bottleneck_size']} is not divisible by "
            f"num_heads {kwargs['num_attention_heads']} (attention runs at the bottleneck width)"
        )
    return MobileBertConfig(**kwargs)


def copy_outer_weights(student: nn.Module, teacher: nn.Module) -> int:
    """Copy the teacher tensors outside the blocks (embeddings, pooler, heads) whose name, shape and module type
    match, as the reference code initialises MobileBERT from its IB-BERT checkpoint. A LayerNorm is never copied
    into a NoNorm (same names and shapes, different function).

    Returns:
        The number of student tensors copied.
    """
    teacher_state = teacher.state_dict()
    teacher_owner = _owners(teacher)
    student_owner = _owners(student)
    state = student.state_dict()
    copied = 0
    for key, value in state.items():
        if ".layer." in key or key not in teacher_state or teacher_state[key].shape != value.shape:
            continue
        if student_owner.get(key) != teacher_owner.get(key):
            continue
        state[key] = teacher_state[key].detach().clone()
        copied += 1
    student.load_state_dict(state)
    return copied


def _owners(model: nn.Module) -> dict[str, str]:
    """Tensor name → class name of the module that holds it."""
    owners = {}
    for module_name, module in model.named_modules():
        for name, _ in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            owners[f"{module_name}.{name}" if module_name else name] = type(module).__name__
    return owners


def build_mobilebert(
    teacher: PreTrainedModel, cfg: StudentConfig, *, masked_lm: bool
) -> tuple[PreTrainedModel, StudentInit]:
    """Build a MobileBERT/IB-BERT student (see :func:`alembert.models.student.build_student`).

    ``init: random`` leaves transformers' initialisation; ``init: teacher`` then copies the embeddings and heads
    of a MobileBERT-family teacher (:func:`copy_outer_weights`).

    Raises:
        ConfigError: ``init: teacher`` with a teacher of another family, or a bad shape.
    """
    config = mobilebert_config(teacher.config, cfg)
    same_family = teacher.config.model_type == "mobilebert"
    if cfg.init == "teacher" and not same_family and config.embedding_size != teacher.config.hidden_size:
        raise ConfigError(
            f"student.init: teacher copies the embeddings and heads of a MobileBERT-family teacher; from a "
            f"{teacher.config.model_type} teacher it copies only the token embeddings, which needs "
            f"student.mobilebert.embedding_size = the teacher's hidden size {teacher.config.hidden_size} "
            f"(got {config.embedding_size}); or use init: random"
        )
    auto = AutoModelForMaskedLM if masked_lm else AutoModelForSequenceClassification
    if teacher.base_model is teacher:  # a head-less teacher gets a head-less student
        auto = AutoModel
    student = auto.from_config(config, attn_implementation=teacher.config._attn_implementation)
    copied = 0
    if cfg.init == "teacher" and same_family:
        copied = copy_outer_weights(student, teacher)
    elif cfg.init == "teacher":  # another family (e.g. a BERT teacher of an IB-BERT): its token embeddings only
        with torch.no_grad():
            student.get_input_embeddings().weight.copy_(teacher.get_input_embeddings().weight)
        copied = 1
    return student, StudentInit((), copied, len(student.state_dict()))
