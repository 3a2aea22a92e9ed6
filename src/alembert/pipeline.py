"""The public entry points: :func:`distill` (here) and :func:`finetune` (:mod:`alembert.finetuning`). Both
validate everything first, then train stage by stage with the one loop, and leave a complete run folder behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from alembert.assistants import distill_assistants
from alembert.augment import augmented_data_config
from alembert.config import DistillConfig, StageConfig
from alembert.config_io import dump_config
from alembert.data.glue import GlueTask, get_task
from alembert.data.sources import TaskData, load_mlm_data, load_task_data
from alembert.errors import ConfigError, ModelError
from alembert.finetuning import finetune  # re-exported: the two entry points are imported from here
from alembert.models.load import check_model_source, load_model, load_tokenizer
from alembert.models.student import build_student
from alembert.objective import DistillationObjective, packing_blocker, resolve_matches
from alembert.packing import choose_packing
from alembert.report import RunReport, measure_pair_latency, write_model_card, write_report
from alembert.runfolder import (
    DistillResult,
    build_eval_fn,
    final_metrics,
    make_accelerator,
    prepare_output,
    stage_loader,
    stage_summary,
)
from alembert.runs_report import write_comparison
from alembert.teacher_cache import build_teacher_cache
from alembert.train.checkpoint import atomic_folder, write_json_atomic
from alembert.train.loop import StageResult, freeze_except, run_stage
from alembert.train.runlog import RunLog


__all__ = ["DistillResult", "distill", "finetune"]


def _check_vocab(
    teacher_tokenizer: PreTrainedTokenizerBase, student_path: str | None, teacher_vocab: int, student_vocab: int
) -> None:
    if student_vocab != teacher_vocab:
        raise ModelError(
            f"teacher and student vocabularies differ (teacher {teacher_vocab} tokens, student {student_vocab}); "
            "distillation needs a shared tokenizer"
        )
    if student_path is not None and Path(student_path, "tokenizer_config.json").is_file():
        student_tokenizer = load_tokenizer(student_path)
        if student_tokenizer.get_vocab() != teacher_tokenizer.get_vocab():
            raise ModelError(f"student tokenizer at {student_path} differs from the teacher's; use the same vocab")


def _load_inputs(config: DistillConfig):
    """Everything that can fail on user input, checked before any model weights are loaded or trained."""
    task = None if config.task == "mlm" else get_task(config.task)
    teacher_config = check_model_source(config.teacher.path, what="teacher", revision=config.teacher.revision)
    if config.student.path is not None:
        check_model_source(config.student.path, what="student")
    _check_max_length(config.data.max_length, teacher_config)
    tokenizer = load_tokenizer(config.teacher.path, revision=config.teacher.revision)
    data_config = config.data
    if task is not None and data_config.augment is not None:  # TinyBERT augmentation, made once and reused
        data_config = augmented_data_config(data_config, task)
    data = load_mlm_data(data_config, tokenizer) if task is None else load_task_data(data_config, task, tokenizer)
    if data.train is None or (isinstance(data.train, datasets.Dataset) and len(data.train) == 0):
        raise ConfigError("data.train: the training set is empty")
    return task, teacher_config, tokenizer, data


def _check_max_length(max_length: int, model_config: Any) -> None:
    """Tokens past the position embeddings would fail deep in the first forward pass; say so now."""
    positions = getattr(model_config, "max_position_embeddings", None)
    if positions is None:
        return
    offset = model_config.pad_token_id + 1 if model_config.model_type in ("roberta", "xlm-roberta", "mpnet") else 0
    if max_length > positions - offset:
        raise ConfigError(
            f"data.max_length {max_length} exceeds the teacher's {positions - offset} position embeddings; "
            f"set data.max_length <= {positions - offset}"
        )


def distill(config: DistillConfig, *, resume: bool = False) -> DistillResult:
    """Distil the teacher into a student, stage by stage, and write the run folder.

    The run folder holds ``student/`` (weights, tokenizer, model card; no projection weights), ``metrics.json``
    (teacher and student scores, parameter counts, retention, latency), the resolved ``config.yaml``,
    ``checkpoints/<stage>/`` and ``log.jsonl``. With ``assistants``, each hop is a run folder ``assistant-k/``
    and the top-level files describe the last hop (its teacher is the last assistant).

    Args:
        config: the validated run configuration.
        resume: continue an interrupted run in ``config.output_dir`` from its last checkpoint.

    Returns:
        Paths and metrics of the finished run.
    """
    output_dir = Path(config.output_dir)
    prepare_output(output_dir, resume, config)
    if config.assistants:  # teacher → assistant-1 → … first; then this run distils the last assistant
        config = distill_assistants(config, resume=resume, run=distill)
    task, _teacher_config, tokenizer, data = _load_inputs(config)
    head = _head(config, task)
    set_seed(config.train.seed)
    teacher = load_model(config.teacher.path, head=head, task=task, revision=config.teacher.revision)
    if config.student.path is not None:
        student, init = load_model(config.student.path, head=head, task=task), None
    else:
        student, init = build_student(teacher, config.student, masked_lm=task is None)
    _check_vocab(tokenizer, config.student.path, teacher.config.vocab_size, student.config.vocab_size)
    objectives = {}
    for stage in config.stages:
        matches = resolve_matches(stage, teacher.config, student.config, has_mlm_labels=task is None)
        objectives[stage.name] = (matches, stage)
        train_cfg = stage.train_config(config.train)  # validates the merged settings
        if train_cfg.pack_sequences == "always":  # a stage that cannot run packed fails now, not hours later
            for side, model in (("teacher", teacher), ("student", student)):
                blocker = packing_blocker(matches, stage.task_loss_weight, side)
                choose_packing("always", "cpu", model, blocker, f"{side} of stage '{stage.name}'")
    output_dir.mkdir(parents=True, exist_ok=True)
    accelerator = make_accelerator(config.train, output_dir)
    log = RunLog(output_dir / "log.jsonl", accelerator, trackers=bool(config.train.report_to))
    if accelerator.is_main_process:
        dump_config(config, output_dir / "config.yaml")
    log.event(
        "start",
        recipe=config.recipe,
        teacher=config.teacher.path,
        resume=resume,
        student_init=None if init is None else list(init.teacher_layers),
    )
    teacher = teacher.to(accelerator.device).eval().requires_grad_(False)
    eval_fn, main_metric = None, None  # a head-less (base) student has no output to score
    if head != "base":
        eval_fn, main_metric = build_eval_fn(task, data, tokenizer, accelerator, config.train)
    teacher_metrics = _teacher_metrics(output_dir, teacher, eval_fn, accelerator)
    stage_results: dict[str, StageResult] = {}
    for stage in config.stages:
        matches, _ = objectives[stage.name]
        stage_results[stage.name] = _run_or_skip_stage(
            config,
            stage,
            matches,
            student,
            teacher,
            data,
            tokenizer,
            accelerator,
            eval_fn,
            main_metric,
            log,
            output_dir,
            resume,
            task is None,
        )
    last = config.stages[-1]  # its evaluations may already have scored the final weights
    student_metrics = final_metrics(stage_results[last.name], last.train_config(config.train)) if eval_fn else None
    if student_metrics is None:
        student_metrics = eval_fn(student) if eval_fn is not None else {}
    student_dir = output_dir / "student"
    report = RunReport(
        task=config.task,
        recipe=config.recipe,
        teacher_path=config.teacher.path,
        main_metric=main_metric,
        teacher_metrics=teacher_metrics,
        student_metrics=student_metrics,
        stages={name: stage_summary(r) for name, r in stage_results.items()},
        student_init=None if init is None else list(init.teacher_layers),
    )
    if config.bench_latency and accelerator.is_main_process:
        report.latency = measure_pair_latency(teacher, student)
    report.fill_parameters(teacher, student)
    if accelerator.is_main_process:
        atomic_folder(student_dir, lambda tmp: _save_student(student, tokenizer, tmp, report))
        write_json_atomic(output_dir / "metrics.json", report.to_dict())
        write_report(report, output_dir)
        title = f"{config.recipe or 'distill'}: teacher vs student"
        write_comparison([output_dir], output_dir, markdown=False, title=title)  # report.html + figures
    log.event("end", **{f"student_{k}": v for k, v in student_metrics.items()})
    accelerator.end_training()
    return DistillResult(output_dir, student_dir, report.to_dict())


def _head(config: DistillConfig, task: GlueTask | None) -> str:
    """``base`` (no head at all) for general distillation whose losses never read the MLM head (TinyBERT)."""
    if task is not None:
        return "sequence_classification"
    reads_head = any(
        stage.task_loss_weight > 0 or any(m.representation == "logits" and m.weight > 0 for m in stage.matches)
        for stage in config.stages
    )
    return "masked_lm" if reads_head else "base"


def _teacher_metrics(output_dir: Path, teacher, eval_fn, accelerator: Accelerator) -> dict[str, float]:
    cached = output_dir / "teacher_metrics.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    metrics = eval_fn(teacher) if eval_fn is not None else {}
    if accelerator.is_main_process:
        write_json_atomic(cached, metrics)
    return metrics


def _run_or_skip_stage(
    config: DistillConfig,
    stage: StageConfig,
    matches,
    student: PreTrainedModel,
    teacher: PreTrainedModel,
    data: TaskData,
    tokenizer,
    accelerator: Accelerator,
    eval_fn,
    main_metric,
    log: RunLog,
    output_dir: Path,
    resume: bool,
    mlm: bool,
) -> StageResult:
    stage_dir = output_dir / "checkpoints" / stage.name
    done = stage_dir / "done.json"
    if resume and done.is_file():
        _load_into(student, stage_dir / "final")
        log.event("stage_skipped", stage=stage.name, reason="finished in an earlier run")
        return StageResult(**json.loads(done.read_text()))
    if not matches and stage.task_loss_weight == 0:  # every match weighted 0 (an ablation): nothing to train
        log.event("stage_skipped", stage=stage.name, reason="every loss weight is 0")
        if accelerator.is_main_process:
            atomic_folder(stage_dir / "final", lambda tmp: student.save_pretrained(tmp))
        accelerator.wait_for_everyone()
        return StageResult(0, None, None, [], 0.0)
    train_cfg = stage.train_config(config.train)
    set_seed(train_cfg.seed)
    freeze_except(student, stage.trainable)
    objective = DistillationObjective(matches, stage.task_loss_weight, teacher.config, student.config)
    loader = stage_loader(data.train, tokenizer, config.data, train_cfg, accelerator, mlm=mlm)
    stage_eval = eval_fn if (stage.task_loss_weight > 0 or _trains_head(matches)) else None
    teacher_cache = None
    if config.teacher.cache and objective.needs_teacher:  # teacher outputs computed once, read every epoch
        teacher_cache, record = build_teacher_cache(
            teacher,
            data.train,
            objective.requested("teacher"),
            tokenizer=tokenizer,
            cache_dir=Path(config.teacher.cache_dir or output_dir / "teacher-cache"),
            dtype=config.teacher.cache_dtype,
            accelerator=accelerator,
            batch_size=train_cfg.eval_batch_size,
        )
        log.event("teacher_cache", stage=stage.name, **record)
    result = run_stage(
        accelerator=accelerator,
        student=student,
        teacher=teacher,
        objective=objective,
        train_loader=loader,
        cfg=train_cfg,
        stage_dir=stage_dir,
        eval_fn=stage_eval,
        main_metric=main_metric,
        log=log,
        stage_name=stage.name,
        resume=resume,
        teacher_cache=teacher_cache,
        snapshot_steps=tuple(train_cfg.snapshot_steps),
        save_snapshot=lambda model, folder: (model.save_pretrained(folder), tokenizer.save_pretrained(folder)),
    )
    freeze_except(student, None)
    if accelerator.is_main_process:
        atomic_folder(stage_dir / "final", lambda tmp: student.save_pretrained(tmp))
        write_json_atomic(done, stage_summary(result))
    accelerator.wait_for_everyone()
    log.event("stage_end", stage=stage.name, **stage_summary(result))
    return result


def _trains_head(matches) -> bool:
    return any(m.representation == "logits" for m in matches)


def _load_into(model: PreTrainedModel, folder: Path) -> None:
    model.load_state_dict(type(model).from_pretrained(folder).state_dict())


def _save_student(student: PreTrainedModel, tokenizer, folder: Path, report: RunReport) -> None:
    student.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_model_card(folder / "README.md", report)
