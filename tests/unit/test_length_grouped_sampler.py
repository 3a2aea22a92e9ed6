"""Length-grouped batches: every example once, little padding, batches in random order, reproducible."""

from __future__ import annotations

import random

from alembert.data.batches import LengthGroupedSampler


def _batches(sampler: LengthGroupedSampler, batch_size: int) -> list[list[int]]:
    order = list(sampler)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _padding(lengths: list[int], batches: list[list[int]]) -> int:
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_grouped_batches_cover_everything_once_with_little_padding():
    rng = random.Random(0)
    lengths = [rng.randint(3, 120) for _ in range(2000)]
    grouped = _batches(LengthGroupedSampler(lengths, 16, seed=0), 16)
    shuffled = _batches(LengthGroupedSampler(lengths, 16, seed=0, group=False), 16)
    assert sorted(i for b in grouped for i in b) == list(range(2000))
    assert _padding(lengths, grouped) < 0.2 * _padding(lengths, shuffled)
    assert max(lengths[i] for i in grouped[0]) == max(lengths)  # the longest batch first


def test_batch_order_does_not_drift_from_long_to_short():
    """Within transformers' mega-batches batches run longest to shortest; here their order is shuffled."""
    rng = random.Random(1)
    lengths = [rng.randint(3, 120) for _ in range(3200)]
    maxima = [max(lengths[i] for i in b) for b in _batches(LengthGroupedSampler(lengths, 16, seed=3), 16)][1:51]
    descending = sum(a >= b for a, b in zip(maxima, maxima[1:]))
    assert descending < 0.8 * (len(maxima) - 1)  # a sorted run would be all descending


def test_order_is_reproducible_per_seed_and_epoch():
    lengths = list(range(5, 505))
    a, b = LengthGroupedSampler(lengths, 8, seed=7), LengthGroupedSampler(lengths, 8, seed=7)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
