"""A student vocabulary of its own: trained on the distillation text, or loaded; its embeddings from the teacher's.

A trained vocabulary is the teacher tokenizer's kind (``train_new_from_iterator``: WordPiece for BERT, BPE for
RoBERTa, with the same normalisation, pre-tokenisation and special tokens) at the requested size. The student's
embedding row of each new token starts as the mean of the teacher's rows of the pieces the teacher cuts that
token into (a token the teacher also has keeps the teacher's row), when the embedding widths match.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from alembert.config import StudentTokenizerConfig
from alembert.errors import ConfigError, ModelError
from alembert.models.load import load_tokenizer


__all__ = ["init_embeddings_from_teacher", "make_student_tokenizer", "same_vocabulary"]


def _batches(texts: Sequence[str], size: int = 1000) -> Iterator[list[str]]:
    for start in range(0, len(texts), size):
        yield list(texts[start : start + size])


def same_vocabulary(first: PreTrainedTokenizerBase, second: PreTrainedTokenizerBase) -> bool:
    """Whether two tokenizers map the same tokens to the same ids."""
    return first is second or first.get_vocab() == second.get_vocab()


def make_student_tokenizer(
    cfg: StudentTokenizerConfig,
    teacher_tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    folder: Path,
) -> PreTrainedTokenizerBase:
    """The student's tokenizer: ``cfg.path`` loaded, or a vocabulary of ``cfg.vocab_size`` trained on ``texts``.

    A trained tokenizer is saved to ``folder`` and loaded from there on a resumed run (training it again on the
    same text gives the same vocabulary, but not for free).

    Raises:
        ConfigError: no text to train on, or a slow (offset-less) tokenizer.
    """
    if cfg.path is not None:
        tokenizer = load_tokenizer(cfg.path)
    elif (folder / "tokenizer.json").is_file():
        tokenizer = load_tokenizer(str(folder))
    else:
        if not teacher_tokenizer.is_fast:
            raise ConfigError("student.tokenizer.vocab_size: training a vocabulary needs the teacher's fast tokenizer")
        chosen = list(texts[: cfg.max_texts] if cfg.max_texts else texts)
        if not chosen:
            raise ConfigError("student.tokenizer.vocab_size: no training text to learn a vocabulary from")
        tokenizer = teacher_tokenizer.train_new_from_iterator(_batches(chosen), vocab_size=cfg.vocab_size)
        folder.mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(folder)
    if not tokenizer.is_fast:
        raise ConfigError(f"student.tokenizer: {type(tokenizer).__name__} gives no character offsets; use a fast one")
    return tokenizer


@torch.no_grad()
def init_embeddings_from_teacher(
    student: nn.Module,
    teacher: nn.Module,
    student_tokenizer: PreTrainedTokenizerBase,
    teacher_tokenizer: PreTrainedTokenizerBase,
) -> int:
    """Set each student token's input embedding to the mean of the teacher's embeddings of its pieces.

    A token the teacher's vocabulary also holds takes the teacher's row; any other is cut by the teacher's
    tokenizer (a continuation piece such as ``##ing`` as the text ``ing``) and takes the mean of those rows.
    Nothing changes when the embedding widths differ (the student keeps its random rows).

    Returns:
        The number of student rows set from the teacher.

    Raises:
        ModelError: the student's embedding table is smaller than its tokenizer's vocabulary.
    """
    student_rows = student.get_input_embeddings().weight
    teacher_rows = teacher.get_input_embeddings().weight
    vocab = student_tokenizer.get_vocab()
    if max(vocab.values()) >= student_rows.shape[0]:
        raise ModelError(
            f"student: {student_rows.shape[0]} embedding rows for a {len(vocab)}-token vocabulary; build the "
            "student with the tokenizer's vocabulary size"
        )
    if student_rows.shape[1] != teacher_rows.shape[1]:
        return 0
    teacher_vocab = teacher_tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.get)
    unknown = [token for token in tokens if token not in teacher_vocab]
    texts = [_surface(token) for token in unknown]
    pieces = dict(zip(unknown, teacher_tokenizer(texts, add_special_tokens=False)["input_ids"])) if texts else {}
    set_rows = 0
    for token in tokens:
        ids = [teacher_vocab[token]] if token in teacher_vocab else pieces.get(token, [])
        if ids:
            student_rows[vocab[token]] = teacher_rows[ids].mean(dim=0).to(student_rows.dtype)
            set_rows += 1
    return set_rows


def _surface(token: str) -> str:
    """The text of a piece: WordPiece continuations drop ``##``; byte-level BPE's ``Ġ`` is a space."""
    if token.startswith("##"):
        return token[2:]
    return token.replace("Ġ", " ").replace("▁", " ")
