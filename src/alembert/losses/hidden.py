"""Hidden-state losses: cosine embedding (DistilBERT ``L_cos``) and MSE (TinyBERT ``L_hidn``/``L_embd``)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from alembert.losses._reduce import check_same_shape, masked_mean


def cosine_embedding(
    student_hidden: Tensor, teacher_hidden: Tensor, *, mask: Tensor | None = None, reduction: str = "token"
) -> Tensor:
    """``1 − cos(h_s, h_t)`` averaged over unmasked positions (Sanh et al. 2019, DistilBERT ``L_cos``).

    Equals ``torch.nn.CosineEmbeddingLoss`` with target 1 on the selected positions, as in the HF
    distiller, which restricts it to non-padding tokens.

    Args:
        student_hidden: ``(batch, seq, hidden)`` (or ``(batch, hidden)``).
        teacher_hidden: same shape; treated as constant.
        mask: optional ``(batch, seq)`` bool; padding positions are excluded.
        reduction: ``token`` (default: every unmasked position of the batch weighs the same) or ``sequence``
            (mean within each sequence, then over sequences); see :func:`alembert.losses._reduce.masked_mean`.

    Returns:
        Scalar tensor in ``[0, 2]``.
    """
    check_same_shape(student_hidden, teacher_hidden, "cosine")
    cos = F.cosine_similarity(student_hidden.float(), teacher_hidden.detach().float(), dim=-1, eps=1e-8)
    return masked_mean(1.0 - cos, mask, reduction)


def mse(student: Tensor, teacher: Tensor, *, mask: Tensor | None = None, reduction: str = "token") -> Tensor:
    """Mean squared error on feature tensors (TinyBERT ``L_hidn``, ``L_embd``; MobileBERT FMT).

    Without a mask this is ``torch.nn.functional.mse_loss`` (mean over every element, padding included,
    as TinyBERT's reference code does). With a mask the mean runs over unmasked positions and features.

    Args:
        student: ``(batch, seq, dim)`` (already projected to the teacher's width if needed).
        teacher: same shape; treated as constant.
        mask: optional ``(batch, seq)`` bool. TinyBERT's code passes none: its mean runs over every element,
            padding included, so each sequence weighs the same (all are padded to one length) but padded positions
            count; ``mask: attention_mask`` with ``reduction: sequence`` keeps the equal weighting without them.
        reduction: ``token`` (default: every unmasked position of the batch weighs the same) or ``sequence``
            (mean within each sequence, then over sequences); see :func:`alembert.losses._reduce.masked_mean`.

    Returns:
        Scalar tensor.
    """
    check_same_shape(student, teacher, "mse")
    per_position = (student.float() - teacher.detach().float()).pow(2).mean(dim=-1)
    return masked_mean(per_position, mask, reduction)


__all__ = ["cosine_embedding", "mse"]
