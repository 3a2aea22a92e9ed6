"""Word alignment between two tokenizers: token-level states compared word by word.

When the student has a vocabulary of its own, its pieces do not line up with the teacher's ("playing" may be one
teacher token and ``play ##ing`` for the student). Both tokenizers report each piece's character offsets in the
text, so every piece can be assigned to the whitespace-separated word it starts in; a word's state is the mean
of its pieces' states (:func:`word_pool`), and the teacher's and the student's word states are then compared
like any hidden states. Words one side truncated away are left out.

Special tokens are matched too, by their place, since TinyBERT matches every position and BERT puts much of its
attention on ``[CLS]`` and ``[SEP]``: after the text's words come one slot for the tokens before the first text
(``[CLS]``, ``<s>``) and one for the tokens closing each text (``[SEP]``; RoBERTa's ``</s></s>`` between a pair
shares its slot). Two BERT-style tokenizers, or a BERT and a RoBERTa one, thus line up special by special.

Attention maps are aligned the same way on both axes (:func:`word_pool_pairs`): the score from word ``i`` to word
``j`` is the mean of the scores from ``i``'s pieces to ``j``'s pieces, so TinyBERT's per-head attention-score match
(``attention_scores@words``) works across tokenizers as long as both models have as many heads. Attention
*probabilities* (``attention_probs@words``, MiniLM's and MobileBERT's KL) pool as distributions: the mass word ``i``
puts on word ``j`` is the mean over ``i``'s pieces of the sum over ``j``'s pieces, renormalised over the words both
sides kept, so each row stays a distribution over words.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from functools import partial
from typing import Literal

import torch
from torch import Tensor


__all__ = ["aligned_words", "word_ids_from_offsets", "word_pool", "word_pool_pairs", "word_spans"]

_WORD = re.compile(r"\S+")


def word_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the whitespace-separated words of ``text``."""
    return [match.span() for match in _WORD.finditer(text)]


def word_ids_from_offsets(
    offsets: Sequence[tuple[int, int]], sequence_ids: Sequence[int | None], texts: Sequence[str]
) -> list[int]:
    """The word index of every token of one encoded example.

    Args:
        offsets: each token's ``(start, end)`` characters in its own text (a fast tokenizer's
            ``return_offsets_mapping``).
        sequence_ids: which text each token comes from (``0``, ``1`` for a pair; ``None`` for special tokens).
        texts: the example's one or two texts; the words of the second are numbered after the first's.

    Returns:
        One word index per token, words numbered across the texts, then the special slots: with ``W`` words in
        all, ``W`` for the special tokens before the first text and ``W + 1 + s`` for those after text ``s``;
        ``-1`` for a text token with no characters.
    """
    spans = [word_spans(text) for text in texts]
    starts = [[start for start, _ in text_spans] for text_spans in spans]
    first_word = [0]
    for text_spans in spans[:-1]:
        first_word.append(first_word[-1] + len(text_spans))
    words = first_word[-1] + len(spans[-1])
    ids, last_text = [], None
    for (start, end), sequence in zip(offsets, sequence_ids):
        if sequence is None:  # a special token: its slot is its place among the texts
            ids.append(words if last_text is None else words + 1 + last_text)
            continue
        last_text = sequence
        if end <= start:
            ids.append(-1)
            continue
        word = bisect_right(starts[sequence], start) - 1
        ids.append(first_word[sequence] + word if word >= 0 else -1)
    return ids


def word_pool(hidden: Tensor, word_ids: Tensor, num_words: int) -> tuple[Tensor, Tensor]:
    """Mean of each word's pieces.

    Args:
        hidden: ``(batch, seq, dim)`` token states.
        word_ids: ``(batch, seq)`` word index per token, ``-1`` for tokens that belong to no word (special tokens,
            padding).
        num_words: words per example in the output (at least the largest index + 1).

    Returns:
        ``(words (batch, num_words, dim), present (batch, num_words) bool)``; absent words are zero.
    """
    batch, seq, dim = hidden.shape
    valid = word_ids >= 0
    index = word_ids.clamp_min(0).long()
    weights = valid.to(hidden.dtype)
    sums = hidden.new_zeros(batch, num_words, dim)
    sums.scatter_add_(1, index.unsqueeze(-1).expand(batch, seq, dim), hidden * weights.unsqueeze(-1))
    counts = hidden.new_zeros(batch, num_words).scatter_add_(1, index, weights)
    return sums / counts.clamp_min(1.0).unsqueeze(-1), counts > 0


