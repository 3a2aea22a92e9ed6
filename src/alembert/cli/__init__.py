"""``alembert`` command line: each command is a thin call into the public API.

One module per group of commands registers their parsers and handlers: :mod:`~alembert.cli.training` (distill,
finetune, glue), :mod:`~alembert.cli.models` (evaluate, bench, export, report), :mod:`~alembert.cli.data` (augment,
corpus, prune) and :mod:`~alembert.cli.recipes`; :mod:`~alembert.cli.app` builds the parser and turns user errors
into one line and exit code 2. ``python -m alembert.cli`` runs it.
"""

from __future__ import annotations

from alembert.cli.app import build_parser, main


__all__ = ["build_parser", "main"]
