"""A run's speed measurement: teacher and student side by side at batch 1 on the CPU, at the task's own length
distribution and at the papers' 128 tokens, interleaved (:mod:`.timing`), within a time budget (15 s by default).

The speed-up is measured, not derived from latencies of different runs; a figure whose rounds disagree or that
was measured on an overloaded machine carries ``reliable: false`` and the reasons.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from alembert.bench.latency import environment
from alembert.bench.timing import MAX_SPREAD, cpu_count, interleave, judge, load_average, ratio_stats


__all__ = ["length_sample", "measure_pair_speed"]


def length_sample(lengths: Sequence[int], count: int = 8) -> list[int]:
    """``count`` lengths at evenly spaced quantiles of ``lengths`` (their mean approximates the distribution's)."""
    ordered = sorted(int(n) for n in lengths)
    if not ordered:
        return []
    return [ordered[min(int((i + 0.5) / count * len(ordered)), len(ordered) - 1)] for i in range(count)]


@contextlib.contextmanager
def _inference(model: nn.Module) -> Iterator[nn.Module]:
    """The model on the CPU, in eval mode, with its inference attention kernel (sdpa where it has one)."""
    device, training = next(model.parameters()).device, model.training
    attention = getattr(model.config, "_attn_implementation", None)
    model.to("cpu").eval()
    try:
        model.set_attn_implementation("sdpa")
    except (ValueError, AttributeError):  # e.g. MPNet has only eager attention
        pass
    try:
        yield model
    finally:
        if attention is not None:
            model.set_attn_implementation(attention)
        model.to(device).train(training)


def _forward(model: nn.Module, lengths: Sequence[int], batch_size: int = 1) -> Callable[[], object]:
    generator = torch.Generator().manual_seed(0)
    vocab = int(model.config.vocab_size)
    inputs = []
    for length in lengths:
        ids = torch.randint(5, vocab, (batch_size, length), generator=generator)
        inputs.append({"input_ids": ids, "attention_mask": torch.ones_like(ids)})

    def call() -> None:
        with torch.inference_mode():
            for batch in inputs:
                model(**batch)

    return call


def measure_pair_speed(
    teacher: nn.Module,
    student: nn.Module,
    *,
    lengths: Sequence[int] | None = None,
    seq_len: int = 128,
    budget_seconds: float = 15.0,
    rounds: int = 5,
    examples: int = 8,
    batch_size: int = 1,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Latency of teacher and student (batch 1 unless told) and the speed-up, measured side by side.

    Args:
        teacher: the baseline model.
        student: the model whose speed-up is reported.
        lengths: token counts of the task's examples (dev set, else training set); ``examples`` of them, at
            evenly spaced quantiles, are timed one after the other. ``None``: only ``seq_len`` is measured.
        seq_len: the papers' fixed length (capped by the models' position embeddings).
        budget_seconds: time for the whole measurement, warm-up included.
        rounds: interleaved rounds (the spread is computed over them); fewer (down to 3) when they would not fit
            in the budget on this machine.
        examples: sequences per call for the task's lengths.
        batch_size: sequences per forward pass; above 1, ``teacher_ms``/``student_ms`` are per batch.
        say: progress messages.

    Returns:
        ``settings`` (one entry per length setting: milliseconds per sequence, speed-up, its range and spread,
        whether it is reliable and why not), the headline ``speedup``/``teacher_ms``/``student_ms`` (the task's
        lengths when given), the load average before and after, and the environment.
    """
    say = say or (lambda _message: None)
    limit = min(getattr(m.config, "max_position_embeddings", seq_len + 2) for m in (teacher, student)) - 2
    settings: list[tuple[str, list[int]]] = []
    sample = length_sample(lengths or [], examples)
    if sample:
        settings.append(("task lengths", [min(n, limit) for n in sample]))
    settings.append((f"seq {min(seq_len, limit)}", [min(seq_len, limit)]))
    load_start, begin = load_average(), time.perf_counter()
    with _inference(teacher), _inference(student):
        calls = {
            (name, who): _forward(model, setting, batch_size)
            for name, setting in settings
            for who, model in (("teacher", teacher), ("student", student))
        }
        times = interleave(
            {f"{name}|{who}": call for (name, who), call in calls.items()},
            rounds=rounds,
            budget_seconds=budget_seconds,
            say=lambda message: say(f"measuring teacher and student speed: {message}"),
        )
    load_end = load_average()
    results = []
    for name, setting in settings:
        teacher_rounds, student_rounds = times[f"{name}|teacher"], times[f"{name}|student"]
        per_sequence = len(setting)
        stats = ratio_stats(teacher_rounds, student_rounds)
        verdict = judge(stats["spread"], [load_start, load_end])
        results.append(
            {
                "name": name,
                "lengths": setting,
                "mean_tokens": sum(setting) / len(setting),
                "teacher_ms": _median_ms(teacher_rounds) / per_sequence,
                "student_ms": _median_ms(student_rounds) / per_sequence,
                **stats,
                "reliable": verdict.reliable,
                "reasons": list(verdict.reasons),
            }
        )
    headline = results[0]
    return {
        "batch_size": batch_size,
        "seq_len": headline["lengths"][0] if len(headline["lengths"]) == 1 else None,
        "teacher_ms": headline["teacher_ms"],
        "student_ms": headline["student_ms"],
        "speedup": headline["speedup"],
        "reliable": all(r["reliable"] for r in results),
        "settings": results,
        "rounds": len(next(iter(times.values()))),
        "max_spread": MAX_SPREAD,
        "seconds": time.perf_counter() - begin,
        "load_average": {"start": load_start, "end": load_end, "cores": cpu_count()},
        "timer": "torch.utils.benchmark.Timer.blocked_autorange, teacher and student interleaved per round",
        "environment": environment(),
    }


def _median_ms(rounds: Sequence[Sequence[float]]) -> float:
    """Milliseconds: the median over rounds of each round's median call."""
    return 1000.0 * statistics.median(statistics.median(block) for block in rounds)
