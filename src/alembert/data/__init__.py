"""Tasks, readers, tokenisation and batching."""

from alembert.data.batches import LengthGroupedSampler, build_eval_loader, build_train_loader
from alembert.data.glue import GLUE_TASKS, GlueTask, get_task
from alembert.data.readers import Example, read_examples, read_text_corpus
from alembert.data.sources import TaskData, load_examples, load_mlm_data, load_task_data


__all__ = [
    "GLUE_TASKS",
    "Example",
    "GlueTask",
    "LengthGroupedSampler",
    "TaskData",
    "build_eval_loader",
    "build_train_loader",
    "get_task",
    "load_examples",
    "load_mlm_data",
    "load_task_data",
    "read_examples",
    "read_text_corpus",
]
