"""Packed forward passes (real tokens only) give what the padded forward gives, for every supported family."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification, XLMRobertaConfig

from alembert.features.extract import forward_features
from alembert.features.packing import model_packing_blocker, pack_inputs, plan_packing
from alembert.losses import LOSSES
from tests.conftest import FAMILIES, tiny_config
from tests.unit.test_capture import family_config


def ragged_batch(lengths: list[int], seq: int, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, 90, (len(lengths), seq), generator=generator)
    attention_mask = (torch.arange(seq)[None, :] < torch.tensor(lengths)[:, None]).long()
    input_ids[attention_mask == 0] = 0
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 3:] = 1  # a second segment in the longer rows
    token_type_ids *= attention_mask
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def config_of(family: str):
    if family == "xlm-roberta":
        config = XLMRobertaConfig(**tiny_config("roberta").to_diff_dict())
        config.initializer_range = 0.2
        return config
    return family_config(family)


def build(family: str, attn: str = "default"):
    """``default``: transformers' default kernel (sdpa; eager for MPNet, which has no sdpa)."""
    torch.manual_seed(0)
    kwargs = {} if attn == "default" else {"attn_implementation": attn}
    return AutoModelForSequenceClassification.from_config(config_of(family), **kwargs).eval()


def test_plan_puts_every_token_once_within_the_row_capacity():
    mask = ragged_batch([9, 3, 7, 1, 5, 9, 2], seq=9)["attention_mask"]
    plan = plan_packing(mask, max_width=12)
    assert plan is not None
    assert plan.padded_index.numel() == plan.packed_index.numel() == int(mask.sum())
    assert len(set(plan.packed_index.tolist())) == plan.packed_index.numel()
    assert plan.width <= 12 and plan.rows * plan.width < mask.numel()
    values = torch.arange(mask.numel()).view(mask.shape) + 1
    round_trip = plan.unpack(plan.pack(values))
    assert torch.equal(round_trip, values * mask)  # tokens back in place, zeros at padding
    for row in range(plan.rows):  # positions restart at 0 for each sequence
        for segment in plan.segments[row].unique().tolist():
            if segment >= 0:
                where = plan.segments[row] == segment
                assert plan.positions[row][where].tolist() == list(range(int(mask[segment].sum())))


def test_left_padded_batches_and_batches_with_little_padding_are_not_packed():
    mask = torch.tensor([[1, 1, 1], [0, 1, 1]])
    assert plan_packing(mask, min_saving=0.0) is None
    mask = ragged_batch([10, 10, 9, 8], seq=10)["attention_mask"]  # packing would save 7.5% of the positions
    assert plan_packing(mask, min_saving=0.2) is None
    assert plan_packing(mask, min_saving=0.05) is not None


@pytest.mark.parametrize("attn", ["default", "eager"])
@pytest.mark.parametrize("family", [*FAMILIES, "xlm-roberta"])
def test_packed_features_equal_padded_features(family, attn):
    model = build(family, attn)
    assert model_packing_blocker(model) is None
    layers = model.config.num_hidden_layers
    requested = [("embeddings", 0), *[("hidden", k) for k in range(1, layers + 1)]]
    requested += [(rep, layers) for rep in ("attention_scores", "attention_probs", "value_relation")]
    batch = ragged_batch([9, 3, 7, 1, 5], seq=9)
    if family in ("distilbert", "roberta", "xlm-roberta", "mpnet"):
        batch.pop("token_type_ids")  # DistilBERT and MPNet take none; RoBERTa-style: one segment
    with torch.no_grad():
        padded = forward_features(model, batch, requested)
        packed = forward_features(model, batch, requested, pack=True)
    assert packed.packing is not None and packed.packing.rows * packed.packing.width < batch["input_ids"].numel()
    tokens = batch["attention_mask"].bool()
    for representation, layer in requested:
        expected, actual = padded.get(representation, layer), packed.get(representation, layer)
        assert actual.shape == expected.shape, representation
        if representation in ("embeddings", "hidden", "value_relation"):
            where = tokens if representation != "value_relation" else tokens[:, None, :].expand(actual.shape[:3])
            torch.testing.assert_close(actual[where], expected[where], atol=1e-5, rtol=1e-5)
            if representation != "value_relation":
                assert not actual[~tokens].any()  # padded positions hold zeros
        else:  # maps: compare where query and key are both tokens
            pairs = (tokens[:, None, :, None] & tokens[:, None, None, :]).expand(actual.shape)
            torch.testing.assert_close(actual[pairs], expected[pairs], atol=1e-5, rtol=1e-5)


def test_student_gradients_are_the_same_packed_and_padded():
    teacher, student = build("bert"), build("bert")
    torch.manual_seed(3)
    for parameter in teacher.parameters():
        parameter.data.add_(torch.randn_like(parameter) * 0.05)
    batch = ragged_batch([9, 2, 6, 4], seq=9)
    requested = [("hidden", 2), ("attention_scores", 2), ("embeddings", 0)]
    mask = batch["attention_mask"].bool()

    def gradients(pack: bool) -> list[torch.Tensor]:
        student.zero_grad()
        with torch.no_grad():
            target = forward_features(teacher, batch, requested, pack=pack)
        features = forward_features(student, batch, requested, pack=pack)
        loss = LOSSES["mse"](features.get("hidden", 2), target.get("hidden", 2), mask=mask)
        loss = loss + LOSSES["mse"](features.get("embeddings", 0), target.get("embeddings", 0), mask=mask)
        loss = loss + LOSSES["attention_mse"](
            features.get("attention_scores", 2), target.get("attention_scores", 2), mask=mask
        )
        loss.backward()
        return [p.grad.clone() for p in student.parameters() if p.grad is not None and p.grad.abs().sum() > 0]

    padded, packed = gradients(False), gradients(True)
    assert len(padded) == len(packed) > 10
    for expected, actual in zip(padded, packed):
        torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


def test_packed_features_have_no_logits():
    model = build("bert")
    features = forward_features(model, ragged_batch([4, 2], seq=4), [("hidden", 1)], pack=True)
    with pytest.raises(RuntimeError, match="packed"):
        features.get("logits", None)


def test_unpackable_models_say_why():
    mobilebert = AutoModelForSequenceClassification.from_config(family_config("mobilebert"))
    assert "mobilebert" in model_packing_blocker(mobilebert)
    flash = build("bert")
    flash.config._attn_implementation = "flash_attention_2"
    assert "sdpa or eager" in model_packing_blocker(flash)


def test_position_ids_follow_the_family_rule():
    batch = ragged_batch([3, 2], seq=3)
    plan = plan_packing(batch["attention_mask"], min_saving=0.0)
    bert, roberta = build("bert"), build("roberta")
    bert_positions = pack_inputs(batch, plan, bert)["position_ids"]
    roberta_positions = pack_inputs({k: batch[k] for k in ("input_ids", "attention_mask")}, plan, roberta)
    assert bert_positions[0, :5].tolist() == [0, 1, 2, 0, 1]
    assert roberta_positions["position_ids"][0, :5].tolist() == [1, 2, 3, 1, 2]  # pad_token_id 0 + 1
