"""``--dry-run``: what a distillation run will do, resolved and checked, without training anything.

The teacher's config and tokenizer are read (not its weights), the data is read and tokenised (not augmented), the
student's shape is planned and built on the meta device to count its parameters, and every stage is resolved
exactly as the run would resolve it: the layer map of every match, the steps and the training tokens.
"""

from __future__ import annotations

import math
from typing import Any

import datasets
import torch
from transformers import AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

from alembert.config import DistillConfig
from alembert.models.load import load_tokenizer, num_layers
from alembert.objective.matches import resolve_matches
from alembert.objective.progressive import expand_progressive
from alembert.run.assistants import planned_student_config
from alembert.run.inputs import load_inputs
from alembert.run.stages import check_task_losses


__all__ = ["describe_run"]


def describe_run(config: DistillConfig) -> dict[str, Any]:
    """The run as it would go: teacher, student shape and parameters, data, and per stage its steps, tokens and
    resolved matches (``teacher layer -> student layer``, loss, weight, projection).

    Raises:
        AlembertError: whatever the run itself would refuse before training (a missing teacher or data file,
            an unknown layer, a loss that does not fit the task...).
    """
    task, teacher_config, _tokenizer, data = load_inputs(config, augment=False)
    check_task_losses(config.stages, task)
    student_config = planned_student_config(teacher_config, config.student, "student")
    own = config.student.tokenizer
    if own is not None:  # a vocabulary of its own: a trained one has at most vocab_size tokens
        student_config.vocab_size = own.vocab_size or len(load_tokenizer(own.path))
    stages = expand_progressive(config.stages, num_layers(student_config))
    rows, tokens = _data_size(data.train)
    description: dict[str, Any] = {
        "teacher": {"path": config.teacher.path, **_shape(teacher_config)},
        "student": {
            "init": _init(config),
            **_shape(student_config),
            "parameters": _parameters(student_config, config.task),
        },
        "data": {"train": config.data.train, "examples": rows, "tokens": tokens, "max_length": config.data.max_length},
        "stages": [],
    }
    if config.data.augment is not None:
        description["data"]["augment"] = f"N_a={config.data.augment.num_augmented} variants per example (made first)"
    for stage in stages:
        train = stage.train_config(config.train)
        matches = resolve_matches(stage, teacher_config, student_config, has_mlm_labels=config.task == "mlm")
        steps = train.max_steps or math.ceil(
            train.epochs * math.ceil((rows or 0) / train.batch_size) / train.gradient_accumulation_steps
        )
        seen = steps * train.batch_size * train.gradient_accumulation_steps
        description["stages"].append(
            {
                "name": stage.name,
                "steps": steps,
                "examples": seen,
                "tokens": round(seen * tokens / rows) if rows else seen * config.data.max_length,
                "learning_rate": train.learning_rate,
                "batch_size": train.batch_size,
                "task_loss_weight": stage.task_loss_weight,
                "matches": [_match(m) for m in matches],
            }
        )
    return description


def _data_size(train: Any) -> tuple[int | None, int | None]:
    if isinstance(train, datasets.Dataset):
        lengths = train.with_format(None)["length"] if "length" in train.column_names else None
        if lengths is None:
            lengths = [len(ids) for ids in train.with_format(None)["input_ids"]]
        return len(lengths), int(sum(lengths))
    return None, None  # a stream: bounded by train.max_steps, blocks of max_length tokens


def _shape(config: Any) -> dict[str, Any]:
    return {
        "family": config.model_type,
        "layers": num_layers(config),
        "hidden_size": config.hidden_size,
        "heads": config.num_attention_heads,
        "intermediate_size": getattr(config, "intermediate_size", None),
    }


def _parameters(config: Any, task: str) -> int:
    auto = AutoModelForMaskedLM if task == "mlm" else AutoModelForSequenceClassification
    if task == "embedding":  # the encoder alone
        auto = AutoModel
    with torch.device("meta"):
        try:
            model = auto.from_config(config)
        except ValueError:
            model = AutoModel.from_config(config)
    return sum(p.numel() for p in model.parameters())


def _match(match: Any) -> dict[str, Any]:
    layers = "-" if match.teacher_layer is None else f"{match.teacher_layer} -> {match.student_layer}"
    entry = {"name": match.name, "representation": match.representation, "layers": layers}
    entry.update(loss=match.loss.__name__, weight=match.weight)
    if match.projection:
        entry["projection"] = match.projection
    return entry


def _init(config: DistillConfig) -> str:
    student = config.student
    if student.path is not None:
        return f"pruned from {student.path}" if student.init == "pruned" else str(student.path)
    return str(student.init)
