"""What the user should know but that is not an error: a warning (something may be wrong) or a note (something was
done on the user's behalf). Each is one line; the CLI prints it as ``warning: …`` / ``note: …`` on stderr, and a
run records the notices of its set-up in ``log.jsonl`` (:func:`drain`). No torch, no heavy imports."""

from __future__ import annotations

import logging
from dataclasses import dataclass


__all__ = ["Notice", "drain", "note", "warn"]

LOGGER = logging.getLogger("alembert")
_SHOWN: set[str] = set()
_PENDING: list[Notice] = []


@dataclass(frozen=True)
class Notice:
    """One notice: ``kind`` is ``warning`` or ``note``."""

    kind: str
    message: str


def _emit(kind: str, message: str, once: str | None) -> bool:
    if once is not None:
        if once in _SHOWN:
            return False
        _SHOWN.add(once)
    _PENDING.append(Notice(kind, message))
    LOGGER.log(logging.WARNING if kind == "warning" else logging.INFO, message)
    return True


def warn(message: str, *, once: str | None = None) -> bool:
    """Warn the user (logged at ``WARNING`` on the ``alembert`` logger).

    Args:
        message: one line.
        once: a key; a later warning with the same key in this process is dropped.

    Returns:
        Whether the warning was emitted.
    """
    return _emit("warning", message, once)


def note(message: str, *, once: str | None = None) -> bool:
    """Tell the user what was done on their behalf (logged at ``INFO``); see :func:`warn`."""
    return _emit("note", message, once)


def drain() -> list[Notice]:
    """The notices emitted since the last call (a run writes them to its log once the log exists)."""
    pending = list(_PENDING)
    _PENDING.clear()
    return pending
