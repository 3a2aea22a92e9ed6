"""A stage's matches resolved against two concrete models: one loss term per teacher/student layer pair.

:func:`resolve_matches` validates every match of a stage (loss, parameters, layers, widths, masks, attention head
counts) before anything trains; :class:`alembert.objective.terms.DistillationObjective` computes the terms.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alembert.config import MatchConfig, StageConfig
from alembert.errors import ConfigError, suggest
from alembert.features.extract import representation_width
from alembert.losses import LOSSES, LossFn
from alembert.losses._reduce import REDUCTIONS
from alembert.objective.checks import check_attention_match
from alembert.objective.layer_maps import check_layer, expand_layer_map


__all__ = ["ResolvedMatch", "objective_packing_blocker", "read_as", "requested_features", "resolve_matches"]


@dataclass(frozen=True)
class ResolvedMatch:
    """One concrete loss term: a representation at one teacher/student layer pair.

    Attributes:
        name: log key of the term.
        representation: what is compared (``logits``, ``hidden``, ``embeddings``, ``attention_scores``, …).
        loss: the pure loss function.
        teacher_layer: HF ``hidden_states`` index (0 = embeddings) or ``None`` for logits.
        student_layer: same, for the student.
        weight: multiplier of the term in the total loss.
        params: keyword arguments of the loss (e.g. ``temperature``).
        projection: key of the learnable projection applied to the student feature, or ``None``.
        mask: which positions count (``none``, ``attention_mask``, ``mlm_positions``).
    """

    name: str
    representation: str
    loss: LossFn
    teacher_layer: int | None
    student_layer: int | None
    weight: float
    params: Mapping[str, Any] = field(default_factory=dict)
    projection: str | None = None
    mask: str = "none"


def _layer_pairs(match: MatchConfig, teacher_layers: int, student_layers: int) -> list[tuple[int | None, int | None]]:
    if match.representation == "logits":
        return [(None, None)]
    if match.representation == "sentence_embedding":  # pooled from the last layers
        return [(teacher_layers, student_layers)]
    if match.layers is not None:
        pairs = expand_layer_map(match.layers, teacher_layers, student_layers)
        if match.student_layer is None:
            return pairs
        selected = [pair for pair in pairs if pair[1] == match.student_layer]  # one block (progressive stages)
        if not selected:
            raise ConfigError(f"layers: the map {match.layers!r} has no pair for student layer {match.student_layer}")
        return selected
    teacher_layer = 0 if match.teacher_layer is None else match.teacher_layer
    student_layer = 0 if match.student_layer is None else match.student_layer
    check_layer(teacher_layer, teacher_layers, "teacher")
    check_layer(student_layer, student_layers, "student")
    return [(teacher_layer, student_layer)]


def resolve_matches(
    stage: StageConfig, teacher_config: Any, student_config: Any, *, has_mlm_labels: bool = False
) -> list[ResolvedMatch]:
    """Expand a stage's matches against concrete teacher/student configs, validating everything.

    A match with ``weight: 0`` is validated like any other but yields no term: its representations are neither
    extracted nor compared (ablations such as TinyBERT's "No Attn" are ``--set …weight=0``).

    Raises:
        ConfigError: unknown loss, layer out of range, width mismatch without a projection, a mask that the
            data cannot provide.
    """
    teacher_layers, student_layers = int(teacher_config.num_hidden_layers), int(student_config.num_hidden_layers)
    resolved = []
    for i, match in enumerate(stage.matches):
        where = f"stages.{stage.name}.matches.{match.name or i}"
        if match.loss not in LOSSES:
            raise ConfigError(f"{where}.loss: unknown loss '{match.loss}'{suggest(match.loss, LOSSES)}")
        if match.mask == "mlm_positions" and not has_mlm_labels:
            raise ConfigError(f"{where}.mask: mlm_positions needs masked-LM data (task: mlm)")
        try:
            pairs = _layer_pairs(match, teacher_layers, student_layers)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
        _check_params(match, where)
        check_attention_match(match, pairs, teacher_config, student_config, where)
        base = match.name or f"{match.representation}/{match.loss}"
        for teacher_layer, student_layer in pairs:
            name = base if len(pairs) == 1 else f"{base}/t{teacher_layer}-s{student_layer}"
            projection = None
            relational = match.representation == "sentence_embedding" and match.loss == "similarity_kl"
            widths = ("hidden", "embeddings", "sentence_embedding", "hidden@words", "embeddings@words")
            if match.representation in widths and not relational:
                t_width = representation_width(teacher_config, match.representation)
                s_width = representation_width(student_config, match.representation)
                if match.projection == "linear":
                    projection = f"{base}" if match.shared_projection else name
                elif t_width != s_width:
                    raise ConfigError(
                        f"{where}: student width {s_width} != teacher width {t_width}; add `projection: linear`"
                    )
            if match.weight == 0:
                continue
            resolved.append(
                ResolvedMatch(
                    name,
                    match.representation,
                    LOSSES[match.loss],
                    teacher_layer,
                    student_layer,
                    match.weight,
                    dict(match.params),
                    projection,
                    match.mask,
                )
            )
    return resolved


def _check_params(match: MatchConfig, where: str) -> None:
    parameters = inspect.signature(LOSSES[match.loss]).parameters
    accepted = [p for p in parameters if p != "mask"][2:]
    for key in match.params:
        if key not in accepted:
            raise ConfigError(
                f"{where}.params: loss '{match.loss}' takes no parameter '{key}'{suggest(key, accepted)}; "
                f"it takes {accepted or 'none'}"
            )
    choices = {"reduction": REDUCTIONS, "class_reduction": ("sum", "mean")}
    for key, allowed in choices.items():
        if key in match.params and match.params[key] not in allowed:
            raise ConfigError(
                f"{where}.params.{key}: {match.params[key]!r} is not one of {', '.join(allowed)}"
                f"{suggest(str(match.params[key]), allowed)}"
            )
    required = [name for name in accepted if parameters[name].default is inspect.Parameter.empty]
    missing = [name for name in required if name not in match.params]
    if missing:
        raise ConfigError(f"{where}.params: loss '{match.loss}' needs {', '.join(missing)} (no default)")


def objective_packing_blocker(matches: list[ResolvedMatch], task_loss_weight: float, side: str) -> str | None:
    """Why the ``side`` (``teacher`` or ``student``) model must run on the padded batch for these losses, or ``None``.

    A packed forward pass (:mod:`alembert.features.packing`) is exact only for token-level terms that skip padded
    positions (``mask: attention_mask``); sequence logits (and the task loss on them) need the padded layout.
    """
    if side == "student" and task_loss_weight > 0:
        return "the task loss reads the student's logits"
    for match in matches:
        if match.representation == "logits":
            return f"match '{match.name}' reads logits"
        if match.representation == "sentence_embedding":  # pooled over the attention mask: exact when packed
            continue
        if match.mask != "attention_mask":
            return f"match '{match.name}' reads padded positions (mask: {match.mask}, not attention_mask)"
    return None


def requested_features(matches: list[ResolvedMatch], side: str) -> set[tuple[str, int | None]]:
    """``(representation, layer)`` pairs that ``matches`` read from ``side`` (``teacher`` or ``student``)."""
    return {(read_as(m.representation), m.teacher_layer if side == "teacher" else m.student_layer) for m in matches}


def read_as(representation: str) -> str:
    """The representation a model returns for ``representation`` (a sentence embedding pools hidden states)."""
    if representation == "sentence_embedding":
        return "hidden"
    return representation.removesuffix("@words")
