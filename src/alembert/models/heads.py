"""Task heads as checkpoints hold them: a head that was never trained, and classifier rows in another label order.

An MNLI classifier saved in the order of the original BERT and TinyBERT code (contradiction, entailment, neutral)
scores the same rows as this package's order (entailment, neutral, contradiction) only after its rows are
permuted; relabelling it instead (what ``from_pretrained(..., id2label=...)`` does) permutes its soft targets
without a word. A head that ``from_pretrained`` initialised at load time gives chance-level targets.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from alembert.errors import ModelError
from alembert.notices import note, warn
from alembert.tasks.task import Task


__all__ = ["align_label_order", "check_trained_head", "classifier_layer", "label_names"]

_GENERIC = re.compile(r"label_(\d+)")


def _normalise(name: object) -> str:
    text = str(name).strip().lower()
    generic = _GENERIC.fullmatch(text)
    return generic.group(1) if generic else text  # LABEL_1 is label "1" (binary GLUE tasks name labels 0/1)


def label_names(config: PretrainedConfig) -> list[str]:
    """The checkpoint's label names in output order (``id2label``; ``LABEL_k`` when it has none)."""
    id2label = {int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()}
    return [str(id2label.get(i, f"LABEL_{i}")) for i in range(int(config.num_labels))]


def check_trained_head(model: PreTrainedModel, missing: set[str], path: str, what: str, task: Task | None) -> None:
    """A model whose weights were partly initialised at load time cannot be a teacher or be evaluated.

    Raises:
        ModelError: naming the missing weights and the command that trains a head.
    """
    if task is None:  # general distillation reads hidden states or the MLM head, never the pooler
        missing = {name for name in missing if ".pooler." not in f".{name}"}
    if not missing:
        return
    prefix = f"{model.base_model_prefix}."
    names = sorted(missing, key=lambda name: (name.startswith(prefix), name))  # the head's weights first
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    head = any(not name.startswith(prefix) or ".pooler." in f".{name}" for name in names)
    if task is not None:
        fix = f"fine-tune it first: alembert finetune --model {path} --task {task.name} --data <task folder>"
    else:
        fix = "use a checkpoint saved with its masked-LM head (e.g. a pre-trained BERT)"
    kind = "no trained task head" if head and task is not None else "missing weights"
    raise ModelError(f"{what} '{path}' has {kind}: {shown} would be initialised at random; {fix}")


def classifier_layer(model: PreTrainedModel) -> nn.Linear:
    """The linear layer that outputs a sequence classifier's logits (``classifier``, ``classifier.out_proj``, …)."""
    prefix = model.base_model_prefix
    layers = [
        module
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
        and module.out_features == model.config.num_labels
        and name != prefix
        and not name.startswith(f"{prefix}.")
    ]
    if not layers:
        raise ModelError(f"{type(model).__name__}: no classifier layer with {model.config.num_labels} outputs found")
    return layers[-1]


def align_label_order(model: PreTrainedModel, saved: Any, task: Task, path: str, what: str) -> None:
    """Give ``model``'s classifier the task's label order, reordering its rows when the checkpoint's order differs.

    Same label names in another order: the rows are permuted and a note says so. Other or generic names
    (``LABEL_0`` for a task whose labels are words): the order cannot be checked; the task's order is assumed,
    with a warning (once per checkpoint).

    Args:
        model: loaded from ``path``, its head already sized for ``task``.
        saved: the checkpoint's own config (its ``id2label``).
        task: a classification task.
        path: the checkpoint (for messages).
        what: ``teacher``, ``model``, … (for messages).
    """
    names = label_names(saved)
    have = [_normalise(name) for name in names]
    wanted = [_normalise(label) for label in task.labels]
    named = [_normalise(name) for name in task.names]  # data values (SST-2: 0/1) or their names (negative/...)
    if sorted(have) == sorted(named) and sorted(have) != sorted(wanted):
        wanted = named
    if have != wanted and sorted(have) == sorted(wanted) and len(set(have)) == len(have):
        order = [have.index(label) for label in wanted]
        layer = classifier_layer(model)
        with torch.no_grad():
            layer.weight.copy_(layer.weight[order].clone())
            if layer.bias is not None:
                layer.bias.copy_(layer.bias[order].clone())
        note(
            f"{what} '{path}': its classifier orders the labels {', '.join(names)}; its rows were reordered to "
            f"{task.name}'s order {', '.join(task.labels)}"
        )
    elif have != wanted:
        warn(
            f"{what} '{path}' names its labels {names}, not {task.name}'s {list(task.labels)}: its outputs are taken "
            "in the task's order, unchecked (alembert evaluate shows whether it scores above chance)",
            once=f"labels:{path}",
        )
    model.config.id2label = dict(enumerate(task.names))  # the names, so that a pipeline answers with them
    model.config.label2id = {label: i for i, label in enumerate(task.names)}
