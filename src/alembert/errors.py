"""User-facing errors: one clear line, exit code 2, raised before any long work starts."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


__all__ = ["AlembertError", "ConfigError", "DataError", "Interrupted", "ModelError", "suggest"]


class AlembertError(ValueError):
    """Base class for errors caused by user input (bad config, data or model).

    The CLI prints ``str(error)`` on one line and exits with :attr:`exit_code`.
    """

    exit_code: int = 2


class ConfigError(AlembertError):
    """A config file, key or value is invalid."""


class DataError(AlembertError):
    """A data file or row is invalid."""


class ModelError(AlembertError):
    """A model folder, name or architecture is unusable."""


class Interrupted(AlembertError):
    """Ctrl-C (SIGINT) or SIGTERM stopped the command; the message says what was kept and how to continue."""

    exit_code = 130


def suggest(word: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest candidate, or ``""`` if none is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
