"""The distillation objective: resolved matches + the projections they own → one weighted loss.

This is the only ``nn.Module`` specific to distillation. Projections (TinyBERT's ``W_h``/``W_e``) live here,
are trained with the student, and are never saved into the student. The matches come from
:func:`alembert.objective.matches.resolve_matches` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from alembert.features.alignment import aligned_words
from alembert.features.extract import Features, representation_width
from alembert.losses import hard_label_loss
from alembert.models.sentence import SentencePooling, pool
from alembert.objective.matches import (
    ResolvedMatch,
    objective_packing_blocker,
    read_as,
    requested_features,
    resolve_matches,
)


__all__ = [
    "DistillationObjective",
    "ResolvedMatch",
    "objective_packing_blocker",
    "requested_features",
    "resolve_matches",
]


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
        ``channels[i]`` as its channel ``i``. Starting a projection ``W`` from the student's width to the teacher's
        as the selection ``W[channels[i], i] = 1`` (bias 0), instead of at random, makes the projected student
        equal the teacher on the kept channels and zero elsewhere at step 0; training then refines it. Projections
        of other widths (and of pooled sentence embeddings) are left as they are.

        Args:
            channels: the teacher channel of each student channel (``PruneReport.hidden_channels``).

        Returns:
            The keys of the projections set.
        """
        done = []
        for match in self.matches:
            key = _module_key(match.projection) if match.projection else None
            pooled = match.representation == "sentence_embedding"
            if key is None or key in done or pooled or read_as(match.representation) not in ("hidden", "embeddings"):
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
            student_value = student.get(read_as(match.representation), match.student_layer)
            teacher_value = teacher.get(read_as(match.representation), match.teacher_layer)
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
                    student_value,
                    teacher_value,
                    student_ids,
                    batch["word_ids"],
                    distributions=match.representation == "attention_probs@words",
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


def _output_anchor(features: Features) -> Tensor:
    """Sum of every tensor the model returned (logits; or, for a head-less encoder, the last hidden state and
    the pooler output), so a zero multiple of it reaches every parameter used in the forward pass."""
    return sum(value.float().sum() for value in features.outputs.values() if isinstance(value, Tensor))


def _module_key(name: str) -> str:
    return name.replace(".", "_").replace("/", "__")


def _mask(kind: str, batch: Mapping[str, Tensor]) -> Tensor | None:
    if kind == "attention_mask":
        return batch["attention_mask"].bool()
    if kind == "mlm_positions":
        return batch["labels"] != -100
    return None
