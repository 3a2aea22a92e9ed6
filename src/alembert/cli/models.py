"""``alembert evaluate``, ``bench``, ``export`` and ``report``: what is done with trained models and finished runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from alembert.cli.common import add_task_flags, command_parser, out, task_config, task_value
from alembert.errors import AlembertError


__all__ = ["register"]


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

    task = task_config(task_value(args, args.data), "evaluate", args.model)
    results = evaluate(args.model, task, args.data, args.output, batch_size=args.batch_size)
    console = out()
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
    console = out()
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
            task_config(task_value(args, args.data), "bench"),
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
    from alembert.run.export import export_model

    task = task_value(args, args.data)
    result = export_model(
        args.model,
        args.output,
        int8=args.int8,
        task=task_config(task, "export", args.model) if task is not None or args.data else None,
        data=args.data,
        exporter=args.exporter,
        choose_backend=args.choose_backend,
        max_eval_examples=args.max_examples,
    )
    console = out()
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
    out().print(f"report: [bold]{written['html']}[/bold] and {written['markdown']}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the commands of this module to the ``alembert`` parser."""
    p = command_parser(
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
    add_task_flags(p)
    p.set_defaults(func=_cmd_evaluate)
    p = command_parser(
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
    add_task_flags(p, name_flag="--dev-task")
    p.set_defaults(func=_cmd_bench)
    p = command_parser(
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
    add_task_flags(p)
    p.set_defaults(func=_cmd_export)
    p = command_parser(
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
