""":func:`distill`: teacher → student, stage by stage. Everything that can fail on user input is checked first
(inputs, models, the planned stages), then each stage trains with the one loop, and the run leaves a complete
folder behind: the student, its metrics, report and model card."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from alembert.bench.pair import measure_pair_speed
from alembert.config import DistillConfig
from alembert.data.sources import TaskData, load_task_data
from alembert.models.load import load_model
from alembert.models.sentence import SentencePooling, read_pooling, save_sentence_folder
from alembert.models.vocab import init_embeddings_from_teacher, same_vocabulary
from alembert.report.card import software_versions, write_student_card
from alembert.report.compare import write_comparison
from alembert.report.summary import RunReport, write_report
from alembert.run.assistants import distill_assistants
from alembert.run.cache_policy import later_cached_features, remove_run_cache
from alembert.run.context import DistillResult, RunContext, build_eval_fn, final_metrics, stage_summary
from alembert.run.embeddings import embedding_eval_fn, find_embedding_tasks
from alembert.run.folder import Changes, check_precision, claim_run_folder
from alembert.run.inputs import check_vocab, load_inputs
from alembert.run.stages import check_task_losses, plan_stages, run_planned_stage
from alembert.run.students import kept_hidden_channels, make_student
from alembert.run.teacher import check_teacher_scores
from alembert.run.vocab import student_vocabulary
from alembert.tasks.task import Task
from alembert.terminal import Phase, say
from alembert.train.checkpoint import write_json_atomic
from alembert.train.loop import StageResult


__all__ = ["DistillResult", "distill"]


def distill(config: DistillConfig, *, resume: bool = False, allow_changes: Sequence[str] = ()) -> DistillResult:
    """Distil the teacher into a student, stage by stage, and write the run folder.

    The run folder holds ``student/`` (weights, tokenizer, model card; no projection weights), ``metrics.json``
    (teacher and student scores, parameter counts, retention, latency), the resolved ``config.yaml``,
    ``checkpoints/<stage>/`` and ``log.jsonl``. With ``assistants``, each hop is a run folder ``assistant-k/``
    and the top-level files describe the last hop (its teacher is the last assistant).

    Args:
        config: the validated run configuration.
        resume: continue an interrupted run in ``config.output_dir`` from its last checkpoint.
        allow_changes: with ``resume``, optimiser settings (``train.learning_rate``, …) that may differ from the
            interrupted run's config; the change is recorded in ``log.jsonl``.

    Returns:
        Paths and metrics of the finished run.

    Raises:
        ConfigError: before anything is loaded, for a folder that is in use, holds another run or cannot be
            written, a precision this machine cannot run, or (``resume``) a changed config.
    """
    check_precision(config)
    with claim_run_folder(config, resume=resume, allow_changes=allow_changes) as changes:
        return _distill(config, resume, changes)


def _distill(config: DistillConfig, resume: bool, changes: Changes) -> DistillResult:
    output_dir = Path(config.output_dir)
    if config.assistants:  # teacher → assistant-1 → … first; then this run distils the last assistant
        config = distill_assistants(config, resume=resume, run=distill)
    task, _teacher_config, tokenizer, data = load_inputs(config)
    check_task_losses(config.stages, task)
    sentences = config.task == "embedding" or any(
        m.representation == "sentence_embedding" for stage in config.stages for m in stage.matches
    )
    pooling = read_pooling(config.teacher.path) if sentences else SentencePooling()  # pooled the teacher's way
    embedding_tasks = find_embedding_tasks(config.data.dev) if config.task == "embedding" and config.data.dev else {}
    head = _head(config, task)
    set_seed(config.train.seed)
    student_tokenizer, paired = student_vocabulary(config, task, tokenizer, output_dir)
    own_vocab = student_tokenizer is not None and not same_vocabulary(student_tokenizer, tokenizer)
    if paired is not None:  # every example tokenised by both models' tokenizers
        data.train = paired
    teacher = load_model(
        config.teacher.path,
        head=head,
        task=task,
        revision=config.teacher.revision,
        trained_head=True,
        what="teacher",
    )
    vocab = (len(student_tokenizer), student_tokenizer.pad_token_id) if own_vocab else None
    student, init, pruning = make_student(
        config.student, teacher, head=head, task=task, data=config.data, train_set=data.train, tokenizer=tokenizer,
        seed=config.train.seed, vocab=vocab,
    )  # fmt: skip
    embedding_rows = None
    if own_vocab:
        embedding_rows = init_embeddings_from_teacher(student, teacher, student_tokenizer, tokenizer)
    else:
        check_vocab(tokenizer, config.student.path, teacher.config.vocab_size, student.config.vocab_size)
    student_tokenizer = student_tokenizer or tokenizer
    plans = plan_stages(config, teacher, student, output_dir)
    run = RunContext.open(config, output_dir, resume=resume)
    run.log.event(
        "start",
        recipe=config.recipe,
        teacher=config.teacher.path,
        resume=resume,
        student_init=None if init is None else list(init.teacher_layers),
        stages=[plan.name for plan in plans],
    )
    if changes:
        run.log.event("resume_changes", changes={key: {"before": a, "now": b} for key, (a, b) in changes.items()})
    if pruning is not None:
        run.log.event("pruned", **pruning.to_dict())
    if own_vocab:
        run.log.event("student_vocabulary", size=len(student_tokenizer), embedding_rows_from_teacher=embedding_rows)
    teacher = teacher.to(run.accelerator.device).eval().requires_grad_(False)
    scorers = _Scorers(config, task, data, run.accelerator, pooling, embedding_tasks, tokenizer)
    evaluation = scorers.build(head, student_tokenizer)  # the student reads its own tokens
    teacher_eval = scorers.build(head, tokenizer)[0] if own_vocab else evaluation[0]
    eval_fn, main_metric = evaluation
    teacher_metrics = _teacher_metrics(output_dir, teacher, teacher_eval, run.accelerator)
    if task is not None and main_metric is not None:
        check_teacher_scores(teacher_metrics, main_metric, task, data, config.teacher.path)
        run.record_notices()
    kept_channels = kept_hidden_channels(config.student, pruning)
    later = later_cached_features(
        config, [(plan.matches, plan.train) for plan in plans], data.train, run.accelerator.num_processes
    )
    results: dict[str, StageResult] = {}
    for plan, later_cached in zip(plans, later, strict=True):
        results[plan.name] = run_planned_stage(
            plan, run, config=config, models=(student, teacher), data=data, tokenizer=tokenizer, evaluation=evaluation,
            pooling=pooling, student_tokenizer=student_tokenizer if paired is not None else None,
            kept_channels=kept_channels, later_cached=later_cached,
        )  # fmt: skip
    last = plans[-1]  # its evaluations may already have scored the final weights
    student_metrics = final_metrics(results[last.name], last.train) if eval_fn else None
    if student_metrics is None:
        student_metrics = eval_fn(student) if eval_fn is not None else {}
    report = RunReport(
        task=config.task if task is None else task.name,
        recipe=config.recipe,
        teacher_path=config.teacher.path,
        main_metric=main_metric,
        teacher_metrics=teacher_metrics,
        student_metrics=student_metrics,
        stages={name: stage_summary(r) for name, r in results.items()},
        student_init=None if init is None else list(init.teacher_layers),
        task_spec=None if task is None else task.to_dict(),
        seed=config.train.seed,
        versions=software_versions(),
    )
    if config.bench_latency and run.accelerator.is_main_process:
        with Phase("measuring teacher and student speed (batch 1, CPU)"):
            report.latency = measure_pair_speed(teacher, student, lengths=_token_lengths(data), say=say)
        if config.task == "embedding":  # embeddings are computed in batches too
            with Phase("measuring teacher and student speed (batch 32, CPU)"):
                report.latency["batch_32"] = measure_pair_speed(teacher, student, batch_size=32, say=say)
    report.fill_parameters(teacher, student)
    student_dir = output_dir / "student"
    save = _save_student if config.task != "embedding" else _sentence_saver(pooling, config.data.max_length)
    run.save_folder(student_dir, lambda tmp: save(student, student_tokenizer, tmp, report, config))
    if run.accelerator.is_main_process:
        write_json_atomic(output_dir / "metrics.json", report.to_dict())
        write_report(report, output_dir)
        title = f"{config.recipe or 'distill'} on {report.task}: teacher vs student"
        write_comparison([output_dir], output_dir, markdown=False, title=title)  # report.html + figures
    remove_run_cache(run, config)
    run.log.event("end", **{f"student_{k}": v for k, v in student_metrics.items()})
    run.close()
    return DistillResult(output_dir, student_dir, report.to_dict())


def _token_lengths(data: TaskData) -> list[int] | None:
    """Token counts of the dev set (else the training set): the task's own length distribution."""
    dataset = next(iter(data.dev.values()), None) or data.train
    if isinstance(dataset, datasets.Dataset) and "length" in dataset.column_names:
        return list(dataset.with_format(None)["length"])
    return None


