"""Length buckets of the compiled step (:mod:`alembert.train.buckets`) and the ``train.compile`` setting."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from alembert.config import TrainConfig
from alembert.losses import LOSSES
from alembert.objective.terms import ResolvedMatch
from alembert.train.buckets import (
    bucket_blocker,
    bucket_lengths,
    bucket_of,
    buckets_for,
    pad_to_buckets,
    recompile_limit,
)
from alembert.train.setup import compile_setting


def test_bucket_lengths_are_multiples_up_to_max_length():
    assert bucket_lengths(128) == (32, 64, 96, 128)
    assert bucket_lengths(100) == (32, 64, 96, 100)
    assert bucket_lengths(32) == (32,) and bucket_lengths(20) == (20,)
    assert buckets_for(None) == (32,) and buckets_for(64) == (32, 64)


def test_a_length_goes_to_the_smallest_bucket_that_holds_it():
    buckets = bucket_lengths(128)
    assert [bucket_of(n, buckets) for n in (1, 32, 33, 64, 100, 128)] == [32, 32, 64, 64, 128, 128]
    assert bucket_of(130, buckets) == 130  # longer than every bucket: its own length


def test_recompiles_are_bounded_by_the_buckets():
    assert recompile_limit((32, 64, 96, 128), paired=False) == 9
    assert recompile_limit((32, 64), paired=True) == 9


def test_padding_fills_what_a_collator_would_and_leaves_sequence_entries():
    batch = {
        "input_ids": torch.tensor([[2, 7, 3], [2, 3, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]),
        "token_type_ids": torch.zeros(2, 3, dtype=torch.long),
        "labels": torch.tensor([[-100, 7, -100], [-100, -100, -100]]),
        "word_ids": torch.tensor([[-1, 0, -1], [-1, -1, -1]]),
        "idx": torch.tensor([4, 5]),
        "student_input_ids": torch.tensor([[1, 9, 9, 9, 2], [1, 9, 2, 5, 5]]),
        "student_attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
    }
    padded = pad_to_buckets(batch, (4, 8), pad_token_id=0, student_pad_token_id=5)
    assert padded["input_ids"].tolist() == [[2, 7, 3, 0], [2, 3, 0, 0]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 0, 0]]
    assert padded["labels"][:, 3].tolist() == [-100, -100] and padded["word_ids"][:, 3].tolist() == [-1, -1]
    assert padded["token_type_ids"].shape == (2, 4) and torch.equal(padded["idx"], batch["idx"])
    assert padded["student_input_ids"].shape == (2, 8) and padded["student_input_ids"][0, 5:].tolist() == [5, 5, 5]
    assert padded["student_attention_mask"][:, 5:].sum() == 0
    sequence_labels = {"input_ids": torch.ones(2, 4, dtype=torch.long), "labels": torch.tensor([0, 1])}
    assert pad_to_buckets(sequence_labels, (4,), 0)["labels"].tolist() == [0, 1]  # already at its bucket


def _match(representation: str, mask: str) -> ResolvedMatch:
    return ResolvedMatch("m", representation, LOSSES["mse"], 1, 1, 1.0, mask=mask)


def test_buckets_only_where_padding_cannot_change_the_loss():
    assert bucket_blocker([_match("hidden", "attention_mask"), _match("logits", "none")]) is None
    assert bucket_blocker([_match("sentence_embedding", "none"), _match("attention_probs", "mlm_positions")]) is None
    assert "mask: none" in bucket_blocker([_match("hidden", "none")])


def test_compile_setting():
    assert compile_setting("never", "cuda", "auto")[0] is False
    assert compile_setting("always", "cpu", "auto")[0] is True
    assert compile_setting("auto", "cuda", "auto")[0] is True
    assert compile_setting("auto", "cpu", "auto")[0] is None  # the probe decides
    assert compile_setting("auto", "cuda", "always") == (False, compile_setting("auto", "cuda", "always")[1])
    assert compile_setting("auto", "mps", "auto")[0] is False


def test_compile_config():
    assert TrainConfig().compile == "auto"
    assert TrainConfig(compile="never", pack_sequences="always").compile == "never"
    with pytest.raises(ValidationError, match="compile"):
        TrainConfig(compile="sometimes")
    with pytest.raises(ValidationError, match="compile=always.*pack_sequences=always"):
        TrainConfig(compile="always", pack_sequences="always")
