"""Examples tokenised twice, by the teacher's and by the student's tokenizer, with each token's word index.

Used when the student has a vocabulary of its own (``student.tokenizer``) or a match compares word states
(``hidden@words``). A batch holds the teacher's inputs under the usual names (``input_ids``, ``attention_mask``,
``token_type_ids``), the student's under ``student_…`` and both sides' word indices (``word_ids``,
``student_word_ids``, special tokens in slots of their own, ``-1`` for padding;
see :mod:`alembert.features.alignment`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import datasets
import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from alembert.errors import DataError
from alembert.features.alignment import word_ids_from_offsets


__all__ = ["STUDENT_PREFIX", "PairedCollator", "student_view", "tokenize_paired"]

STUDENT_PREFIX = "student_"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_WORD_IDS = ("word_ids", f"{STUDENT_PREFIX}word_ids")


def _encode(tokenizer: PreTrainedTokenizerBase, first: list[str], second: list[str] | None, max_length: int) -> dict:
    if not tokenizer.is_fast:
        raise DataError(f"{type(tokenizer).__name__}: word alignment needs a fast tokenizer (character offsets)")
    encoded = tokenizer(first, second, truncation=True, max_length=max_length, return_offsets_mapping=True)
    result = {key: encoded[key] for key in _INPUTS if key in encoded}
    result["word_ids"] = [
        word_ids_from_offsets(
            offsets, encoded.sequence_ids(i), (first[i],) if second is None else (first[i], second[i])
        )
        for i, offsets in enumerate(encoded["offset_mapping"])
    ]
    return result


def tokenize_paired(
    texts: Sequence[tuple[str, ...]],
    labels: Sequence[int | float] | None,
    teacher_tokenizer: PreTrainedTokenizerBase,
    student_tokenizer: PreTrainedTokenizerBase,
    *,
    max_length: int,
) -> datasets.Dataset:
    """One row per example: both tokenisations, both word-index lists, ``labels`` (if given) and ``length``."""
    if not texts:
        raise DataError("no examples to tokenise (empty dataset)")
    columns: dict[str, list] = {"text_a": [t[0] for t in texts]}
    if len(texts[0]) > 1:
        columns["text_b"] = [t[1] for t in texts]
    if labels is not None:
        columns["labels"] = list(labels)
    raw = datasets.Dataset.from_dict(columns)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        second = batch.get("text_b")
        row = _encode(teacher_tokenizer, batch["text_a"], second, max_length)
        for key, value in _encode(student_tokenizer, batch["text_a"], second, max_length).items():
            row[STUDENT_PREFIX + key] = value
        row["length"] = [len(ids) for ids in row["input_ids"]]
        return row

    tokenized = raw.map(encode, batched=True, remove_columns=[c for c in ("text_a", "text_b") if c in columns])
    keep = [c for c in tokenized.column_names if c != "length"]
    return tokenized.with_format(None, columns=keep)


def _pad_ids(rows: list[list[int]]) -> Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [-1] * (width - len(row)) for row in rows], dtype=torch.long)


class PairedCollator:
    """Pads the teacher's and the student's inputs each with its own tokenizer; word indices with ``-1``."""

    def __init__(self, teacher_tokenizer: PreTrainedTokenizerBase, student_tokenizer: PreTrainedTokenizerBase):
        self.teacher_tokenizer, self.student_tokenizer = teacher_tokenizer, student_tokenizer

    def __call__(self, features: list[Mapping]) -> dict[str, Tensor]:
        """One padded batch of paired rows: teacher inputs, ``student_…`` inputs, word indices and labels."""
        teacher = [{k: f[k] for k in _INPUTS if k in f} for f in features]
        student = [{k: f[STUDENT_PREFIX + k] for k in _INPUTS if STUDENT_PREFIX + k in f} for f in features]
        batch = dict(self.teacher_tokenizer.pad(teacher, return_tensors="pt"))
        for key, value in self.student_tokenizer.pad(student, return_tensors="pt").items():
            batch[STUDENT_PREFIX + key] = value
        for key in _WORD_IDS:
            batch[key] = _pad_ids([list(f[key]) for f in features])
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features])
        return batch


def student_view(batch: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    """The student's inputs of a paired batch under the usual names (the batch itself when it is not paired)."""
    if f"{STUDENT_PREFIX}input_ids" not in batch:
        return batch
    view = {key[len(STUDENT_PREFIX) :]: value for key, value in batch.items() if key.startswith(STUDENT_PREFIX)}
    if "labels" in batch:
        view["labels"] = batch["labels"]
    return view
