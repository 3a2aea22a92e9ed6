"""A run's stages, planned before anything trains (:class:`StagePlan`) and run one after the other.

Planning expands progressive templates into one stage per student block, resolves every match against the
teacher's and the student's configs, merges each stage's training overrides and checks what can only be checked
with the task and the models at hand. Any mistake surfaces here, before the first step of the first stage.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from accelerate.utils import set_seed
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from alembert.config import DISTRIBUTION_LOSSES, DistillConfig, StageConfig, TrainConfig
from alembert.data.sources import TaskData
from alembert.errors import ConfigError
from alembert.features.cache_store import Key
from alembert.features.packing import choose_packing
from alembert.models.load import num_layers
from alembert.models.sentence import SentencePooling
from alembert.objective.matches import ResolvedMatch, objective_packing_blocker, resolve_matches
from alembert.objective.progressive import expand_progressive
from alembert.objective.terms import DistillationObjective
from alembert.run.cache_policy import open_stage_cache
from alembert.run.context import RunContext, stage_loader, stage_summary
from alembert.tasks.task import Task
from alembert.train.checkpoint import write_json_atomic
from alembert.train.loop import StageResult, run_stage
from alembert.train.setup import EvalFn, StageInputs, StageSpec, freeze_except


__all__ = ["StagePlan", "check_task_losses", "plan_stages", "run_planned_stage"]


@dataclass(frozen=True)
class StagePlan:
    """One stage, resolved: its config, concrete loss terms, effective training settings and folder.

    Attributes:
        stage: the stage as configured (after progressive expansion).
        matches: the stage's matches resolved against teacher and student (zero-weight terms removed).
        train: the run's training settings with the stage's overrides.
        directory: ``<output_dir>/checkpoints/<stage>``.
    """

    stage: StageConfig
    matches: list[ResolvedMatch]
    train: TrainConfig
    directory: Path

    @property
    def name(self) -> str:
        """The stage's name."""
        return self.stage.name

    @property
    def trains_head(self) -> bool:
        """Whether a loss of this stage reaches the student's scored output, its task head or its sentence
        embedding (then the stage is evaluated)."""
        scored = ("logits", "sentence_embedding")
        return self.stage.task_loss_weight > 0 or any(m.representation in scored for m in self.matches)


def check_task_losses(stages: list[StageConfig], task: Task | None) -> None:
    """A loss that compares class distributions cannot train a regression task's single output.

    Raises:
        ConfigError: naming the stage and match, with the loss to use instead.
    """
    if task is None or not task.is_regression:
        return
    for stage in stages:
        for i, match in enumerate(stage.matches):
            if match.representation == "logits" and match.loss in DISTRIBUTION_LOSSES and match.weight:
                raise ConfigError(
                    f"stages.{stage.name}.matches.{match.name or i}.loss: {match.loss} compares class "
                    f"distributions, but {task.name} is a regression task (one output); use loss: logits_mse "
                    "with params: {}"
                )


def plan_stages(
    config: DistillConfig, teacher: PreTrainedModel, student: PreTrainedModel, output_dir: Path
) -> list[StagePlan]:
    """Every stage of the run, resolved and checked (see the module docstring).

    Raises:
        ConfigError: an unknown layer, a representation a model lacks, a stage that cannot run packed under
            ``pack_sequences: always``, and the like, naming the stage and match.
    """
    try:
        stages = expand_progressive(config.stages, num_layers(student.config))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    plans = []
    for stage in stages:
        matches = resolve_matches(stage, teacher.config, student.config, has_mlm_labels=config.task == "mlm")
        train = stage.train_config(config.train)  # validates the merged settings
        if train.pack_sequences == "always":  # a stage that cannot run packed fails now, not hours later
            for side, model in (("teacher", teacher), ("student", student)):
                blocker = objective_packing_blocker(matches, stage.task_loss_weight, side)
                choose_packing("always", "cpu", model, blocker, f"{side} of stage '{stage.name}'")
        plans.append(StagePlan(stage, matches, train, output_dir / "checkpoints" / stage.name))
    return plans


