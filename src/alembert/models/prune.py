"""Structured pruning of a BERT-family teacher into a smaller student by slicing its weights (Minitron, NVIDIA 2024).

:func:`prune_teacher` measures activation importance on calibration batches
(:mod:`alembert.models.importance`), chooses the kept units (:mod:`alembert.models.prune_plan`, which documents the
layer, head and scaling rules) and slices every tensor of the teacher accordingly. The student is a plain Hugging
Face model of the teacher's class that loads with ``from_pretrained`` without alembert.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor
from transformers import PreTrainedModel

from alembert.errors import ConfigError
from alembert.models.importance import Importance, activation_importance
from alembert.models.prune_plan import LayerRule, PrunePlan, PruneShape, plan_pruning


__all__ = ["PrunePlan", "PruneReport", "PruneShape", "plan_pruning", "prune_model", "prune_teacher", "slice_state"]

# (key pattern, row kind, column kind, scaled by q_scale); kinds name a PrunePlan index set, None keeps all.
_LAYER_RULES = (
    (r"attention\.self\.query\.(weight|bias)", "qk", "hidden", True),
    (r"attention\.self\.key\.(weight|bias)", "qk", "hidden", False),
    (r"attention\.self\.value\.(weight|bias)", "v", "hidden", False),
    (r"attention\.output\.dense\.(weight|bias)", "hidden", "v", False),
    (r"intermediate\.dense\.(weight|bias)", "neurons", "hidden", False),
    (r"output\.dense\.(weight|bias)", "hidden", "neurons", False),
    (r"(attention\.output|output)\.LayerNorm\.(weight|bias)", "hidden", None, False),
)
_RULES = (
    (r"embeddings\.(word|position|token_type)_embeddings\.weight", None, "embedding"),
    (r"embeddings\.LayerNorm\.(weight|bias)", "embedding", None),
    (r"embeddings_project\.(weight|bias)", "hidden", "embedding"),
    (r"pooler\.dense\.(weight|bias)", "hidden", "hidden"),
    (r"classifier\.(weight|bias)", None, "hidden"),  # BERT
    (r"classifier\.dense\.(weight|bias)", "hidden", "hidden"),  # RoBERTa / ELECTRA classification head
    (r"classifier\.out_proj\.(weight|bias)", None, "hidden"),
    (r"cls\.predictions\.transform\.dense\.(weight|bias)", "hidden", "hidden"),  # BERT MLM
    (r"cls\.predictions\.transform\.LayerNorm\.(weight|bias)", "hidden", None),
    (r"(cls\.predictions|lm_head)\.decoder\.(weight|bias)", None, "hidden"),
    (r"(cls\.predictions|lm_head)\.bias", None, None),
    (r"lm_head\.dense\.(weight|bias)", "hidden", "hidden"),  # RoBERTa MLM
    (r"lm_head\.layer_norm\.(weight|bias)", "hidden", None),
    (r"generator_predictions\.dense\.(weight|bias)", "embedding", "hidden"),  # ELECTRA generator (MaskedLM)
    (r"generator_predictions\.LayerNorm\.(weight|bias)", "embedding", None),
    (r"generator_lm_head\.(weight|bias)", None, "embedding"),
    (r"discriminator_predictions\.dense\.(weight|bias)", "hidden", "hidden"),  # ELECTRA discriminator
    (r"discriminator_predictions\.dense_prediction\.(weight|bias)", None, "hidden"),
)
_LAYER_KEY = re.compile(r"^(.*encoder\.layer\.)(\d+)\.(.*)$")


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune_model` did, for the log and the model card.

    Attributes:
        teacher_shape / student_shape: ``(num_layers, hidden_size, num_heads, intermediate_size)``.
        layers: teacher layer (0-based) of each student layer, and ``layer_rule`` the rule that chose them.
        heads: teacher heads kept in each student layer; ``head_case`` says which head case applied and why.
        head_dims_cut: whether each head was narrowed (then its Q was scaled by ``q_scale``).
        params_before / params_after: parameter counts of the teacher and the student.
        seconds: time spent pruning; importance_seconds: time spent measuring importance (0 when given).
        hidden_channels: the teacher hidden channel kept as each student channel (ascending); a distillation
            projection from the student's width to the teacher's can start as its inverse (see
            :meth:`alembert.objective.terms.DistillationObjective.init_projections_from_kept_channels`).
    """

    teacher_shape: PruneShape
    student_shape: PruneShape
    layers: tuple[int, ...]
    layer_rule: str
    heads: tuple[tuple[int, ...], ...]
    head_case: str
    head_dims_cut: bool
    q_scale: float
    params_before: int
    params_after: int
    seconds: float
    importance_seconds: float = 0.0
    hidden_channels: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["teacher_shape"], out["student_shape"] = self.teacher_shape._asdict(), self.student_shape._asdict()
        out["layers"], out["heads"] = list(self.layers), [list(h) for h in self.heads]
        out["hidden_channels"] = list(self.hidden_channels)
        return out


