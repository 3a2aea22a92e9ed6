"""Words of a sentence as TinyBERT's augmentation sees them, and which of them may be replaced."""

from __future__ import annotations

import re

from transformers import PreTrainedTokenizerBase


__all__ = ["STOP_WORDS", "is_replaceable", "split_words"]

# The English stop-word list of the TinyBERT reference code (data_augmentation.py, NLTK's list): never replaced.
STOP_WORDS = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him his
    himself she she's her hers herself it it's its itself they them their theirs themselves what which who whom
    this that that'll these those am is are was were be been being have has had having do does did doing a an the
    and but if or because as until while of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there when where why how all
    any both each few more most other some such no nor not only own same so than too very s t can will just don
    don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn
    hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn
    shouldn't wasn wasn't weren weren't won won't wouldn wouldn't 's 're
    """.split()
)

_WORD = re.compile(r"\w+|[^\w\s]")


def split_words(text: str, tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """Split ``text`` into words and punctuation marks after the tokenizer's own normaliser.

    For an uncased BERT tokenizer this is the reference code's ``BasicTokenizer.tokenize``: lower-cased, accents
    handled as the tokenizer does, punctuation split off (``"don't"`` → ``don ' t``).

    Args:
        text: one sentence.
        tokenizer: the masked-LM model's tokenizer.

    Returns:
        The words, in order.
    """
    normalizer = tokenizer.backend_tokenizer.normalizer
    if normalizer is not None:
        text = normalizer.normalize_str(text)
    return _WORD.findall(text)


def is_replaceable(word: str) -> bool:
    """Whether augmentation may replace ``word``: alphabetic and not a stop word (numbers, punctuation stay)."""
    return word.isalpha() and word.lower() not in STOP_WORDS
