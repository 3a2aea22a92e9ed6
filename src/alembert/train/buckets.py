"""Length buckets for the compiled training step: every batch is padded up to one of a few lengths, so a step
compiled for fixed shapes is compiled at most once per bucket (see :mod:`alembert.train.compiled`).

Padding is added after the collator, in the step: a masked-LM collator draws its random masks over the collated
shape, and padding there would change them. The padding is what a collator pads with (the pad token, mask 0,
label ``-100``, word id ``-1``), so a loss that skips padded positions (``mask: attention_mask`` or
``mlm_positions``) and a sequence representation (logits of a sequence head, a pooled sentence embedding) are
unchanged; a token-level term that compares padded positions (``mask: none``) is not, and such a stage is never
bucketed (:func:`bucket_blocker`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from alembert.config import SEQUENCE_REPRESENTATIONS
from alembert.data.paired import STUDENT_PREFIX
from alembert.objective.matches import ResolvedMatch


__all__ = [
    "BUCKET_MULTIPLE",
    "bucket_blocker",
    "bucket_lengths",
    "bucket_of",
    "buckets_for",
    "pad_to_buckets",
    "recompile_limit",
]

BUCKET_MULTIPLE = 32
_PAD_VALUES = {"attention_mask": 0, "token_type_ids": 0, "labels": -100, "word_ids": -1, "special_tokens_mask": 1}


def bucket_lengths(max_length: int, multiple: int = BUCKET_MULTIPLE) -> tuple[int, ...]:
    """The bucket lengths up to ``max_length``: the multiples of ``multiple`` below it, then ``max_length``."""
    return (*range(multiple, max_length, multiple), max_length)


def bucket_of(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds ``length`` tokens (``length`` itself when it is longer than every bucket)."""
    return next((bucket for bucket in buckets if bucket >= length), length)


def bucket_blocker(matches: list[ResolvedMatch]) -> str | None:
    """Why padding a stage's batches further would change its loss, or ``None`` where bucketing is exact."""
    for match in matches:
        if match.representation not in SEQUENCE_REPRESENTATIONS and match.mask == "none":
            return f"match {match.name} compares padded positions (mask: none), so padding would change its loss"
    return None


def pad_to_buckets(
    batch: Mapping[str, Tensor], buckets: Sequence[int], pad_token_id: int, student_pad_token_id: int | None = None
) -> dict[str, Tensor]:
    """``batch`` with its token tensors padded on the right to their bucket's length.

    The teacher's side (``input_ids`` and what has its length) and, in a paired batch, the student's side
    (``student_…``) are bucketed each by its own length. Other entries (sequence labels, ``idx``) pass unchanged.

    Args:
        batch: a collated, right-padded batch.
        buckets: the bucket lengths (:func:`bucket_lengths`).
        pad_token_id: the teacher tokenizer's pad token (fills ``input_ids``).
        student_pad_token_id: the student tokenizer's, for a paired batch (default ``pad_token_id``).
    """
    padded = dict(batch)
    sides = [("", pad_token_id)]
    if f"{STUDENT_PREFIX}input_ids" in batch:
        sides.append((STUDENT_PREFIX, pad_token_id if student_pad_token_id is None else student_pad_token_id))
    for prefix, pad_id in sides:
        length = batch[f"{prefix}input_ids"].shape[1]
        extra = bucket_of(length, buckets) - length
        if extra <= 0:
            continue
        for name in ("input_ids", *_PAD_VALUES):
            value = batch.get(f"{prefix}{name}")
            if value is None or value.ndim != 2 or value.shape[1] != length:
                continue
            if name == "labels" and value.is_floating_point():  # multi-label targets, not token labels
                continue
            fill = pad_id if name == "input_ids" else _PAD_VALUES[name]
            padded[f"{prefix}{name}"] = torch.nn.functional.pad(value, (0, extra), value=fill)
    return padded


def buckets_for(max_length: int | None, multiple: int = BUCKET_MULTIPLE) -> tuple[int, ...]:
    """The buckets of a stage whose batches hold at most ``max_length`` tokens (one ``multiple`` when unknown,
    then each batch longer than every bucket keeps its own length)."""
    return bucket_lengths(max_length if max_length else multiple, multiple)


def recompile_limit(buckets: Sequence[int], paired: bool) -> int:
    """How many shapes a compiled step may be compiled for: each bucket (times the student's buckets in a paired
    batch), with and without a shorter last batch of an epoch, and one spare."""
    shapes = len(buckets) ** (2 if paired else 1)
    return 2 * shapes + 1
