"""MobileBERT's losses as alembert computes them: FMT (mse), AT (attention_kl on captured maps of MobileBERT-family
models of different bottleneck widths) and L_PD = α L_MLM + (1 − α) L_KD, against the paper's formulas by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, MobileBertForMaskedLM, MobileBertForSequenceClassification

from alembert.config import StageConfig
from alembert.features.extract import forward_features
from alembert.losses import attention_kl, mse
from alembert.models.mobilebert import mobilebert_config
from alembert.objective.terms import DistillationObjective, resolve_matches
from tests.conftest import tiny_config, tiny_mobilebert_student


def family(preset: str, bottleneck: int, **shape) -> object:
    cfg = tiny_mobilebert_student(32, {"preset": preset, "bottleneck_size": bottleneck, "embedding_size": 8, **shape})
    config = mobilebert_config(tiny_config("bert"), cfg)
    config.initializer_range = 0.2  # attention far from uniform, so the comparisons mean something
    return config


def padded_batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    input_ids = torch.randint(5, 90, (2, 7), generator=generator)
    attention_mask = torch.ones(2, 7, dtype=torch.long)
    attention_mask[1, 4:] = 0
    return {"input_ids": input_ids * attention_mask, "attention_mask": attention_mask}


def test_fmt_is_the_papers_mean_over_tokens_and_feature_map_channels():
    torch.manual_seed(0)
    teacher, student = torch.randn(1, 5, 512), torch.randn(1, 5, 512)
    expected = sum((teacher[0, t, n] - student[0, t, n]) ** 2 for t in range(5) for n in range(512)) / (5 * 512)
    assert mse(student, teacher) == pytest.approx(expected.item(), rel=1e-5)
    padded_t = torch.cat([teacher, torch.randn(1, 2, 512)], dim=1)
    padded_s = torch.cat([student, torch.randn(1, 2, 512)], dim=1)
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0]]).bool()
    assert mse(padded_s, padded_t, mask=mask) == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize(
    ("preset", "bottleneck", "shape"),
    [("ibbert-large", 64, {}), ("mobilebert", 16, {}), ("mobilebert-tiny", 16, {"num_feedforward_networks": 2})],
)
def test_captured_attention_of_every_mobilebert_shape_equals_eager(preset, bottleneck, shape):
    torch.manual_seed(0)
    default = AutoModelForSequenceClassification.from_config(family(preset, bottleneck, **shape)).eval()
    eager = AutoModelForSequenceClassification.from_config(
        family(preset, bottleneck, **shape), attn_implementation="eager"
    ).eval()
    assert default.config._attn_implementation == "sdpa"
    eager.load_state_dict(default.state_dict())
    batch = padded_batch()
    with torch.no_grad():
        captured = forward_features(default, batch, [("attention_probs", 1), ("attention_probs", 2)])
        reference = eager(**batch, output_attentions=True).attentions
    for layer in (1, 2):
        probs = captured.get("attention_probs", layer)
        assert probs.shape == (2, 4, 7, 7)
        keys = batch["attention_mask"].bool()[:, None, None, :].expand_as(probs)
        torch.testing.assert_close(probs[keys], reference[layer - 1][keys], atol=1e-5, rtol=1e-4)


def test_at_between_an_ibbert_and_a_mobilebert_is_the_papers_per_head_kl():
    torch.manual_seed(0)
    teacher = MobileBertForSequenceClassification(family("ibbert-large", 64)).eval()  # attention width 64
    student = MobileBertForSequenceClassification(family("mobilebert", 16)).eval()  # attention width 16
    batch = padded_batch()
    with torch.no_grad():
        t = forward_features(teacher, batch, [("attention_probs", 2)]).get("attention_probs", 2)
        s = forward_features(student, batch, [("attention_probs", 2)]).get("attention_probs", 2)
    tokens = batch["attention_mask"].bool()
    total, rows = 0.0, 0
    for b in range(2):
        length = int(tokens[b].sum())
        for head in range(4):
            for query in range(length):
                p, q = t[b, head, query, :length], s[b, head, query, :length]
                total += float((p * (p.log() - q.log())).sum())
                rows += 1
    assert attention_kl(s, t, mask=tokens).item() == pytest.approx(total / rows, rel=1e-4)


def test_pre_training_distillation_is_alpha_mlm_plus_one_minus_alpha_kd():
    torch.manual_seed(0)
    alpha = 0.3
    stage = StageConfig(
        name="pd",
        task_loss_weight=alpha,
        matches=[
            {
                "name": "kd",
                "representation": "logits",
                "loss": "kl_div",
                "weight": 1 - alpha,
                "params": {"temperature": 1.0},
                "mask": "mlm_positions",
            }
        ],
    )
    teacher = MobileBertForMaskedLM(family("ibbert-large", 64)).eval()
    student = MobileBertForMaskedLM(family("mobilebert", 16)).eval()
    matches = resolve_matches(stage, teacher.config, student.config, has_mlm_labels=True)
    objective = DistillationObjective(matches, stage.task_loss_weight, teacher.config, student.config)
    batch = padded_batch()
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 1], labels[0, 4], labels[1, 2] = 7, 9, 11
    batch["labels"] = labels
    with torch.no_grad():
        student_features = forward_features(student, batch, [("logits", None)])
        teacher_features = forward_features(teacher, batch, [("logits", None)])
        total, terms = objective(student_features, teacher_features, batch)
    masked = labels != -100
    s_logits, t_logits = student_features.logits[masked], teacher_features.logits[masked]  # (3, vocab)
    mlm = F.cross_entropy(s_logits, labels[masked])
    kd = (t_logits.softmax(-1) * (t_logits.log_softmax(-1) - s_logits.log_softmax(-1))).sum(-1).mean()
    assert terms["task"].item() == pytest.approx(mlm.item(), rel=1e-5)
    assert terms["kd"].item() == pytest.approx(kd.item(), rel=1e-5)
    assert total.item() == pytest.approx(alpha * mlm.item() + (1 - alpha) * kd.item(), rel=1e-5)