def _head(config: DistillConfig, task: Task | None) -> str:
    """``base`` (no head at all) for general distillation whose losses never read the MLM head (TinyBERT)."""
    if task is not None:
        return "sequence_classification"
    if config.task == "embedding":
        return "base"
    reads_head = any(
        stage.task_loss_weight > 0 or any(m.representation == "logits" and m.weight > 0 for m in stage.matches)
        for stage in config.stages
    )
    return "masked_lm" if reads_head else "base"


@dataclass(frozen=True)
class _Scorers:
    """Builds the dev scorer of a model that reads a given tokenizer's tokens (teacher and student may differ)."""

    config: DistillConfig
    task: Task | None
    data: TaskData
    accelerator: Accelerator
    pooling: SentencePooling
    embedding_tasks: dict[str, Path]
    data_tokenizer: PreTrainedTokenizerBase

    def build(self, head: str, tokenizer: PreTrainedTokenizerBase) -> tuple:
        config = self.config
        if head != "base":
            data = self.data
            if tokenizer is not self.data_tokenizer:
                data = load_task_data(config.data, self.task, tokenizer, need_train=False)
            return build_eval_fn(self.task, data, tokenizer, self.accelerator, config.train)
        if self.embedding_tasks:  # STS-B Spearman, linear probes on SST-2 / MRPC
            scorer = embedding_eval_fn(
                self.embedding_tasks, tokenizer, self.pooling, max_length=config.data.max_length,
                batch_size=config.train.eval_batch_size, max_eval_samples=config.data.max_eval_samples,
            )  # fmt: skip
            return scorer, _embedding_main_metric(self.embedding_tasks)
        return None, None  # a head-less (base) student has no output to score


def _embedding_main_metric(tasks: dict[str, Path]) -> str:
    """STS-B Spearman when STS-B is scored, else the first probe's accuracy."""
    first = next(iter(tasks))
    return "stsb_spearman" if first == "stsb" else f"{first}_accuracy"


def _teacher_metrics(output_dir: Path, teacher, eval_fn, accelerator: Accelerator) -> dict[str, float]:
    cached = output_dir / "teacher_metrics.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    metrics = eval_fn(teacher) if eval_fn is not None else {}
    if accelerator.is_main_process:
        write_json_atomic(cached, metrics)
    return metrics


def _save_student(student: PreTrainedModel, tokenizer, folder: Path, report: RunReport, config: DistillConfig) -> None:
    student.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_student_card(folder / "README.md", report, config)


def _sentence_saver(pooling: SentencePooling, max_length: int):
    """Save the student as a sentence-transformers folder that pools as the teacher does."""

    def save(student: PreTrainedModel, tokenizer, folder: Path, report: RunReport, config: DistillConfig) -> None:
        save_sentence_folder(student, tokenizer, folder, pooling, max_seq_length=pooling.max_seq_length or max_length)
        write_student_card(folder / "README.md", report, config)

    return save
