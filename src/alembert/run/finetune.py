"""``finetune``: train a model on a task (GLUE's or one's own) with the distillation loop (one stage, task loss only).

This is how a teacher is made (a pre-trained encoder fine-tuned on the task), and the "No TD" baseline.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from accelerate.utils import set_seed

from alembert.config import FinetuneConfig
from alembert.data.sources import load_task_data
from alembert.models.load import check_model_source, load_model, load_tokenizer
from alembert.objective.terms import DistillationObjective
from alembert.report.card import write_finetune_card
from alembert.run.context import DistillResult, RunContext, build_eval_fn, final_metrics, stage_loader, stage_summary
from alembert.run.folder import Changes, check_precision, claim_run_folder
from alembert.tasks.resolve import resolve_task
from alembert.terminal import Phase
from alembert.train.checkpoint import write_json_atomic
from alembert.train.loop import run_stage
from alembert.train.setup import StageInputs, StageSpec


__all__ = ["finetune"]


def finetune(config: FinetuneConfig, *, resume: bool = False, allow_changes: Sequence[str] = ()) -> DistillResult:
    """Fine-tune a model on a task with the same loop (a single stage whose only loss is the task loss).

    A classification head of another size than the task's (e.g. another task's) is replaced by a new one. The
    fine-tuned model, with its tokenizer, is saved to ``<output_dir>/model``; ``metrics.json`` holds its dev
    scores. It is typically the teacher of a later :func:`alembert.distill` run. ``resume`` and
    ``allow_changes`` work as in :func:`alembert.distill`.
    """
    check_precision(config)
    with claim_run_folder(config, resume=resume, allow_changes=allow_changes) as changes:
        return _finetune(config, resume, changes)


def _finetune(config: FinetuneConfig, resume: bool, changes: Changes) -> DistillResult:
    output_dir = Path(config.output_dir)
    task = resolve_task(config.task)
    check_model_source(config.model.path, what="model", revision=config.model.revision)
    tokenizer = load_tokenizer(config.model.path, revision=config.model.revision)
    with Phase("reading and tokenising the data"):
        data = load_task_data(config.data, task, tokenizer)
    task = data.task or task  # with the labels read from the training data, if the task lists none
    set_seed(config.train.seed)
    model = load_model(
        config.model.path, head="sequence_classification", task=task, revision=config.model.revision, new_head=True
    )
    run = RunContext.open(config, output_dir, resume=resume)
    if changes:
        run.log.event("resume_changes", changes={key: {"before": a, "now": b} for key, (a, b) in changes.items()})
    eval_fn, main_metric = build_eval_fn(task, data, tokenizer, run.accelerator, config.train)
    stage_dir = output_dir / "checkpoints" / "finetune"
    objective = DistillationObjective([], 1.0, model.config, model.config)
    loader = stage_loader(data.train, tokenizer, config.data, config.train, run.accelerator)
    spec = StageSpec(
        "finetune", config.train, stage_dir, eval_fn, main_metric, resume, max_length=config.data.max_length
    )
    result = run_stage(StageInputs(run.accelerator, model, None, objective, loader, run.log), spec)
    metrics = final_metrics(result, config.train)
    if metrics is None:
        metrics = eval_fn(model) if eval_fn is not None else {}
    model_dir = output_dir / "model"
    summary = {
        "task": task.name,
        "task_spec": task.to_dict(),
        "main_metric": main_metric,
        "model": config.model.path,
        "seed": config.train.seed,
        "metrics": metrics,
        **stage_summary(result),
    }
    run.save_folder(
        model_dir,
        lambda tmp: (
            model.save_pretrained(tmp),
            tokenizer.save_pretrained(tmp),
            write_finetune_card(tmp / "README.md", config, task, summary),
        ),
    )
    if run.accelerator.is_main_process:
        write_json_atomic(output_dir / "metrics.json", summary)
        shutil.rmtree(stage_dir / "best", ignore_errors=True)
    run.close()
    return DistillResult(output_dir, model_dir, summary)
