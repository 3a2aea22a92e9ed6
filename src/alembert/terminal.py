"""What a run prints while it works: one console (stderr), plain timestamped lines when it is not a terminal
(nohup, SLURM, CI logs), live spinners when it is, one-time warnings, and :class:`Phase` for work that is not a
training step (reading data, evaluation, latency, export), so that nothing runs silently for long.

``ALEMBERT_PROGRESS_SECONDS`` sets how often plain lines repeat (default 30 s); ``ALEMBERT_PLAIN_PROGRESS=1``
prints plain lines on a terminal too. A phase that ends within :data:`QUIET_SECONDS` prints nothing in a log
(a bad input still ends with its one error line); a longer one prints a start line once that time has passed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.errors import LiveError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


__all__ = [
    "QUIET_SECONDS",
    "Phase",
    "console",
    "format_seconds",
    "interactive",
    "main_process",
    "progress_interval",
    "say",
    "warn_once",
]

console = Console(stderr=True)
QUIET_SECONDS = 2.0
_warned: set[str] = set()


def interactive(target: Console | None = None) -> bool:
    """Whether to draw live bars: the console is a terminal and plain lines were not asked for."""
    target = target or console
    return target.is_terminal and os.environ.get("ALEMBERT_PLAIN_PROGRESS", "") in ("", "0")


def main_process() -> bool:
    """Whether this is the process that prints (rank 0 under ``torchrun``/``accelerate launch``; always otherwise)."""
    return os.environ.get("RANK", "0") in ("", "0")


def progress_interval() -> float:
    """Seconds between plain progress lines (``ALEMBERT_PROGRESS_SECONDS``, default 30)."""
    try:
        return max(float(os.environ.get("ALEMBERT_PROGRESS_SECONDS", "30")), 0.0)
    except ValueError:
        return 30.0


def quiet_seconds() -> float:
    """How long a phase may run before its plain start line is printed: :data:`QUIET_SECONDS`, or less when
    ``ALEMBERT_PROGRESS_SECONDS`` asks for lines more often."""
    return min(QUIET_SECONDS, progress_interval())


def format_seconds(seconds: float) -> str:
    """``0:42``, ``12:05``, ``2:03:10``."""
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def say(message: str, target: Console | None = None) -> None:
    """One line, never cut or wrapped; timestamped when it goes to a log file rather than a terminal."""
    if not main_process():
        return
    target = target or console
    stamp = "" if interactive(target) else time.strftime("[%H:%M:%S] ")
    target.print(f"{stamp}{message}", highlight=False, soft_wrap=True, markup=False)


def warn_once(key: str, message: str, target: Console | None = None) -> None:
    """Print ``warning: message`` the first time ``key`` is seen in this process."""
    if key in _warned:
        return
    _warned.add(key)
    say(f"warning: {message}", target)


class Phase:
    """A timed piece of work with progress: a spinner (and bar, given ``total``) on a terminal; otherwise a start
    line (once the phase has run for :func:`quiet_seconds`), a line every :func:`progress_interval` seconds, and an
    end line with the duration (only when the start line was printed: short phases stay quiet in a log).

    Use as a context manager; call :meth:`advance` as items are done.
    """

    def __init__(
        self,
        title: str,
        total: int | None = None,
        *,
        enabled: bool | None = None,
        target: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.title, self.total = title, total
        self.enabled = main_process() if enabled is None else enabled
        self.target = target or console
        self.clock = clock
        self.done = 0
        self._live: Progress | None = None
        self._task = None
        self._start = self._last_line = 0.0
        self._timer: threading.Timer | None = None
        self._announced = threading.Event()

    def __enter__(self) -> Phase:
        self._start = self._last_line = self.clock()
        if not self.enabled:
            return self
        if interactive(self.target):
            columns = [SpinnerColumn(), TextColumn("{task.description}")]
            if self.total:
                columns += [BarColumn(), MofNCompleteColumn()]
            self._live = Progress(*columns, TimeElapsedColumn(), console=self.target, transient=True)
            self._task = self._live.add_task(self.title, total=self.total)
            try:
                self._live.start()
            except LiveError:  # rich < 14 draws one live display at a time: the training bar's
                self._live = None
        elif quiet_seconds() <= 0:
            self._announce()
        else:
            self._timer = threading.Timer(quiet_seconds(), self._announce)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _announce(self) -> None:
        if not self._announced.is_set():
            self._announced.set()
            size = f" ({self.total:,})" if self.total else ""
            say(f"{self.title}{size} ...", self.target)

    def advance(self, count: int = 1) -> None:
        """``count`` more items are done."""
        self.done += count
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(self._task, completed=self.done)
            return
        now = self.clock()
        if now - self._start >= quiet_seconds():
            self._announce()
        if self._announced.is_set() and now - self._last_line >= progress_interval():
            self._last_line = now
            of = f"/{self.total:,}" if self.total else ""
            say(f"{self.title}: {self.done:,}{of} after {format_seconds(now - self._start)}", self.target)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.stop()
        if self._timer is not None:
            self._timer.cancel()
        if kind is None and (self._live is not None or self._announced.is_set()):
            say(f"{self.title}: done in {self.clock() - self._start:.1f} s", self.target)
