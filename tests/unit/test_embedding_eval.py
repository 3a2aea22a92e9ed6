"""Embedding evaluation (MTEB protocols) on hand-made embeddings and tiny GLUE folders."""

from __future__ import annotations

import numpy as np
import pytest

from alembert.data.readers import Example
from alembert.errors import DataError
from alembert.run.embeddings import find_embedding_tasks, linear_probe, score_embeddings, sts_spearman


VECTORS = {"a": [1.0, 0.0], "b": [1.0, 0.1], "c": [0.0, 1.0], "d": [1.0, 1.0], "e": [-1.0, 0.0]}


def embed(texts):
    return np.array([VECTORS[t] for t in texts])


def test_sts_spearman_ranks_cosine_similarities():
    # cosines: (a, b) 0.995, (a, d) 0.707, (a, c) 0, (a, e) -1
    pairs = [("a", "b"), ("a", "d"), ("a", "c"), ("a", "e")]
    same_order = [Example(p, s, i, i) for i, (p, s) in enumerate(zip(pairs, [5.0, 3.0, 1.0, 0.0]))]
    assert sts_spearman(embed, same_order) == pytest.approx(100.0)
    swapped = [Example(p, s, i, i) for i, (p, s) in enumerate(zip(pairs, [5.0, 1.0, 3.0, 0.0]))]
    # one swapped pair of ranks: rho = 1 - 6 * (1 + 1) / (4 * 15) = 0.8
    assert sts_spearman(embed, swapped) == pytest.approx(80.0)


def test_linear_probe_on_separable_embeddings():
    train = [Example((t,), int(t in "ab"), i, i) for i, t in enumerate("abceabce")]
    dev = [Example((t,), int(t in "ab"), i, i) for i, t in enumerate("abe")]
    assert linear_probe(embed, train, dev)["accuracy"] == pytest.approx(100.0)
    # pairs: [u, v, |u - v|, u * v] features
    pair_train = [Example((u, v), int(u == v), i, i) for i, (u, v) in enumerate(["aa", "ae", "cc", "ce"] * 3)]
    assert linear_probe(embed, pair_train, pair_train)["accuracy"] == pytest.approx(100.0)


def write_glue(root):
    (root / "STS-B").mkdir(parents=True)
    sts = ["sentence1\tsentence2\tscore", "a\tb\t5.0", "a\td\t3.0", "a\tc\t1.0", "a\te\t0.0"]
    (root / "STS-B" / "dev.tsv").write_text("\n".join(sts) + "\n")
    (root / "SST-2").mkdir()
    for split, rows in (("train", "abceabce"), ("dev", "abe")):
        lines = ["sentence\tlabel", *(f"{t}\t{int(t in 'ab')}" for t in rows)]
        (root / "SST-2" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_score_embeddings_on_glue_folders(tmp_path):
    tasks = find_embedding_tasks(write_glue(tmp_path / "glue"))
    assert set(tasks) == {"stsb", "sst2"}
    assert find_embedding_tasks(tmp_path / "glue" / "STS-B") == {"stsb": tmp_path / "glue" / "STS-B"}
    metrics = score_embeddings(embed, tasks)
    assert metrics == {"stsb_spearman": pytest.approx(100.0), "sst2_accuracy": pytest.approx(100.0)}
    with pytest.raises(DataError, match="no STS-B, SST-2 or MRPC dev file"):
        find_embedding_tasks(tmp_path)
