"""The one timing routine of alembert: calls timed with ``torch.utils.benchmark.Timer``, models interleaved round by
round so that they share the machine's load, a spread over rounds, the load average before and after, and a
verdict: a figure whose rounds disagree, or that was measured on an overloaded machine, is marked unreliable.

Everything that reports a latency or a speed-up (runs, ``alembert bench``, ``export --choose-backend``, the dev
pass) times through :func:`sample_times` or :func:`interleave`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch.utils.benchmark import Timer


__all__ = [
    "MIN_ROUNDS",
    "MAX_SPREAD",
    "Verdict",
    "cpu_count",
    "interleave",
    "judge",
    "load_average",
    "ratio_stats",
    "sample_times",
    "synchronize",
    "time_once",
]

MAX_SPREAD = 0.10  # a speed-up whose rounds span more than ±10% around their median is not reported as fact


def sample_times(
    call: Callable[[], object], *, seconds: float, runs: int | None = None, threads: int | None = None
) -> list[float]:
    """Seconds per call.

    Without ``runs``: ``torch.utils.benchmark.Timer.blocked_autorange`` runs blocks of calls until ``seconds`` have
    passed (it first runs the call untimed to size its blocks: a warm-up after another model ran); at least one
    block is timed. With ``runs``: one untimed warm-up call, then that many single calls (:func:`time_once`),
    stopping early once ``seconds`` have passed (at least one).
    """
    if runs is None:
        timer = Timer(stmt="call()", globals={"call": call}, num_threads=threads or torch.get_num_threads())
        return list(timer.blocked_autorange(min_run_time=max(seconds, 1e-6)).times)
    time_once(call, threads=threads)
    times: list[float] = []
    while len(times) < runs and (not times or sum(times) < seconds):
        times.append(time_once(call, threads=threads))
    return times


def time_once(call: Callable[[], object], *, threads: int | None = None) -> float:
    """Seconds of a single call, with no untimed call around it (``Timer.timeit(1)`` would add two): for calls
    long enough that a clock read is noise (a dev-pass example, a whole interleaved call on a slow machine)."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        synchronize()
        begin = time.perf_counter()
        call()
        synchronize()
        return time.perf_counter() - begin
    finally:
        torch.set_num_threads(previous)


def synchronize() -> None:
    """Wait for queued GPU work, so that it is counted in the call that queued it."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


MIN_ROUNDS = 3  # fewest rounds a spread is computed over when a time budget cuts the rounds


def interleave(
    calls: Mapping[str, Callable[[], object]],
    *,
    rounds: int,
    budget_seconds: float | None = None,
    block_seconds: float = 0.2,
    say: Callable[[str], None] | None = None,
) -> dict[str, list[list[float]]]:
    """Time every call once per round, in an order that rotates each round, so that all see the same load.

    Args:
        calls: name -> zero-argument call (one forward pass, or several).
        rounds: interleaved rounds (at most).
        budget_seconds: if set, the whole measurement (warm-up included) fits in it: one warm-up call of each
            sizes the rounds; on a slow or busy machine a call is timed once per round (no block sizing), and the
            rounds are cut to what fits, down to :data:`MIN_ROUNDS` (which may then overrun the budget).
        block_seconds: time per call and round when there is no budget.
        say: called with a short progress message per round.

    Returns:
        name -> per round, the seconds of each timed call (as many rounds as were run).
    """
    start = time.perf_counter()
    names = list(calls)
    single: set[str] = set()
    if budget_seconds is not None:
        warm = {}
        for name in names:
            begin = time.perf_counter()
            calls[name]()
            warm[name] = time.perf_counter() - begin
        one_pass = sum(warm.values())
        remaining = 0.9 * budget_seconds - (time.perf_counter() - start)  # the last block overshoots
        if one_pass > 0:
            rounds = max(min(rounds, int(remaining // one_pass)), min(MIN_ROUNDS, rounds))
        per_round = remaining / rounds
        # what is left of a round after one call of each, shared out; a call longer than its share is timed once
        block_seconds = max((per_round - one_pass) / len(names), 0.0)
        single = {name for name in names if warm[name] >= block_seconds}
    times: dict[str, list[list[float]]] = {name: [] for name in names}
    for index in range(rounds):
        if say is not None:
            say(f"round {index + 1}/{rounds}")
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            if name in single:  # one timed call, no block-sizing call first
                times[name].append([time_once(calls[name])])
            else:
                times[name].append(sample_times(calls[name], seconds=block_seconds))
    return times


def ratio_stats(base: Sequence[Sequence[float]], other: Sequence[Sequence[float]]) -> dict[str, float]:
    """Speed-up of ``other`` over ``base`` from interleaved rounds: the median of the per-round ratios of medians,
    its range, and its spread (half the range over the median)."""
    per_round = [statistics.median(b) / statistics.median(o) for b, o in zip(base, other)]
    median = statistics.median(per_round)
    return {
        "speedup": median,
        "speedup_min": min(per_round),
        "speedup_max": max(per_round),
        "spread": (max(per_round) - min(per_round)) / 2 / median,
    }


def load_average() -> list[float] | None:
    """1/5/15-minute load averages (other work on the machine slows every measurement)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Verdict:
    """Whether a measured figure may be reported as fact, and if not, why."""

    reliable: bool
    reasons: tuple[str, ...]

    def note(self) -> str:
        """``""`` when reliable, else ``unreliable: <reasons>``."""
        return "" if self.reliable else "unreliable: " + "; ".join(self.reasons)


def judge(
    spread: float | None,
    loads: Sequence[Sequence[float] | None],
    *,
    cores: int | None = None,
    max_spread: float = MAX_SPREAD,
) -> Verdict:
    """Unreliable when the rounds disagree by more than ``max_spread`` (±) or the machine ran more work than it has
    cores (1-minute load average above the core count, before or after the measurement)."""
    cores = cores or cpu_count()
    reasons = []
    if spread is not None and spread > max_spread:
        reasons.append(f"rounds spread ±{100 * spread:.0f}% (> ±{100 * max_spread:.0f}%)")
    busiest = max((load[0] for load in loads if load), default=None)
    if busiest is not None and busiest > cores:
        reasons.append(f"machine busy (load average {busiest:.1f} on {cores} cores)")
    return Verdict(not reasons, tuple(reasons))
