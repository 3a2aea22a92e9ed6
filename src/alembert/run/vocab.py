"""A run whose student has a vocabulary of its own (``student.tokenizer``) or compares word states (``@words``):
its tokenizer, and the training set tokenised by both models' tokenizers (:mod:`alembert.data.paired`)."""

from __future__ import annotations

from pathlib import Path

import datasets
from transformers import PreTrainedTokenizerBase

from alembert.config import WORD_REPRESENTATIONS, DistillConfig
from alembert.data.paired import tokenize_paired
from alembert.data.readers import read_text_corpus
from alembert.data.sources import load_examples, sentence_file
from alembert.errors import ConfigError
from alembert.models.vocab import make_student_tokenizer
from alembert.tasks.glue import GlueTask


__all__ = ["STUDENT_TOKENIZER_DIR", "needs_paired_data", "student_vocabulary", "training_texts"]

STUDENT_TOKENIZER_DIR = "student-tokenizer"


def needs_paired_data(config: DistillConfig) -> bool:
    """Whether each example must be tokenised for both models: an own student vocabulary, or word matches."""
    words = any(m.representation in WORD_REPRESENTATIONS for stage in config.stages for m in stage.matches)
    return config.student.tokenizer is not None or words


def training_texts(
    config: DistillConfig, task: GlueTask | None
) -> tuple[list[tuple[str, ...]], list[int | float] | None]:
    """The raw training examples (one or two texts each) and their labels (``None`` for task embedding)."""
    if task is not None:
        parts = load_examples(config.data, task, "train")
        examples = next(iter(parts.values()), [])
        labels = [float(e.label) if task.is_regression else int(e.label) for e in examples]
        return [e.texts for e in examples], labels
    if config.task != "embedding":
        raise ConfigError(f"student.tokenizer / @words matches: not available for task {config.task}")
    text_column = config.data.text_columns[0] if config.data.text_columns else "text"
    texts = read_text_corpus(sentence_file(config.data.train), text_column=text_column)
    if config.data.max_train_samples:
        texts = texts[: config.data.max_train_samples]
    return [(text,) for text in texts], None


def student_vocabulary(
    config: DistillConfig, task: GlueTask | None, teacher_tokenizer: PreTrainedTokenizerBase, output_dir: Path
) -> tuple[PreTrainedTokenizerBase | None, datasets.Dataset | None]:
    """The student's tokenizer and the paired training set, or ``(None, None)`` when one tokenisation serves both.

    A vocabulary trained here is kept in ``<output_dir>/student-tokenizer`` (and reused by ``--resume``).
    """
    if not needs_paired_data(config):
        return None, None
    texts, labels = training_texts(config, task)
    student_tokenizer = teacher_tokenizer
    if config.student.tokenizer is not None:
        flat = [text for example in texts for text in example]
        folder = output_dir / STUDENT_TOKENIZER_DIR
        student_tokenizer = make_student_tokenizer(config.student.tokenizer, teacher_tokenizer, flat, folder)
    paired = tokenize_paired(texts, labels, teacher_tokenizer, student_tokenizer, max_length=config.data.max_length)
    return student_tokenizer, paired
