"""Every real GLUE file in ../shared/data, and exact-format fixtures for MNLI and QQP, load with official counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from alembert.config import DataConfig
from alembert.data.readers import read_examples, read_text_corpus
from alembert.data.sources import load_examples
from alembert.errors import DataError
from alembert.tasks.glue import GLUE_TASKS, get_task


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "glue"

# (task, file, rows, labelled) — official GLUE sizes
OFFICIAL = [
    ("cola", "CoLA/train.tsv", 8551, True),
    ("cola", "CoLA/dev.tsv", 1043, True),
    ("cola", "CoLA/test.tsv", 1063, False),
    ("sst2", "SST-2/train.tsv", 67349, True),
    ("sst2", "SST-2/dev.tsv", 872, True),
    ("sst2", "SST-2/test.tsv", 1821, False),
    ("mrpc", "MRPC/train.tsv", 3668, True),
    ("mrpc", "MRPC/dev.tsv", 408, True),
    ("mrpc", "MRPC/test.tsv", 1725, False),
    ("stsb", "STS-B/train.tsv", 5749, True),
    ("stsb", "STS-B/dev.tsv", 1500, True),
    ("stsb", "STS-B/test.tsv", 1379, False),
    ("rte", "RTE/train.tsv", 2490, True),
    ("rte", "RTE/dev.tsv", 277, True),
    ("rte", "RTE/test.tsv", 3000, False),
    ("wnli", "WNLI/train.tsv", 635, True),
    ("wnli", "WNLI/dev.tsv", 71, True),
    ("wnli", "WNLI/test.tsv", 146, False),
    ("qnli", "QNLI/dev.tsv", 5463, True),
    ("qnli", "QNLI/test.tsv", 5463, False),
    ("mnli", "MNLI/dev_matched.jsonl", 9815, True),
    ("mnli", "MNLI/dev_mismatched.jsonl", 9832, True),
]


@pytest.mark.parametrize(("task", "name", "rows", "labelled"), OFFICIAL, ids=[o[1] for o in OFFICIAL])
def test_real_glue_files_load_with_official_counts(shared_data, task, name, rows, labelled):
    examples = read_examples(shared_data / "glue" / name, get_task(task), require_labels=labelled)
    assert len(examples) == rows
    glue = get_task(task)
    assert all(len(e.texts) == len(glue.text_fields) and all(e.texts) for e in examples)
    if labelled:
        assert all(e.label is not None for e in examples)
        if not glue.is_regression:
            assert {e.label for e in examples} <= set(range(glue.num_labels))
    else:
        assert all(e.label is None for e in examples)


def test_mnli_label_order_and_counts(shared_data):
    examples = read_examples(shared_data / "glue" / "MNLI" / "dev_matched.jsonl", get_task("mnli"))
    counts = [sum(e.label == i for e in examples) for i in range(3)]
    assert counts == [3479, 3123, 3213]  # entailment, neutral, contradiction (MANIFEST)
    assert GLUE_TASKS["mnli"].labels == ("entailment", "neutral", "contradiction")


def test_sst2_first_row_and_stsb_regression(shared_data):
    first = read_examples(shared_data / "glue" / "SST-2" / "train.tsv", get_task("sst2"))[0]
    assert first.texts[0].startswith("hide new secretions") and first.label == 0 and first.line == 2
    stsb = read_examples(shared_data / "glue" / "STS-B" / "dev.tsv", get_task("stsb"))
    assert isinstance(stsb[0].label, float) and 0.0 <= min(e.label for e in stsb) <= max(e.label for e in stsb) <= 5


def test_mnli_fixture_in_glue_tsv_layout():
    task = get_task("mnli")
    parts = load_examples(DataConfig(train=str(FIXTURES / "MNLI")), task, "dev")
    assert list(parts) == ["dev_matched", "dev_mismatched"]
    assert [e.label for e in parts["dev_matched"]] == [0, 2, 1, 0]
    tests = load_examples(DataConfig(train=str(FIXTURES / "MNLI")), task, "test")
    assert list(tests) == ["test_matched", "test_mismatched"] and tests["test_matched"][0].label is None
    train = load_examples(DataConfig(train=str(FIXTURES / "MNLI")), task, "train")["train"]
    assert train[1].texts == ("He never goes outside .", "He goes out every day .")


def test_qqp_fixture():
    task = get_task("qqp")
    train = read_examples(FIXTURES / "QQP" / "train.tsv", task)
    assert [e.label for e in train] == [1, 0, 1] and train[0].texts[0] == "How do I learn Python ?"
    assert read_examples(FIXTURES / "QQP" / "test.tsv", task, require_labels=False)[2].label is None


def test_bad_label_reports_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\ngood film\t1\nbad film\t7\n")
    with pytest.raises(DataError, match=r"train.tsv:3: label '7' is not in the label set"):
        read_examples(path, get_task("sst2"))


def test_wrong_field_count_reports_line(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("sentence\tlabel\ngood film\t1\tEXTRA\n")
    with pytest.raises(DataError, match=r"dev.tsv:2: expected 2 fields"):
        read_examples(path, get_task("sst2"))


def test_empty_file_and_missing_file(tmp_path):
    empty = tmp_path / "train.tsv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_examples(empty, get_task("sst2"))
    with pytest.raises(DataError, match="not found"):
        read_examples(tmp_path / "nope.tsv", get_task("sst2"))


def test_csv_json_jsonl_parquet_with_column_mapping(tmp_path):
    import datasets

    rows = [{"review": "good film", "stars": "1"}, {"review": "bad film", "stars": "0"}]
    (tmp_path / "d.csv").write_text('review,stars\n"good, film",1\nbad film,0\n')
    (tmp_path / "d.jsonl").write_text("\n".join(f'{{"review": "{r["review"]}", "stars": {r["stars"]}}}' for r in rows))
    (tmp_path / "d.json").write_text('[{"review": "good film", "stars": 1}]')
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "d.parquet"))
    task = get_task("sst2")
    for name, first in (
        ("d.csv", "good, film"),
        ("d.jsonl", "good film"),
        ("d.json", "good film"),
        ("d.parquet", "good film"),
    ):
        examples = read_examples(tmp_path / name, task, text_columns=["review"], label_column="stars")
        assert examples[0].texts == (first,) and examples[0].label == 1


def test_invalid_jsonl_and_non_utf8(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"sentence": "ok", "label": 1}\n{not json}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: invalid JSON"):
        read_examples(tmp_path / "bad.jsonl", get_task("sst2"))
    (tmp_path / "latin.tsv").write_bytes("sentence\tlabel\ncaf\xe9\t1\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_examples(tmp_path / "latin.tsv", get_task("sst2"))


def test_text_corpus(tmp_path, shared_data):
    texts = read_text_corpus(shared_data / "text" / "wikitext-2" / "valid.txt")
    assert len(texts) > 1000 and all(texts)
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataError, match="empty"):
        read_text_corpus(tmp_path / "empty.txt")


def test_a_tsv_with_text_columns_is_read_without_quoting(tmp_path):
    """Stray quotes used to merge rows silently when ``data.text_columns`` switched the TSV to CSV quoting."""
    rows = ["sentence\tlabel", '"a good film\t1', "bad\t0", 'it is "fine\t1', 'dull"\t0']
    path = tmp_path / "a.tsv"
    path.write_text("\n".join(rows) + "\n")
    task = get_task("sst2")
    for columns in (None, ["sentence"]):
        examples = read_examples(path, task, text_columns=columns)
        assert [e.texts[0] for e in examples] == ['"a good film', "bad", 'it is "fine', 'dull"']
        assert [e.line for e in examples] == [2, 3, 4, 5]
