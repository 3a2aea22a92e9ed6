"""A ``rich`` progress bar that shows each loss term of the stage."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


__all__ = ["StageProgress", "console"]

console = Console(stderr=True)


class StageProgress:
    """Progress of one stage: steps, total loss and every term (only on the main process)."""

    def __init__(self, stage: str, total_steps: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.stage = stage
        self.total = total_steps
        self._note = ""
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
        )
        self._task = None

    def start(self, completed: int) -> None:
        """Show the bar, starting at ``completed`` steps (non-zero after a resume)."""
        self._task = self._progress.add_task("", total=self.total, completed=completed, stage=self.stage, terms="")
        self._progress.start()

    def update(self, step: int, loss: float, terms: dict[str, float]) -> None:
        """Advance to ``step`` and show the loss and its terms."""
        parts = [f"loss {loss:.4f}"] + [f"{k} {v:.4f}" for k, v in list(terms.items())[:6]]
        if self._note:
            parts.append(self._note)
        self._progress.update(self._task, completed=step, terms=" · ".join(parts))

    def note(self, text: str) -> None:
        """Keep ``text`` (e.g. the last dev score) next to the loss terms."""
        self._note = text

    def stop(self) -> None:
        """Close the bar."""
        self._progress.stop()
