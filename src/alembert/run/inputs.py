"""A run's inputs, checked before any weights load: the task, the teacher's config and tokenizer, the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
from transformers import PreTrainedTokenizerBase

from alembert.config import TEXT_TASKS, DistillConfig
from alembert.data.sources import (
    TaskData,
    load_mlm_data,
    load_sentence_data,
    load_task_data,
    task_with_training_labels,
)
from alembert.errors import ConfigError, ModelError
from alembert.models.load import check_model_source, load_tokenizer
from alembert.tasks.resolve import resolve_task
from alembert.tasks.task import Task, labels_from_model
from alembert.terminal import Phase


__all__ = ["check_max_length", "check_vocab", "load_inputs"]


def check_vocab(
    teacher_tokenizer: PreTrainedTokenizerBase, student_path: str | None, teacher_vocab: int, student_vocab: int
) -> None:
    """Teacher and student must share one vocabulary (and, for a saved student, one tokenizer)."""
    if student_vocab != teacher_vocab:
        raise ModelError(
            f"teacher and student vocabularies differ (teacher {teacher_vocab} tokens, student {student_vocab}); "
            "distillation needs a shared tokenizer"
        )
    if student_path is not None and Path(student_path, "tokenizer_config.json").is_file():
        student_tokenizer = load_tokenizer(student_path)
        if student_tokenizer.get_vocab() != teacher_tokenizer.get_vocab():
            raise ModelError(f"student tokenizer at {student_path} differs from the teacher's; use the same vocab")


def load_inputs(
    config: DistillConfig, *, augment: bool = True
) -> tuple[Task | None, Any, PreTrainedTokenizerBase, TaskData]:
    """The task, the teacher's config, its tokenizer and the tokenised data, checked before any weights load.

    Args:
        config: the run config.
        augment: make (or reuse) the TinyBERT-augmented training set when ``data.augment`` is set; ``False``
            reads the original training set (``--dry-run``).

    A task that lists no labels takes the teacher's (its ``id2label``, as fine-tuning recorded them), else the
    sorted set of labels in the training data.
    """
    task = None if config.task in TEXT_TASKS else resolve_task(config.task)
    teacher_config = check_model_source(config.teacher.path, what="teacher", revision=config.teacher.revision)
    if task is not None:
        task = labels_from_model(task, getattr(teacher_config, "id2label", None), what="teacher")
    if config.student.path is not None:
        check_model_source(config.student.path, what="student")
    check_max_length(config.data.max_length, teacher_config)
    tokenizer = load_tokenizer(config.teacher.path, revision=config.teacher.revision)
    data_config = config.data
    if augment and task is not None and data_config.augment is not None:  # TinyBERT augmentation, made once and reused
        task = task_with_training_labels(data_config, task)
        from alembert.augment.dataset import augmented_data_config  # the augmenter only for runs that augment

        data_config = augmented_data_config(data_config, task)
    with Phase("reading and tokenising the data"):
        if config.task == "embedding":
            data = load_sentence_data(data_config, tokenizer)
        elif task is None:
            data = load_mlm_data(data_config, tokenizer)
        else:
            data = load_task_data(data_config, task, tokenizer)
            task = data.task or task
    if data.train is None or (isinstance(data.train, datasets.Dataset) and len(data.train) == 0):
        raise ConfigError("data.train: the training set is empty")
    return task, teacher_config, tokenizer, data


def check_max_length(max_length: int, model_config: Any) -> None:
    """Tokens past the position embeddings would fail deep in the first forward pass; say so now."""
    positions = getattr(model_config, "max_position_embeddings", None)
    if positions is None:
        return
    offset = model_config.pad_token_id + 1 if model_config.model_type in ("roberta", "xlm-roberta", "mpnet") else 0
    if max_length > positions - offset:
        raise ConfigError(
            f"data.max_length {max_length} exceeds the teacher's {positions - offset} position embeddings; "
            f"set data.max_length <= {positions - offset}"
        )
