"""What the commands share: the console, the parser helpers and the task flags."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from alembert.errors import AlembertError


__all__ = [
    "ALLOW_HELP",
    "add_task_flags",
    "allowed_changes",
    "command_parser",
    "out",
    "task_config",
    "task_name_from",
    "task_value",
]

ALLOW_HELP = "with --resume: optimiser settings that may differ, e.g. train.learning_rate (comma-separated)"


def out() -> Console:
    """Standard output: lines are never wrapped or cut; tables are laid out for 160 columns in a log file."""
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def task_name_from(data: str | None) -> str:
    """A task name from its data path: the folder (``imdb`` for ``imdb/train.jsonl``), else the file's stem."""
    path = Path(data or "task")
    name = path.name if path.is_dir() else path.stem
    while name.lower() in ("train", "dev", "test", "validation", "data", "sample") and path.parent.name:
        path = path.parent
        name = path.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-._").lower() or "task"


def task_value(args: argparse.Namespace, data: str | None) -> str | dict[str, Any] | None:
    """``--task`` alone: a GLUE name. With ``--text-column`` (and the other column flags): a task of one's own."""
    own = args.text_column or args.label_column or args.labels or args.regression or args.metric
    if not own:
        return args.task
    if not args.text_column:
        raise AlembertError("a task of your own needs --text-column (and --label-column unless it is 'label')")
    spec: dict[str, Any] = {"name": args.task or task_name_from(data), "text_columns": list(args.text_column)}
    if args.label_column:
        spec["label_column"] = args.label_column
    if args.labels:
        spec["labels"] = [label.strip() for label in args.labels.split(",")]
    if args.regression:
        spec["regression"] = True
    if args.metric:
        spec["metrics"] = list(args.metric)
    return spec


def task_config(value: str | dict[str, Any] | None, command: str, model: str | None = None):
    """The task flags as a config value; without flags, the task the model's run recorded (if any)."""
    from alembert.config import TaskConfig
    from alembert.config.io import parse_config
    from alembert.tasks.resolve import recorded_task

    if value is None and model is not None:
        value = recorded_task(model)
    if value is None:
        raise AlembertError(f"{command}: give --task (a GLUE task) or --text-column/--label-column (your own task)")
    if isinstance(value, dict):
        return parse_config(TaskConfig, value, source="command line")
    return value


def allowed_changes(args: argparse.Namespace) -> list[str]:
    """The keys given with ``--allow-changes`` (repeatable, comma-separated)."""
    return [key.strip() for item in args.allow_changes or [] for key in item.split(",") if key.strip()]


def add_task_flags(p: argparse.ArgumentParser, *, name_flag: str = "--task", required: bool = False) -> None:
    """``--task`` (a GLUE name) and the flags that describe a task of one's own instead (docs/your-own-task.md)."""
    p.add_argument(
        name_flag, dest="task", required=required, help="GLUE task (sst2, mnli, ...), or the name of your own task"
    )
    own = p.add_argument_group("a task of your own (instead of a GLUE task; see docs/your-own-task.md)")
    own.add_argument("--text-column", action="append", metavar="COLUMN", help="text column (twice for pairs)")
    own.add_argument("--label-column", metavar="COLUMN", help="label column (default: label)")
    own.add_argument("--labels", help="comma-separated label values in output order (default: the sorted set seen "
                     "in training, or the model's id2label)")  # fmt: skip
    own.add_argument("--regression", action="store_true", help="numeric labels, one output (like STS-B)")
    own.add_argument("--metric", action="append", help="accuracy, f1, f1_macro, matthews_correlation, pearson, "
                     "spearman (repeatable; the first selects the best checkpoint)")  # fmt: skip


def command_parser(
    sub: argparse._SubParsersAction, name: str, summary: str, description: str, example: str
) -> argparse.ArgumentParser:
    """A sub-command's parser whose help ends with an example."""
    return sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog="example:\n  " + example.replace("\n", "\n  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
