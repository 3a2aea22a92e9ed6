"""Augment a task's training set on disk, once: the result is a task folder keyed by a fingerprint of its inputs.

The folder holds ``train.tsv`` in the task's own layout (each original example followed by its variants), copies
of the original dev/test files, and ``augment.json`` (inputs, counts, speed). The normal data loader reads it:
``data.train: <folder>``. A second call with the same inputs (data files, model files, word vectors, settings)
finds the folder and returns at once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForMaskedLM

from alembert.augment.core import augment_texts
from alembert.augment.vectors import WordVectors, resolve_vector_files
from alembert.config import DataConfig
from alembert.data.readers import Example, find_split_files
from alembert.data.sources import load_examples
from alembert.errors import ConfigError, ModelError
from alembert.models.load import check_model_source, load_tokenizer
from alembert.tasks.task import Task
from alembert.terminal import Phase


__all__ = ["AugmentResult", "augment_dataset", "augmented_data_config"]

_VERSION = 1
_CHUNK = 2048  # examples per augment_texts call (bounds memory; results do not depend on it)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentResult:
    """Where the augmented task folder is and what it took.

    Attributes:
        folder: the task folder (``train.tsv`` + dev/test copies + ``augment.json``).
        fingerprint: hash of every input; the folder name ends with its first 16 characters.
        original_examples: training examples read.
        examples: rows written (originals + variants).
        seconds: time spent augmenting (0 when reused).
        examples_per_second: original examples augmented per second.
        reused: the folder already existed for these inputs.
    """

    folder: Path
    fingerprint: str
    original_examples: int
    examples: int
    seconds: float
    examples_per_second: float
    reused: bool


def _digest(paths: list[Path], hasher: Any) -> None:
    for path in paths:
        if path.is_dir():
            _digest(sorted(p for p in path.iterdir() if p.is_file()), hasher)
            continue
        hasher.update(path.name.encode())
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                hasher.update(block)


def _fingerprint(data: DataConfig, task: Task, files: list[Path]) -> str:
    cfg = data.augment
    assert cfg is not None
    settings = {
        "version": _VERSION,
        "task": task.name,
        "max_length": data.max_length,
        "max_train_samples": data.max_train_samples,
        "text_columns": data.text_columns,
        "label_column": data.label_column,
        **cfg.model_dump(exclude={"batch_size", "cache_dir", "model", "word_vectors"}),
    }
    hasher = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    model = Path(cfg.model).expanduser()
    hasher.update(b"model")
    if model.is_dir():
        _digest([model], hasher)
    else:
        hasher.update(cfg.model.encode())
    hasher.update(b"vectors")
    if cfg.word_vectors is not None:
        _digest(resolve_vector_files(cfg.word_vectors), hasher)
    hasher.update(b"data")
    _digest(files, hasher)
    return hasher.hexdigest()


def _source_files(data: DataConfig, task: Task) -> tuple[Path, list[Path]]:
    """The training file and the dev/test files to copy along."""
    if data.format == "hub":
        raise ConfigError("data.augment: needs local data files (format: hub is not supported; export the split)")
    if data.train is None:
        raise ConfigError("data.train: augmentation needs a training file or GLUE task folder")
    train = Path(data.train)
    if train.is_dir():
        found = find_split_files(train, task, "train")
        if not found:
            raise ConfigError(f"data.train: no train file for task {task.name} in folder {train}")
        extra = [] if data.dev else find_split_files(train, task, "dev")
        extra += [] if data.test else find_split_files(train, task, "test")
        return found[0], extra
    return train, []


def _write_tsv(path: Path, examples: list[Example], task: Task, data: DataConfig) -> None:
    """The task's layout: header of text columns + label column; label names (or scores) as the reader expects."""
    header = [*(data.text_columns or task.text_fields), data.label_column or task.label_field]
    quoted = data.text_columns is not None  # the reader reads GLUE-layout TSV without quoting, others with it
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(
            handle,
            delimiter="\t",
            quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
            quotechar='"' if quoted else None,
            escapechar=None,
            lineterminator="\n",
        )
        writer.writerow(header)
        for example in examples:
            texts = [" ".join(text.split()) for text in example.texts]  # no tabs or newlines inside a field
            label = example.label if task.is_regression else task.labels[int(example.label)]
            writer.writerow([*texts, label])


