"""Attention and relation losses against hand-computed values, masking rules and cross-loss identities."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from alembert.losses import LOSSES, attention_kl, attention_mse, qkv_relation_kl, value_relation_kl
from alembert.losses.relations import relation_kl


KL_HAND = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)  # KL((.75, .25) ‖ (.5, .5))
VR_HAND = (math.log((1 + math.e) / 2) - 0.5) / 2  # student V = [[1], [0]], teacher V = [[0], [0]] (see below)
MIN = torch.finfo(torch.float32).min


def maps(*rows: list[float]) -> torch.Tensor:
    """One example, one head: ``(1, 1, seq, seq)``."""
    return torch.tensor([list(rows)], dtype=torch.float32).unsqueeze(0)


def test_registered_names():
    for name in ("attention_mse", "attention_kl", "value_relation_kl", "qkv_relation_kl"):
        assert name in LOSSES


# --- attention_mse (TinyBERT) ---------------------------------------------------------------------------------


def test_attention_mse_hand_value_and_head_average():
    student, teacher = maps([1.0, 2.0], [3.0, 4.0]), maps([0.0, 2.0], [3.0, 6.0])
    assert attention_mse(student, teacher).item() == pytest.approx((1 + 0 + 0 + 4) / 4)
    two_heads_student = torch.zeros(1, 2, 2, 2)
    two_heads_teacher = torch.cat([torch.ones(1, 1, 2, 2), torch.full((1, 1, 2, 2), 3.0)], dim=1)
    assert attention_mse(two_heads_student, two_heads_teacher).item() == pytest.approx((1 + 9) / 2)


def test_attention_mse_masking_vs_reference_rule():
    # key 1 is padding: captured scores hold finfo.min there; query row 1 is a padded query
    student, teacher = maps([1.0, MIN], [3.0, MIN]), maps([0.0, MIN], [5.0, MIN])
    mask = torch.tensor([[True, False]])
    assert attention_mse(student, teacher, mask=mask).item() == pytest.approx(1.0)  # only (q0, k0) counts
    # reference code: entries <= -100 zeroed, then the mean over all 4 entries (padded query row included)
    assert attention_mse(student, teacher).item() == pytest.approx((1 + 0 + 4 + 0) / 4)


def test_attention_mse_masked_gradient_is_finite_and_ignores_padding():
    student = maps([1.0, MIN], [3.0, MIN]).requires_grad_(True)
    attention_mse(student, maps([0.0, MIN], [5.0, MIN]), mask=torch.tensor([[True, False]])).backward()
    assert torch.isfinite(student.grad).all()
    assert student.grad[0, 0, 0, 0].item() == pytest.approx(2.0) and student.grad.abs().sum().item() == 2.0


def test_attention_losses_need_equal_heads():
    with pytest.raises(ValueError, match="equal head counts"):
        attention_mse(torch.zeros(1, 2, 3, 3), torch.zeros(1, 4, 3, 3))
    with pytest.raises(ValueError, match="equal head counts"):
        attention_kl(torch.full((1, 2, 3, 3), 1 / 3), torch.full((1, 4, 3, 3), 1 / 3))


# --- attention_kl (MiniLM L_AT, MobileBERT AT) -----------------------------------------------------------------


def test_attention_kl_hand_value():
    teacher, student = maps([0.75, 0.25], [0.5, 0.5]), maps([0.5, 0.5], [0.5, 0.5])
    assert attention_kl(student, teacher).item() == pytest.approx(KL_HAND / 2, abs=1e-7)  # mean over 2 rows
    assert attention_kl(teacher, teacher).item() == pytest.approx(0.0, abs=1e-7)


def test_attention_kl_masks_padded_queries_and_keys():
    teacher = maps([0.75, 0.25, 0.0], [0.5, 0.5, 0.0], [0.9, 0.1, 0.0])  # token 2 is padding
    student = maps([0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.1, 0.9, 0.0])
    mask = torch.tensor([[True, True, False]])
    assert attention_kl(student, teacher, mask=mask).item() == pytest.approx(KL_HAND / 2, abs=1e-6)
    unmasked = (KL_HAND + 0.0 + 0.8 * math.log(9)) / 3  # every row counts, padded keys add 0
    assert attention_kl(student, teacher).item() == pytest.approx(unmasked, abs=1e-6)


def test_attention_kl_matches_torch_and_gradient_is_finite_with_zero_probabilities():
    torch.manual_seed(0)
    logits_s, logits_t = torch.randn(2, 3, 5, 5), torch.randn(2, 3, 5, 5)
    logits_s[1, :, :, 3:] = MIN
    logits_t[1, :, :, 3:] = MIN
    student = logits_s.softmax(-1).requires_grad_(True)
    teacher = logits_t.softmax(-1)
    reference = F.kl_div(student.log(), teacher, reduction="none").nan_to_num().sum(-1).mean()
    loss = attention_kl(student, teacher)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    loss.backward()
    assert torch.isfinite(student.grad).all()


# --- value_relation_kl (MiniLM L_VR) ----------------------------------------------------------------------------


def test_value_relation_hand_value():
    # student VVᵀ = [[1, 0], [0, 0]]: rows softmax(1, 0) and (.5, .5); teacher V = 0: both rows uniform.
    # KL(uniform ‖ softmax(1, 0)) = ln((1 + e) / 2) − 1/2; the second row adds 0; mean over 2 rows.
    student, teacher = torch.tensor([[[[1.0], [0.0]]]]), torch.zeros(1, 1, 2, 1)
    assert value_relation_kl(student, teacher).item() == pytest.approx(VR_HAND, abs=1e-6)
    assert value_relation_kl(student, student).item() == pytest.approx(0.0, abs=1e-7)


def test_value_relation_allows_other_head_sizes_not_other_head_counts():
    torch.manual_seed(0)
    assert value_relation_kl(torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 16)).item() > 0
    with pytest.raises(ValueError, match="equal head counts"):
        value_relation_kl(torch.randn(2, 2, 5, 8), torch.randn(2, 4, 5, 8))


def test_value_relation_mask_equals_truncating_the_padding():
    torch.manual_seed(1)
    student, teacher = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 6)
    student[:, :, 3:] = 100.0  # padding with extreme values must not matter
    mask = torch.tensor([[True, True, True, False, False]])
    masked = value_relation_kl(student, teacher, mask=mask)
    truncated = value_relation_kl(student[:, :, :3], teacher[:, :, :3])
    assert masked.item() == pytest.approx(truncated.item(), rel=1e-5)


# --- qkv_relation_kl (MiniLMv2) ---------------------------------------------------------------------------------


def qkv(batch: int, seq: int, width: int, seed: int) -> torch.Tensor:
    return torch.randn(batch, 3, seq, width, generator=torch.Generator().manual_seed(seed))


def test_qkv_relation_hand_value():
    student = torch.zeros(1, 3, 2, 1)
    student[0, 0, 0, 0] = 1.0  # Q = [[1], [0]]: the same relation as the value-relation hand example
    teacher = torch.zeros(1, 3, 2, 1)
    loss = qkv_relation_kl(student, teacher, relation_heads=1, relations=["qq"])
    assert loss.item() == pytest.approx(VR_HAND, abs=1e-6)
    assert qkv_relation_kl(student, teacher, relation_heads=1).item() == pytest.approx(VR_HAND, abs=1e-6)


def test_relation_heads_resplit_concatenated_heads_when_widths_differ():
    student, teacher = qkv(2, 5, 6, seed=0), qkv(2, 5, 12, seed=1)  # e.g. 2 heads of 3 vs 4 heads of 3
    loss = qkv_relation_kl(student, teacher, relation_heads=3, relations=["kk"])
    s = student[:, 1].reshape(2, 5, 3, 2).transpose(1, 2)  # 3 relation heads of size 2
    t = teacher[:, 1].reshape(2, 5, 3, 4).transpose(1, 2)  # 3 relation heads of size 4
    manual = 0.0
    for head in range(3):  # KL per relation head, averaged
        log_s = F.log_softmax(s[:, head] @ s[:, head].transpose(-1, -2) / math.sqrt(2), -1)
        log_t = F.log_softmax(t[:, head] @ t[:, head].transpose(-1, -2) / math.sqrt(4), -1)
        manual += F.kl_div(log_s, log_t, log_target=True, reduction="sum").item() / (2 * 5) / 3
    assert loss.item() == pytest.approx(manual, rel=1e-5)
    with pytest.raises(ValueError, match="does not divide"):
        qkv_relation_kl(student, teacher, relation_heads=4)


def test_vv_relation_with_attention_heads_is_minilm_value_relation():
    student, teacher = qkv(2, 6, 8, seed=2), qkv(2, 6, 8, seed=3)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    v2 = qkv_relation_kl(student, teacher, relation_heads=2, relations=["vv"], mask=mask)
    heads = [x[:, 2].reshape(2, 6, 2, 4).transpose(1, 2) for x in (student, teacher)]
    assert v2.item() == pytest.approx(value_relation_kl(*heads, mask=mask).item(), rel=1e-6)


def test_qk_relation_is_the_attention_distribution():
    student, teacher = qkv(1, 4, 4, seed=4), qkv(1, 4, 4, seed=5)

    def probs(x):
        q, k = (x[:, i].reshape(1, 4, 2, 2).transpose(1, 2) for i in (0, 1))
        return (q @ k.transpose(-1, -2) / math.sqrt(2)).softmax(-1)

    qk = qkv_relation_kl(student, teacher, relation_heads=2, relations=["qk"])
    assert qk.item() == pytest.approx(attention_kl(probs(student), probs(teacher)).item(), rel=1e-5)


def test_relations_are_summed_and_validated():
    student, teacher = qkv(2, 5, 6, seed=6), qkv(2, 5, 9, seed=7)
    parts = [qkv_relation_kl(student, teacher, relation_heads=3, relations=[r]) for r in ("qq", "kk", "vv")]
    total = qkv_relation_kl(student, teacher, relation_heads=3)
    assert total.item() == pytest.approx(sum(p.item() for p in parts), rel=1e-6)
    for bad in (["qx"], [], ["qq", "qq"], "qq"):
        with pytest.raises(ValueError):
            qkv_relation_kl(student, teacher, relation_heads=3, relations=bad)


def test_relation_gradient_flows_only_to_the_student_and_masked_rows_are_ignored():
    student = qkv(2, 5, 6, seed=8).requires_grad_(True)
    teacher = qkv(2, 5, 6, seed=9).requires_grad_(True)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    qkv_relation_kl(student, teacher, relation_heads=2, mask=mask).backward()
    assert teacher.grad is None and torch.isfinite(student.grad).all()
    assert student.grad[1, :, 2:].abs().max() == 0  # padded tokens get no gradient


def test_relation_kl_masked_batch_pools_rows():
    torch.manual_seed(3)
    a, b = torch.randn(2, 1, 3, 2), torch.randn(2, 1, 3, 2)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    pooled = relation_kl((a, a), (b, b), mask=mask)
    first = relation_kl((a[:1], a[:1]), (b[:1], b[:1])) * 3  # 3 rows from example 0
    second = relation_kl((a[1:, :, :1], a[1:, :, :1]), (b[1:, :, :1], b[1:, :, :1]))  # 1 row: always 0
    assert second.item() == pytest.approx(0.0, abs=1e-7)
    assert pooled.item() == pytest.approx((first + second).item() / 4, rel=1e-6)
