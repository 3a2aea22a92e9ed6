"""``alembert distill``, ``finetune`` and ``glue``: training runs, each a thin call into :mod:`alembert.run`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from alembert.cli.common import ALLOW_HELP, add_task_flags, allowed_changes, command_parser, out, task_value


__all__ = ["register"]


def _cmd_distill(args: argparse.Namespace) -> None:
    from alembert.config.recipes import load_recipe
    from alembert.report.summary import RunReport, print_report
    from alembert.run.distill import distill
    from alembert.run.preflight import preflight

    overrides = list(args.set or [])
    if args.output:
        overrides.append(f"output_dir={args.output}")
    config = load_recipe(args.config, overrides)
    task = task_value(args, config.data.train)
    if task is not None:  # the flags replace the recipe's task
        config = load_recipe(args.config, [*overrides, f"task={json.dumps(task)}"])
    if args.dry_run:
        import yaml

        from alembert.run.dry_run import describe_run

        preflight(config)  # the teacher, the data paths and the task exist: a placeholder path fails here
        plan = describe_run(config)
        print(yaml.safe_dump({"config": config.model_dump(mode="json"), "plan": plan}, sort_keys=False), end="")
        return
    result = distill(config, resume=args.resume, allow_changes=allowed_changes(args))
    fields = {k: v for k, v in result.metrics.items() if k != "retention"}
    console = out()
    print_report(RunReport(**fields), console)
    console.print(f"student saved to [bold]{result.student_dir}[/bold]; report: {result.output_dir / 'report.html'}")


def _cmd_finetune(args: argparse.Namespace) -> None:
    from alembert.config import FinetuneConfig
    from alembert.config.io import apply_overrides, load_config, parse_config
    from alembert.report.tables import scores_table
    from alembert.run.finetune import finetune

    if args.config:
        config = load_config(FinetuneConfig, args.config, args.set or [])
    else:
        base = {
            "task": task_value(args, args.data),
            "model": {"path": args.model},
            "data": {"train": args.data},
            "output_dir": args.output or "runs/finetune",
        }
        config = parse_config(FinetuneConfig, apply_overrides(base, args.set or []), source="command line")
    result = finetune(config, resume=args.resume, allow_changes=allowed_changes(args))
    summary = result.metrics
    title = f"fine-tuned {Path(config.model.path).name} on {summary['task']}"
    console = out()
    console.print(scores_table(title, {"dev": summary["metrics"]}))
    labels = summary["task_spec"]["label_names"]
    console.print(f"model saved to [bold]{result.student_dir}[/bold]" + (f"; labels {labels}" if labels else ""))


def _cmd_glue(args: argparse.Namespace) -> None:
    from alembert.config.io import apply_overrides, load_config, parse_config
    from alembert.report.tables import glue_table
    from alembert.run.suite import GlueSuiteConfig, run_glue_suite
    from alembert.terminal import say

    if args.config:
        config = load_config(GlueSuiteConfig, args.config, args.set or [])
    else:
        base: dict = {"teacher": args.teacher, "data_root": args.data, "tasks": args.tasks.split(",")}
        base["recipes"] = args.recipes.split(",")
        base["output_dir"] = args.output or "runs/glue"
        if args.seeds:
            base["seeds"] = [int(s) for s in args.seeds.split(",")]
        if args.max_train_samples:
            base["max_train_samples"] = args.max_train_samples
        base["finetune"] = list(args.finetune_set or [])
        base["distill"] = list(args.distill_set or [])
        config = parse_config(GlueSuiteConfig, apply_overrides(base, args.set or []), source="command line")
    rows = args.rows.split(",") if args.rows else None
    result = run_glue_suite(config, rows=rows, say=say)
    console = out()
    labels = dict.fromkeys(k for entry in result.scores.values() for k in entry if k not in ("metric", "teacher"))
    console.print(glue_table(result.scores, list(labels)))
    console.print(f"table: [bold]{result.files['markdown']}[/bold]; report: {result.files['html']}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the commands of this module to the ``alembert`` parser."""
    p = command_parser(
        sub,
        "distill",
        "distil a teacher into a student from a YAML config or recipe name",
        "Distil a fine-tuned teacher into a smaller student with a recipe (a YAML list of matched representations, "
        "losses and weights). The run folder gets the student (with a model card), metrics.json, report.md and "
        "report.html. --dry-run checks the config, the teacher, the task and the data paths, and prints the "
        "resolved YAML.",
        "alembert distill distilbert-task --set teacher.path=runs/teacher/model --set data.train=data/SST-2 "
        "--output runs/student\nalembert distill distilbert-task --set teacher.path=runs/imdb-teacher/model "
        "--set data.train=imdb/train.jsonl --set data.dev=imdb/test.jsonl --text-column text --label-column label",
    )
    p.add_argument("config", help="YAML file or shipped recipe name (see `alembert recipes list`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--output", help="run folder (same as --set output_dir=...)")
    p.add_argument("--resume", action="store_true", help="continue the run in output_dir from its last checkpoint")
    p.add_argument("--allow-changes", action="append", metavar="KEYS", help=ALLOW_HELP)
    p.add_argument("--dry-run", action="store_true", help="check the inputs and print the resolved config as YAML")
    add_task_flags(p)
    p.set_defaults(func=_cmd_distill)
    p = command_parser(
        sub,
        "finetune",
        "fine-tune a model (e.g. the teacher) on a GLUE task or a task of your own",
        "Fine-tune a pre-trained encoder on a task with alembert's training loop; the best dev checkpoint is kept "
        "in OUTPUT/model (with its labels in id2label and a model card). It is typically the teacher of a later "
        "`alembert distill`.",
        "alembert finetune --model bert-base-uncased --task sst2 --data data/SST-2 --output runs/teacher\n"
        "alembert finetune --model MODEL --data imdb/train.jsonl --set data.dev=imdb/test.jsonl --text-column text "
        "--label-column label --output runs/imdb-teacher",
    )
    p.add_argument("--config", help="YAML FinetuneConfig (instead of the flags below)")
    p.add_argument("--model", help="model folder or Hub name")
    p.add_argument("--data", help="task folder or training file (tsv, csv, json, jsonl, parquet)")
    p.add_argument("--output", help="run folder (the model goes to OUTPUT/model)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in output_dir from its last checkpoint")
    p.add_argument("--allow-changes", action="append", metavar="KEYS", help=ALLOW_HELP)
    add_task_flags(p)
    p.set_defaults(func=_cmd_finetune)
    p = command_parser(
        sub,
        "glue",
        "fine-tune the teacher per GLUE task, distil each recipe, write the GLUE table",
        "The GLUE table from one command: fine-tune the teacher on every task, distil each recipe once per seed, "
        "and write glue.md, glue.json and report.html. Rerun to continue an interrupted suite.",
        "alembert glue --teacher bert-base-uncased --data data/glue --tasks sst2,mrpc --recipes distilbert-task",
    )
    p.add_argument("--config", help="YAML GlueSuiteConfig (instead of the flags below)")
    p.add_argument("--teacher", help="pre-trained model folder or Hub name, fine-tuned on each task")
    p.add_argument("--data", help="folder holding the GLUE task folders (CoLA/, SST-2/, ...)")
    p.add_argument("--tasks", default="cola,sst2,mrpc,stsb,rte,wnli", help="comma-separated task names")
    p.add_argument("--recipes", default="distilbert-task", help="comma-separated recipe names or YAML files")
    p.add_argument("--seeds", help="comma-separated seeds; the table shows the median (default 42)")
    p.add_argument("--max-train-samples", type=int, help="cap each task's training rows")
    p.add_argument("--finetune-set", action="append", metavar="KEY=VALUE", help="override for every fine-tuning")
    p.add_argument("--distill-set", action="append", metavar="KEY=VALUE", help="override for every student run")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a suite key (e.g. teachers.sst2=…)")
    p.add_argument("--output", help="suite folder (default runs/glue); rerun to continue an interrupted suite")
    p.add_argument("--rows", help="comma-separated row names: run only these (several processes can share a suite)")
    p.set_defaults(func=_cmd_glue)
