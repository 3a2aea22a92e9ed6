"""Resolve a run's ``data`` section into tokenised train/dev/test datasets (validated before training)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import datasets
from transformers import PreTrainedTokenizerBase

from alembert.config import DataConfig
from alembert.data.batches import tokenize_examples, tokenize_texts
from alembert.data.readers import Example, find_split_files, read_examples, read_text_corpus, rows_from_records
from alembert.data.streaming import TextBlockStream, find_stream_files
from alembert.errors import DataError
from alembert.tasks.task import Task, infer_labels


__all__ = [
    "TaskData",
    "load_examples",
    "load_mlm_data",
    "load_sentence_data",
    "load_task_data",
    "sentence_file",
    "task_with_training_labels",
]


@dataclass
class TaskData:
    """Tokenised splits of one task.

    Attributes:
        train: training set (``None`` for evaluation-only use; a stream for ``data.streaming``).
        dev: dev sets by name (``dev``; MNLI: ``dev_matched`` and ``dev_mismatched``).
        test: unlabelled test sets by name.
        task: the task with its labels known (read from the training data when the task did not list them).
    """

    train: datasets.Dataset | TextBlockStream | None
    dev: dict[str, datasets.Dataset] = field(default_factory=dict)
    test: dict[str, datasets.Dataset] = field(default_factory=dict)
    task: Task | None = None


def _split_paths(cfg: DataConfig, task: Task, split: str) -> list[Path]:
    explicit = getattr(cfg, split)
    if explicit is not None:
        path = Path(explicit)
        if path.is_dir():
            found = find_split_files(path, task, split)
            if not found and split != "test":
                raise DataError(f"data.{split}: no {split} file for task {task.name} in folder {path}")
            return found
        if not path.exists():
            raise DataError(f"data.{split}: '{path}' not found")
        return [path]
    if split != "train" and cfg.train is not None and Path(cfg.train).is_dir():
        return find_split_files(Path(cfg.train), task, split)
    return []


def _hub_splits(cfg: DataConfig, task: Task, split: str) -> tuple[list[str], bool]:
    """The Hub split names of ``split`` and whether the user named them (``data.dev: test`` with format hub)."""
    named = getattr(cfg, split)
    if named is not None:
        return [str(named)], True
    if task.name == "mnli" and split != "train":
        return [f"{'validation' if split == 'dev' else 'test'}_{kind}" for kind in ("matched", "mismatched")], False
    return [{"train": "train", "dev": "validation", "test": "test"}[split]], False


def _hub_examples(cfg: DataConfig, task: Task, split: str) -> tuple[Task, dict[str, list[Example]]]:
    """Rows of a ``datasets`` Hub dataset; a ClassLabel column gives the label names (and, if the task lists no
    labels, their order)."""
    name = cfg.hub_name or task.hub_name[0]
    if not name:
        raise DataError(f"data.hub_name: format hub needs a dataset name (task {task.name} has no Hub default)")
    config = cfg.hub_config or task.hub_name[1] or None
    try:
        splits = datasets.load_dataset(name, config)
    except Exception as err:  # the Hub raises many types; report one line
        raise DataError(f"data.hub_name: cannot load '{name}' ({config}): {str(err).splitlines()[0]}") from None
    parts, named = _hub_splits(cfg, task, split)
    missing = [part for part in parts if part not in splits]
    if missing and (named or split == "train"):
        raise DataError(f"data.{split}: '{name}' has no split {missing[0]!r}; it has {list(splits)}")
    result = {}
    for part in [p for p in parts if p in splits]:
        table = splits[part]
        label_key = cfg.label_column or task.label_field
        feature = table.features.get(label_key)
        class_names = list(getattr(feature, "names", None) or [])
        if class_names and task.folder is None and not task.resolved:
            task = task.with_labels(class_names, f"from the ClassLabel of '{name}'")
        limit = cfg.max_train_samples if split == "train" else cfg.max_eval_samples
        records = []
        for i, row in enumerate(table.select(range(min(limit, len(table)))) if limit else table):
            if class_names and isinstance(row.get(label_key), int):  # -1: an unlabelled (test) row
                row = {**row, label_key: class_names[row[label_key]] if row[label_key] >= 0 else None}
            records.append((i + 1, row))
        result[part] = rows_from_records(
            records, task, f"{name}:{part}", cfg.text_columns, cfg.label_column, split != "test"
        )
    return task, result


def _read_split(cfg: DataConfig, task: Task, split: str) -> tuple[Task, dict[str, list[Example]]]:
    if cfg.format == "hub":
        return _hub_examples(cfg, task, split)
    result = {}
    for path in _split_paths(cfg, task, split):
        examples = read_examples(
            path,
            task,
            file_format=cfg.format,
            text_columns=cfg.text_columns,
            label_column=cfg.label_column,
            require_labels=split != "test",
        )
        limit = cfg.max_train_samples if split == "train" else cfg.max_eval_samples
        result[path.stem] = examples[:limit] if limit else examples
    return task, result


def load_examples(cfg: DataConfig, task: Task, split: str) -> dict[str, list[Example]]:
    """Read and validate the examples of one split, keyed by file stem (``dev``, ``dev_matched`` …).

    While ``task`` lists no labels, class labels stay text (see :func:`load_task_data`).
    """
    return _read_split(cfg, task, split)[1]


def _label_training_set(task: Task, parts: dict[str, list[Example]], source: str) -> tuple[Task, list[Example]]:
    """The task with the sorted set of training labels, and the training examples with class ids."""
    examples = next(iter(parts.values()))
    if not task.resolved:
        task = task.with_labels(infer_labels(str(e.label) for e in examples), f"read from the training data {source}")
    if not task.is_regression and all(isinstance(e.label, str) for e in examples):
        examples = [replace(e, label=task.labels.index(e.label)) for e in examples]  # type: ignore[union-attr]
    return task, examples


def task_with_training_labels(cfg: DataConfig, task: Task) -> Task:
    """``task`` with its labels known: as listed, else the sorted set of labels in the training data.

    Raises:
        DataError: no training data to read them from, or fewer than two labels in it.
    """
    if task.resolved:
        return task
    task, parts = _read_split(cfg, task, "train")
    if not parts:
        raise DataError(f"task {task.name}: its labels are read from the training data, but there is none; list them")
    return _label_training_set(task, parts, str(cfg.train))[0]


def load_task_data(
    cfg: DataConfig, task: Task, tokenizer: PreTrainedTokenizerBase, *, need_train: bool = True
) -> TaskData:
    """Read, validate and tokenise the task's splits.

    A task that lists no labels takes the sorted set of labels seen in the training data (or, without training
    data, fails: give the task, or a model's ``id2label``, its labels first). ``TaskData.task`` has them.

    Raises:
        DataError: a missing file, a bad row (``file:line``), an empty split, a one-class training set, or a dev
            label that training never saw, before any training.
    """
    task, train_parts = _read_split(cfg, task, "train") if need_train else (task, {})
    if need_train and not train_parts:
        raise DataError("data.train: no training data given (a task folder or a file)")
    train_examples = None
    if train_parts:
        task, train_examples = _label_training_set(task, train_parts, str(cfg.train or cfg.hub_name))
    elif not task.resolved:
        raise DataError(
            f"task {task.name}: its labels are read from the training data, but there is none here; list them in "
            "the task (labels: [...]) or use a model that records them (id2label)"
        )
    task, dev_parts = _read_split(cfg, task, "dev")
    task, test_parts = _read_split(cfg, task, "test")

    def encode(examples: list[Example]) -> datasets.Dataset:
        return tokenize_examples(examples, tokenizer, max_length=cfg.max_length, regression=task.is_regression)

    return TaskData(
        train=encode(train_examples) if train_examples is not None else None,
        dev={name: encode(examples) for name, examples in dev_parts.items()},
        test={name: encode(examples) for name, examples in test_parts.items()},
        task=task,
    )


def load_mlm_data(cfg: DataConfig, tokenizer: PreTrainedTokenizerBase) -> TaskData:
    """Unlabelled text for general distillation (``task: mlm``); ``data.dev`` is an optional held-out text file.

    With ``data.streaming`` the training set is a :class:`~alembert.data.streaming.TextBlockStream` (read lazily);
    its first block is read here, so an empty or unreadable corpus fails before any training.
    """
    if cfg.streaming:
        train: datasets.Dataset | TextBlockStream = _text_stream(cfg, tokenizer)
    else:
        if cfg.train is None:
            raise DataError("data.train: general distillation needs a text corpus file")
        texts = read_text_corpus(cfg.train)
        if cfg.max_train_samples:
            texts = texts[: cfg.max_train_samples]
        train = tokenize_texts(texts, tokenizer, max_length=cfg.max_length)
    dev = {}
    if cfg.dev is not None:
        dev_texts = read_text_corpus(cfg.dev)[: cfg.max_eval_samples or None]
        dev["dev"] = tokenize_texts(dev_texts, tokenizer, max_length=cfg.max_length)
    return TaskData(train=train, dev=dev)


def _text_stream(cfg: DataConfig, tokenizer: PreTrainedTokenizerBase) -> TextBlockStream:
    if cfg.max_train_samples:
        raise DataError("data.max_train_samples: a stream has no sample count; bound training with train.max_steps")
    text_column = cfg.text_columns[0] if cfg.text_columns else "text"
    if cfg.format == "hub":
        if not cfg.hub_name:
            raise DataError("data.hub_name: format hub needs a dataset name to stream")
        hub = (cfg.hub_name, cfg.hub_config)
        stream = TextBlockStream([], tokenizer, max_length=cfg.max_length, text_column=text_column, hub=hub)
    else:
        files = find_stream_files(cfg.train, cfg.format)
        stream = TextBlockStream(
            files, tokenizer, max_length=cfg.max_length, file_format=cfg.format, text_column=text_column
        )
    next(iter(stream))  # fails now on an empty, unreadable or malformed corpus
    return stream


def sentence_file(path: str | Path, format: str = "auto") -> Path:
    """The file of unlabelled sentences behind ``data.train``: the file itself, or a corpus builder's folder
    (its ``corpus.jsonl``).

    Raises:
        DataError: a missing file, or a folder without ``corpus.jsonl``.
    """
    path = Path(path)
    if path.is_dir():
        corpus = path / "corpus.jsonl"
        if not corpus.is_file():
            raise DataError(f"data.train: folder {path} has no corpus.jsonl (alembert corpus output); give a file")
        return corpus
    if not path.is_file():
        raise DataError(f"data.train: '{path}' not found")
    return path


def load_sentence_data(cfg: DataConfig, tokenizer: PreTrainedTokenizerBase) -> TaskData:
    """Unlabelled sentences for embedding distillation (``task: embedding``): one per line of a text file, the
    ``text`` field (or ``data.text_columns[0]``) of a JSONL/parquet file, or a corpus builder's folder."""
    if cfg.train is None:
        raise DataError(
            "data.train: embedding distillation needs a file of sentences (text, JSONL or a corpus folder)"
        )
    text_column = cfg.text_columns[0] if cfg.text_columns else "text"
    texts = read_text_corpus(sentence_file(cfg.train), text_column=text_column)
    if cfg.max_train_samples:
        texts = texts[: cfg.max_train_samples]
    train = tokenize_texts(texts, tokenizer, max_length=cfg.max_length)
    inputs = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in train.column_names]
    return TaskData(train=train.with_format(None, columns=inputs))
