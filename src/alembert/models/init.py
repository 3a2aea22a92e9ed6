"""How a student was initialised, for the log and the model card."""

from __future__ import annotations

from dataclasses import dataclass


__all__ = ["StudentInit"]


@dataclass(frozen=True)
class StudentInit:
    """What :func:`build_student` did, for the log and the model card.

    Attributes:
        teacher_layers: teacher layer (0-based) each student layer was copied from; empty for random init.
        copied: number of student tensors copied from the teacher.
        total: number of student tensors.
    """

    teacher_layers: tuple[int, ...]
    copied: int
    total: int
