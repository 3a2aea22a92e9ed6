"""``alembert`` command line: each command is a thin call into the public API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rich.console import Console

from alembert.errors import AlembertError


__all__ = ["main"]


def _cmd_distill(args: argparse.Namespace) -> None:
    from alembert.pipeline import distill
    from alembert.recipes import load_recipe
    from alembert.report import RunReport, print_report

    overrides = list(args.set or [])
    if args.output:
        overrides.append(f"output_dir={args.output}")
    config = load_recipe(args.config, overrides)
    if args.dry_run:
        Console().print_json(json.dumps(config.model_dump(mode="json")))
        return
    result = distill(config, resume=args.resume)
    fields = {k: v for k, v in result.metrics.items() if k != "retention"}
    print_report(RunReport(**fields))
    Console().print(f"student saved to [bold]{result.student_dir}[/bold]; report: {result.output_dir / 'report.md'}")


def _cmd_finetune(args: argparse.Namespace) -> None:
    from alembert.config import FinetuneConfig
    from alembert.config_io import apply_overrides, load_config, parse_config
    from alembert.pipeline import finetune

    if args.config:
        config = load_config(FinetuneConfig, args.config, args.set or [])
    else:
        base = {
            "task": args.task,
            "model": {"path": args.model},
            "data": {"train": args.data},
            "output_dir": args.output or "runs/finetune",
        }
        config = parse_config(FinetuneConfig, apply_overrides(base, args.set or []), source="command line")
    result = finetune(config, resume=args.resume)
    Console().print(f"model saved to [bold]{result.student_dir}[/bold]; dev metrics: {result.metrics['metrics']}")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from alembert.evaluate import evaluate

    results = evaluate(args.model, args.task, args.data, args.output, batch_size=args.batch_size)
    Console().print_json(json.dumps(results))


def _cmd_recipes(args: argparse.Namespace) -> None:
    from alembert.recipes import copy_recipe, list_recipes, recipe_path, recipe_summary

    console = Console()
    if args.action == "list":
        for name in list_recipes():
            console.print(f"[bold]{name}[/bold]  {recipe_summary(name)}")
    elif args.action == "show":
        print(recipe_path(_need_name(args)).read_text(encoding="utf-8"), end="")
    else:
        console.print(f"copied to {copy_recipe(_need_name(args), args.destination or '.')}")


def _need_name(args: argparse.Namespace) -> str:
    if not args.name:
        raise AlembertError(f"recipes {args.action}: give a recipe name (see `alembert recipes list`)")
    return args.name


def _quiet_libraries() -> None:
    """alembert shows its own progress; silence the libraries' per-call bars and load reports."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``alembert`` command."""
    parser = argparse.ArgumentParser(prog="alembert", description="Distil BERT-family encoders.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("distill", help="distil a teacher into a student from a YAML config or recipe name")
    p.add_argument("config", help="YAML file or shipped recipe name (see `alembert recipes list`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--output", help="run folder (same as --set output_dir=...)")
    p.add_argument("--resume", action="store_true", help="continue the run in output_dir from its last checkpoint")
    p.add_argument("--dry-run", action="store_true", help="validate and print the resolved config, then stop")
    p.set_defaults(func=_cmd_distill)

    p = sub.add_parser("finetune", help="fine-tune a model (e.g. the teacher) on a GLUE task")
    p.add_argument("--config", help="YAML FinetuneConfig (instead of the flags below)")
    p.add_argument("--model", help="model folder or Hub name")
    p.add_argument("--task", help="GLUE task name, e.g. sst2")
    p.add_argument("--data", help="GLUE task folder or training file")
    p.add_argument("--output", help="run folder (the model goes to OUTPUT/model)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--resume", action="store_true")
    p.set_defaults(func=_cmd_finetune)

    p = sub.add_parser("evaluate", help="score a model on a task's dev set; write predictions + metrics JSON")
    p.add_argument("model")
    p.add_argument("--task", required=True)
    p.add_argument("--data", required=True, help="GLUE task folder or dev file")
    p.add_argument("--output", help="folder for metrics.json and predictions")
    p.add_argument("--batch-size", type=int, default=128)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("recipes", help="list, show or copy the shipped recipes")
    p.add_argument("action", choices=["list", "show", "copy"])
    p.add_argument("name", nargs="?")
    p.add_argument("destination", nargs="?")
    p.set_defaults(func=_cmd_recipes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line and return exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_libraries()
    if args.command == "finetune" and not args.config and not (args.model and args.task and args.data):
        parser.error("finetune needs --config, or --model, --task and --data")
    try:
        args.func(args)
    except AlembertError as err:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {err}", highlight=False, soft_wrap=True)
        return err.exit_code
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted; resume with --resume")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
