"""Masked reductions shared by the token-level losses."""

from __future__ import annotations

from torch import Tensor


REDUCTIONS = ("token", "sequence")


def masked_mean(values: Tensor, mask: Tensor | None, reduction: str = "token") -> Tensor:
    """Mean of ``values`` over the positions where ``mask`` is true.

    Args:
        values: ``(batch, ...)`` per-position loss values (already reduced over features).
        mask: bool/0-1 tensor of ``values``' shape (or broadcastable to it), or ``None`` for a plain mean.
        reduction: ``token``: every selected position of the batch weighs the same (a long sequence weighs more
            than a short one); ``sequence``: the mean over each sequence's selected positions, then the mean over
            the sequences that have any (every sequence weighs the same, as in MiniLM's ``1/(A_h·|x|)``).

    Returns:
        Scalar tensor. Zero (with grad) when the mask selects nothing.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    if mask is None:
        if reduction == "token" or values.ndim < 2:
            return values.mean()
        return values.flatten(1).mean(dim=1).mean()
    mask = mask.to(dtype=values.dtype)
    if mask.shape != values.shape:
        mask = mask.expand_as(values)
    if reduction == "token" or values.ndim < 2:
        return (values * mask).sum() / mask.sum().clamp_min(1.0)
    counts = mask.flatten(1).sum(dim=1)
    per_sequence = (values * mask).flatten(1).sum(dim=1) / counts.clamp_min(1.0)
    present = (counts > 0).to(values.dtype)
    return (per_sequence * present).sum() / present.sum().clamp_min(1.0)


def check_same_shape(student: Tensor, teacher: Tensor, what: str) -> None:
    """Raise ``ValueError`` when student and teacher tensors differ in shape."""
    if student.shape != teacher.shape:
        raise ValueError(
            f"{what}: student shape {tuple(student.shape)} != teacher shape {tuple(teacher.shape)}; "
            "add `projection: linear` to the match or pick layers of equal width"
        )


__all__ = ["REDUCTIONS", "check_same_shape", "masked_mean"]
