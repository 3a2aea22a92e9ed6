"""GLUE leaderboard files from ``evaluate``: names, ``index<TAB>prediction``, label strings, STS-B floats."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from alembert.data.readers import read_examples
from alembert.errors import ConfigError
from alembert.run.evaluate import evaluate
from alembert.tasks.glue import get_task
from tests.conftest import save_tiny_model


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")


def _read_submission(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle, delimiter="\t"))


def _check(path: Path, n: int, allowed: set[str] | None) -> None:
    rows = _read_submission(path)
    assert rows[0] == ["index", "prediction"]
    assert [int(r[0]) for r in rows[1:]] == list(range(n))  # the test file's index column, in order
    assert all(len(r) == 2 for r in rows)
    for _, prediction in rows[1:]:
        if allowed is None:
            float(prediction)  # STS-B: a similarity score
        else:
            assert prediction in allowed


def test_sst2_and_stsb_submissions(tmp_path):
    sst2, stsb = tmp_path / "SST-2", tmp_path / "STS-B"
    _write(sst2 / "dev.tsv", ["sentence", "label"], [["a great film", "1"], ["dull", "0"]])
    _write(sst2 / "test.tsv", ["index", "sentence"], [[str(i), f"film {i} was fine"] for i in range(5)])
    pairs = [["a cat sits", "a cat is sitting"], ["the film", "a movie"], ["w1 w2", "w3"]]
    _write(
        stsb / "dev.tsv",
        ["index", "sentence1", "sentence2", "score"],
        [[str(i), *p, "2.5"] for i, p in enumerate(pairs)],
    )
    _write(stsb / "test.tsv", ["index", "sentence1", "sentence2"], [[str(i), *p] for i, p in enumerate(pairs)])
    evaluate(str(save_tiny_model(tmp_path / "cls", "bert", layers=1)), "sst2", str(sst2), tmp_path / "sst2")
    stsb_model = save_tiny_model(tmp_path / "reg", "bert", layers=1, num_labels=1)
    evaluate(str(stsb_model), "stsb", str(stsb), tmp_path / "stsb")
    _check(tmp_path / "sst2" / "SST-2.tsv", 5, {"0", "1"})
    _check(tmp_path / "stsb" / "STS-B.tsv", 3, None)
    assert all("." in r[1] for r in _read_submission(tmp_path / "stsb" / "STS-B.tsv")[1:])
    with pytest.raises(ConfigError, match="already holds files"):  # earlier results are never overwritten
        evaluate(str(stsb_model), "stsb", str(stsb), tmp_path / "sst2")


def test_mnli_matched_and_mismatched(tmp_path):
    mnli = tmp_path / "MNLI"
    header = ["index", "sentence1", "sentence2", "gold_label"]
    rows = [[str(i), "the film was good", "it was fine", label] for i, label in enumerate(["entailment", "neutral"])]
    for split in ("dev_matched", "dev_mismatched"):
        _write(mnli / f"{split}.tsv", header, rows)
    for split, n in (("test_matched", 4), ("test_mismatched", 3)):
        _write(mnli / f"{split}.tsv", header[:3], [[str(i), "a film", "a movie"] for i in range(n)])
    out = tmp_path / "out"
    evaluate(str(save_tiny_model(tmp_path / "m", "bert", layers=1, num_labels=3)), "mnli", str(mnli), out)
    labels = {"entailment", "neutral", "contradiction"}
    _check(out / "MNLI-m.tsv", 4, labels)
    _check(out / "MNLI-mm.tsv", 3, labels)
    assert {p.name for p in out.glob("predictions_*.tsv")} == {
        "predictions_dev_matched.tsv",
        "predictions_dev_mismatched.tsv",
    }


@pytest.mark.parametrize("task", ["cola", "sst2", "mrpc", "stsb", "qnli", "rte", "wnli"])
def test_shared_test_files_index_in_row_order(shared_data, task):
    """Submissions write ``Example.idx`` positions; the official test files number their rows 0..n-1 in order."""
    glue = get_task(task)
    path = shared_data / "glue" / glue.folder / "test.tsv"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    examples = read_examples(path, glue, require_labels=False)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        column = header.index("index") if "index" in header else header.index("ID")
        indices = [int(row[column]) for row in reader if row]
    assert indices == list(range(len(examples))) == [e.idx for e in examples]