def word_pool_pairs(
    scores: Tensor, word_ids: Tensor, num_words: int, keys: Literal["mean", "sum"] = "mean"
) -> tuple[Tensor, Tensor]:
    """Each pair of words' piece-to-piece entries of per-head maps, pooled: mean over the query word's pieces, and
    mean (scores) or sum (probabilities: the mass on a word is the mass on its pieces) over the key word's.

    Args:
        scores: ``(batch, heads, seq, seq)`` maps (e.g. pre-softmax attention scores; padded keys may hold the
            dtype's minimum, they are never read).
        word_ids: ``(batch, seq)`` word index per token, ``-1`` for tokens that belong to no word.
        num_words: words per example in the output (at least the largest index + 1).
        keys: how the key word's pieces combine.

    Returns:
        ``(pairs (batch, heads, num_words, num_words), present (batch, num_words) bool)``; entries of absent
        words are zero.
    """
    valid = word_ids >= 0
    assign = torch.nn.functional.one_hot(word_ids.clamp_min(0).long(), num_words).to(scores.dtype)
    assign = assign * valid.unsqueeze(-1).to(scores.dtype)  # (batch, seq, words)
    counts = assign.sum(dim=1)  # (batch, words)
    pieces = valid[:, :, None] & valid[:, None, :]  # only tokens with a slot, on both axes: no padding
    scores = torch.where(pieces.unsqueeze(1), scores, torch.zeros_like(scores))
    sums = torch.einsum("bqw,bhqk,bkv->bhwv", assign, scores, assign)
    key_counts = counts if keys == "mean" else torch.ones_like(counts)
    norm = (counts[:, :, None] * key_counts[:, None, :]).clamp_min(1.0).unsqueeze(1)
    return sums / norm, counts > 0


def aligned_words(
    student_hidden: Tensor,
    teacher_hidden: Tensor,
    student_word_ids: Tensor,
    teacher_word_ids: Tensor,
    *,
    distributions: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Word states (or, for ``(batch, heads, seq, seq)`` maps, word-pair maps) of both sides over the same words,
    and the mask of words both sides kept.

    Args:
        student_hidden: ``(batch, seq_s, dim)`` states or ``(batch, heads, seq_s, seq_s)`` maps of the student.
        teacher_hidden: the teacher's, over its own ``seq_t`` tokens.
        student_word_ids: ``(batch, seq_s)`` word index per student token (``-1``: none).
        teacher_word_ids: ``(batch, seq_t)``.
        distributions: the maps are attention probabilities: sum over each key word's pieces and renormalise
            every row over the words both sides kept.

    Returns:
        ``(student_words, teacher_words, mask)``: ``(batch, words, dim)`` (or ``(batch, heads, words, words)``)
        twice and ``(batch, words)`` bool.
    """
    if torch.compiler.is_compiling():  # a bound known from the shapes (no host sync, no shape read from data)
        num_words = max(student_word_ids.shape[1], teacher_word_ids.shape[1])  # a word has at least one piece
    else:
        num_words = int(max(student_word_ids.max().item(), teacher_word_ids.max().item(), 0)) + 1
    if student_hidden.dim() == 4:
        keys = "sum" if distributions else "mean"
        pool = partial(word_pool_pairs, keys=keys)
    else:
        pool = word_pool
    student_words, student_present = pool(student_hidden, student_word_ids.to(student_hidden.device), num_words)
    teacher_words, teacher_present = pool(teacher_hidden, teacher_word_ids.to(teacher_hidden.device), num_words)
    both = student_present & teacher_present
    if distributions and student_hidden.dim() == 4:
        student_words, teacher_words = _renormalised(student_words, both), _renormalised(teacher_words, both)
    return student_words, teacher_words, both


def _renormalised(probs: Tensor, keep: Tensor) -> Tensor:
    """Rows of ``(batch, heads, words, words)`` word distributions over the kept key words only, summing to 1."""
    probs = probs * keep[:, None, None, :].to(probs.dtype)
    return probs / probs.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(probs.dtype).tiny)
