"""Self-attention relation losses: MiniLM's value relation and MiniLMv2's multi-head Q/K/V relations.

A relation of vectors ``A, B`` (per head, ``(seq, d)`` each) is the row-wise distribution
``softmax(A·Bᵀ / √d)`` over keys; teacher and student relations are compared with KL(teacher ‖ student) per
head, averaged over heads and query positions. Each side scales by its own head size ``d``.

Padding. With ``mask`` (``(batch, seq)``, true for tokens) padded keys are removed from the softmax (their logit
is ``finfo.min``) and padded query rows from the mean. Without a mask every position counts, padding included,
which is rarely what you want: the objective always passes ``mask: attention_mask`` for these losses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from alembert.losses._reduce import masked_mean


__all__ = ["RELATION_VECTORS", "qkv_relation_kl", "relation_kl", "value_relation_kl"]

RELATION_VECTORS = "qkv"  # index of query, key and value along dim 1 of a ``qkv_relation`` tensor


def _relation_log_probs(left: Tensor, right: Tensor, tokens: Tensor | None) -> Tensor:
    """``log softmax(left · rightᵀ / √d)`` of ``(batch, heads, seq, d)`` inputs → ``(batch, heads, seq, seq)``."""
    logits = left.float() @ right.float().transpose(-1, -2) * left.shape[-1] ** -0.5
    if tokens is not None:
        logits = logits.masked_fill(~tokens[:, None, None, :], torch.finfo(logits.dtype).min)
    return F.log_softmax(logits, dim=-1)


def relation_kl(
    student_pair: tuple[Tensor, Tensor],
    teacher_pair: tuple[Tensor, Tensor],
    *,
    mask: Tensor | None = None,
    reduction: str = "token",
) -> Tensor:
    """KL(teacher ‖ student) of one relation, averaged over relation heads and query positions.

    Args:
        student_pair: ``(A_s, B_s)``, each ``(batch, heads, seq, d_s)``: relation ``softmax(A_s·B_sᵀ/√d_s)``.
        teacher_pair: ``(A_t, B_t)``, each ``(batch, heads, seq, d_t)``; treated as constant. Same heads.
        mask: optional ``(batch, seq)`` bool, true for tokens.
        reduction: ``token`` (default: every query row of the batch weighs the same) or ``sequence`` (the
            paper's ``1/(A_h·|x|)`` per sequence, then the mean over sequences).

    Returns:
        Scalar tensor.
    """
    tokens = None if mask is None else mask.bool()
    student_log = _relation_log_probs(*student_pair, tokens)
    with torch.no_grad():
        teacher_log = _relation_log_probs(*(t.detach() for t in teacher_pair), tokens)
    per_key = teacher_log.exp() * (teacher_log - student_log)  # padded keys: 0 · (finite) = 0
    if tokens is None:
        return masked_mean(per_key.sum(dim=-1), None, reduction)
    per_row = per_key.masked_fill(~tokens[:, None, None, :], 0.0).sum(dim=-1)
    return masked_mean(per_row, tokens[:, None, :].expand_as(per_row), reduction)


def value_relation_kl(
    student_values: Tensor, teacher_values: Tensor, *, mask: Tensor | None = None, reduction: str = "token"
) -> Tensor:
    """MiniLM value-relation transfer ``L_VR`` (Wang et al. 2020, arXiv:2002.10957).

    ``VR = softmax(V·Vᵀ / √d_k)`` per attention head; ``L_VR = 1/(A_h·|x|) Σ_a Σ_t KL(VR^T_{a,t} ‖ VR^S_{a,t})``.
    The head sizes may differ; the head counts may not (MiniLM v1's restriction).

    Args:
        student_values: ``(batch, heads, seq, d_s)`` values per head (``value_relation`` representation).
        teacher_values: ``(batch, heads, seq, d_t)``; treated as constant.
        mask: optional ``(batch, seq)`` bool, true for tokens.
        reduction: ``token`` (default: every query row of the batch weighs the same) or ``sequence`` (the
            paper's ``1/(A_h·|x|)`` per sequence, then the mean over sequences).

    Returns:
        Scalar tensor.
    """
    if student_values.ndim != 4 or teacher_values.ndim != 4:
        raise ValueError("value_relation_kl: expected (batch, heads, seq, d) values")
    if student_values.shape[:3] != teacher_values.shape[:3]:
        raise ValueError(
            f"value_relation_kl: student (batch, heads, seq) {tuple(student_values.shape[:3])} != teacher "
            f"{tuple(teacher_values.shape[:3])}; MiniLM needs equal head counts (qkv_relation_kl does not)"
        )
    pairs = (student_values, student_values), (teacher_values, teacher_values)
    return relation_kl(*pairs, mask=mask, reduction=reduction)


def _relation_heads(x: Tensor, heads: int, who: str) -> Tensor:
    """``(batch, seq, width)`` → ``(batch, heads, seq, width / heads)``: concatenated heads re-split."""
    batch, seq, width = x.shape
    if width % heads:
        raise ValueError(f"qkv_relation_kl: relation_heads {heads} does not divide the {who} width {width}")
    return x.reshape(batch, seq, heads, width // heads).transpose(1, 2)


def qkv_relation_kl(
    student_qkv: Tensor,
    teacher_qkv: Tensor,
    *,
    relation_heads: int,
    relations: Sequence[str] = ("qq", "kk", "vv"),
    mask: Tensor | None = None,
    reduction: str = "token",
) -> Tensor:
    """MiniLMv2 multi-head self-attention relation transfer (Wang et al. 2021, arXiv:2012.15828).

    Queries, keys and values of all attention heads are concatenated and re-split into ``relation_heads``
    relation heads of size ``d_r = width / relation_heads`` (per model), so teacher and student may differ in
    attention heads and width. For each relation ``ab`` (``qq``, ``kk``, ``vv``; any pair such as ``qk`` works)
    ``R_ab = softmax(A·Bᵀ / √d_r)`` and the loss is ``Σ_relations KL(R^T_ab ‖ R^S_ab)``, each averaged over
    relation heads and query positions (the paper sums Q-Q, K-K and V-V with equal weight).

    Args:
        student_qkv: ``(batch, 3, seq, width_s)`` queries, keys, values (``qkv_relation`` representation).
        teacher_qkv: ``(batch, 3, seq, width_t)``; treated as constant.
        relation_heads: number of relation heads; must divide both widths.
        relations: which relations to sum, two letters from ``q``, ``k``, ``v`` each.
        mask: optional ``(batch, seq)`` bool, true for tokens.
        reduction: ``token`` (default: every query row of the batch weighs the same) or ``sequence`` (the
            paper's ``1/(A_h·|x|)`` per sequence, then the mean over sequences).

    Returns:
        Scalar tensor: the sum over ``relations``.
    """
    if relation_heads <= 0:
        raise ValueError(f"qkv_relation_kl: relation_heads must be > 0, got {relation_heads}")
    check_relations(relations)
    for who, x in (("student", student_qkv), ("teacher", teacher_qkv)):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"qkv_relation_kl: expected {who} (batch, 3, seq, width), got {tuple(x.shape)}")
    student = [_relation_heads(student_qkv[:, i], relation_heads, "student") for i in range(3)]
    teacher = [_relation_heads(teacher_qkv[:, i], relation_heads, "teacher") for i in range(3)]
    total = student_qkv.new_zeros((), dtype=torch.float32)
    for relation in relations:
        left, right = (RELATION_VECTORS.index(c) for c in relation)
        pairs = (student[left], student[right]), (teacher[left], teacher[right])
        total = total + relation_kl(*pairs, mask=mask, reduction=reduction)
    return total


def check_relations(relations: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``relations`` is a non-empty list of distinct pairs like ``qq`` or ``vk``."""
    if isinstance(relations, str) or not relations:
        raise ValueError(f"relations must be a non-empty list such as [qq, kk, vv], got {relations!r}")
    for relation in relations:
        if len(relation) != 2 or any(c not in RELATION_VECTORS for c in relation):
            raise ValueError(f"relation '{relation}' is not two letters from q, k, v (e.g. qq, kk, vv)")
    if len(set(relations)) != len(relations):
        raise ValueError(f"relations lists a pair twice: {list(relations)}")
