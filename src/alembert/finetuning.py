"""``finetune``: train a model on a GLUE task with the distillation loop (one stage, the task loss only).

This is how a teacher is made (a pre-trained encoder fine-tuned on the task), and the "No TD" baseline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from accelerate.utils import set_seed

from alembert.config import FinetuneConfig
from alembert.config_io import dump_config
from alembert.data.glue import get_task
from alembert.data.sources import load_task_data
from alembert.models.load import check_model_source, load_model, load_tokenizer
from alembert.objective import DistillationObjective
from alembert.runfolder import (
    DistillResult,
    build_eval_fn,
    final_metrics,
    make_accelerator,
    prepare_output,
    stage_loader,
    stage_summary,
)
from alembert.train.checkpoint import atomic_folder, write_json_atomic
from alembert.train.loop import run_stage
from alembert.train.runlog import RunLog


__all__ = ["finetune"]


def finetune(config: FinetuneConfig, *, resume: bool = False) -> DistillResult:
    """Fine-tune a model on a GLUE task with the same loop (a single stage whose only loss is the task loss).

    A classification head of another size than the task's (e.g. another task's) is replaced by a new one. The
    fine-tuned model, with its tokenizer, is saved to ``<output_dir>/model``; ``metrics.json`` holds its dev
    scores. It is typically the teacher of a later :func:`alembert.distill` run.
    """
    output_dir = Path(config.output_dir)
    prepare_output(output_dir, resume, config)
    task = get_task(config.task)
    check_model_source(config.model.path, what="model", revision=config.model.revision)
    tokenizer = load_tokenizer(config.model.path, revision=config.model.revision)
    data = load_task_data(config.data, task, tokenizer)
    set_seed(config.train.seed)
    model = load_model(
        config.model.path, head="sequence_classification", task=task, revision=config.model.revision, new_head=True
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    accelerator = make_accelerator(config.train, output_dir)
    log = RunLog(output_dir / "log.jsonl", accelerator, trackers=bool(config.train.report_to))
    if accelerator.is_main_process:
        dump_config(config, output_dir / "config.yaml")
    eval_fn, main_metric = build_eval_fn(task, data, tokenizer, accelerator, config.train)
    objective = DistillationObjective([], 1.0, model.config, model.config)
    result = run_stage(
        accelerator=accelerator,
        student=model,
        teacher=None,
        objective=objective,
        train_loader=stage_loader(data.train, tokenizer, config.data, config.train, accelerator),
        cfg=config.train,
        stage_dir=output_dir / "checkpoints" / "finetune",
        eval_fn=eval_fn,
        main_metric=main_metric,
        log=log,
        stage_name="finetune",
        resume=resume,
    )
    metrics = final_metrics(result, config.train)
    if metrics is None:
        metrics = eval_fn(model) if eval_fn is not None else {}
    model_dir = output_dir / "model"
    if accelerator.is_main_process:

        def save(tmp: Path) -> None:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)

        atomic_folder(model_dir, save)
        summary = {"task": task.name, "model": config.model.path, "metrics": metrics, **stage_summary(result)}
        write_json_atomic(output_dir / "metrics.json", summary)
        shutil.rmtree(output_dir / "checkpoints" / "finetune" / "best", ignore_errors=True)
    accelerator.end_training()
    return DistillResult(output_dir, model_dir, {"metrics": metrics})
