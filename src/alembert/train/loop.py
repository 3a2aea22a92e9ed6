"""The one training loop. Every method (and plain fine-tuning) is a stage run through :func:`run_stage`.

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
from accelerate.utils import gather_object
from torch import nn
from torch.utils.data import DataLoader
from transformers import PreTrainedModel, get_linear_schedule_with_warmup

from alembert.config import TrainConfig
from alembert.data.streaming import TextBlockStream, prepare_stream_loader, stream_positions
from alembert.errors import AlembertError
from alembert.extract import forward_features
from alembert.objective import DistillationObjective
from alembert.packing import choose_packing
from alembert.teacher_cache import TeacherCache
from alembert.train.checkpoint import (
    TrainerState,
    atomic_folder,
    latest_checkpoint,
    load_weights,
    save_best_weights,
    save_training_state,
)
from alembert.train.control import (
    LaggedLoss,
    StopRequest,
    TrainingDiverged,
    TrainingInterrupted,
    TrainingTimer,
    check_finite,
)
from alembert.train.progress import StageProgress
from alembert.train.runlog import RunLog


__all__ = ["StageResult", "TrainingDiverged", "TrainingInterrupted", "build_optimizer", "freeze_except", "run_stage"]

EvalFn = Callable[[nn.Module], dict[str, float]]


@dataclass(frozen=True)
class StageResult:
    """What a finished stage reports.

    Attributes:
        global_step: optimizer steps done.
        best_metric: best evaluation score (``None`` without evaluation).
        best_step: step of the best score.
        history: evaluation records.
        examples_per_second: training throughput of this run (excludes evaluation).
        tokens: real (non-padding) input tokens trained on, over every resumed leg of the stage.
        tokens_per_second: ``tokens`` over the training wall-clock of every leg (evaluation excluded).
    """

    global_step: int
    best_metric: float | None
    best_step: int | None
    history: list[dict]
    examples_per_second: float
    tokens: int = 0
    tokens_per_second: float = 0.0


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


def _total_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    if cfg.max_steps is not None:
        return cfg.max_steps
    return max(1, math.ceil(cfg.epochs * math.ceil(batches_per_epoch / cfg.gradient_accumulation_steps)))


def run_stage(
    *,
    accelerator: Accelerator,
    student: PreTrainedModel,
    teacher: PreTrainedModel | None,
    objective: DistillationObjective,
    train_loader: DataLoader,
    cfg: TrainConfig,
    stage_dir: Path,
    eval_fn: EvalFn | None,
    main_metric: str | None,
    log: RunLog,
    stage_name: str,
    resume: bool = False,
    teacher_cache: TeacherCache | None = None,
    snapshot_steps: tuple[int, ...] = (),
    save_snapshot: Callable[[nn.Module, Path], None] | None = None,
) -> StageResult:
    """Train ``student`` (and the objective's projections) for one stage; write checkpoints and the best model.

    Args:
        accelerator: the run's accelerator (device, precision, accumulation, processes).
        student: the model being trained (unwrapped).
        teacher: the frozen teacher, or ``None`` for a fine-tuning stage.
        objective: the stage's loss terms and projections.
        train_loader: training batches (not yet prepared).
        cfg: effective training settings of the stage.
        stage_dir: folder for ``checkpoints/`` and ``best/``.
        eval_fn: returns dev metrics for a model; ``None`` disables evaluation and best-model selection.
        main_metric: key of ``eval_fn``'s result used to pick the best model.
        log: the run's JSONL log (and trackers).
        stage_name: prefix of logged keys.
        resume: continue from the newest complete checkpoint in ``stage_dir``.
        teacher_cache: precomputed teacher outputs of the training set, read instead of running the teacher.
        snapshot_steps: optimizer steps after which the student is also kept in ``stage_dir/snapshots/step-N``.
        save_snapshot: writes the (unwrapped) student into a folder (default ``save_pretrained``).

    Returns:
        Step counts, the best score and the evaluation history.
    """
    checkpoints = stage_dir
    if teacher is not None:
        teacher = teacher.to(accelerator.device).eval().requires_grad_(False)
    # A text stream is already one share per process and endless; Accelerate neither splits it nor counts it.
    stream = train_loader.dataset if isinstance(train_loader.dataset, TextBlockStream) else None
    if stream is not None and cfg.max_steps is None:
        raise AlembertError(f"stage {stage_name}: a streamed training set needs train.max_steps")
    # Accelerate shards batches across processes and steps the scheduler once per process each optimizer step.
    batches_per_process = math.ceil(len(train_loader) / accelerator.num_processes) if stream is None else 0
    total_steps = _total_steps(cfg, batches_per_process)
    optimizer = build_optimizer([student, objective], cfg)
    scheduler = get_linear_schedule_with_warmup(
        optimizer,
        int(cfg.warmup_ratio * total_steps) * accelerator.num_processes,
        total_steps * accelerator.num_processes,
    )
    has_projections = any(True for _ in objective.parameters())
    unsplit = train_loader if stream is None else None
    if has_projections:
        student, objective, optimizer, loader, scheduler = accelerator.prepare(
            student, objective, optimizer, unsplit, scheduler
        )
    else:
        student, optimizer, loader, scheduler = accelerator.prepare(student, optimizer, unsplit, scheduler)
        objective = objective.to(accelerator.device)
    state = TrainerState()
    found = latest_checkpoint(checkpoints) if resume else None
    if found is not None:
        accelerator.load_state(str(found))
        state = TrainerState.load(found)
        log.event("resume", stage=stage_name, step=state.global_step, checkpoint=str(found))
    if stream is not None:  # resume at each process's saved reader position, without re-reading
        stream.shard(accelerator.process_index, accelerator.num_processes, state.stream_positions)
        loader, position = prepare_stream_loader(train_loader, accelerator), stream.start
    requested_student, requested_teacher = objective.requested("student"), objective.requested("teacher")
    if objective.task_loss_weight > 0:
        requested_student.add(("logits", None))
    runs_teacher = teacher is not None and teacher_cache is None and objective.needs_teacher
    pack_teacher = runs_teacher and choose_packing(
        cfg.pack_sequences, accelerator.device.type, teacher, objective.packing_blocker("teacher"), "teacher"
    )
    pack_student = choose_packing(
        cfg.pack_sequences, accelerator.device.type, student, objective.packing_blocker("student"), "student"
    )
    log.event("packing", stage=stage_name, teacher=pack_teacher, student=pack_student)
    packed = {"teacher": 0, "student": 0}  # batches that ran packed (a batch with little padding runs padded)
    epoch_steps = total_steps if stream is not None else math.ceil(len(loader) / cfg.gradient_accumulation_steps)
    eval_every = cfg.eval_every or epoch_steps
    save_every = cfg.save_every or eval_every
    progress = StageProgress(stage_name, total_steps, enabled=accelerator.is_main_process)
    progress.start(state.global_step)
    student.train()
    examples = 0
    tokens = torch.zeros((), dtype=torch.long, device=accelerator.device)  # summed on the device: no sync a step
    timer = TrainingTimer()

    def tokens_so_far(counted: torch.Tensor | None = None) -> int:
        return state.tokens + int(tokens if counted is None else counted) * accelerator.num_processes

    def save_student_snapshot() -> None:
        if accelerator.is_main_process:
            model = accelerator.unwrap_model(student)
            write = save_snapshot or (lambda m, folder: m.save_pretrained(folder))
            atomic_folder(stage_dir / "snapshots" / f"step-{state.global_step}", lambda tmp: write(model, tmp))
        log.event("snapshot", stage=stage_name, step=state.global_step, tokens=tokens_so_far())

    def save_checkpoint() -> None:
        if stream is not None:
            state.stream_positions = gather_object([position])
        saved_tokens, saved_seconds = state.tokens, state.train_seconds
        state.tokens, state.train_seconds = tokens_so_far(), saved_seconds + timer.elapsed()
        save_training_state(accelerator, checkpoints, state, cfg.keep_checkpoints)
        state.tokens, state.train_seconds = saved_tokens, saved_seconds

    def evaluate_and_select() -> None:
        if eval_fn is None:
            return
        timer.pause()
        metrics = eval_fn(accelerator.unwrap_model(student))
        student.train()
        state.history.append({"step": state.global_step, "metrics": metrics})
        log.event("eval", stage=stage_name, step=state.global_step, **metrics)
        score = metrics[main_metric] if main_metric else None
        if score is not None and (state.best_metric is None or score > state.best_metric):
            state.best_metric, state.best_step = score, state.global_step
            save_best_weights(accelerator, student, stage_dir / "best")
        progress.note(f"{main_metric} {score:.2f} (best {state.best_metric:.2f})" if score is not None else "")
        timer.resume()

    trainable = [p for group in optimizer.param_groups for p in group["params"]]

    def features(batch: dict) -> tuple:
        """Student features (with grad) and teacher features (frozen, no grad) for one batch."""
        teacher_features = None
        if teacher_cache is not None and objective.needs_teacher:
            teacher_features = teacher_cache.features(batch)
        elif runs_teacher:
            with torch.no_grad(), accelerator.autocast():
                teacher_features = forward_features(teacher, batch, requested_teacher, pack=pack_teacher)
            packed["teacher"] += teacher_features.packing is not None
        student_features = forward_features(student, batch, requested_student, pack=pack_student)
        packed["student"] += student_features.packing is not None
        return student_features, teacher_features

    lagged = LaggedLoss()
    step_lr: dict[int, float] = {}  # the learning rate each step used, until its values are reported
    step_tokens: dict[int, torch.Tensor] = {}  # tokens trained on up to each step, until it is reported

    def report(values: tuple | None) -> None:
        """Divergence check, progress bar and log for one finished step (read one step late, see LaggedLoss)."""
        if values is None:
            return
        step, loss_value, term_values = values
        lr, counted = step_lr.pop(step), step_tokens.pop(step)
        check_finite(step, loss_value, term_values, checkpoints, stage_name)
        progress.update(step, loss_value, term_values)
        if step % cfg.log_every == 0 or step == total_steps:
            seen, seconds = tokens_so_far(counted), state.train_seconds + timer.elapsed()
            rate = seen / seconds if seconds else 0.0
            log.event(
                "train",
                stage=stage_name,
                step=step,
                loss=loss_value,
                lr=lr,
                tokens=seen,
                tokens_per_s=rate,
                **term_values,
            )

    stop = StopRequest()
    stop.install()
    try:
        while state.global_step < total_steps:
            loader.set_epoch(state.epoch)
            batches = loader
            if state.batches_in_epoch and stream is None:  # resumed mid-epoch: the same order, minus what was seen
                batches = accelerator.skip_first_batches(loader, state.batches_in_epoch)
            for batch in batches:
                with accelerator.accumulate(student, objective):
                    loss, terms = objective(*features(batch), batch)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(trainable, cfg.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                state.batches_in_epoch += 1
                if stream is not None:
                    position = stream_positions(batch)
                examples += batch["input_ids"].shape[0] * accelerator.num_processes
                mask = batch.get("attention_mask")
                tokens += mask.sum() if mask is not None else batch["input_ids"].numel()
                if not accelerator.sync_gradients:
                    continue
                state.global_step += 1
                step_lr[state.global_step] = scheduler.get_last_lr()[0]
                step_tokens[state.global_step] = tokens.clone()
                report(lagged.swap(state.global_step, loss, terms))
                evaluate_now = state.global_step % eval_every == 0 or state.global_step == total_steps
                save_now = state.global_step % save_every == 0 or state.global_step == total_steps
                if stop.requested and accelerator.num_processes > 1:
                    accelerator.set_trigger()  # the other processes learn of the signal at this step's check
                stopping = stop.requested if accelerator.num_processes == 1 else accelerator.check_trigger()
                if evaluate_now or save_now or stopping:  # nothing is evaluated or saved before its loss is checked
                    report(lagged.pop())
                if evaluate_now:
                    evaluate_and_select()
                if save_now:
                    save_checkpoint()
                if state.global_step in snapshot_steps:
                    save_student_snapshot()
                if stopping:  # every process stops at the same step
                    if not save_now:
                        save_checkpoint()
                    progress.stop()
                    raise TrainingInterrupted(
                        f"stage {stage_name}: stopped by {stop.signal_name} at step {state.global_step}; checkpoint "
                        f"{checkpoints / f'step-{state.global_step}'} saved; continue with --resume"
                    )
                if state.global_step >= total_steps:
                    break
            else:
                state.epoch += 1
                state.batches_in_epoch = 0
        report(lagged.pop())
    finally:
        stop.uninstall()
    progress.stop()
    seconds = timer.elapsed()
    if pack_teacher or pack_student:
        log.event("packed_batches", stage=stage_name, **packed)
    accelerator.wait_for_everyone()
    best = stage_dir / "best"
    if cfg.select == "best" and eval_fn is not None and best.is_dir():
        load_weights(accelerator.unwrap_model(student), best)
    accelerator.free_memory()
    all_tokens, all_seconds = tokens_so_far(), state.train_seconds + seconds
    return StageResult(
        state.global_step,
        state.best_metric,
        state.best_step,
        state.history,
        examples / seconds if seconds else 0.0,
        all_tokens,
        all_tokens / all_seconds if all_seconds else 0.0,
    )