def run_planned_stage(
    plan: StagePlan,
    run: RunContext,
    *,
    config: DistillConfig,
    models: tuple[PreTrainedModel, PreTrainedModel],
    data: TaskData,
    tokenizer: PreTrainedTokenizerBase,
    evaluation: tuple[EvalFn | None, str | None],
    pooling: SentencePooling | None = None,
    student_tokenizer: PreTrainedTokenizerBase | None = None,
    kept_channels: Sequence[int] = (),
    later_cached: set[Key] | None = None,
) -> StageResult:
    """Train one planned stage (or skip it: finished in an earlier run, or every loss weight 0).

    Args:
        plan: the stage.
        run: the run's folder, accelerator and log.
        config: the run config (data and teacher-cache settings).
        models: ``(student, teacher)``.
        data: the tokenised training set (or text stream).
        tokenizer: pads the batches; saved with snapshots.
        evaluation: the dev scorer and its main metric (used when the stage trains the task head).
        pooling: how ``sentence_embedding`` terms pool (the teacher's pooling).
        student_tokenizer: for a paired training set (:mod:`alembert.data.paired`), the student's tokenizer:
            pads the student's side of each batch and is saved with snapshots.
        kept_channels: for a student cut from the teacher, the teacher hidden channel of each student channel:
            the stage's hidden-state projections start as the cut's inverse (a resumed stage then loads its own).
        later_cached: teacher features that later stages read from the cache (computed in this stage's pass).

    Returns:
        The stage's result, also written to ``<stage dir>/done.json``.
    """
    student, teacher = models
    done = plan.directory / "done.json"
    if run.resume and done.is_file():
        _load_into(student, plan.directory / "final")
        run.log.event("stage_skipped", stage=plan.name, reason="finished in an earlier run")
        return StageResult(**json.loads(done.read_text()))
    if not plan.matches and plan.stage.task_loss_weight == 0:  # every match weighted 0 (an ablation)
        run.log.event("stage_skipped", stage=plan.name, reason="every loss weight is 0")
        run.save_folder(plan.directory / "final", lambda tmp: student.save_pretrained(tmp))
        return StageResult(0, None, None, [], 0.0)
    set_seed(plan.train.seed)
    freeze_except(student, plan.stage.trainable)
    objective = DistillationObjective(
        plan.matches, plan.stage.task_loss_weight, teacher.config, student.config, pooling=pooling
    )
    if kept_channels:
        initialised = objective.init_projections_from_kept_channels(kept_channels)
        if initialised:
            run.log.event("projection_init", stage=plan.name, projections=initialised, rule="kept_channels")
    mlm = config.task == "mlm"
    loader = stage_loader(
        data.train, tokenizer, config.data, plan.train, run.accelerator, mlm=mlm, student_tokenizer=student_tokenizer
    )
    saved_tokenizer = student_tokenizer or tokenizer
    eval_fn, main_metric = evaluation if plan.trains_head else (None, None)
    teacher_cache = open_stage_cache(
        run, config, plan.name, plan.train, objective, teacher, tokenizer, data.train, later=later_cached
    )
    spec = StageSpec(
        plan.name,
        plan.train,
        plan.directory,
        eval_fn,
        main_metric,
        run.resume,
        snapshot_steps=tuple(plan.train.snapshot_steps),
        save_snapshot=lambda model, folder: (model.save_pretrained(folder), saved_tokenizer.save_pretrained(folder)),
        max_length=config.data.max_length,
    )
    inputs = StageInputs(run.accelerator, student, teacher, objective, loader, run.log, teacher_cache)
    result = run_stage(inputs, spec)
    freeze_except(student, None)
    run.save_folder(plan.directory / "final", lambda tmp: student.save_pretrained(tmp))
    if run.accelerator.is_main_process:
        write_json_atomic(done, stage_summary(result))
    run.log.event("stage_end", stage=plan.name, **stage_summary(result))
    return result


def _load_into(model: PreTrainedModel, folder: Path) -> None:
    model.load_state_dict(type(model).from_pretrained(folder).state_dict())
