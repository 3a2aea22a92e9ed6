"""Sentence-embedding losses and pooling against hand-computed values; sentence-transformers folders are read."""

from __future__ import annotations

import json
import math

import pytest
import torch

from alembert.errors import ModelError
from alembert.losses import LOSSES, cosine_embedding, mse, similarity_kl
from alembert.models.sentence import SentencePooling, pool, read_pooling


def test_mse_on_embeddings_is_the_mean_over_every_element():
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    teacher = torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    # row 1: (1 + 0) / 2 = 0.5; row 2: (0 + 4) / 2 = 2; mean 1.25
    assert mse(student, teacher).item() == pytest.approx(1.25)


def test_cosine_on_embeddings():
    student = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    teacher = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    # cos = 1 and 1/sqrt(2): loss = mean(0, 1 - 0.70711) = 0.146447
    assert cosine_embedding(student, teacher).item() == pytest.approx((1 - 1 / math.sqrt(2)) / 2, abs=1e-6)


def test_similarity_kl_by_hand():
    teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # cosine matrix [[1, 0], [0, 1]]
    student = torch.tensor([[1.0, 0.0], [2.0, 0.0]])  # cosine matrix [[1, 1], [1, 1]]: rows uniform (0.5, 0.5)
    p = 1 / (1 + math.exp(-1))  # softmax([1, 0]) at T = 1
    expected = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)  # 0.110944, the same for both rows
    assert similarity_kl(student, teacher, temperature=1.0).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.110944, abs=1e-6)
    # T = 0.5 doubles the logits: softmax([2, 0]); scale_t2 multiplies by T^2
    q = 1 / (1 + math.exp(-2))
    at_half = q * math.log(q / 0.5) + (1 - q) * math.log((1 - q) / 0.5)
    assert similarity_kl(student, teacher, temperature=0.5).item() == pytest.approx(at_half, abs=1e-6)
    value = similarity_kl(student, teacher, temperature=0.5, scale_t2=True).item()
    assert value == pytest.approx(at_half * 0.25, abs=1e-6)


def test_similarity_kl_is_relational():
    teacher = torch.randn(5, 8)
    # another width, rotated and rescaled: same cosine matrix, zero loss
    rotation, _ = torch.linalg.qr(torch.randn(8, 8))
    student = torch.cat([teacher @ rotation * 3.0, torch.zeros(5, 4)], dim=1)
    assert similarity_kl(student, teacher).item() == pytest.approx(0.0, abs=1e-5)
    assert similarity_kl(torch.randn(5, 8), teacher).item() > 0
    with pytest.raises(ValueError, match="one batch"):
        similarity_kl(torch.randn(4, 8), teacher)
    assert LOSSES["similarity_kl"] is similarity_kl


def test_pool_modes_by_hand():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, SentencePooling(("mean",))).tolist() == [[2.0, 3.0]]
    assert pool(hidden, mask, SentencePooling(("max",))).tolist() == [[3.0, 4.0]]
    assert pool(hidden, mask, SentencePooling(("cls",))).tolist() == [[1.0, 2.0]]
    sqrt_len = pool(hidden, mask, SentencePooling(("mean_sqrt_len",)))
    assert sqrt_len[0].tolist() == pytest.approx([4 / math.sqrt(2), 6 / math.sqrt(2)])
    both = pool(hidden, mask, SentencePooling(("cls", "mean")))
    assert both.tolist() == [[1.0, 2.0, 2.0, 3.0]]
    normalised = pool(hidden, mask, SentencePooling(("mean",), normalize=True))
    assert normalised[0].tolist() == pytest.approx([2 / math.sqrt(13), 3 / math.sqrt(13)])
    unnormalised = pool(hidden, mask, SentencePooling(("mean",), normalize=True), normalize=False)
    assert unnormalised.tolist() == [[2.0, 3.0]]


def _write_folder(folder, modules, pooling):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256, "do_lower_case": False}))


_MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
]


def test_read_pooling_of_a_sentence_transformers_folder(tmp_path):
    _write_folder(tmp_path / "st", _MODULES, {"word_embedding_dimension": 8, "pooling_mode_mean_tokens": True})
    pooling = read_pooling(tmp_path / "st")
    assert (pooling.modes, pooling.normalize, pooling.max_seq_length) == (("mean",), True, 256)
    _write_folder(tmp_path / "cls", _MODULES[:2], {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    assert read_pooling(tmp_path / "cls").describe() == "cls"
    assert read_pooling(tmp_path / "plain") == SentencePooling()  # no modules.json: masked mean, no normalisation


def test_read_pooling_refuses_what_it_cannot_reproduce(tmp_path):
    dense = [*_MODULES[:2], {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]
    _write_folder(tmp_path / "dense", dense, {"pooling_mode_mean_tokens": True})
    with pytest.raises(ModelError, match="modules.json: modules"):
        read_pooling(tmp_path / "dense")
    _write_folder(tmp_path / "last", _MODULES, {"pooling_mode_lasttoken": True})
    with pytest.raises(ModelError, match="pooling_mode_lasttoken is not supported"):
        read_pooling(tmp_path / "last")


def test_sentence_data_from_text_jsonl_and_a_corpus_folder(tmp_path):
    from alembert.config import DataConfig
    from alembert.data.sources import load_sentence_data
    from alembert.errors import DataError
    from tests.conftest import make_tokenizer

    tokenizer = make_tokenizer(tmp_path / "tok")
    (tmp_path / "s.txt").write_text("the film is good\n\nthe plot was dull\n")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "corpus.jsonl").write_text('{"text": "a very good film"}\n{"text": "it was bad"}\n')
    (tmp_path / "s.jsonl").write_text('{"sentence": "the cast is great"}\n')
    for source, rows, extra in (("s.txt", 2, {}), ("corpus", 2, {}), ("s.jsonl", 1, {"text_columns": ["sentence"]})):
        data = load_sentence_data(DataConfig(train=str(tmp_path / source), **extra), tokenizer)
        assert len(data.train) == rows and set(data.train[0]) == {"input_ids", "attention_mask", "token_type_ids"}
    with pytest.raises(DataError, match="has no corpus.jsonl"):
        load_sentence_data(DataConfig(train=str(tmp_path / "tok")), tokenizer)
