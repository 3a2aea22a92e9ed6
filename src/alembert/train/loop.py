"""The one training loop. Every method (and plain fine-tuning) is a stage run through :func:`run_stage`:
:func:`~alembert.train.setup.prepare_stage` sets it up, :class:`StageTrainer` runs the steps."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from accelerate.utils import broadcast_object_list, gather_object

from alembert.data.paired import student_view
from alembert.data.streaming import stream_positions
from alembert.features.extract import forward_features
from alembert.train.checkpoint import atomic_folder, load_weights, save_best_weights, save_training_state
from alembert.train.control import (
    CheckpointClock,
    LaggedLoss,
    StopRequest,
    TrainingDiverged,
    TrainingInterrupted,
    TrainingTimer,
    check_finite,
)
from alembert.train.progress import StageProgress
from alembert.train.setup import (
    PreparedStage,
    StageInputs,
    StageSpec,
    build_optimizer,
    freeze_except,
    prepare_stage,
)
from alembert.train.step_choice import TrainingStep


__all__ = [
    "StageInputs",
    "StageResult",
    "StageSpec",
    "StageTrainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "build_optimizer",
    "freeze_except",
    "run_stage",
]


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


def run_stage(inputs: StageInputs, spec: StageSpec) -> StageResult:
    """Train ``inputs.student`` (and the objective's projections) for one stage; write checkpoints and the best
    model; return step counts, the best score and the evaluation history."""
    return StageTrainer(prepare_stage(inputs, spec)).fit()


class StageTrainer:
    """The steps of one prepared stage: features, loss, optimizer step, evaluation, checkpoints, stop requests."""

    def __init__(self, stage: PreparedStage) -> None:
        self.stage, self.accelerator, self.spec = stage, stage.inputs.accelerator, stage.spec
        self.state, self.log = stage.state, stage.inputs.log
        self.position = stage.stream.start if stage.stream is not None else None
        self.progress = StageProgress(stage.spec.name, stage.total_steps, enabled=self.accelerator.is_main_process)
        self.timer = TrainingTimer()
        self.lagged = LaggedLoss()
        self.examples = 0
        self.tokens = torch.zeros((), dtype=torch.long, device=self.accelerator.device)  # no host sync a step
        self.step_values: dict[int, tuple[float, torch.Tensor]] = {}  # lr and tokens of a step, until reported
        self.packed = {"teacher": 0, "student": 0}  # batches that ran packed (little padding runs padded)
        self.packed_now = {"teacher": False, "student": False}  # the last forward pass's (a probe's is not counted)
        objective = stage.inputs.objective
        self.requested_student, self.requested_teacher = objective.requested("student"), objective.requested("teacher")
        if objective.task_loss_weight > 0:
            self.requested_student.add(("logits", None))
        self.step = TrainingStep(stage, self.eager_step, self.requested_student, self.requested_teacher)

    def fit(self) -> StageResult:
        """Run the stage to its last step (or a stop request), then end on the selected weights."""
        stage, cfg, accelerator, state = self.stage, self.spec.cfg, self.accelerator, self.state
        eval_every = cfg.eval_every or stage.epoch_steps
        save_every = cfg.save_every or eval_every
        trainable = [p for group in stage.optimizer.param_groups for p in group["params"]]
        clock = CheckpointClock(cfg.save_every_minutes)
        self.progress.start(state.global_step)
        stage.student.train()
        stop = StopRequest()
        stop.install()
        try:
            while state.global_step < stage.total_steps:
                stage.loader.set_epoch(state.epoch)
                batches = stage.loader
                if state.batches_in_epoch and stage.stream is None:  # resumed mid-epoch: skip what was seen
                    batches = accelerator.skip_first_batches(stage.loader, state.batches_in_epoch)
                for batch in batches:
                    with accelerator.accumulate(stage.student, stage.objective):
                        loss, terms = self.step(batch)
                        accelerator.backward(loss)
                        if accelerator.sync_gradients:
                            accelerator.clip_grad_norm_(trainable, cfg.max_grad_norm)
                        stage.optimizer.step()
                        stage.scheduler.step()
                        stage.optimizer.zero_grad(set_to_none=True)
                    self.count(batch)
                    if not accelerator.sync_gradients:
                        continue
                    state.global_step += 1
                    self.step_values[state.global_step] = (stage.scheduler.get_last_lr()[0], self.tokens.clone())
                    self.report(self.lagged.swap(state.global_step, loss, terms))
                    last = state.global_step >= stage.total_steps
                    evaluate_now = state.global_step % eval_every == 0 or last
                    save_now = state.global_step % save_every == 0 or last or self.due_by_clock(clock)
                    if stop.requested and accelerator.num_processes > 1:
                        accelerator.set_trigger()  # the other processes learn of the signal at this step's check
                    stopping = stop.requested if accelerator.num_processes == 1 else accelerator.check_trigger()
                    if (
                        evaluate_now or save_now or stopping
                    ):  # nothing is evaluated or saved before its loss is checked
                        self.report(self.lagged.pop())
                    if evaluate_now:
                        self.evaluate_and_select()
                    if save_now or stopping:
                        self.save_checkpoint()
                        clock.saved()
                    if state.global_step in self.spec.snapshot_steps:
                        self.save_snapshot()
                    if stopping:  # every process stops at the same step
                        self.progress.stop()
                        raise TrainingInterrupted(
                            f"stage {self.spec.name}: stopped by {stop.signal_name} at step {state.global_step}; "
                            f"checkpoint {self.spec.stage_dir / f'step-{state.global_step}'} saved; continue with "
                            "--resume"
                        )
                    if last:
                        break
                else:
                    state.epoch += 1
                    state.batches_in_epoch = 0
            self.report(self.lagged.pop())
        finally:
            stop.uninstall()
            self.step.close()  # also when stopped: no hook stays on the models
        return self.finish()

    def due_by_clock(self, clock: CheckpointClock) -> bool:
        """Whether ``train.save_every_minutes`` asks for a checkpoint now; with several processes the main
        process's clock decides for all, read at log steps only (a broadcast every step would stall them)."""
        if self.accelerator.num_processes == 1:
            return clock.due()
        if self.state.global_step % self.spec.cfg.log_every:
            return False
        return bool(broadcast_object_list([clock.due()])[0])

    def count(self, batch: dict) -> None:
        """Book one micro-batch: examples, real tokens and, for a stream, where its reader continues."""
        self.state.batches_in_epoch += 1
        for side, packed in self.packed_now.items():
            self.packed[side] += packed
            self.packed_now[side] = False
        if self.stage.stream is not None:
            self.position = stream_positions(batch)
        self.examples += batch["input_ids"].shape[0] * self.accelerator.num_processes
        mask = batch.get("attention_mask")
        self.tokens += mask.sum() if mask is not None else batch["input_ids"].numel()

    def eager_step(self, batch: dict) -> tuple:
        """The loss and its terms for one batch, run eagerly (``train.compile: never``)."""
        return self.stage.objective(*self.features(batch), batch)

    def features(self, batch: dict) -> tuple:
        """Student features (with grad) and teacher features (frozen, no grad) for one batch."""
        stage, inputs = self.stage, self.stage.inputs
        teacher_features = None
        if inputs.teacher_cache is not None and inputs.objective.needs_teacher:
            teacher_features = inputs.teacher_cache.features(batch)
        elif stage.runs_teacher:
            with torch.no_grad(), self.accelerator.autocast():
                teacher_features = forward_features(
                    inputs.teacher, batch, self.requested_teacher, pack=stage.pack_teacher
                )
            self.packed_now["teacher"] = teacher_features.packing is not None
        student_batch = student_view(batch)  # its own tokens when it has a vocabulary of its own
        student_features = forward_features(
            stage.student, student_batch, self.requested_student, pack=stage.pack_student
        )
        self.packed_now["student"] = student_features.packing is not None
        return student_features, teacher_features

    def tokens_so_far(self, counted: torch.Tensor | None = None) -> int:
        """Tokens of every leg: the checkpointed count plus this leg's (up to ``counted``, else now)."""
        return self.state.tokens + int(self.tokens if counted is None else counted) * self.accelerator.num_processes

    def report(self, values: tuple | None) -> None:
        """Divergence check, progress bar and log for one finished step (read one step late, see LaggedLoss)."""
        if values is None:
            return
        step, loss_value, term_values = values
        lr, counted = self.step_values.pop(step)
        check_finite(step, loss_value, term_values, self.spec.stage_dir, self.spec.name)
        self.progress.update(step, loss_value, term_values)
        if step % self.spec.cfg.log_every == 0 or step == self.stage.total_steps:
            seen, seconds = self.tokens_so_far(counted), self.state.train_seconds + self.timer.elapsed()
            self.log.event(
                "train", stage=self.spec.name, step=step, loss=loss_value, lr=lr, tokens=seen,
                tokens_per_s=seen / seconds if seconds else 0.0, **term_values,
            )  # fmt: skip

    def evaluate_and_select(self) -> None:
        """Score the student on the dev set and keep it in ``best/`` when it is the best so far."""
        spec, state = self.spec, self.state
        if spec.eval_fn is None:
            return
        self.timer.pause()
        metrics = spec.eval_fn(self.accelerator.unwrap_model(self.stage.student))
        self.stage.student.train()
        state.history.append({"step": state.global_step, "metrics": metrics})
        self.log.event("eval", stage=spec.name, step=state.global_step, **metrics)
        score = metrics[spec.main_metric] if spec.main_metric else None
        if score is not None and (state.best_metric is None or score > state.best_metric):
            state.best_metric, state.best_step = score, state.global_step
            save_best_weights(self.accelerator, self.stage.student, spec.stage_dir / "best")
        self.progress.note(
            f"{spec.main_metric} {score:.2f} (best {state.best_metric:.2f})" if score is not None else ""
        )
        self.timer.resume()

    def save_checkpoint(self) -> None:
        """An atomic ``step-N`` checkpoint, with the token count and training time of every leg so far."""
        state = self.state
        if self.stage.stream is not None:
            state.stream_positions = gather_object([self.position])
        saved_tokens, saved_seconds = state.tokens, state.train_seconds
        state.tokens, state.train_seconds = self.tokens_so_far(), saved_seconds + self.timer.elapsed()
        save_training_state(self.accelerator, self.spec.stage_dir, state, self.spec.cfg.keep_checkpoints)
        state.tokens, state.train_seconds = saved_tokens, saved_seconds

    def save_snapshot(self) -> None:
        """Keep the student as it is now in ``snapshots/step-N`` (projections are not part of it)."""
        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.stage.student)
            write = self.spec.save_snapshot or (lambda m, folder: m.save_pretrained(folder))
            folder = self.spec.stage_dir / "snapshots" / f"step-{self.state.global_step}"
            atomic_folder(folder, lambda tmp: write(model, tmp))
        self.log.event("snapshot", stage=self.spec.name, step=self.state.global_step, tokens=self.tokens_so_far())

    def finish(self) -> StageResult:
        """Close the bar, load the selected weights and summarise the stage."""
        self.progress.stop()
        seconds = self.timer.elapsed()
        if self.stage.pack_teacher or self.stage.pack_student:
            self.log.event("packed_batches", stage=self.spec.name, **self.packed)
        self.accelerator.wait_for_everyone()
        best = self.spec.stage_dir / "best"
        if self.spec.cfg.select == "best" and self.spec.eval_fn is not None and best.is_dir():
            load_weights(self.accelerator.unwrap_model(self.stage.student), best)
        self.accelerator.free_memory()
        state, tokens = self.state, self.tokens_so_far()
        all_seconds = state.train_seconds + seconds
        return StageResult(
            state.global_step,
            state.best_metric,
            state.best_step,
            state.history,
            self.examples / seconds if seconds else 0.0,
            tokens,
            tokens / all_seconds if all_seconds else 0.0,
        )
