"""Tokenise examples into ``datasets.Dataset`` objects and batch them with dynamic padding and length grouping."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import datasets
import torch
from torch.utils.data import DataLoader, Sampler
from transformers import DataCollatorForLanguageModeling, DataCollatorWithPadding, PreTrainedTokenizerBase
from transformers.trainer_pt_utils import get_length_grouped_indices

from alembert.data.paired import PairedCollator
from alembert.data.readers import Example
from alembert.data.streaming import TextBlockStream, stream_loader
from alembert.errors import DataError


__all__ = [
    "LengthGroupedSampler",
    "build_eval_loader",
    "build_train_loader",
    "tokenize_examples",
    "tokenize_texts",
]

_MODEL_COLUMNS = ("input_ids", "attention_mask", "token_type_ids", "labels", "idx")
# Tokenised datasets hand out plain Python lists: the collators pad lists and build each batch's tensors in one
# go. (A ``torch``-formatted dataset made one tensor per row and field, which the tokenizer's ``pad`` then turned
# back into lists: about a sixth of a training step's host time on an H200 at batch 32.)


def tokenize_examples(
    examples: Sequence[Example], tokenizer: PreTrainedTokenizerBase, *, max_length: int, regression: bool = False
) -> datasets.Dataset:
    """Tokenise labelled examples (one or two texts each) into a dataset with ``labels``, ``idx`` and ``length``."""
    if not examples:
        raise DataError("no examples to tokenise (empty dataset)")
    columns: dict[str, list] = {"text_a": [e.texts[0] for e in examples], "idx": [e.idx for e in examples]}
    if len(examples[0].texts) > 1:
        columns["text_b"] = [e.texts[1] for e in examples]
    if examples[0].label is not None:
        columns["labels"] = [float(e.label) if regression else int(e.label) for e in examples]
    raw = datasets.Dataset.from_dict(columns)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch["text_a"], batch.get("text_b"), truncation=True, max_length=max_length)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        return encoded

    tokenized = raw.map(encode, batched=True, remove_columns=[c for c in ("text_a", "text_b") if c in columns])
    return tokenized.with_format(None, columns=[c for c in _MODEL_COLUMNS if c in tokenized.column_names])


def tokenize_texts(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, *, max_length: int) -> datasets.Dataset:
    """Tokenise raw text for masked-LM (general) distillation: one example per text, truncated to ``max_length``."""
    if not texts:
        raise DataError("no text to tokenise (empty corpus)")
    raw = datasets.Dataset.from_dict({"text": list(texts), "idx": list(range(len(texts)))})

    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_length, return_special_tokens_mask=True)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        return encoded

    tokenized = raw.map(encode, batched=True, remove_columns=["text"])
    keep = [c for c in (*_MODEL_COLUMNS, "special_tokens_mask") if c in tokenized.column_names]
    return tokenized.with_format(None, columns=keep)


class LengthGroupedSampler(Sampler[int]):
    """Shuffle, then group examples of similar length into the same batch (less padding, same randomness).

    Grouping is ``transformers``' (random mega-batches of 50 batches, sorted by length inside), after which the
    batches themselves are shuffled, the longest one kept first (an out-of-memory error shows at step 1). Without
    that shuffle each mega-batch runs from its longest batch to its shortest: 50 steps in a row drift from long to
    short sentences, and on the 8k-row SST-2 subset that cost the student dev accuracy against random batches.

    Deterministic given ``seed`` and the epoch (:meth:`set_epoch`), so a resumed run sees the same order.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, seed: int, group: bool = True) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group = group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if not self.group:
            return iter(torch.randperm(len(self.lengths), generator=generator).tolist())
        grouped = get_length_grouped_indices(self.lengths, self.batch_size, generator=generator)
        batches = [grouped[i : i + self.batch_size] for i in range(0, len(grouped), self.batch_size)]
        order = [0] + [1 + j for j in torch.randperm(len(batches) - 1, generator=generator).tolist()]
        return iter([index for position in order for index in batches[position]])


def _collator(tokenizer: PreTrainedTokenizerBase, mlm_probability: float | None):
    if mlm_probability is not None:
        if tokenizer.mask_token is None:
            raise DataError("masked-LM data needs a tokenizer with a mask token")
        return DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=mlm_probability)
    return DataCollatorWithPadding(tokenizer)


def build_train_loader(
    dataset: datasets.Dataset | TextBlockStream,
    tokenizer: PreTrainedTokenizerBase,
    *,
    batch_size: int,
    seed: int,
    length_grouped: bool = True,
    mlm_probability: float | None = None,
    pin_memory: bool = False,
    student_tokenizer: PreTrainedTokenizerBase | None = None,
) -> DataLoader:
    """Shuffled, dynamically padded training batches (masked 80/10/10 when ``mlm_probability`` is set).

    A :class:`~alembert.data.streaming.TextBlockStream` is batched in stream order (see its docs). ``pin_memory``
    (for a GPU) lets batches be copied to the device without waiting for the work already queued there.
    A paired dataset (:mod:`alembert.data.paired`) pads the student's inputs with ``student_tokenizer``.
    """
    if isinstance(dataset, TextBlockStream):
        if mlm_probability is None:
            raise DataError("a text stream is masked-LM data: build its loader with mlm_probability")
        return stream_loader(dataset, tokenizer, batch_size=batch_size, mlm_probability=mlm_probability, seed=seed)
    sampler = LengthGroupedSampler(
        list(dataset.with_format(None)["length"]), batch_size, seed=seed, group=length_grouped
    )
    # A loader-owned generator: starting an epoch's iterator (also after --resume) draws no number from the
    # global RNG, so dropout masks after a resume are the ones an uninterrupted run would have used.
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=_collator(tokenizer, mlm_probability)
        if student_tokenizer is None
        else PairedCollator(tokenizer, student_tokenizer),
        generator=torch.Generator().manual_seed(seed),
        pin_memory=pin_memory,
    )


def build_eval_loader(dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, *, batch_size: int) -> DataLoader:
    """Evaluation batches in file order (``idx`` lets predictions be written back in order)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=DataCollatorWithPadding(tokenizer))
