"""Which layers, heads, head dimensions, FFN neurons and hidden channels a pruned student keeps.

Rules (Minitron, NVIDIA 2024, with importance from :mod:`alembert.models.importance`):

* layers: ``uniform`` keeps teacher layers ``floor(i·(N−1)/(M−1) + 0.5)`` for ``i = 0..M−1`` (the first and the last
  layer always, evenly spread between; ``M = 1`` keeps the last), ``importance`` the ``M`` layers of highest block
  importance in their original order, and an explicit list those 0-based layers in its order;
* heads: BERT ties ``head_dim = hidden_size // num_heads``. With fewer student heads the most important whole heads
  of each layer are kept; with the teacher's head count but a smaller width every head is kept and narrowed; with
  both, both. Narrowing keeps each head's best Q/K dims at the same indices (they are multiplied together) and its
  best V dims separately, and scales the kept Q rows by ``sqrt(d_new / d_old)`` so that ``q·k / sqrt(d_new)`` keeps
  the teacher's ``q·k / sqrt(d_old)`` (exact when the dropped dims contribute nothing);
* FFN neurons and hidden channels: the most important ones, in their original order.

Ties are broken towards the lower index, so a plan is a pure function of the importance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor
from transformers import PreTrainedModel

from alembert.errors import ConfigError
from alembert.models.importance import Importance, check_supported


__all__ = ["LayerRule", "PrunePlan", "PruneShape", "plan_pruning", "uniform_layers"]

LayerRule = Literal["uniform", "importance"] | Sequence[int]


class PruneShape(NamedTuple):
    """A student shape; a plain 4-tuple in this order works wherever a shape is expected."""

    num_layers: int
    hidden_size: int
    num_heads: int
    intermediate_size: int


@dataclass(frozen=True)
class PrunePlan:
    """The teacher indices a student keeps (1-D ``long`` tensors of teacher rows/columns, ascending).

    Attributes:
        teacher: the teacher's shape.
        student: the student's shape.
        layers: teacher layer of each student layer.
        layer_rule: ``uniform``, ``importance`` or ``explicit``.
        heads: teacher heads kept in each student layer.
        head_case: which head case applied and why, in words.
        head_dims_cut: whether each kept head was narrowed.
        q_scale: factor on the kept Q weights and bias, ``sqrt(d_new / d_old)``.
        qk: per student layer, the kept rows of the query and key projections.
        v: per student layer, the kept rows of the value projection (= columns of the attention output dense).
        neurons: per student layer, the kept FFN neurons.
        hidden: the kept hidden channels.
        embedding: the kept embedding channels; ``None`` keeps them all (ELECTRA's ``embeddings_project``).
    """

    teacher: PruneShape
    student: PruneShape
    layers: tuple[int, ...]
    layer_rule: str
    heads: tuple[tuple[int, ...], ...]
    head_case: str
    head_dims_cut: bool
    q_scale: float
    qk: tuple[Tensor, ...]
    v: tuple[Tensor, ...]
    neurons: tuple[Tensor, ...]
    hidden: Tensor
    embedding: Tensor | None


def teacher_shape(model: PreTrainedModel) -> PruneShape:
    """The shape of a BERT-family model."""
    c = model.config
    return PruneShape(c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size)


def uniform_layers(teacher_layers: int, student_layers: int) -> tuple[int, ...]:
    """Evenly spread teacher layers: ``floor(i·(N−1)/(M−1) + 0.5)``, first and last included (``M = 1``: the last)."""
    if student_layers == 1:
        return (teacher_layers - 1,)
    step = (teacher_layers - 1) / (student_layers - 1)
    return tuple(math.floor(i * step + 0.5) for i in range(student_layers))


def _top(scores: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` highest scores (ties → lower index), ascending."""
    order = torch.argsort(-scores, stable=True)
    return order[:k].sort().values


def _check_shape(model: PreTrainedModel, shape: Sequence[int]) -> PruneShape:
    try:
        student = PruneShape(*(int(x) for x in shape))
    except (TypeError, ValueError):
        raise ConfigError(
            f"prune: shape must be (num_layers, hidden_size, num_heads, intermediate_size), got {shape!r}"
        ) from None
    teacher = teacher_shape(model)
    if min(student) < 1:
        raise ConfigError(f"prune: every size of the student shape must be positive, got {tuple(student)}")
    larger = [f"{f} {s} > {t}" for f, s, t in zip(PruneShape._fields, student, teacher) if s > t]
    if larger:
        raise ConfigError(f"prune: the student shape is larger than the teacher's ({', '.join(larger)})")
    if student.hidden_size % student.num_heads:
        raise ConfigError(
            f"prune: hidden_size {student.hidden_size} is not divisible by num_heads {student.num_heads}"
        )
    d_old, d_new = teacher.hidden_size // teacher.num_heads, student.hidden_size // student.num_heads
    if d_new > d_old:
        raise ConfigError(
            f"prune: the student's head size {d_new} (hidden_size / num_heads) exceeds the teacher's {d_old}; "
            f"pruning cannot widen heads, use at least {math.ceil(student.hidden_size / d_old)} heads"
        )
    embedding = getattr(model.config, "embedding_size", teacher.hidden_size)
    if embedding != teacher.hidden_size and student.hidden_size == embedding:
        raise ConfigError(
            f"prune: a hidden_size equal to the embedding_size ({embedding}) would make the student drop the "
            "teacher's embeddings_project; choose another hidden_size"
        )
    return student


def _layers(rule: LayerRule, teacher: int, student: int, importance: Importance | None) -> tuple[tuple[int, ...], str]:
    if isinstance(rule, str):
        if rule == "uniform":
            return uniform_layers(teacher, student), rule
        if rule == "importance":
            return tuple(_top(importance.blocks, student).tolist()), rule
        raise ConfigError(f"prune: layers must be 'uniform', 'importance' or a list of layers, got '{rule}'")
    chosen = tuple(int(i) for i in rule)
    if len(chosen) != student:
        raise ConfigError(f"prune: layers lists {len(chosen)} teacher layers for a {student}-layer student")
    bad = [i for i in chosen if not 0 <= i < teacher]
    if bad:
        raise ConfigError(f"prune: teacher layer(s) {bad} out of range; the teacher has layers 0..{teacher - 1}")
    return chosen, "explicit"


def _check_importance(importance: Importance | None, teacher: PruneShape, needs: list[str]) -> None:
    if importance is None:
        if needs:
            raise ConfigError(
                f"prune: importance is needed to choose the {', '.join(needs)} to keep; compute it with "
                "activation_importance(model, batches) or call prune_teacher"
            )
        return
    layers, hidden, heads, ffn = teacher
    expected = (layers, heads, hidden // heads, ffn, hidden)
    got = (*importance.qk_dims.shape, importance.neurons.shape[1], importance.hidden.shape[0])
    if got != expected:
        raise ConfigError(f"prune: the importance was computed on another model shape {got} (this one: {expected})")


def plan_pruning(
    model: PreTrainedModel,
    shape: Sequence[int],
    importance: Importance | None = None,
    *,
    layers: LayerRule = "uniform",
) -> PrunePlan:
    """Choose the units of ``model`` that a student of ``shape`` keeps (rules in the module docstring).

    Raises:
        ConfigError: an unsupported model, an impossible shape, a bad layer rule, or no importance when units must
            be ranked.
    """
    check_supported(model)
    teacher = teacher_shape(model)
    student = _check_shape(model, shape)
    d_old, d_new = teacher.hidden_size // teacher.num_heads, student.hidden_size // student.num_heads
    fewer_heads, narrower = student.num_heads < teacher.num_heads, d_new < d_old
    needs = [
        name
        for name, cut in (
            ("layers", layers == "importance"),
            ("heads", fewer_heads),
            ("head dimensions", narrower),
            ("FFN neurons", student.intermediate_size < teacher.intermediate_size),
            ("hidden channels", student.hidden_size < teacher.hidden_size),
        )
        if cut
    ]
    _check_importance(importance, teacher, needs)
    kept_layers, layer_rule = _layers(layers, teacher.num_layers, student.num_layers, importance)
    all_heads, all_dims = torch.arange(teacher.num_heads), torch.arange(d_old)
    cut_ffn = student.intermediate_size < teacher.intermediate_size
    heads, qk, v, neurons = [], [], [], []
    for t in kept_layers:
        kept = _top(importance.heads[t], student.num_heads) if fewer_heads else all_heads
        heads.append(tuple(kept.tolist()))
        q_dims = [_top(importance.qk_dims[t, h], d_new) if narrower else all_dims for h in kept.tolist()]
        v_dims = [_top(importance.v_dims[t, h], d_new) if narrower else all_dims for h in kept.tolist()]
        qk.append(torch.cat([h * d_old + dims for h, dims in zip(kept.tolist(), q_dims)]))
        v.append(torch.cat([h * d_old + dims for h, dims in zip(kept.tolist(), v_dims)]))
        all_neurons = torch.arange(teacher.intermediate_size)
        neurons.append(_top(importance.neurons[t], student.intermediate_size) if cut_ffn else all_neurons)
    cut_hidden = student.hidden_size < teacher.hidden_size
    hidden = _top(importance.hidden, student.hidden_size) if cut_hidden else torch.arange(teacher.hidden_size)
    has_projection = getattr(model.config, "embedding_size", teacher.hidden_size) != teacher.hidden_size
    why = f"{student.num_heads} vs {teacher.num_heads} heads, head size {d_new} vs {d_old}"
    case = {
        (False, False): "all heads kept whole",
        (True, False): "kept the most important whole heads of each layer",
        (False, True): "kept every head and narrowed each (Q/K dims jointly, V dims separately)",
        (True, True): "kept the most important heads of each layer and narrowed each",
    }[fewer_heads, narrower]
    return PrunePlan(
        teacher=teacher,
        student=student,
        layers=kept_layers,
        layer_rule=layer_rule,
        heads=tuple(heads),
        head_case=f"{case} ({why})",
        head_dims_cut=narrower,
        q_scale=math.sqrt(d_new / d_old),
        qk=tuple(qk),
        v=tuple(v),
        neurons=tuple(neurons),
        hidden=hidden,
        embedding=None if has_projection else hidden,
    )
