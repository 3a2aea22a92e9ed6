"""The student a run starts from: a saved model, a new shape built from the teacher, or the teacher cut down.

``student.init: pruned`` ranks the teacher's attention heads, FFN neurons and hidden channels by their mean
activation over calibration batches of the run's own training data and slices the teacher to the student's shape
(:mod:`alembert.models.prune`); the same command-line step is ``alembert prune``. With ``student.path`` as well,
the saved model is cut instead of the teacher: pruning in steps (e.g. the teacher's layers first, distilled, then
its width), the teacher still teaching every step.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import datasets
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from alembert.config import DataConfig, StudentConfig
from alembert.data.batches import build_train_loader
from alembert.data.streaming import TextBlockStream
from alembert.errors import ConfigError
from alembert.models.init import StudentInit
from alembert.models.load import load_model, num_layers
from alembert.models.prune import PruneReport, PruneShape, prune_teacher
from alembert.models.student import build_student
from alembert.tasks.task import Task


__all__ = ["calibration_batches", "kept_hidden_channels", "make_student", "pruned_shape", "pruned_student"]

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def calibration_batches(
    dataset: datasets.Dataset | TextBlockStream,
    tokenizer: PreTrainedTokenizerBase,
    *,
    batches: int,
    batch_size: int,
    seed: int,
    mlm_probability: float = 0.15,
) -> list[dict[str, torch.Tensor]]:
    """The first ``batches`` random training batches (model inputs only) of a task set or a text stream."""
    loader = build_train_loader(
        dataset,
        tokenizer,
        batch_size=batch_size,
        seed=seed,
        length_grouped=False,
        mlm_probability=mlm_probability if isinstance(dataset, TextBlockStream) else None,
    )
    return [{k: v for k, v in batch.items() if k in _INPUTS} for batch in islice(loader, batches)]


def pruned_shape(teacher: PreTrainedModel, cfg: StudentConfig) -> PruneShape:
    """The student's shape: the fields set in ``cfg``, the teacher's value for the others."""
    config = teacher.config
    return PruneShape(
        cfg.num_layers or num_layers(config),
        cfg.hidden_size or config.hidden_size,
        cfg.num_heads or config.num_attention_heads,
        cfg.intermediate_size or config.intermediate_size,
    )


def pruned_student(
    teacher: PreTrainedModel, cfg: StudentConfig, batches: list[dict[str, torch.Tensor]]
) -> tuple[PreTrainedModel, PruneReport]:
    """Cut ``teacher`` to ``cfg``'s shape with importance from ``batches`` (the teacher itself is not changed)."""
    layers = cfg.pruning_settings.layers
    return prune_teacher(teacher, pruned_shape(teacher, cfg), batches, layers=layers)


def make_student(
    cfg: StudentConfig,
    teacher: PreTrainedModel,
    *,
    head: str,
    task: Task | None,
    data: DataConfig,
    train_set: datasets.Dataset | TextBlockStream,
    tokenizer: PreTrainedTokenizerBase,
    seed: int,
    vocab: tuple[int, int] | None = None,
) -> tuple[PreTrainedModel, StudentInit | None, PruneReport | None]:
    """Load, build or prune the run's student.

    ``vocab`` is ``(size, padding id)`` of a student tokenizer of its own (``student.tokenizer``).

    Returns:
        The student, how it was initialised (``None`` for a saved model) and, for ``init: pruned``, the pruning
        report.
    """
    saved = load_model(cfg.path, head=head, task=task) if cfg.path is not None else None
    if cfg.init != "pruned":
        if saved is not None:
            return saved, None, None
        student, init = build_student(teacher, cfg, masked_lm=task is None, vocab=vocab)
        return student, init, None
    source = teacher if saved is None else saved  # path + init: pruned cuts the saved model (iterative pruning)
    settings = cfg.pruning_settings
    if isinstance(settings.layers, list) and len(settings.layers) != pruned_shape(source, cfg).num_layers:
        raise ConfigError(
            f"student.pruning.layers lists {len(settings.layers)} layers to keep but the student has "
            f"{pruned_shape(source, cfg).num_layers}"
        )
    batches = calibration_batches(
        train_set,
        tokenizer,
        batches=settings.calibration_batches,
        batch_size=settings.calibration_batch_size,
        seed=seed,
        mlm_probability=data.mlm_probability,
    )
    try:
        student, report = pruned_student(source, cfg, batches)
    except ConfigError as err:
        if saved is None:
            raise
        message = f"student: cutting the saved model {cfg.path} (init: pruned), not the teacher: {err}"
        raise ConfigError(message) from None
    if saved is not None:  # its layers are the saved model's, not the teacher's
        return student, None, report
    return student, StudentInit(report.layers, len(student.state_dict()), len(student.state_dict())), report


def kept_hidden_channels(cfg: StudentConfig, report: PruneReport | None) -> tuple[int, ...]:
    """The teacher hidden channel of each student channel when the student was cut from the teacher, else ``()``.

    From this run's pruning (``student.init: pruned``, unless ``student.pruning.projections: random``) or from the
    ``prune.json`` that ``alembert prune`` writes beside a model given as ``student.path``. A saved model cut again
    (``student.path`` with ``init: pruned``) keeps teacher channels only through such a record.
    """
    if report is None:
        return _recorded_channels(cfg.path) if cfg.path is not None else ()
    if cfg.pruning_settings.projections != "kept_channels":
        return ()
    if cfg.path is None:
        return report.hidden_channels
    recorded = _recorded_channels(cfg.path)  # the saved model's own channels in the teacher, if it was cut from it
    return tuple(recorded[i] for i in report.hidden_channels) if recorded else ()


def _recorded_channels(path: str) -> tuple[int, ...]:
    """The teacher channels kept by the cut that ``alembert prune`` recorded in ``path/prune.json``, else ``()``."""
    record = Path(path) / "prune.json"
    if not record.is_file():
        return ()
    try:
        channels = json.loads(record.read_text()).get("hidden_channels", [])
    except (OSError, ValueError, AttributeError):
        return ()
    return tuple(int(i) for i in channels) if isinstance(channels, list) else ()
