"""Progress of a training stage, on a terminal and in a log file alike.

On a terminal: a live bar whose step count, rate and ETA always fit, with the loss terms on a line of their own
below it (wrapped, never cut). Elsewhere (nohup, SLURM, CI): a plain line at the start, every
:func:`~alembert.terminal.progress_interval` seconds and at the end, with step, loss terms, rate and ETA.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from alembert.terminal import console, format_seconds, interactive, progress_interval, say


__all__ = ["StageProgress", "console"]


class _BarAndTerms(Progress):
    """A progress bar with a free line of text (the loss terms) under it."""

    terms: str = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.terms:
            yield Text(self.terms, style="dim")


def _rate(steps: float, seconds: float) -> str:
    if steps <= 0 or seconds <= 0:
        return "– steps/s"
    per_second = steps / seconds
    return f"{per_second:.2f} steps/s" if per_second >= 1 else f"{seconds / steps:.1f} s/step"


class StageProgress:
    """Progress of one stage: steps, total loss and every term (only on the main process).

    The bar is redrawn from the training thread at most every ``refresh_seconds`` (rich's own refresh thread
    would take the GIL from the training loop ten times a second, a cost a GPU step of a few milliseconds feels).
    """

    def __init__(
        self,
        stage: str,
        total_steps: int,
        *,
        enabled: bool,
        refresh_seconds: float = 0.5,
        target: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.stage = stage
        self.total = total_steps
        self.refresh_seconds = refresh_seconds
        self.target = target or console
        self.clock = clock
        self.live = enabled and interactive(self.target)
        self._note = ""
        self._terms = ""
        self._step = self._first_step = 0
        self._start = self._last_refresh = self._last_line = 0.0
        self._progress = _BarAndTerms(
            TextColumn("[bold]{task.fields[stage]}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.target,
            disable=not self.live,
            transient=False,
            auto_refresh=False,
        )
        self._task = None

    def start(self, completed: int) -> None:
        """Show the bar (or the first plain line), starting at ``completed`` steps (non-zero after a resume)."""
        self._step = self._first_step = completed
        self._start = self._last_line = self.clock()
        self._task = self._progress.add_task("", total=self.total, completed=completed, stage=self.stage, rate="")
        if self.live:
            self._progress.start()
        elif self.enabled:
            resumed = f" (resumed at step {completed})" if completed else ""
            say(f"[{self.stage}] training for {self.total} steps{resumed}", self.target)

    def update(self, step: int, loss: float, terms: dict[str, float]) -> None:
        """Advance to ``step`` with the loss and its terms (redrawn at most every ``refresh_seconds``; a plain line
        every :func:`~alembert.terminal.progress_interval` seconds)."""
        self._step = step
        if not self.enabled:
            return
        parts = [f"loss {loss:.4f}"] + [f"{k} {v:.4f}" for k, v in terms.items()]
        self._terms = " · ".join(parts + ([self._note] if self._note else []))
        now = self.clock()
        if not self.live:
            if now - self._last_line >= progress_interval() or step >= self.total:
                self._last_line = now
                say(self.line(now), self.target)
            return
        if now - self._last_refresh < self.refresh_seconds and step < self.total:
            self._progress.update(self._task, completed=step)
            return
        self._last_refresh = now
        self._progress.terms = self._terms
        rate = _rate(step - self._first_step, now - self._start)
        self._progress.update(self._task, completed=step, rate=rate, refresh=True)

    def line(self, now: float | None = None) -> str:
        """The plain progress line: stage, step, loss terms, rate, elapsed time and ETA."""
        now = self.clock() if now is None else now
        elapsed, done = now - self._start, self._step - self._first_step
        eta = format_seconds((self.total - self._step) * elapsed / done) if done > 0 else "–"
        percent = 100.0 * self._step / self.total if self.total else 100.0
        return (
            f"[{self.stage}] step {self._step}/{self.total} ({percent:.0f}%) · {self._terms or 'no loss yet'} · "
            f"{_rate(done, elapsed)} · elapsed {format_seconds(elapsed)} · ETA {eta}"
        )

    def note(self, text: str) -> None:
        """Keep ``text`` (e.g. the last dev score) next to the loss terms; a plain line shows it at once."""
        self._note = text
        if self.enabled and not self.live and text:
            say(f"[{self.stage}] step {self._step}: {text}", self.target)

    def stop(self) -> None:
        """Close the bar (drawn once more, with its last state)."""
        if self.live:
            self._progress.terms = self._terms
            self._progress.refresh()
            self._progress.stop()
