"""Prediction-layer losses on logits: soft-target KD, soft cross-entropy, logits MSE, hard-label loss.

All functions are pure: tensors in, scalar tensor out. ``temperature`` scaling by T² is an explicit
argument (``scale_t2``), never implied.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from alembert.losses._reduce import check_same_shape, masked_mean


def kl_div_with_temperature(
    student_logits: Tensor,
    teacher_logits: Tensor,
    *,
    temperature: float = 1.0,
    scale_t2: bool = True,
    mask: Tensor | None = None,
    reduction: str = "token",
) -> Tensor:
    """KL(teacher ‖ student) on temperature-softened distributions (Hinton et al. 2015; DistilBERT ``L_ce``).

    ``loss = T² · mean_i Σ_c p_t(c) · (log p_t(c) − log p_s(c))`` with ``p = softmax(z / T)``.
    The T² factor keeps gradient magnitudes comparable across temperatures (Hinton et al., §2).

    Args:
        student_logits: ``(batch, [seq,] num_classes)``.
        teacher_logits: same shape as ``student_logits``; treated as constant.
        temperature: softening temperature ``T > 0``.
        scale_t2: multiply by ``T²`` (DistilBERT and the HF distiller do; TextBrewer does not).
        mask: optional ``(batch, [seq])`` bool; ``False`` positions are excluded from the mean. DistilBERT's
            code averages over every non-padding token (``attention_mask``; its ``restrict_ce_to_mask`` is off by
            default), not over the masked-LM positions only.
        reduction: ``token`` (default: every unmasked position of the batch weighs the same) or ``sequence``
            (mean within each sequence, then over sequences); see :func:`alembert.losses._reduce.masked_mean`.

    Returns:
        Scalar tensor: mean over the unmasked examples/positions of the per-position KL.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    check_same_shape(student_logits, teacher_logits, "kl_div")
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)
    per_position = (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(dim=-1)
    loss = masked_mean(per_position, mask, reduction)
    return loss * temperature**2 if scale_t2 else loss


def soft_cross_entropy(
    student_logits: Tensor,
    teacher_logits: Tensor,
    *,
    temperature: float = 1.0,
    scale_t2: bool = False,
    mask: Tensor | None = None,
    reduction: str = "token",
    class_reduction: str = "sum",
) -> Tensor:
    """Soft cross-entropy ``−Σ_c p_t(c) log p_s(c)`` at temperature T (TinyBERT prediction-layer loss).

    Differs from :func:`kl_div_with_temperature` by the teacher entropy (constant w.r.t. the student),
    so gradients are equal; the value is not zero for identical inputs. TinyBERT's reference code uses
    T = 1 and no T² factor, hence ``scale_t2=False`` by default.

    Args:
        student_logits: ``(batch, [seq,] num_classes)``.
        teacher_logits: same shape; treated as constant.
        temperature: softening temperature ``T > 0``.
        scale_t2: multiply by ``T²``.
        mask: optional ``(batch, [seq])`` bool.
        reduction: ``token`` (default: every unmasked position of the batch weighs the same) or ``sequence``
            (mean within each sequence, then over sequences); see :func:`alembert.losses._reduce.masked_mean`.
        class_reduction: ``sum`` over classes (the cross-entropy) or ``mean`` over classes: TinyBERT's code
            (``(-targets_prob * student_likelihood).mean()``) divides by the number of classes as well.

    Returns:
        Scalar tensor: mean over unmasked examples/positions.
    """
    if class_reduction not in ("sum", "mean"):
        raise ValueError(f"class_reduction must be sum or mean, got {class_reduction!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    check_same_shape(student_logits, teacher_logits, "soft_cross_entropy")
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_probs = F.softmax(teacher_logits.detach().float() / temperature, dim=-1)
    per_class = -(teacher_probs * student_log_probs)
    per_position = per_class.sum(dim=-1) if class_reduction == "sum" else per_class.mean(dim=-1)
    loss = masked_mean(per_position, mask, reduction)
    return loss * temperature**2 if scale_t2 else loss


def logits_mse(
    student_logits: Tensor, teacher_logits: Tensor, *, mask: Tensor | None = None, reduction: str = "token"
) -> Tensor:
    """Mean squared error between logits (HF distiller ``alpha_mse``; regression tasks such as STS-B).

    Args:
        student_logits: ``(batch, [seq,] num_classes)``.
        teacher_logits: same shape; treated as constant.
        mask: optional ``(batch, [seq])`` bool.
        reduction: ``token`` (default: every unmasked position of the batch weighs the same) or ``sequence``
            (mean within each sequence, then over sequences); see :func:`alembert.losses._reduce.masked_mean`.

    Returns:
        Scalar tensor: mean over unmasked positions of the mean over classes.
    """
    check_same_shape(student_logits, teacher_logits, "logits_mse")
    per_position = (student_logits.float() - teacher_logits.detach().float()).pow(2).mean(dim=-1)
    return masked_mean(per_position, mask, reduction)


def hard_label_loss(logits: Tensor, labels: Tensor, *, ignore_index: int = -100) -> Tensor:
    """The student's own supervised loss: cross-entropy for classes, MSE for regression.

    Args:
        logits: ``(batch, num_classes)``, ``(batch, 1)`` for regression, or ``(batch, seq, vocab)`` (MLM).
        labels: ``(batch,)`` class ids or floats (regression), or ``(batch, seq)`` token ids with
            ``ignore_index`` at unscored positions (MLM).
        ignore_index: label value excluded from the cross-entropy mean.

    Returns:
        Scalar tensor (mean over scored labels).
    """
    if logits.shape[-1] == 1 and labels.is_floating_point():
        return F.mse_loss(logits.float().squeeze(-1), labels.float())
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=ignore_index)


__all__ = ["hard_label_loss", "kl_div_with_temperature", "logits_mse", "soft_cross_entropy"]
