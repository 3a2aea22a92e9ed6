"""``alembert glue``: the seed's GLUE table from one command.

For a pre-trained teacher and one or more recipes: fine-tune the teacher on every task, distil each recipe's
student from it (once per seed), evaluate on the dev sets and write the comparison in the papers' shape
(Model | #Params | CoLA | SST-2 | ... | Average | Inference time | Speed-up), the student score of each task being
the median over seeds (DistilBERT's protocol). Every run is an ordinary run folder; a finished one is reused, an
interrupted one resumed, so running the command again continues where it stopped.

Layout of ``output_dir``::

    <task>/teacher/             alembert finetune run (model/, metrics.json)
    <task>/<recipe>/seed-<s>/   alembert distill run (student/, metrics.json, report.md)
    glue.json, glue.md, report.html, *.png
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alembert.config import DISTRIBUTION_LOSSES, DistillConfig, FinetuneConfig
from alembert.config.io import apply_overrides, dump_config, parse_config
from alembert.config.recipes import load_recipe
from alembert.errors import ConfigError, DataError
from alembert.report.compare import write_comparison
from alembert.run.context import check_same_config
from alembert.run.distill import distill
from alembert.run.finetune import finetune
from alembert.tasks.glue import get_task
from alembert.train.checkpoint import write_json_atomic


__all__ = ["GlueSuiteConfig", "GlueSuiteResult", "plan_glue_suite", "run_glue_suite"]


class GlueSuiteConfig(BaseModel):
    """What ``alembert glue`` runs (YAML: the same keys; unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    teacher: str = Field(description="Pre-trained encoder (folder or Hub name) fine-tuned on every task.")
    data_root: str = Field(description="Folder holding the GLUE task folders (CoLA/, SST-2/, ...).")
    tasks: list[str] = Field(min_length=1, description="Task names, e.g. [cola, sst2, mrpc, stsb, rte, wnli].")
    recipes: list[str] = Field(min_length=1, description="Shipped recipe names or YAML files.")
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1, description="One student per seed.")
    output_dir: str = "runs/glue"
    teachers: dict[str, str] = Field(
        default_factory=dict, description="Already fine-tuned teachers by task (their fine-tuning is skipped)."
    )
    finetune: list[str] = Field(default_factory=list, description="--set overrides of every teacher fine-tuning.")
    distill: list[str] = Field(default_factory=list, description="--set overrides of every student run.")
    recipe_overrides: dict[str, list[str]] = Field(
        default_factory=dict, description="--set overrides of one recipe's runs, by recipe name."
    )
    max_train_samples: int | None = Field(default=None, gt=0, description="Cap on each task's training rows.")

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        names = [get_task(t).name for t in tasks]  # raises with a close-match suggestion
        if len(set(names)) != len(names):
            raise ValueError(f"a task is listed twice: {names}")
        return names

    @field_validator("teachers")
    @classmethod
    def _teacher_tasks(cls, teachers: dict[str, str]) -> dict[str, str]:
        return {get_task(t).name: path for t, path in teachers.items()}


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


@dataclass
class GlueSuiteResult:
    """Paths and scores of a finished suite."""

    output_dir: Path
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


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


def plan_glue_suite(config: GlueSuiteConfig) -> list[PlannedRun]:
    """Every run of the suite, with its config validated now, before any training starts.

    Raises:
        ConfigError, DataError: a missing task folder, an unknown recipe, or an override that does not validate
            (the message names the recipe and task).
    """
    out = Path(config.output_dir)
    runs: list[PlannedRun] = []
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
        for recipe_name in config.recipes:
            label = Path(recipe_name).stem
            extra = list(config.distill) + list(config.recipe_overrides.get(label, []))
            data_sets = [f"data.{key}={value}" for key, value in data.items()]
            common = [f"task={task}", f"teacher.path={teacher_path}", *data_sets, *extra]
            try:
                recipe = load_recipe(recipe_name, extra)  # as shipped: which logit losses it uses
                if get_task(task).is_regression:
                    common += _regression_overrides(recipe)
                for seed in config.seeds:
                    folder = out / task / label / f"seed-{seed}"
                    settings = [*common, f"train.seed={seed}", f"output_dir={folder}"]
                    if seed != config.seeds[0]:  # speed depends on the shapes and the task's lengths, not the seed
                        settings.append("bench_latency=false")
                    runs.append(PlannedRun(task, label, load_recipe(recipe_name, settings)))
            except ConfigError as err:
                raise ConfigError(f"glue: recipe {recipe_name}, task {task}: {err}") from None
    return runs


def _run(planned: PlannedRun, say: Callable[[str], None]) -> None:
    resume = (planned.folder / "config.yaml").is_file()
    if resume:  # a finished or interrupted run of this suite: it must be the run planned now
        try:
            check_same_config(planned.folder, planned.config)
        except ConfigError as err:
            raise ConfigError(
                f"glue: {planned.folder} holds a run with other settings ({err}); move it away to redo it"
            ) from None
    if planned.finished:
        say(f"[glue] {planned.task} {planned.label}: finished earlier, reusing {planned.folder}")
        return
    say(f"[glue] {planned.task} {planned.label}: {'resuming' if resume else 'running'} in {planned.folder}")
    if isinstance(planned.config, FinetuneConfig):
        finetune(planned.config, resume=resume)
    else:
        distill(planned.config, resume=resume)


def _collect(config: GlueSuiteConfig, runs: list[PlannedRun]) -> dict[str, dict[str, Any]]:
    """Per task: the teacher's main score and, per recipe, each seed's student score and their median."""
    scores: dict[str, dict[str, Any]] = {}
    for planned in runs:
        if isinstance(planned.config, FinetuneConfig):
            continue
        metrics = json.loads((planned.folder / "metrics.json").read_text(encoding="utf-8"))
        main = metrics["main_metric"]
        entry = scores.setdefault(planned.task, {"metric": main, "teacher": metrics["teacher_metrics"][main]})
        per_seed = entry.setdefault(planned.label, {"seeds": {}})
        per_seed["seeds"][str(planned.config.train.seed)] = metrics["student_metrics"][main]
        per_seed["median"] = statistics.median(per_seed["seeds"].values())
    return scores


def run_glue_suite(config: GlueSuiteConfig, *, say: Callable[[str], None] = print) -> GlueSuiteResult:
    """Run (or continue) the suite and write ``glue.json``, ``glue.md`` and ``report.html`` in ``output_dir``.

    All run configs are built and validated first; then each run is reused if finished, resumed if interrupted,
    or started. Runs are independent folders, so an interrupted suite loses at most its current run's progress
    since that run's last checkpoint.
    """
    runs = plan_glue_suite(config)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dump_config(config, out / "glue-config.yaml")
    for planned in runs:
        _run(planned, say)
    scores = _collect(config, runs)
    students = [p.folder for p in runs if isinstance(p.config, DistillConfig)]
    files = write_comparison(students, out, title="alembert glue: GLUE dev", group_seeds=True)
    files["markdown"] = files["markdown"].replace(out / "glue.md")
    write_json_atomic(out / "glue.json", {"config": config.model_dump(mode="json"), "scores": scores})
    files["json"] = out / "glue.json"
    return GlueSuiteResult(out, scores, files)
