"""Sentence-embedding losses: in-batch similarity-matrix KL (relational distillation of embeddings).

Point-wise matches of embeddings are the hidden-state losses :func:`alembert.losses.hidden.mse` (sentence-
transformers' ``MSELoss`` distillation, Reimers & Gurevych 2020) and :func:`alembert.losses.hidden.cosine_embedding`
applied to ``(batch, dim)`` tensors.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from alembert.losses._reduce import check_same_batch


def similarity_kl(
    student_embeddings: Tensor,
    teacher_embeddings: Tensor,
    *,
    temperature: float = 0.05,
    scale_t2: bool = False,
    mask: Tensor | None = None,
) -> Tensor:
    """KL(teacher ‖ student) between the rows of the in-batch cosine-similarity matrices.

    ``S = cos(e_i, e_j) / T`` for every pair of the batch (diagonal included); row ``i`` becomes a distribution
    over the batch by softmax, and ``loss = mean_i Σ_j p_t(i, j) · (log p_t(i, j) − log p_s(i, j))``. Relational
    (the student reproduces how the teacher ranks the other sentences of the batch, whatever its width), as in the
    in-batch similarity distillation of embedding models (e.g. Wang et al. 2022's relation KD; RKD-style).

    Args:
        student_embeddings: ``(batch, d_s)``.
        teacher_embeddings: ``(batch, d_t)``; widths may differ; treated as constant.
        temperature: ``T > 0`` dividing the cosine similarities (0.05 is the usual contrastive scale).
        scale_t2: multiply by ``T²`` (as for logit KD).
        mask: unused (sequence-level term); accepted for the common loss signature.

    Returns:
        Scalar tensor, 0 when both similarity matrices are equal.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    check_same_batch(student_embeddings, teacher_embeddings, "similarity_kl")
    student = F.normalize(student_embeddings.float(), dim=-1)
    teacher = F.normalize(teacher_embeddings.detach().float(), dim=-1)
    student_log_probs = F.log_softmax(student @ student.T / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher @ teacher.T / temperature, dim=-1)
    loss = (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(dim=-1).mean()
    return loss * temperature**2 if scale_t2 else loss


__all__ = ["similarity_kl"]
