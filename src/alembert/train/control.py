"""Run control around the loop: stop requests (SIGTERM/SIGINT), checkpoints by the clock, divergence checks and the
training timer."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from alembert.errors import AlembertError, Interrupted
from alembert.train.checkpoint import latest_checkpoint


__all__ = [
    "CheckpointClock",
    "LaggedLoss",
    "StopRequest",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TrainingTimer",
    "check_finite",
]


class TrainingDiverged(AlembertError):
    """A loss became NaN or infinite."""

    exit_code = 3


class TrainingInterrupted(Interrupted):
    """SIGTERM/SIGINT arrived during training; a checkpoint was saved and the run can be resumed."""


class StopRequest:
    """Turns SIGTERM/SIGINT into a flag the loop checks at the next optimizer step (then it checkpoints)."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def install(self) -> None:
        """Catch SIGTERM and SIGINT (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        """Give SIGTERM and SIGINT back to their previous handlers."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


class TrainingTimer:
    """Wall-clock of training only (evaluation paused out)."""

    def __init__(self) -> None:
        self._now = time.perf_counter
        self._start = self._now()
        self._paused = 0.0
        self._pause_start: float | None = None

    def pause(self) -> None:
        """Stop counting (an evaluation starts)."""
        self._pause_start = self._now()

    def resume(self) -> None:
        """Count again after :meth:`pause`."""
        if self._pause_start is not None:
            self._paused += self._now() - self._pause_start
            self._pause_start = None

    def elapsed(self) -> float:
        """Seconds of training so far, pauses excluded."""
        return self._now() - self._start - self._paused


class CheckpointClock:
    """Says when a checkpoint is due by wall-clock (``train.save_every_minutes``), whatever the step count.

    A stage that checkpoints only at evaluations may run hours between two (one epoch over an augmented set);
    a process killed without a signal it can catch (SIGKILL, a lost machine) would lose all of it.

    Args:
        minutes: wall-clock between checkpoints; ``None``: never due.
        now: the clock, in seconds (tests pass a fake one).
    """

    def __init__(self, minutes: float | None, now: Callable[[], float] = time.monotonic) -> None:
        self._seconds = None if minutes is None else minutes * 60.0
        self._now = now
        self._last = now()

    def due(self) -> bool:
        """Whether ``minutes`` passed since the clock started or since :meth:`saved`."""
        return self._seconds is not None and self._now() - self._last >= self._seconds

    def saved(self) -> None:
        """A checkpoint was written (by the clock or by steps): count again from now."""
        self._last = self._now()


class LaggedLoss:
    """The loss terms of the last optimizer step, read on the host one step later so the device never idles.

    ``loss.item()`` right after a step makes the host wait until the device has run the whole step, and the device
    then idles while Python prepares the next one; on a GPU at distillation batch sizes that wait is a large share
    of the step. :meth:`swap` instead starts a non-blocking copy of this step's values and returns the previous
    step's, whose copy finished while this step was being queued. On CPU the values are simply read.
    """

    def __init__(self) -> None:
        self._pending: tuple[int, list[str], torch.Tensor, torch.Event | None] | None = None

    def swap(self, step: int, loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> tuple | None:
        """Queue ``step``'s values; return ``(step, loss, {term: value})`` of the step before, or ``None``."""
        previous = self.pop()
        values = torch.stack([loss.detach().float(), *(v.detach().float().reshape(()) for v in terms.values())])
        event = None
        if values.device.type != "cpu":
            values = values.to("cpu", non_blocking=True)
            event = torch.Event(device=loss.device)
            event.record()
        self._pending = (step, list(terms), values, event)
        return previous

    def pop(self) -> tuple | None:
        """Return the queued values (waiting for their copy only), or ``None`` when nothing is queued."""
        if self._pending is None:
            return None
        step, names, values, event = self._pending
        self._pending = None
        if event is not None:
            event.synchronize()
        loss, *terms = values.tolist()
        return step, loss, dict(zip(names, terms))


def check_finite(step: int, loss: float, terms: dict[str, float], checkpoints: Path, stage: str) -> None:
    """Stop with :class:`TrainingDiverged`, naming the step, the bad loss term and the last good checkpoint."""
    if math.isfinite(loss):
        return
    bad = [name for name, value in terms.items() if not math.isfinite(value)] or ["total"]
    last = latest_checkpoint(checkpoints)
    raise TrainingDiverged(
        f"stage {stage}: loss is not finite at step {step} (term {', '.join(bad)}); "
        f"last good checkpoint: {last or 'none'}; continue with a lower learning rate: "
        "--set train.learning_rate=<lower> --resume --allow-changes train.learning_rate"
    )
