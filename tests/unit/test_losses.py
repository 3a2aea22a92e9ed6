"""Losses against hand-computed values and invariants."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from alembert.losses import (
    LOSSES,
    cosine_embedding,
    hard_label_loss,
    kl_div_with_temperature,
    logits_mse,
    mse,
    soft_cross_entropy,
)


KL_HAND = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)  # p_t = (.75, .25), p_s = (.5, .5)


def test_kl_hand_computed_value():
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    assert kl_div_with_temperature(student, teacher).item() == pytest.approx(KL_HAND, abs=1e-6)


def test_kl_temperature_scales_by_t_squared():
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[2 * math.log(3.0), 0.0]])  # at T=2 the teacher is again (.75, .25)
    assert kl_div_with_temperature(student, teacher, temperature=2.0).item() == pytest.approx(4 * KL_HAND, abs=1e-6)
    unscaled = kl_div_with_temperature(student, teacher, temperature=2.0, scale_t2=False)
    assert unscaled.item() == pytest.approx(KL_HAND, abs=1e-6)


def test_kl_matches_torch_and_is_zero_for_identical_inputs():
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 7), torch.randn(5, 7)
    reference = (
        F.kl_div(
            F.log_softmax(student / 3, -1), F.log_softmax(teacher / 3, -1), log_target=True, reduction="batchmean"
        )
        * 9
    )
    assert kl_div_with_temperature(student, teacher, temperature=3.0).item() == pytest.approx(reference.item(), 1e-5)
    assert kl_div_with_temperature(teacher, teacher, temperature=3.0).item() == pytest.approx(0.0, abs=1e-6)


def test_kl_mask_equals_selecting_positions():
    torch.manual_seed(1)
    student, teacher = torch.randn(2, 4, 6), torch.randn(2, 4, 6)
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    masked = kl_div_with_temperature(student, teacher, temperature=2.0, mask=mask)
    selected = kl_div_with_temperature(student[mask], teacher[mask], temperature=2.0)
    assert masked.item() == pytest.approx(selected.item(), 1e-6)


def test_gradient_flows_only_to_student():
    student = torch.randn(3, 4, requires_grad=True)
    teacher = torch.randn(3, 4, requires_grad=True)
    for loss in (kl_div_with_temperature, soft_cross_entropy, logits_mse):
        loss(student, teacher).backward()
    assert student.grad is not None and teacher.grad is None


def test_soft_cross_entropy_hand_value_and_kl_gap():
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    assert soft_cross_entropy(student, teacher).item() == pytest.approx(math.log(2), abs=1e-6)
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    gap = soft_cross_entropy(student, teacher) - kl_div_with_temperature(student, teacher)
    assert gap.item() == pytest.approx(entropy, abs=1e-6)


def test_cosine_hand_values_and_mask():
    student = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    teacher = torch.tensor([[[0.0, 1.0], [2.0, 2.0]]])
    assert cosine_embedding(student, teacher).item() == pytest.approx(0.5, abs=1e-6)
    mask = torch.tensor([[False, True]])
    assert cosine_embedding(student, teacher, mask=mask).item() == pytest.approx(0.0, abs=1e-6)
    reference = torch.nn.CosineEmbeddingLoss()(student[0], teacher[0], torch.ones(2))
    assert cosine_embedding(student, teacher).item() == pytest.approx(reference.item(), 1e-6)


def test_mse_hand_values_and_mask():
    student = torch.tensor([[[1.0, 2.0], [3.0, 3.0]]])
    teacher = torch.zeros(1, 2, 2)
    assert mse(student, teacher).item() == pytest.approx((1 + 4 + 9 + 9) / 4)
    assert mse(student, teacher, mask=torch.tensor([[True, False]])).item() == pytest.approx(2.5)
    assert mse(teacher, teacher).item() == 0.0


def test_mse_rejects_shape_mismatch_with_projection_hint():
    with pytest.raises(ValueError, match="projection"):
        mse(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))


def test_hard_label_loss_classification_regression_and_ignore_index():
    assert hard_label_loss(torch.zeros(1, 2), torch.tensor([0])).item() == pytest.approx(math.log(2))
    assert hard_label_loss(torch.tensor([[0.5]]), torch.tensor([1.0])).item() == pytest.approx(0.25)
    logits = torch.zeros(1, 3, 4)
    labels = torch.tensor([[1, -100, -100]])
    assert hard_label_loss(logits, labels).item() == pytest.approx(math.log(4))


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="temperature"):
        kl_div_with_temperature(torch.zeros(1, 2), torch.zeros(1, 2), temperature=0)


def test_every_loss_name_maps_to_a_function_defined_once():
    assert len(set(LOSSES.values())) == len(LOSSES)


def test_token_and_sequence_reductions_by_hand():
    """Per-position losses [[1, 2, 3], [10, -, -]]: token mean 16/4 = 4; per sequence (2 + 10) / 2 = 6."""
    from alembert.losses import mse
    from alembert.losses._reduce import masked_mean

    values = torch.tensor([[1.0, 2.0, 3.0], [10.0, 7.0, 7.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    assert masked_mean(values, mask).item() == pytest.approx(4.0)
    assert masked_mean(values, mask, "sequence").item() == pytest.approx(6.0)
    student = values.sqrt()[..., None]  # mse per position = value
    assert mse(student, torch.zeros_like(student), mask=mask, reduction="sequence").item() == pytest.approx(6.0)
    assert mse(student, torch.zeros_like(student), mask=mask).item() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        masked_mean(values, mask, "batch")


def test_attention_kl_per_sequence_is_the_papers_average():
    """MiniLM: 1/(A_h·|x|) Σ_a Σ_t KL per sequence, then the mean over sequences; ``token`` pools every row."""
    from alembert.losses import attention_kl

    torch.manual_seed(0)
    student = torch.softmax(torch.randn(2, 2, 4, 4), dim=-1)
    teacher = torch.softmax(torch.randn(2, 2, 4, 4), dim=-1)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    rows = [
        (teacher[b, :, :n, :n] * (teacher[b, :, :n, :n].log() - student[b, :, :n, :n].log())).sum(-1)
        for b, n in enumerate((4, 2))
    ]  # (heads, |x|) KL of each real query row over its real keys
    got = attention_kl(student, teacher, mask=mask, reduction="sequence")
    assert got.item() == pytest.approx(torch.stack([r.mean() for r in rows]).mean().item(), rel=1e-5)
    token = attention_kl(student, teacher, mask=mask)
    assert token.item() == pytest.approx(torch.cat([r.flatten() for r in rows]).mean().item(), rel=1e-5)


def test_soft_cross_entropy_averaged_over_classes_like_the_tinybert_code():
    from alembert.losses import soft_cross_entropy

    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[0.0, math.log(3.0)]])  # p_t = [1/4, 3/4]; log p_s = log 1/2 for both classes
    assert soft_cross_entropy(student, teacher).item() == pytest.approx(math.log(2.0))
    assert soft_cross_entropy(student, teacher, class_reduction="mean").item() == pytest.approx(math.log(2.0) / 2)
