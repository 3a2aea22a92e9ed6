"""The ``alembert glue`` suite as data: its config (tasks, rows, general runs) and the plan of every run, each
config validated before anything trains (see :mod:`alembert.run.suite`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alembert.config import DISTRIBUTION_LOSSES, DistillConfig, FinetuneConfig
from alembert.config.io import apply_overrides, parse_config
from alembert.config.recipes import load_recipe
from alembert.errors import ConfigError, DataError, suggest
from alembert.tasks.glue import get_task


__all__ = ["GeneralRun", "GlueSuiteConfig", "PlannedRun", "SuiteRow", "plan_glue_suite"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeneralRun(_Frozen):
    """A task-agnostic (general) distillation run the suite makes before its rows (``task: mlm`` recipes)."""

    name: str = Field(description="Rows refer to its student as `general:<name>` (or `general:<name>@step-N`).")
    recipe: str = Field(description="Recipe name or YAML file; its teacher defaults to the suite's teacher.")
    set: list[str] = Field(default_factory=list, description="--set overrides of this run.")


class SuiteRow(_Frozen):
    """One row of the table: a recipe distilled on every task, or a student fine-tuned on every task."""

    name: str = Field(description="Row label (also the run folder name under each task).")
    recipe: str | None = Field(default=None, description="Recipe name or YAML file distilled on every task.")
    finetune: bool = Field(
        default=False, description="Instead of distilling: fine-tune `student` with the task loss (MiniLM protocol)."
    )
    student: str | None = Field(
        default=None,
        description="Start from this student: a model folder, `general:<name>` (that general run's student) or "
        "`general:<name>@step-N` (its snapshot at step N). `{task}` and `{seed}` in a folder are filled in, so a "
        "row can start from an earlier row's students (`<output_dir>/{task}/<row>/seed-{seed}/student`, listed "
        "after that row).",
    )
    set: list[str] = Field(default_factory=list, description="--set overrides of this row's runs.")
    paper_retention: float | None = Field(
        default=None, description="The paper's retention (%) for the same recipe, shown as a reference column."
    )

    @model_validator(mode="after")
    def _check_kind(self) -> SuiteRow:
        if self.finetune == (self.recipe is not None):
            raise ValueError(f"row {self.name}: give either a recipe or finetune: true (with a student)")
        if self.finetune and self.student is None:
            raise ValueError(f"row {self.name}: finetune: true needs the student to fine-tune")
        return self


class GlueSuiteConfig(_Frozen):
    """What ``alembert glue`` runs (YAML: the same keys; unknown keys are errors)."""

    teacher: str = Field(description="Pre-trained encoder (folder or Hub name) fine-tuned on every task.")
    data_root: str = Field(description="Folder holding the GLUE task folders (CoLA/, SST-2/, ...).")
    tasks: list[str] = Field(min_length=1, description="Task names, e.g. [cola, sst2, mrpc, stsb, rte, wnli].")
    recipes: list[str] = Field(default_factory=list, description="Shipped recipe names or YAML files (one row each).")
    rows: list[SuiteRow] = Field(default_factory=list, description="Rows with their own student and overrides.")
    general: list[GeneralRun] = Field(default_factory=list, description="General distillation runs made first.")
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1, description="One student per seed.")
    output_dir: str = "runs/glue"
    teachers: dict[str, str] = Field(
        default_factory=dict, description="Already fine-tuned teachers by task (their fine-tuning is skipped)."
    )
    finetune: list[str] = Field(default_factory=list, description="--set overrides of every fine-tuning.")
    distill: list[str] = Field(default_factory=list, description="--set overrides of every student run.")
    recipe_overrides: dict[str, list[str]] = Field(
        default_factory=dict, description="--set overrides of one recipe's runs, by recipe name."
    )
    task_overrides: dict[str, list[str]] = Field(
        default_factory=dict, description="--set overrides of every student run of one task, by task name."
    )
    max_train_samples: int | None = Field(default=None, gt=0, description="Cap on each task's training rows.")
    latency: bool = Field(default=True, description="Time every row's student against the teacher, interleaved.")
    latency_seq_len: int = Field(default=128, gt=0, description="Tokens per sequence when timing (batch 1).")

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        names = [get_task(t).name for t in tasks]  # raises with a close-match suggestion
        if len(set(names)) != len(names):
            raise ValueError(f"a task is listed twice: {names}")
        return names

    @field_validator("teachers", "task_overrides")
    @classmethod
    def _by_task(cls, by_task: dict[str, object]) -> dict[str, object]:
        return {get_task(t).name: value for t, value in by_task.items()}

    @model_validator(mode="after")
    def _check_rows(self) -> GlueSuiteConfig:
        names = [Path(r).stem for r in self.recipes] + [r.name for r in self.rows]
        if not names:
            raise ValueError("give at least one recipe or row")
        if len(set(names)) != len(names):
            raise ValueError(f"row names must be unique, got {names}")
        generals = {g.name for g in self.general}
        for row in self.rows:
            if row.student and row.student.startswith("general:"):
                name = row.student.removeprefix("general:").split("@")[0]
                if name not in generals:
                    raise ValueError(f"row {row.name}: no general run named {name!r} (general: {sorted(generals)})")
        return self

    @property
    def all_rows(self) -> list[SuiteRow]:
        """The rows in table order: one per entry of ``recipes`` (with its ``recipe_overrides``), then ``rows``."""
        plain = [
            SuiteRow(name=Path(r).stem, recipe=r, set=list(self.recipe_overrides.get(Path(r).stem, [])))
            for r in self.recipes
        ]
        return plain + list(self.rows)


@dataclass(frozen=True)
class PlannedRun:
    """One run of the suite: its folder, its validated config, and whether it is a teacher fine-tuning."""

    task: str
    label: str
    config: FinetuneConfig | DistillConfig

    @property
    def folder(self) -> Path:
        """The run folder."""
        return Path(self.config.output_dir)

    @property
    def finished(self) -> bool:
        """True when the folder holds a complete run (``metrics.json`` is written last)."""
        return (self.folder / "metrics.json").is_file()


def _task_folder(config: GlueSuiteConfig, task: str) -> Path:
    folder = Path(config.data_root) / get_task(task).folder
    if not folder.is_dir():
        raise DataError(f"glue: no folder {folder} for task {task} (data_root: {config.data_root})")
    return folder


def _regression_overrides(recipe: DistillConfig) -> list[str]:
    """Class-distribution logit losses become ``logits_mse`` for a regression task (STS-B has one output)."""
    overrides = []
    for stage in recipe.stages:
        for i, match in enumerate(stage.matches):
            if match.representation == "logits" and match.loss in DISTRIBUTION_LOSSES:
                key = f"stages.{stage.name}.matches.{match.name or i}"
                overrides += [f"{key}.loss=logits_mse", f"{key}.params={{}}"]
    return overrides


def plan_glue_suite(config: GlueSuiteConfig, rows: list[str] | None = None) -> list[PlannedRun]:
    """Every run of the suite, with its config validated now, before any training starts: the general runs,
    then per task the teacher's fine-tuning and each row's run per seed.

    Args:
        config: the suite.
        rows: plan only these rows (and the teachers and general runs they need); ``None``: every row.

    Raises:
        ConfigError, DataError: a missing task folder, an unknown recipe, or an override that does not validate
            (the message names the row and task).
    """
    known = [row.name for row in config.all_rows]
    for name in rows or []:
        if name not in known:
            raise ConfigError(f"glue: no row named {name!r}{suggest(name, known)}; rows are {known}")
    out = Path(config.output_dir)
    runs: list[PlannedRun] = []
    generals: dict[str, DistillConfig] = {}
    for general in config.general:
        settings = [f"teacher.path={config.teacher}", *general.set, f"output_dir={out / 'general' / general.name}"]
        try:
            planned = load_recipe(general.recipe, settings)
        except ConfigError as err:
            raise ConfigError(f"glue: general run {general.name}: {err}") from None
        if planned.task != "mlm":
            raise ConfigError(f"glue: general run {general.name}: recipe {general.recipe} is not task: mlm")
        generals[general.name] = planned
        runs.append(PlannedRun("general", general.name, planned))
    for task in config.tasks:
        data = {"train": str(_task_folder(config, task))}
        if config.max_train_samples:
            data["max_train_samples"] = config.max_train_samples
        teacher_path = config.teachers.get(task)
        if teacher_path is None:
            base = {"task": task, "model": {"path": config.teacher}, "data": data}
            base["output_dir"] = str(out / task / "teacher")
            source = f"glue: finetune ({task})"
            finetune = parse_config(FinetuneConfig, apply_overrides(base, list(config.finetune)), source=source)
            runs.append(PlannedRun(task, "teacher", finetune))
            teacher_path = str(out / task / "teacher" / "model")
        for row in config.all_rows:
            if rows is not None and row.name not in rows:
                continue
            try:
                runs += _row_runs(config, row, task, data, teacher_path, generals)
            except ConfigError as err:
                raise ConfigError(f"glue: row {row.name}, task {task}: {err}") from None
    return runs


def _student_path(reference: str, generals: dict[str, DistillConfig], task: str, seed: int) -> str:
    """A row's ``student``: a folder (``{task}`` and ``{seed}`` filled in, e.g. another row's students), or a
    general run's student (``general:name``) or snapshot (``@step-N``)."""
    if not reference.startswith("general:"):
        return reference.replace("{task}", task).replace("{seed}", str(seed))
    name, _, snapshot = reference.removeprefix("general:").partition("@")
    general = generals[name]
    if not snapshot:
        return str(Path(general.output_dir) / "student")
    return str(Path(general.output_dir) / "checkpoints" / general.stages[-1].name / "snapshots" / snapshot)


