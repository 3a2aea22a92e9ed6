"""The ``alembert`` parser and entry point: user errors are one line and exit code 2."""

from __future__ import annotations

import argparse
import errno
import logging
from collections.abc import Sequence

from rich.console import Console

from alembert import __version__
from alembert.cli import data, models, recipes, training
from alembert.errors import AlembertError


__all__ = ["build_parser", "main"]

_LIGHT_COMMANDS = frozenset({"recipes"})  # commands that import no heavy library


class _NoticeHandler(logging.Handler):
    """Prints the ``alembert`` logger's warnings and notes as one ``warning: …`` / ``note: …`` line on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        kind = "warning" if record.levelno >= logging.WARNING else "note"
        Console(stderr=True).print(f"{kind}: {record.getMessage()}", highlight=False, soft_wrap=True, markup=False)


def _show_notices() -> None:
    logger = logging.getLogger("alembert")
    if not any(isinstance(handler, _NoticeHandler) for handler in logger.handlers):
        logger.addHandler(_NoticeHandler(logging.INFO))
        logger.setLevel(logging.INFO)


def _quiet_libraries() -> None:
    """Silence the libraries' per-call bars and load reports: alembert shows its own progress."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``alembert`` command."""
    parser = argparse.ArgumentParser(
        prog="alembert",
        description="Distil BERT-family encoders: fine-tune a teacher, distil a student with a paper's recipe, "
        "evaluate, benchmark and export it. `alembert COMMAND --help` shows each command with an example.",
    )
    parser.add_argument("--version", action="version", version=f"alembert {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    for group in (training, models, data, recipes):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line and return exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in _LIGHT_COMMANDS:  # heavy libraries are imported by the commands that need them
        _quiet_libraries()
    _show_notices()
    if args.command == "finetune" and not args.config and not (args.model and args.data):
        parser.error("finetune needs --config, or --model, --task and --data (for a task of your own: --text-column "
                     "and --label-column instead of, or with, --task)")  # fmt: skip
    if args.command == "finetune" and not args.config and not (args.task or args.text_column):
        parser.error("finetune needs --config, or --model, --task and --data (for a task of your own: --text-column "
                     "and --label-column instead of, or with, --task)")  # fmt: skip
    if args.command == "glue" and not args.config and not (args.teacher and args.data):
        parser.error("glue needs --config, or --teacher and --data")
    try:
        args.func(args)
    except AlembertError as err:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {err}", highlight=False, soft_wrap=True)
        return err.exit_code
    except KeyboardInterrupt:  # runs say themselves whether there is a run to resume (errors.Interrupted)
        Console(stderr=True).print("interrupted", highlight=False)
        return 130
    except OSError as err:  # a full disk is the user's to fix, not a crash: one line, exit code 2
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        Console(stderr=True).print(f"[bold red]error:[/bold red] {err}", highlight=False, soft_wrap=True)
        return 2
    return 0