def _load_model(path: str):
    check_model_source(path, what="data.augment.model")
    model, info = AutoModelForMaskedLM.from_pretrained(path, output_loading_info=True)
    encoder = f"{model.base_model_prefix}."
    if any(not key.startswith(encoder) for key in info["missing_keys"]):  # a head weight was not in the file
        raise ModelError(
            f"data.augment.model: '{path}' has no trained masked-LM head (its weights would be random); "
            "use a model saved with one, e.g. bert-base-uncased"
        )
    device = torch.accelerator.current_accelerator(check_available=True) or torch.device("cpu")
    return model.eval().to(device)


def augment_dataset(data: DataConfig, task: Task, output: str | Path | None = None) -> AugmentResult:
    """Augment the training set described by ``data`` (its ``augment`` section holds the settings).

    Args:
        data: the run's data section; ``data.augment`` must be set.
        task: the GLUE task (text fields, labels, layout).
        output: folder to write; default ``<augment.cache_dir>/<task>-<fingerprint[:16]>``.

    Returns:
        The folder and its statistics (``reused`` when it already existed for the same inputs).

    Raises:
        ConfigError: no augment section, hub data, or ``output`` holding another augmentation.
        ModelError: the model has no masked-LM head.
    """
    cfg = data.augment
    if cfg is None:
        raise ConfigError("data.augment: not set")
    train_file, extra = _source_files(data, task)
    fingerprint = _fingerprint(data, task, [train_file, *extra])
    folder = Path(output) if output is not None else Path(cfg.cache_dir) / f"{task.name}-{fingerprint[:16]}"
    done = folder / "augment.json"
    if done.is_file():
        record = json.loads(done.read_text())
        if record.get("fingerprint") != fingerprint:
            raise ConfigError(f"{folder} holds an augmentation of other inputs; choose another output folder")
        return AugmentResult(**{**record["result"], "folder": folder, "seconds": 0.0, "reused": True})
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder} exists and is not an augmented data folder; choose another output folder")
    examples = next(iter(load_examples(data.model_copy(update={"train": str(train_file)}), task, "train").values()))
    tokenizer = load_tokenizer(cfg.model)
    model = _load_model(cfg.model)
    vectors = (
        WordVectors.from_path(cfg.word_vectors)
        if cfg.word_vectors is not None
        else WordVectors.from_model(model.get_input_embeddings().weight, tokenizer)
    )
    max_length = min(2 * data.max_length + 3, int(model.config.max_position_embeddings), tokenizer.model_max_length)
    start = time.perf_counter()
    rows: list[Example] = []
    with Phase(f"augmenting {len(examples):,} training examples", total=len(examples)) as phase:
        for first in range(0, len(examples), _CHUNK):
            part = examples[first : first + _CHUNK]
            variants = augment_texts(
                [e.texts[0] for e in part],  # pair tasks: the first text is augmented, as in the reference code
                model,
                tokenizer,
                vectors=vectors,
                num_augmented=cfg.num_augmented,
                replace_prob=cfg.replace_prob,
                top_k=cfg.top_k,
                seed=cfg.seed,
                batch_size=cfg.batch_size,
                max_length=max_length,
                first_index=first,
            )
            for example, texts in zip(part, variants):
                rows.append(example)
                rows.extend(
                    Example((text, *example.texts[1:]), example.label, example.line, example.idx) for text in texts
                )
            phase.advance(len(part))
    seconds = time.perf_counter() - start
    result = AugmentResult(folder, fingerprint, len(examples), len(rows), seconds, len(examples) / seconds, False)
    _publish(folder, rows, extra, task, data, result)
    logger.info("augmented %d examples into %d rows in %.1fs: %s", len(examples), len(rows), seconds, folder)
    return result


def _publish(folder: Path, rows: list[Example], extra: list[Path], task, data, result: AugmentResult) -> None:
    """Write into a private temporary folder and rename it into place (a concurrent twin's result is kept)."""
    tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir(parents=True)
    try:
        _write_tsv(tmp / "train.tsv", rows, task, data)
        for path in extra:
            shutil.copyfile(path, tmp / path.name)
        record = {"fingerprint": result.fingerprint, "settings": data.augment.model_dump(), "result": asdict(result)}
        record["result"]["folder"] = str(folder)
        (tmp / "augment.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            folder.rmdir()  # empty (checked by the caller); a non-empty twin makes rename fail below
        os.replace(tmp, folder)
    except OSError:
        if not (folder / "augment.json").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def augmented_data_config(data: DataConfig, task: Task) -> DataConfig:
    """``data`` with its training set replaced by the augmented folder (created, or reused, here)."""
    result = augment_dataset(data, task)
    return data.model_copy(
        update={"train": str(result.folder), "format": "auto", "max_train_samples": None, "augment": None}
    )