def _rule(key: str) -> tuple[int | None, str | None, str | None, bool]:
    match = _LAYER_KEY.match(key)
    if match:
        for pattern, rows, cols, scaled in _LAYER_RULES:
            if re.fullmatch(pattern, match.group(3)):
                return int(match.group(2)), rows, cols, scaled
    else:
        for pattern, rows, cols in _RULES:
            if re.fullmatch(rf"(\w+\.)?{pattern}", key):
                return None, rows, cols, False
    raise ConfigError(f"prune: no slicing rule for parameter '{key}' (an unsupported head or layer type)")


def slice_state(
    teacher_state: Mapping[str, Tensor], student_keys: Iterable[str], plan: PrunePlan
) -> dict[str, Tensor]:
    """The student's tensors sliced out of the teacher's state dict according to ``plan``."""
    out = {}
    for key in student_keys:
        layer, rows, cols, scaled = _rule(key)
        source = key
        if layer is not None:
            prefix, _, rest = _LAYER_KEY.match(key).groups()
            source = f"{prefix}{plan.layers[layer]}.{rest}"
        tensor = teacher_state[source].detach()
        kinds = {
            "hidden": plan.hidden,
            "embedding": plan.embedding,
            "qk": plan.qk[layer] if layer is not None else None,
            "v": plan.v[layer] if layer is not None else None,
            "neurons": plan.neurons[layer] if layer is not None else None,
        }
        for dim, kind in enumerate((rows, cols)[: tensor.dim()]):
            if kind is not None and kinds[kind] is not None:
                tensor = tensor.index_select(dim, kinds[kind].to(tensor.device))
        out[key] = tensor * plan.q_scale if scaled and plan.head_dims_cut else tensor.clone()
    return out


def _student_config(model: PreTrainedModel, student: PruneShape):
    config = copy.deepcopy(model.config)
    if getattr(config, "embedding_size", None) == config.hidden_size:  # ELECTRA without embeddings_project
        config.embedding_size = student.hidden_size
    config.num_hidden_layers = student.num_layers
    config.hidden_size = student.hidden_size
    config.num_attention_heads = student.num_heads
    config.intermediate_size = student.intermediate_size
    config.architectures = None
    return config


def _count(model: PreTrainedModel) -> int:
    return sum(p.numel() for p in model.parameters())


def prune_model(
    model: PreTrainedModel,
    shape: Sequence[int],
    importance: Importance | None = None,
    *,
    layers: LayerRule = "uniform",
) -> tuple[PreTrainedModel, PruneReport]:
    """Prune ``model`` (a BERT, RoBERTa or ELECTRA model) to a student of ``shape`` by slicing its weights.

    Heads: with fewer student heads the most important whole heads of each layer are kept; with the teacher's
    head count but a smaller width every head is narrowed (Q/K dims jointly, V dims separately) and the kept Q
    weights are scaled by ``sqrt(d_new / d_old)``; with both, both (:mod:`alembert.models.prune_plan`).

    Args:
        model: the teacher (left unchanged).
        shape: ``(num_layers, hidden_size, num_heads, intermediate_size)`` of the student, each at most the teacher's.
        importance: from :func:`activation_importance`; ``None`` only when nothing must be ranked (the teacher's
            own widths and a ``uniform`` or explicit layer rule).
        layers: ``uniform``, ``importance`` (highest block importance, original order) or 0-based teacher layers.

    Returns:
        The student (same class, ``from_config`` of a copy of the teacher's config with the new shape; on the
        teacher's device, dtype and train/eval mode) and a report.

    Raises:
        ConfigError: an unsupported model, a shape larger than the teacher's or whose width the heads do not
            divide, a bad layer rule, or missing importance.
    """
    start = time.perf_counter()
    plan = plan_pruning(model, shape, importance, layers=layers)
    reference = next(model.parameters())
    config = _student_config(model, plan.student)
    student = type(model)._from_config(config, attn_implementation=model.config._attn_implementation)
    student.load_state_dict(slice_state(model.state_dict(), student.state_dict().keys(), plan), strict=True)
    student.to(device=reference.device, dtype=reference.dtype).train(model.training)
    report = PruneReport(
        teacher_shape=plan.teacher,
        student_shape=plan.student,
        layers=plan.layers,
        layer_rule=plan.layer_rule,
        heads=plan.heads,
        head_case=plan.head_case,
        head_dims_cut=plan.head_dims_cut,
        q_scale=plan.q_scale,
        params_before=_count(model),
        params_after=_count(student),
        seconds=time.perf_counter() - start,
        hidden_channels=tuple(int(i) for i in plan.hidden.tolist()),
    )
    return student, report


def prune_teacher(
    model: PreTrainedModel,
    shape: Sequence[int],
    batches: Iterable[Mapping[str, Tensor]],
    *,
    layers: LayerRule = "uniform",
) -> tuple[PreTrainedModel, PruneReport]:
    """Measure :func:`activation_importance` on ``batches``, then :func:`prune_model` (both timed in the report)."""
    start = time.perf_counter()
    importance = activation_importance(model, batches)
    measured = time.perf_counter() - start
    student, report = prune_model(model, shape, importance, layers=layers)
    return student, dataclasses.replace(report, importance_seconds=measured)
