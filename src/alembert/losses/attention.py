"""Attention-map losses: TinyBERT's MSE on pre-softmax scores, MiniLM/MobileBERT's KL on attention distributions.

Inputs are per-head maps ``(batch, heads, seq, seq)`` (query rows, key columns) as captured by
:class:`alembert.features.capture.AttentionCapture`: padded keys hold ``finfo(float32).min`` in scores and 0 in
probabilities. Teacher and student must have the same number of heads (sequence lengths always match).

Padding. With ``mask`` (``(batch, seq)``, true for tokens) both losses exclude padded keys *and* padded queries
from the sum and from the count, so the value does not depend on how much padding a batch has. Without
``mask``, :func:`attention_mse` reproduces the TinyBERT reference code (entries ``≤ −100`` are zeroed on both
sides, then a plain mean over every entry, padding included in the count), and :func:`attention_kl` averages over
every query row (padded keys contribute nothing since their teacher probability is 0).
"""

from __future__ import annotations

import torch
from torch import Tensor

from alembert.losses._reduce import check_same_shape, masked_mean


__all__ = ["attention_kl", "attention_mse", "token_pair_mask"]

_REFERENCE_MASKED_BELOW = -1e2  # TinyBERT task_distill.py: torch.where(att <= -1e2, zeros, att)


def token_pair_mask(mask: Tensor) -> Tensor:
    """``(batch, seq)`` token mask → ``(batch, 1, seq, seq)`` bool, true where both query and key are tokens."""
    mask = mask.bool()
    return mask[:, None, :, None] & mask[:, None, None, :]


def _check_maps(student: Tensor, teacher: Tensor, what: str) -> None:
    if student.ndim != 4 or student.shape[-1] != student.shape[-2]:
        raise ValueError(f"{what}: expected (batch, heads, seq, seq) maps, got {tuple(student.shape)}")
    if student.shape[1] != teacher.shape[1]:
        raise ValueError(
            f"{what}: student has {student.shape[1]} attention heads, teacher {teacher.shape[1]}; per-head maps need "
            "equal head counts (MiniLMv2's qkv_relation_kl does not)"
        )
    check_same_shape(student, teacher, what)


def attention_mse(
    student_scores: Tensor, teacher_scores: Tensor, *, mask: Tensor | None = None, reduction: str = "token"
) -> Tensor:
    """MSE between per-head attention maps, averaged over heads (TinyBERT ``L_attn``, Jiao et al. 2020).

    TinyBERT matches the **pre-softmax** scores (``attention_scores``); this loss also accepts
    ``attention_probs``.

    Args:
        student_scores: ``(batch, heads, seq, seq)``.
        teacher_scores: same shape; treated as constant.
        mask: optional ``(batch, seq)`` bool, true for tokens. Given: mean over heads and over the
            ``(query, key)`` pairs where both are tokens (padding excluded exactly). ``None``: the reference
            code's rule: entries ``≤ −100`` zeroed on each side, then the mean over all entries.
        reduction: ``token`` (default: every unmasked position of the batch weighs the same) or ``sequence``
            (mean within each sequence, then over sequences); see :func:`alembert.losses._reduce.masked_mean`.

    Returns:
        Scalar tensor.
    """
    _check_maps(student_scores, teacher_scores, "attention_mse")
    student, teacher = student_scores.float(), teacher_scores.detach().float()
    if mask is None:
        student = torch.where(student <= _REFERENCE_MASKED_BELOW, torch.zeros_like(student), student)
        teacher = torch.where(teacher <= _REFERENCE_MASKED_BELOW, torch.zeros_like(teacher), teacher)
        return masked_mean((student - teacher).pow(2), None, reduction)
    pairs = token_pair_mask(mask).expand_as(student)
    student = torch.where(pairs, student, torch.zeros_like(student))  # drop padding before subtracting: no inf
    teacher = torch.where(pairs, teacher, torch.zeros_like(teacher))
    return masked_mean((student - teacher).pow(2), pairs, reduction)


def attention_kl(
    student_probs: Tensor, teacher_probs: Tensor, *, mask: Tensor | None = None, reduction: str = "token"
) -> Tensor:
    """KL(teacher ‖ student) of each head's attention distribution, averaged over heads and query positions.

    MiniLM ``L_AT`` (Wang et al. 2020): ``1/(A_h·|x|) Σ_a Σ_t KL(A^T_{a,t} ‖ A^S_{a,t})``; MobileBERT's
    attention transfer (Sun et al. 2020) is the same quantity. Inputs are **post-softmax** probabilities
    (``attention_probs``); the KL of a row is ``Σ_k p_t log(p_t / p_s)`` with ``0 · log 0 = 0``.

    Args:
        student_probs: ``(batch, heads, seq, seq)``, rows summing to 1.
        teacher_probs: same shape; treated as constant.
        mask: optional ``(batch, seq)`` bool, true for tokens; padded keys are dropped from each row's sum and
            padded query rows from the mean. ``None``: mean over every row.
        reduction: ``token`` (default: every query row of the batch weighs the same) or ``sequence`` (the
            paper's ``1/(A_h·|x|)`` per sequence, then the mean over sequences).

    Returns:
        Scalar tensor (nats per row).
    """
    _check_maps(student_probs, teacher_probs, "attention_kl")
    student, teacher = student_probs.float(), teacher_probs.detach().float()
    tiny = torch.finfo(torch.float32).tiny  # log(0) → log(tiny): finite, and clamp stops the gradient there
    per_key = teacher * (teacher.clamp_min(tiny).log() - student.clamp_min(tiny).log())
    if mask is None:
        return masked_mean(per_key.sum(dim=-1), None, reduction)
    tokens = mask.bool()
    per_row = per_key.masked_fill(~tokens[:, None, None, :], 0.0).sum(dim=-1)  # (batch, heads, seq)
    return masked_mean(per_row, tokens[:, None, :].expand_as(per_row), reduction)
