"""Masked reductions shared by the token-level losses."""

from __future__ import annotations

from torch import Tensor


def masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of ``values`` over the positions where ``mask`` is true.

    Args:
        values: ``(batch, [seq])`` per-position loss values (already reduced over features).
        mask: ``(batch, [seq])`` bool/0-1 tensor, or ``None`` for a plain mean.

    Returns:
        Scalar tensor. Zero (with grad) when the mask selects nothing.
    """
    if mask is None:
        return values.mean()
    mask = mask.to(dtype=values.dtype)
    if mask.shape != values.shape:
        mask = mask.expand_as(values)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def check_same_shape(student: Tensor, teacher: Tensor, what: str) -> None:
    """Raise ``ValueError`` when student and teacher tensors differ in shape."""
    if student.shape != teacher.shape:
        raise ValueError(
            f"{what}: student shape {tuple(student.shape)} != teacher shape {tuple(teacher.shape)}; "
            "add `projection: linear` to the match or pick layers of equal width"
        )


def check_same_batch(student: Tensor, teacher: Tensor, what: str) -> None:
    """Raise ``ValueError`` unless both are ``(batch, dim)`` with the same batch size (widths may differ)."""
    if student.ndim != 2 or teacher.ndim != 2 or student.shape[0] != teacher.shape[0]:
        raise ValueError(
            f"{what}: expected (batch, dim) tensors of one batch, got student {tuple(student.shape)} and teacher "
            f"{tuple(teacher.shape)}"
        )


__all__ = ["check_same_batch", "check_same_shape", "masked_mean"]
