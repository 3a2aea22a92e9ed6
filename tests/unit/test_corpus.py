"""The general-distillation corpus builder: formats, cleaning and duplicates, segments, exclusion, shuffling."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alembert.cli import main
from alembert.data.corpus import build_corpus
from alembert.data.corpus_text import normalise_sentence, read_documents, split_sentences
from alembert.errors import DataError
from tests.conftest import make_tokenizer


@pytest.fixture
def tokenizer_dir(tmp_path: Path) -> Path:
    make_tokenizer(tmp_path / "tok")
    return tmp_path / "tok"


def segments(folder: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (folder / "corpus.jsonl").read_text().splitlines()]


def test_every_input_format_is_read(tmp_path: Path) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("the film is good .\n\nthe plot was dull .\n")
    blocks = tmp_path / "blocks.txt"
    blocks.write_text("the film\nis good .\n\nthe plot\nwas dull .\n")
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text('{"review": "a story \\u0085 of love"}\n{"review": "and loss"}\n')
    parquet = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"body": ["first doc", "second doc"]}), parquet)
    tsv = tmp_path / "train.tsv"
    tsv.write_text('sentence1\tsentence2\tlabel\n"quoted\tsecond one\t1\nthird\tfourth\t0\n')
    assert list(read_documents(lines)) == ["the film is good .", "", "the plot was dull ."]
    assert list(read_documents(blocks)) == ["the film is good .", "the plot was dull ."]  # auto: blocks
    assert list(read_documents(jsonl, text_field="review")) == ["a story \x85 of love", "and loss"]
    assert list(read_documents(parquet, text_field="body")) == ["first doc", "second doc"]
    assert list(read_documents(tsv)) == ['"quoted', "second one", "third", "fourth"]  # GLUE: no quoting
    with pytest.raises(DataError, match="no 'text' column"):
        list(read_documents(parquet))
    with pytest.raises(DataError, match=r"docs.jsonl:1: expected a JSON object with a 'text' field"):
        list(read_documents(jsonl))


def test_sentences_and_their_comparison_key() -> None:
    assert split_sentences('He left. "Why?" she asked. It was 9 p.m. then') == [
        "He left.",
        '"Why?" she asked.',
        "It was 9 p.m. then",
    ]
    assert normalise_sentence("It 's -LRB- very -RRB- good .") == normalise_sentence("it's (very) good")
    assert normalise_sentence("LucÃ\xada") == normalise_sentence("Lucía")


def test_duplicates_and_near_empty_documents_are_dropped(tmp_path: Path, tokenizer_dir: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("the film is good .\n\n  the   film is good .\nok\nthe plot was dull and the cast was weak .\n")
    stats = build_corpus([source], tmp_path / "out", tokenizer=str(tokenizer_dir), max_length=16, documents="line")
    assert (stats.documents, stats.dropped_empty, stats.dropped_duplicates) == (2, 2, 1)
    assert sorted(segments(tmp_path / "out")) == ["the film is good .", "the plot was dull and the cast was weak ."]
    saved = json.loads((tmp_path / "out" / "corpus.json").read_text())
    assert saved["documents"] == 2 and saved["settings"]["max_length"] == 16


def test_sentences_of_a_document_are_packed_into_segments_and_long_ones_cut(tmp_path: Path, tokenizer_dir) -> None:
    tokenizer = make_tokenizer(tmp_path / "tok2")
    sentences = [f"The film is good {'and fine ' * i}." for i in range(1, 7)]
    long = "The plot " + "was very dull " * 12 + "."
    source = tmp_path / "doc.txt"
    source.write_text(" ".join(sentences) + " " + long + "\n")
    stats = build_corpus([source], tmp_path / "out", tokenizer=str(tokenizer_dir), max_length=24, seed=0)
    written = segments(tmp_path / "out")
    lengths = [len(tokenizer(text)["input_ids"]) for text in written]
    assert max(lengths) <= 24 and stats.segments == len(written) > 2
    assert stats.tokens == sum(lengths)
    joined = " ".join(sorted(written, key=lambda t: (t.startswith("The plot") or "dull" in t, t)))
    for sentence in sentences:
        assert sentence in written or any(sentence in text for text in written)  # whole sentences are packed
    assert all(not text.endswith(("very", "was")) or text.split()[-1] in long.split() for text in written)
    assert joined.count("dull") == 12  # the long sentence is cut into pieces, nothing is lost


def test_exclude_removes_every_sentence_of_the_evaluation_files(tmp_path: Path, tokenizer_dir: Path) -> None:
    dev = tmp_path / "dev.tsv"
    dev.write_text("sentence\tlabel\nit 's a very good film .\t1\n")
    cola_like = tmp_path / "cola_dev.tsv"
    cola_like.write_text("gj04\t1\t\tThe cast was weak.\n")  # no header
    source = tmp_path / "in.txt"
    source.write_text("It's a very good film. The plot was dull. The cast was weak.\nthe story was fine and smart .\n")
    stats = build_corpus(
        [source], tmp_path / "out", tokenizer=str(tokenizer_dir), max_length=64, exclude=[dev, cola_like]
    )
    assert stats.excluded_sentences == 2
    text = " ".join(segments(tmp_path / "out"))
    assert "good film" not in text and "cast" not in text and "The plot was dull." in text


def test_shuffling_follows_the_seed(tmp_path: Path, tokenizer_dir: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join(f"the film number w{i} is good ." for i in range(40)) + "\n")
    first = segments(_build(source, tmp_path / "a", tokenizer_dir, seed=1))
    again = segments(_build(source, tmp_path / "b", tokenizer_dir, seed=1))
    other = segments(_build(source, tmp_path / "c", tokenizer_dir, seed=2))
    assert first == again and first != other and sorted(first) == sorted(other)


def _build(source: Path, out: Path, tokenizer_dir: Path, seed: int) -> Path:
    build_corpus([source], out, tokenizer=str(tokenizer_dir), max_length=16, seed=seed)
    return out


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, tokenizer_dir: Path, capsys) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \nok\n")
    out = tmp_path / "out"
    for inputs, message in (([str(tmp_path / "missing.txt")], "not found"), ([str(empty)], "no text left")):
        code = main(["corpus", *inputs, "--tokenizer", str(tokenizer_dir), "--output", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
        assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    source = tmp_path / "in.txt"
    source.write_text("the film is good .\n")
    assert main(["corpus", str(source), "--tokenizer", str(tokenizer_dir), "--output", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and (out / "keep.txt").read_text() == "mine"
