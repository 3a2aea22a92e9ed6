"""Masked-LM replacement candidates for many sentences at once (TinyBERT augmentation, single-piece words).

As in the TinyBERT reference code, a word is masked on its own and the model sees the pair
``[CLS] sentence-with-[MASK] [SEP] original sentence [SEP]``; the top-``K`` predictions at the mask, minus
word-piece continuations (``##…``) and special tokens, are the candidates. Every masked copy of every sentence
goes into length-sorted batches, and the vocabulary projection runs on the masked position only (a pre-hook on
the model's output embeddings), not on every position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from alembert.errors import ModelError


__all__ = ["WordPlan", "mlm_candidates", "plan_words"]


@dataclass
class WordPlan:
    """Where the replaceable words of a set of sentences are, split by how the tokenizer cuts them.

    Attributes:
        encodings: the tokenised ``(masked, original)`` pair of each sentence (before masking).
        single: ``(sentence, word, token position)`` of replaceable single-piece words (masked-LM candidates).
        multi: ``(sentence, word)`` of replaceable multi-piece words (word-vector candidates).
    """

    encodings: list[dict[str, list[int]]]
    single: list[tuple[int, int, int]]
    multi: list[tuple[int, int]]


def plan_words(
    sentences: Sequence[Sequence[str]],
    tokenizer: PreTrainedTokenizerBase,
    replaceable: Callable[[str], bool],
    *,
    max_length: int,
    chunk: int = 1024,
) -> WordPlan:
    """Tokenise each sentence as a pair with itself and sort its replaceable words into single/multi-piece.

    Words cut off by ``max_length`` are neither (they are kept as they are).
    """
    plan = WordPlan([], [], [])
    for start in range(0, len(sentences), chunk):
        part = [list(words) for words in sentences[start : start + chunk]]
        encoded = tokenizer(part, part, is_split_into_words=True, truncation=True, max_length=max_length)
        for offset, words in enumerate(part):
            sentence = start + offset
            keys = [k for k in ("input_ids", "token_type_ids") if k in encoded]
            plan.encodings.append({k: encoded[k][offset] for k in keys})
            positions: dict[int, list[int]] = {}
            for position, (word, sequence) in enumerate(zip(encoded.word_ids(offset), encoded.sequence_ids(offset))):
                if word is not None and sequence == 0:
                    positions.setdefault(word, []).append(position)
            for word_index, word in enumerate(words):
                if not replaceable(word) or word_index not in positions:
                    continue
                pieces = positions[word_index]
                if len(pieces) == 1:
                    plan.single.append((sentence, word_index, pieces[0]))
                else:
                    plan.multi.append((sentence, word_index))
    return plan


class _TokenText:
    """Token id → candidate word (``None`` for special tokens and word-piece continuations), memoised."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer
        self.special = set(tokenizer.all_special_ids)
        self.cache: dict[int, str | None] = {}

    def __call__(self, token_id: int) -> str | None:
        if token_id not in self.cache:
            token = self.tokenizer.convert_ids_to_tokens(token_id)
            text = None
            if token is not None and token_id not in self.special and not token.startswith("##"):
                text = self.tokenizer.convert_tokens_to_string([token]).strip() or None
            self.cache[token_id] = text
        return self.cache[token_id]


@torch.inference_mode()
def mlm_candidates(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    plan: WordPlan,
    *,
    top_k: int,
    batch_size: int,
) -> dict[tuple[int, int], list[str]]:
    """Top-``K`` masked-LM candidates of every single-piece word in ``plan``, keyed by ``(sentence, word)``.

    Args:
        model: a masked-LM model (its device is used), in eval mode.
        tokenizer: its tokenizer (needs a mask token).
        plan: from :func:`plan_words`.
        top_k: predictions kept per mask before filtering.
        batch_size: masked sentences per forward pass.

    Raises:
        ModelError: the model has no output embeddings or the tokenizer no mask token.
    """
    decoder = model.get_output_embeddings()
    if decoder is None or tokenizer.mask_token_id is None:
        raise ModelError("augmentation needs a masked-LM model (output embeddings) and a tokenizer with a mask token")
    device = next(model.parameters()).device
    to_text = _TokenText(tokenizer)
    order = sorted(range(len(plan.single)), key=lambda i: len(plan.encodings[plan.single[i][0]]["input_ids"]))
    result: dict[tuple[int, int], list[str]] = {}
    for start in range(0, len(order), batch_size):
        rows = [plan.single[i] for i in order[start : start + batch_size]]
        inputs, positions = _masked_batch(rows, plan, tokenizer, device)
        handle = decoder.register_forward_pre_hook(_select_rows(positions))
        try:
            logits = model(**inputs).logits
        finally:
            handle.remove()
        top = logits.float().topk(min(top_k, logits.shape[-1]), dim=-1).indices.tolist()
        for (sentence, word, _), ids in zip(rows, top):
            result[(sentence, word)] = [text for text in map(to_text, ids) if text is not None]
    return result


def _masked_batch(
    rows: list[tuple[int, int, int]], plan: WordPlan, tokenizer: PreTrainedTokenizerBase, device: torch.device
) -> tuple[dict[str, Tensor], Tensor]:
    length = max(len(plan.encodings[sentence]["input_ids"]) for sentence, _, _ in rows)
    keys = list(plan.encodings[rows[0][0]])
    batch = {key: torch.full((len(rows), length), 0, dtype=torch.long) for key in keys}
    batch["input_ids"].fill_(tokenizer.pad_token_id or 0)
    batch["attention_mask"] = torch.zeros((len(rows), length), dtype=torch.long)
    for row, (sentence, _, position) in enumerate(rows):
        encoding = plan.encodings[sentence]
        size = len(encoding["input_ids"])
        for key in keys:
            batch[key][row, :size] = torch.tensor(encoding[key])
        batch["attention_mask"][row, :size] = 1
        batch["input_ids"][row, position] = tokenizer.mask_token_id
    positions = torch.tensor([position for _, _, position in rows], device=device)
    return {key: value.to(device) for key, value in batch.items()}, positions


def _select_rows(positions: Tensor) -> Callable[[nn.Module, tuple], tuple]:
    """Forward pre-hook: keep only each row's masked position, ``(batch, seq, dim)`` → ``(batch, dim)``."""

    def select(_module: nn.Module, args: tuple) -> tuple:
        hidden = args[0]
        return (hidden[torch.arange(hidden.shape[0], device=hidden.device), positions], *args[1:])

    return select
