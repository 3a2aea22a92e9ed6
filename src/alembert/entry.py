"""The ``alembert`` console script: :func:`alembert.cli.main`, with Ctrl-C during start-up (importing the libraries
can take seconds) ending in one line instead of a traceback. No heavy imports here."""

from __future__ import annotations

import sys


__all__ = ["run"]


def run() -> None:
    """Entry point of the ``alembert`` command."""
    try:
        from alembert.cli import main

        code = main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted (nothing was written)\n")
        code = 130
    sys.exit(code)
