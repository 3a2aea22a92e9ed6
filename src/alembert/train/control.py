"""Run control around the loop: stop requests (SIGTERM/SIGINT), divergence checks and the training timer."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import torch

from alembert.errors import AlembertError
from alembert.train.checkpoint import TrainerState, latest_checkpoint


__all__ = ["StopRequest", "TrainingDiverged", "TrainingInterrupted", "TrainingTimer", "check_finite"]


class TrainingDiverged(AlembertError):
    """A loss became NaN or infinite."""

    exit_code = 3


class TrainingInterrupted(AlembertError):
    """SIGTERM/SIGINT arrived; a checkpoint was saved and the run can be resumed."""

    exit_code = 130


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
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
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
        self._pause_start = self._now()

    def resume(self) -> None:
        if self._pause_start is not None:
            self._paused += self._now() - self._pause_start
            self._pause_start = None

    def elapsed(self) -> float:
        return self._now() - self._start - self._paused


def check_finite(loss: torch.Tensor, terms: dict, state: TrainerState, checkpoints: Path, stage: str) -> None:
    """Stop with :class:`TrainingDiverged`, naming the bad loss term and the last good checkpoint."""
    if torch.isfinite(loss):
        return
    bad = [name for name, value in terms.items() if not torch.isfinite(value)] or ["total"]
    last = latest_checkpoint(checkpoints)
    raise TrainingDiverged(
        f"stage {stage}: loss is not finite at step {state.global_step + 1} (term {', '.join(bad)}); "
        f"last good checkpoint: {last or 'none'} (resume with --resume after lowering the learning rate)"
    )
