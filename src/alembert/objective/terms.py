"""The distillation objective: resolved matches + the projections they own → one weighted loss.

This is the only ``nn.Module`` specific to distillation. Projections (TinyBERT's ``W_h``/``W_e``) live here,
are trained with the student, and are never saved into the student.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from alembert.config import MatchConfig, StageConfig
from alembert.errors import ConfigError, suggest
from alembert.features.alignment import aligned_words
from alembert.features.extract import Features, representation_width
from alembert.losses import LOSSES, LossFn, hard_label_loss
from alembert.losses._reduce import REDUCTIONS
from alembert.models.sentence import SentencePooling, pool
from alembert.objective.checks import check_attention_match
from alembert.objective.layer_maps import check_layer, expand_layer_map


__all__ = [
    "DistillationObjective",
    "ResolvedMatch",
    "objective_packing_blocker",
    "requested_features",
    "resolve_matches",
]


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


class DistillationObjective(nn.Module):
    """Weighted sum of resolved match losses plus the student's own task loss.

    Args:
        matches: the resolved terms of one stage.
        task_loss_weight: weight of the student's supervised loss (CE, MSE or MLM); 0 disables it.
        teacher_config: teacher config (projection output widths).
        student_config: student config (projection input widths).
        pooling: how ``sentence_embedding`` terms pool the last hidden states (the teacher's pooling, for both
            models; a projection applies before the normalisation).
    """

    def __init__(
        self,
        matches: list[ResolvedMatch],
        task_loss_weight: float,
        teacher_config: Any,
        student_config: Any,
        pooling: SentencePooling | None = None,
    ) -> None:
        super().__init__()
        self.matches = list(matches)
        self.task_loss_weight = float(task_loss_weight)
        self.pooling = pooling or SentencePooling()
        self.projections = nn.ModuleDict()
        for match in self.matches:
            if match.projection and match.projection not in self.projections:
                widen = len(self.pooling.modes) if match.representation == "sentence_embedding" else 1
                in_width = representation_width(student_config, match.representation) * widen
                out_width = representation_width(teacher_config, match.representation) * widen
                self.projections[_module_key(match.projection)] = nn.Linear(in_width, out_width)

    @property
    def needs_teacher(self) -> bool:
        """Whether any term reads the teacher (a pure fine-tuning stage does not)."""
        return bool(self.matches)

    @torch.no_grad()
    def init_projections_from_kept_channels(self, channels: Sequence[int]) -> list[str]:
        """Start every hidden-state projection as the inverse of a pruning that kept ``channels``.

        A student cut from its teacher (``student.init: pruned``) holds the teacher's hidden channels
        ``channels[i]`` as its channel ``i``. A projection ``W`` from the student's width to the teacher's that
        starts random makes the first steps of a TinyBERT-style stage match the student's features through noise,
        undoing what the cut kept; starting it as the selection ``W[channels[i], i] = 1`` (bias 0) makes the
        projected student equal the teacher on the kept channels and zero elsewhere, which training then refines.
        Projections of other widths (and of pooled sentence embeddings) are left as they are.

        Args:
            channels: the teacher channel of each student channel (``PruneReport.hidden_channels``).

        Returns:
            The keys of the projections set.
        """
        done = []
        for match in self.matches:
            key = _module_key(match.projection) if match.projection else None
            if key is None or key in done or _read_as(match.representation) not in ("hidden", "embeddings"):
                continue
            if match.representation == "sentence_embedding":
                continue
            layer = self.projections[key]
            if layer.in_features != len(channels) or max(channels, default=-1) >= layer.out_features:
                continue
            layer.weight.zero_()
            layer.weight[torch.as_tensor(list(channels)), torch.arange(len(channels))] = 1.0
            layer.bias.zero_()
            done.append(key)
        return done

    def packing_blocker(self, side: str) -> str | None:
        """Why ``side`` cannot run packed for this objective (see :func:`objective_packing_blocker`), or ``None``."""
        return objective_packing_blocker(self.matches, self.task_loss_weight, side)

    def requested(self, side: str) -> set[tuple[str, int | None]]:
        """``(representation, layer)`` pairs this objective reads from ``side`` (``teacher`` or ``student``)."""
        return requested_features(self.matches, side)

    def forward(
        self, student: Features, teacher: Features | None, batch: Mapping[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute the total loss and each (unweighted) term.

        Args:
            student: the student's extracted features for the batch.
            teacher: the teacher's features (``None`` when :attr:`needs_teacher` is false).
            batch: the model inputs plus ``labels`` and ``attention_mask``.

        Returns:
            ``(total, terms)``; ``terms`` maps each name to its detached, unweighted value.
        """
        terms: dict[str, Tensor] = {}
        total = torch.zeros((), device=batch["input_ids"].device)
        for match in self.matches:
            assert teacher is not None
            student_value = student.get(_read_as(match.representation), match.student_layer)
            teacher_value = teacher.get(_read_as(match.representation), match.teacher_layer)
            sentence = match.representation == "sentence_embedding"
            mask = _mask(match.mask, batch)
            if sentence:  # each model pools over its own tokens; one embedding per example, nothing to mask
                mask = None
                student_mask = batch.get("student_attention_mask", batch["attention_mask"])
                student_value = pool(student_value, student_mask, self.pooling, normalize=False)
                teacher_value = pool(teacher_value, batch["attention_mask"], self.pooling)
            elif match.representation.endswith("@words"):  # word states over both tokenizations' pieces
                student_ids = batch.get("student_word_ids")
                if student_ids is None or "word_ids" not in batch:
                    raise RuntimeError(f"match '{match.name}' needs word ids in the batch (a paired dataset)")
                student_value, teacher_value, mask = aligned_words(
                    student_value, teacher_value, student_ids, batch["word_ids"]
                )
            if match.projection:
                student_value = self.projections[_module_key(match.projection)](student_value)
            if sentence and self.pooling.normalize:
                student_value = torch.nn.functional.normalize(student_value, p=2, dim=-1)
            value = match.loss(student_value, teacher_value, mask=mask, **match.params)
            terms[match.name] = value.detach()
            total = total + match.weight * value
        if self.task_loss_weight > 0:
            value = hard_label_loss(student.logits, batch["labels"])
            terms["task"] = value.detach()
            total = total + self.task_loss_weight * value
        elif self.matches and not any(m.representation == "logits" for m in self.matches):
            # DDP needs a gradient for every parameter each step: give the unused head (and the blocks after the
            # matched layers) an exact zero one instead of none (attention-only stages such as MiniLM's)
            total = total + 0.0 * _output_anchor(student)
        return total, terms


def requested_features(matches: list[ResolvedMatch], side: str) -> set[tuple[str, int | None]]:
    """``(representation, layer)`` pairs that ``matches`` read from ``side`` (``teacher`` or ``student``)."""
    return {(_read_as(m.representation), m.teacher_layer if side == "teacher" else m.student_layer) for m in matches}


def _output_anchor(features: Features) -> Tensor:
    """Sum of every tensor the model returned (logits; or, for a head-less encoder, the last hidden state and
    the pooler output), so a zero multiple of it reaches every parameter used in the forward pass."""
    return sum(value.float().sum() for value in features.outputs.values() if isinstance(value, Tensor))


def _read_as(representation: str) -> str:
    """The representation a model returns for ``representation`` (a sentence embedding pools hidden states)."""
    if representation == "sentence_embedding":
        return "hidden"
    return representation.removesuffix("@words")


def _module_key(name: str) -> str:
    return name.replace(".", "_").replace("/", "__")


def _mask(kind: str, batch: Mapping[str, Tensor]) -> Tensor | None:
    if kind == "attention_mask":
        return batch["attention_mask"].bool()
    if kind == "mlm_positions":
        return batch["labels"] != -100
    return None
