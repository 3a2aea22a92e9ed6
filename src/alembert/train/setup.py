"""Setting a stage up for the loop: what it trains, with what, and where it resumes (see :mod:`.loop`).

Accelerate owns devices, precision, gradient accumulation and distribution. The teacher is frozen, in eval
mode, under ``no_grad``, placed on the device and never wrapped or optimised.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader
from transformers import PreTrainedModel, get_linear_schedule_with_warmup

from alembert.config import TrainConfig
from alembert.data.streaming import TextBlockStream, prepare_stream_loader
from alembert.errors import AlembertError
from alembert.features.packing import choose_packing
from alembert.features.teacher_cache import TeacherCache
from alembert.notices import warn
from alembert.objective.terms import DistillationObjective
from alembert.train.checkpoint import TrainerState, resumable_checkpoint
from alembert.train.runlog import RunLog


__all__ = [
    "EvalFn",
    "PreparedStage",
    "StageInputs",
    "StageSpec",
    "apply_optimizer_settings",
    "build_optimizer",
    "compile_setting",
    "freeze_except",
    "prepare_stage",
]

EvalFn = Callable[[nn.Module], dict[str, float]]


@dataclass(frozen=True)
class StageSpec:
    """How one stage trains and where it keeps its files.

    Attributes:
        name: the stage's name (log keys, messages).
        cfg: the stage's effective training settings.
        stage_dir: folder for ``step-N`` checkpoints, ``best/`` and ``snapshots/``.
        eval_fn: returns dev metrics for a model; ``None`` disables evaluation and best-model selection.
        main_metric: key of ``eval_fn``'s result that picks the best model.
        resume: continue from the newest complete checkpoint in ``stage_dir``.
        snapshot_steps: optimizer steps after which the student is also kept in ``snapshots/step-N``.
        save_snapshot: writes the (unwrapped) student into a folder (default ``save_pretrained``).
        max_length: the longest a batch can be (``data.max_length``): the last length bucket of a compiled step
            (:mod:`alembert.train.compiled`).
    """

    name: str
    cfg: TrainConfig
    stage_dir: Path
    eval_fn: EvalFn | None = None
    main_metric: str | None = None
    resume: bool = False
    snapshot_steps: tuple[int, ...] = ()
    save_snapshot: Callable[[nn.Module, Path], None] | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class StageInputs:
    """What one stage trains with.

    Attributes:
        accelerator: the run's accelerator (device, precision, accumulation, processes).
        student: the model being trained (unwrapped).
        teacher: the frozen teacher, or ``None`` for a fine-tuning stage.
        objective: the stage's loss terms and projections.
        train_loader: training batches (not yet prepared).
        log: the run's JSONL log (and trackers).
        teacher_cache: precomputed teacher outputs of the training set, read instead of running the teacher.
    """

    accelerator: Accelerator
    student: PreTrainedModel
    teacher: PreTrainedModel | None
    objective: DistillationObjective
    train_loader: DataLoader
    log: RunLog
    teacher_cache: TeacherCache | None = None


@dataclass
class PreparedStage:
    """A stage ready for :func:`alembert.train.loop.fit`: prepared modules, its schedule and where it resumes."""

    inputs: StageInputs
    spec: StageSpec
    student: nn.Module
    objective: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loader: DataLoader
    stream: TextBlockStream | None
    state: TrainerState
    total_steps: int
    runs_teacher: bool
    pack_teacher: bool
    pack_student: bool

    @property
    def epoch_steps(self) -> int:
        """Optimizer steps per epoch (a stream's whole run counts as one epoch)."""
        if self.stream is not None:
            return self.total_steps
        return math.ceil(len(self.loader) / self.spec.cfg.gradient_accumulation_steps)


def freeze_except(model: nn.Module, patterns: list[str] | None) -> int:
    """Train only parameters whose names match one of ``patterns`` (all when ``None``); returns how many train."""
    trainable = 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(patterns is None or any(fnmatch.fnmatch(name, p) for p in patterns))
        trainable += int(parameter.requires_grad)
    if trainable == 0:
        raise AlembertError(f"trainable: no student parameter matches {patterns}")
    return trainable


def build_optimizer(modules: list[nn.Module], cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over trainable parameters; no weight decay on biases and normalisation weights."""
    decay, no_decay = [], []
    for module in modules:
        for name, parameter in module.named_parameters():
            if not parameter.requires_grad:
                continue
            is_norm = parameter.ndim < 2 or "norm" in name.lower()
            (no_decay if is_norm else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel per step for all parameters instead of several per tensor (CPU and GPU)
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=True)


def apply_optimizer_settings(
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler, cfg: TrainConfig
) -> None:
    """Give a restored optimizer and schedule the config's learning rate and weight decay.

    A checkpoint stores the settings it was trained with; a run resumed with ``--allow-changes
    train.learning_rate`` (or ``weight_decay``) continues the same schedule from the same step with the new values
    (a no-op when they did not change). ``warmup_ratio`` and ``max_grad_norm`` are read from the config anyway.
    """
    inner = getattr(scheduler, "scheduler", scheduler)  # Accelerate's wrapper
    groups = optimizer.param_groups
    for group, decay in zip(groups, (cfg.weight_decay, 0.0)):
        group["weight_decay"] = decay
    inner.base_lrs = [cfg.learning_rate for _ in groups]
    for group, lr_lambda in zip(groups, inner.lr_lambdas):
        group["initial_lr"] = cfg.learning_rate
        group["lr"] = cfg.learning_rate * lr_lambda(inner.last_epoch)
    inner._last_lr = [group["lr"] for group in groups]


def compile_setting(setting: str, device_type: str, pack_sequences: str) -> tuple[bool | None, str]:
    """``(compile?, why)`` for a stage: ``True``/``False``, or ``None`` where the CPU probe decides (``auto``)."""
    if setting == "never":
        return False, "train.compile: never"
    if setting == "always":
        return True, "train.compile: always"
    if pack_sequences == "always":
        return False, "train.pack_sequences: always (packed batches have no fixed shapes to compile for)"
    if device_type == "cuda":
        return True, "auto: CUDA"
    if device_type != "cpu":
        return False, f"auto: compiles on CUDA and, after a timed probe, on CPU; not on {device_type}"
    return None, "auto: CPU, decided by a timed probe"


def _total_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    if cfg.max_steps is not None:
        return cfg.max_steps
    return max(1, math.ceil(cfg.epochs * math.ceil(batches_per_epoch / cfg.gradient_accumulation_steps)))


def prepare_stage(inputs: StageInputs, spec: StageSpec) -> PreparedStage:
    """Place and wrap the models, build the optimizer and schedule, restore a checkpoint, decide packing."""
    accelerator, cfg, objective = inputs.accelerator, spec.cfg, inputs.objective
    if inputs.teacher is not None:
        inputs.teacher.to(accelerator.device).eval().requires_grad_(False)
    # A text stream is already one share per process and endless; Accelerate neither splits it nor counts it.
    stream = inputs.train_loader.dataset if isinstance(inputs.train_loader.dataset, TextBlockStream) else None
    if stream is not None and cfg.max_steps is None:
        raise AlembertError(f"stage {spec.name}: a streamed training set needs train.max_steps")
    # Accelerate shards batches across processes and steps the scheduler once per process each optimizer step.
    batches_per_process = math.ceil(len(inputs.train_loader) / accelerator.num_processes) if stream is None else 0
    total_steps = _total_steps(cfg, batches_per_process)
    optimizer = build_optimizer([inputs.student, objective], cfg)
    scheduler = get_linear_schedule_with_warmup(
        optimizer,
        int(cfg.warmup_ratio * total_steps) * accelerator.num_processes,
        total_steps * accelerator.num_processes,
    )
    unsplit = inputs.train_loader if stream is None else None
    if any(True for _ in objective.parameters()):  # projections train with the student
        student, objective, optimizer, loader, scheduler = accelerator.prepare(
            inputs.student, objective, optimizer, unsplit, scheduler
        )
    else:
        student, optimizer, loader, scheduler = accelerator.prepare(inputs.student, optimizer, unsplit, scheduler)
        objective = objective.to(accelerator.device)
    state = TrainerState()
    found, damaged = resumable_checkpoint(spec.stage_dir) if spec.resume else (None, [])
    for line in damaged:
        warn(f"{line}; resuming from {found or 'the start of the stage'}")
    if found is not None:
        try:
            accelerator.load_state(str(found))
        except Exception as err:  # a damaged file of the right size: a safetensors or pickle error
            raise AlembertError(
                f"--resume: cannot load checkpoint {found} ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                "delete that folder to resume from the one before it"
            ) from None
        state = TrainerState.load(found)
        apply_optimizer_settings(optimizer, scheduler, cfg)
        inputs.log.event("resume", stage=spec.name, step=state.global_step, checkpoint=str(found))
    if stream is not None:  # resume at each process's saved reader position, without re-reading
        stream.shard(accelerator.process_index, accelerator.num_processes, state.stream_positions)
        loader = prepare_stream_loader(inputs.train_loader, accelerator)
    base = inputs.objective
    runs_teacher = inputs.teacher is not None and inputs.teacher_cache is None and base.needs_teacher
    device = accelerator.device.type
    # a compiled step pads batches to length buckets instead (auto on CPU packs for the eager step it may keep)
    pack = "never" if compile_setting(cfg.compile, device, cfg.pack_sequences)[0] else cfg.pack_sequences
    pack_teacher = runs_teacher and choose_packing(
        pack, device, inputs.teacher, base.packing_blocker("teacher"), "teacher"
    )
    pack_student = choose_packing(pack, device, inputs.student, base.packing_blocker("student"), "student")
    inputs.log.event("packing", stage=spec.name, teacher=pack_teacher, student=pack_student)
    return PreparedStage(
        inputs, spec, student, objective, optimizer, scheduler, loader, stream, state, total_steps, runs_teacher,
        pack_teacher, pack_student,
    )  # fmt: skip