def _row_runs(
    config: GlueSuiteConfig,
    row: SuiteRow,
    task: str,
    data: dict[str, str | int],
    teacher_path: str,
    generals: dict[str, DistillConfig],
) -> list[PlannedRun]:
    data_sets = [f"data.{key}={value}" for key, value in data.items()]
    runs = []
    for seed in config.seeds:
        source = _student_path(row.student, generals, task, seed) if row.student else None
        student = [f"student.path={source}"] if source else []
        folder = Path(config.output_dir) / task / row.name / f"seed-{seed}"
        if row.finetune:
            base = {"task": task, "model": {"path": source}, "data": data}
            settings = [*config.finetune, *row.set, f"train.seed={seed}", f"output_dir={folder}"]
            planned = parse_config(FinetuneConfig, apply_overrides(base, settings), source="glue")
        else:
            extra = [*config.distill, *config.task_overrides.get(task, []), *row.set]
            common = [f"task={task}", f"teacher.path={teacher_path}", *data_sets, *student, *extra]
            if get_task(task).is_regression:
                common += _regression_overrides(load_recipe(row.recipe, extra))  # as configured: its logit losses
            # the suite times every row against the teacher itself, side by side (latency: true)
            settings = [*common, f"train.seed={seed}", f"output_dir={folder}", "bench_latency=false"]
            planned = load_recipe(row.recipe, settings)
        runs.append(PlannedRun(task, row.name, planned))
    return runs
