"""Streaming general-distillation data: packing, disjoint shares, endless passes, exact position-based resume."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import datasets
import pytest
from transformers import AutoTokenizer

from alembert import ConfigError, DataError
from alembert.config import DataConfig
from alembert.data.sources import load_mlm_data
from alembert.data.streaming import TextBlockStream
from tests.conftest import FILLER, NEGATIVE, POSITIVE, make_tokenizer


WORDS = FILLER + POSITIVE + NEGATIVE + [f"w{i}" for i in range(60)]


def _lines(count: int) -> list[str]:
    return [" ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(1 + i % 9)) for i in range(count)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok")
    make_tokenizer(folder)
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """The same 120 lines (plus blank lines) as plain text, JSON lines, and parquet split over two files."""
    folder = tmp_path_factory.mktemp("corpus")
    lines = _lines(120)
    (folder / "a.txt").write_text("\n".join(line if i % 10 else f"{line}\n" for i, line in enumerate(lines)) + "\n")
    (folder / "a.jsonl").write_text(
        "".join(json.dumps({"text": line, "id": i}) + "\n" for i, line in enumerate(lines))
    )
    parquet = folder / "parquet"
    parquet.mkdir()
    for part, chunk in enumerate((lines[:50], lines[50:])):
        datasets.Dataset.from_dict({"text": chunk}).to_parquet(str(parquet / f"part-{part}.parquet"), batch_size=16)
    return {"text": [folder / "a.txt"], "jsonl": [folder / "a.jsonl"], "parquet": sorted(parquet.iterdir())}, lines


def _stream(files, tokenizer, **kwargs) -> TextBlockStream:
    return TextBlockStream(files, tokenizer, max_length=kwargs.pop("max_length", 16), read_lines=7, **kwargs)


def _ids(tokenizer, lines: list[str]) -> list[int]:
    out = []
    for ids in tokenizer(lines, add_special_tokens=False)["input_ids"]:
        out += [*ids, tokenizer.sep_token_id]
    return out


@pytest.mark.parametrize("kind", ["text", "jsonl", "parquet"])
def test_blocks_pack_the_corpus_in_order_and_wrap_into_the_next_pass(corpora, tokenizer, kind):
    files, lines = corpora
    corpus = _ids(tokenizer, lines)
    blocks = list(itertools.islice(iter(_stream(files[kind], tokenizer)), len(corpus) // 14 + 3))
    assert all(len(b["input_ids"]) == 16 for b in blocks)
    assert all(
        b["input_ids"][0] == tokenizer.cls_token_id and b["input_ids"][-1] == tokenizer.sep_token_id for b in blocks
    )
    body = [t for b in blocks for t in b["input_ids"][1:-1]]
    assert body[: len(corpus)] == corpus and body[len(corpus) :] == corpus[: len(body) - len(corpus)]
    assert blocks[0]["stream_position"][0] == 0 and blocks[-1]["stream_position"][0] == 1  # second pass
    masked = [t for b in blocks for t, m in zip(b["input_ids"], b["special_tokens_mask"]) if m]
    assert set(masked) <= {tokenizer.cls_token_id, tokenizer.sep_token_id}


@pytest.mark.parametrize("kind", ["text", "jsonl", "parquet"])
def test_resume_from_any_position_continues_exactly(corpora, tokenizer, kind):
    files, _ = corpora
    reference = list(itertools.islice(iter(_stream(files[kind], tokenizer)), 60))
    for k in (0, 5, 23, 41, 52):  # mid-line, line boundaries, file boundaries, the next pass
        resumed = _stream(files[kind], tokenizer)
        resumed.shard(0, 1, [reference[k]["stream_position"]])
        again = list(itertools.islice(iter(resumed), 60 - k - 1))
        assert [b["input_ids"] for b in again] == [b["input_ids"] for b in reference[k + 1 :]], k


@pytest.mark.parametrize("kind", ["text", "jsonl", "parquet"])
@pytest.mark.parametrize("processes", [2, 3])
def test_processes_read_disjoint_shares_that_cover_the_corpus(corpora, tokenizer, kind, processes):
    files, lines = corpora
    shares = []
    for rank in range(processes):
        stream = _stream(files[kind], tokenizer)
        stream.shard(rank, processes)
        read = [text for index in range(len(files[kind])) for _, _, text in stream._lines(index, -1) if text.strip()]
        assert read, rank
        shares.append(read)
    read_lines = [line for share in shares for line in share]
    assert Counter(read_lines) == Counter(lines) and len(read_lines) == len(lines)  # disjoint, nothing lost
    if len(files[kind]) == 1:
        assert read_lines == lines  # one file: consecutive byte ranges, in order


def test_bad_corpora_fail_with_a_clear_message(tmp_path, tokenizer):
    def load(path: Path, **data):
        return load_mlm_data(DataConfig(train=str(path), streaming=True, max_length=16, **data), tokenizer)

    (tmp_path / "empty.txt").write_text("\n\n  \n")
    with pytest.raises(DataError, match="no text in .*empty.txt"):
        load(tmp_path / "empty.txt")
    (tmp_path / "latin.txt").write_bytes("good film\ncaf\xe9 noir\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.txt at byte 13: not UTF-8"):
        load(tmp_path / "latin.txt")
    (tmp_path / "rows.jsonl").write_text('{"text": "good"}\n{"body": "bad"}\n')
    with pytest.raises(DataError, match=r"rows.jsonl at byte 17: expected a JSON object with a 'text' field"):
        load(tmp_path / "rows.jsonl")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="broken.parquet: cannot read parquet"):
        load(tmp_path / "broken.parquet")
    with pytest.raises(DataError, match="not found"):
        load(tmp_path / "missing.txt")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ConfigError, match="streaming reads text, jsonl or parquet files, not json"):
        load(tmp_path / "list.json")
    (tmp_path / "ok.txt").write_text("good film\n")
    with pytest.raises(DataError, match="max_train_samples"):
        load(tmp_path / "ok.txt", max_train_samples=5)
    stream = load(tmp_path / "ok.txt").train
    with pytest.raises(ConfigError, match="resume with 2 processes, not 1"):
        stream.shard(0, 1, [[0, 0, -1, 0], [0, 0, -1, 0]])


def test_hub_stream_shares_and_resumes(monkeypatch, tmp_path, tokenizer):
    lines = _lines(40)
    (tmp_path / "hub.jsonl").write_text("".join(json.dumps({"content": line}) + "\n" for line in lines))
    real_load = datasets.load_dataset

    def offline_hub(name, config=None, *, split, streaming):  # stands in for the network
        assert (name, config, split, streaming) == ("someone/corpus", None, "train", True)
        return real_load("json", data_files=str(tmp_path / "hub.jsonl"), split=split, streaming=True)

    monkeypatch.setattr(datasets, "load_dataset", offline_hub)
    config = DataConfig(
        format="hub", hub_name="someone/corpus", text_columns=["content"], streaming=True, max_length=16
    )
    stream = load_mlm_data(config, tokenizer).train
    reference = list(itertools.islice(iter(stream), 20))
    body = [t for b in reference for t in b["input_ids"][1:-1]]
    assert body == (_ids(tokenizer, lines) * 3)[: len(body)]  # endless: the second pass follows the first
    stream.shard(0, 1, [reference[9]["stream_position"]])
    assert [b["input_ids"] for b in itertools.islice(iter(stream), 10)] == [b["input_ids"] for b in reference[10:]]
