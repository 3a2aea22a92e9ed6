"""A ``rich`` progress bar that shows each loss term of the stage."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


__all__ = ["StageProgress", "console"]

console = Console(stderr=True)


class StageProgress:
    """Progress of one stage: steps, total loss and every term (only on the main process).

    The bar is redrawn from the training thread at most every ``refresh_seconds`` (rich's own refresh thread
    would take the GIL from the training loop ten times a second, a cost a GPU step of a few milliseconds feels).
    """

    def __init__(self, stage: str, total_steps: int, *, enabled: bool, refresh_seconds: float = 0.5) -> None:
        self.enabled = enabled
        self.stage = stage
        self.total = total_steps
        self.refresh_seconds = refresh_seconds
        self._note = ""
        self._last_refresh = 0.0
        self._progress = Progress(
            TextColumn("[bold]{task.fields[stage]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[terms]}"),
            console=console,
            disable=not enabled,
            transient=False,
            auto_refresh=False,
        )
        self._task = None

    def start(self, completed: int) -> None:
        """Show the bar, starting at ``completed`` steps (non-zero after a resume)."""
        self._task = self._progress.add_task("", total=self.total, completed=completed, stage=self.stage, terms="")
        self._progress.start()

    def update(self, step: int, loss: float, terms: dict[str, float]) -> None:
        """Advance to ``step`` and show the loss and its terms (redrawn at most every ``refresh_seconds``)."""
        now = time.monotonic()
        if now - self._last_refresh < self.refresh_seconds and step < self.total:
            self._progress.update(self._task, completed=step)
            return
        self._last_refresh = now
        parts = [f"loss {loss:.4f}"] + [f"{k} {v:.4f}" for k, v in list(terms.items())[:6]]
        if self._note:
            parts.append(self._note)
        self._progress.update(self._task, completed=step, terms=" · ".join(parts), refresh=True)

    def note(self, text: str) -> None:
        """Keep ``text`` (e.g. the last dev score) next to the loss terms."""
        self._note = text

    def stop(self) -> None:
        """Close the bar (drawn once more, with its last state)."""
        self._progress.refresh()
        self._progress.stop()
