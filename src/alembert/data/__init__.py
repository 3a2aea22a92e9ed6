"""Readers, tokenisation, batching, text streams and the general-distillation corpus."""

from alembert.data.batches import LengthGroupedSampler, build_eval_loader, build_train_loader
from alembert.data.readers import Example, read_examples, read_text_corpus
from alembert.data.sources import TaskData, load_examples, load_mlm_data, load_task_data


__all__ = [
    "Example",
    "LengthGroupedSampler",
    "TaskData",
    "build_eval_loader",
    "build_train_loader",
    "load_examples",
    "load_mlm_data",
    "load_task_data",
    "read_examples",
    "read_text_corpus",
]
