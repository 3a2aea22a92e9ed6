"""TinyBERT data augmentation of a list of texts (Jiao et al. 2020, §3.1 and Algorithm 1).

For each replaceable word (alphabetic, not a stop word) of a sentence the candidates are:

* a word the tokenizer keeps as one piece: the masked-LM model's top-``K`` predictions when that word is masked
  (:mod:`alembert.augment.mlm`);
* a word cut into several pieces: its ``K`` nearest neighbours in a word-embedding space
  (:mod:`alembert.augment.vectors`);
* no candidate at all: the word itself.

Then ``N_a`` times: every replaceable word is swapped, with probability ``p_t``, for a uniformly drawn candidate;
new sentences (not the original, not a repeat) are kept. The reference code does exactly this; the random draws
here come from a generator seeded by ``(seed, example index)``, so the output depends neither on batching nor on
the order in which examples are processed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from alembert.augment.mlm import mlm_candidates, plan_words
from alembert.augment.vectors import WordVectors
from alembert.augment.words import is_replaceable, split_words


__all__ = ["augment_texts", "sample_variants"]


def sample_variants(
    words: Sequence[str],
    candidates: dict[int, list[str]],
    *,
    num_augmented: int,
    replace_prob: float,
    rng: random.Random,
) -> list[str]:
    """Algorithm 1's sampling loop for one sentence.

    Args:
        words: the sentence's words.
        candidates: replacement candidates by word index (only replaceable words; ``[word]`` when none found).
        num_augmented: ``N_a``, attempts (duplicates are dropped, so up to this many variants come back).
        replace_prob: ``p_t``.
        rng: the example's random generator.

    Returns:
        Distinct new sentences (words joined by spaces), the original excluded.
    """
    original = " ".join(words)
    seen = {original}
    variants = []
    for _ in range(num_augmented):
        new_words = list(words)
        for index, options in candidates.items():
            choice = rng.choice(options)  # drawn before the coin, as the reference code does
            if rng.random() < replace_prob:
                new_words[index] = choice
        sentence = " ".join(new_words)
        if sentence not in seen:
            seen.add(sentence)
            variants.append(sentence)
    return variants


def augment_texts(
    texts: Sequence[str],
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    vectors: WordVectors,
    num_augmented: int = 20,
    replace_prob: float = 0.4,
    top_k: int = 15,
    seed: int = 42,
    batch_size: int = 256,
    max_length: int = 256,
    first_index: int = 0,
) -> list[list[str]]:
    """Augmented variants of each text (the original not included).

    Args:
        texts: sentences to augment.
        model: masked-LM model in eval mode, on the device to use.
        tokenizer: its tokenizer.
        vectors: neighbours for multi-piece words (GloVe, or :meth:`WordVectors.from_model`).
        num_augmented: ``N_a``.
        replace_prob: ``p_t``.
        top_k: ``K``.
        seed: base seed; example ``first_index + i`` draws from ``Random(hash of (seed, index))``.
        batch_size: masked sentences per forward pass.
        max_length: token limit of the ``(masked, original)`` pair fed to the model.
        first_index: global index of ``texts[0]`` (for processing a dataset in parts).

    Returns:
        For each text, its distinct variants (up to ``num_augmented``).
    """
    sentences = [split_words(text, tokenizer) for text in texts]
    plan = plan_words(sentences, tokenizer, is_replaceable, max_length=max_length)
    single = mlm_candidates(model, tokenizer, plan, top_k=top_k, batch_size=batch_size)
    neighbours = vectors.nearest((sentences[s][w] for s, w in plan.multi), top_k)
    per_sentence: list[dict[int, list[str]]] = [{} for _ in sentences]
    for sentence, word, _ in plan.single:
        per_sentence[sentence][word] = single[(sentence, word)] or [sentences[sentence][word]]
    for sentence, word in plan.multi:
        per_sentence[sentence][word] = neighbours[sentences[sentence][word]] or [sentences[sentence][word]]
    results = []
    for i, (words, candidates) in enumerate(zip(sentences, per_sentence)):
        rng = random.Random(f"{seed}:{first_index + i}")
        results.append(
            sample_variants(
                words,
                dict(sorted(candidates.items())),
                num_augmented=num_augmented,
                replace_prob=replace_prob,
                rng=rng,
            )
        )
    return results
