"""What every run (``distill``, ``finetune``) shares: the run's log and Accelerator, evaluation and summaries.

The run folder itself is checked and claimed first (:mod:`alembert.run.folder`). The Accelerator is the one place
that knows about devices, precision and processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration
from torch import nn
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from alembert.config import DataConfig, DistillConfig, FinetuneConfig, TrainConfig
from alembert.config.io import dump_config
from alembert.data.batches import build_train_loader
from alembert.data.sources import TaskData
from alembert.files import atomic_folder
from alembert.notices import drain
from alembert.run.evaluate import evaluate_model, mlm_perplexity
from alembert.tasks.glue import dev_suffix
from alembert.tasks.task import Task
from alembert.terminal import warn_once
from alembert.train.loop import StageResult
from alembert.train.runlog import RunLog


__all__ = [
    "DistillResult",
    "RunContext",
    "EvalFn",
    "build_eval_fn",
    "final_metrics",
    "make_accelerator",
    "stage_loader",
    "stage_summary",
]

EvalFn = Callable[[nn.Module], dict[str, float]]


@dataclass(frozen=True)
class DistillResult:
    """Where the run wrote its outputs, and its headline numbers.

    Attributes:
        output_dir: the run folder.
        student_dir: the saved student (``save_pretrained`` + tokenizer + model card).
        metrics: the content of ``metrics.json``.
    """

    output_dir: Path
    student_dir: Path
    metrics: dict[str, Any]


@dataclass(frozen=True)
class RunContext:
    """What every stage of a run shares: its folder, the Accelerator, the log and whether it resumes.

    Attributes:
        output_dir: the run folder.
        accelerator: the run's accelerator (devices, precision, processes).
        log: the run's ``log.jsonl`` (and trackers).
        resume: the run continues an interrupted one.
    """

    output_dir: Path
    accelerator: Accelerator
    log: RunLog
    resume: bool

    @classmethod
    def open(cls, config: DistillConfig | FinetuneConfig, output_dir: Path, *, resume: bool) -> RunContext:
        """Create the run folder, the Accelerator and the log; write the resolved ``config.yaml``."""
        output_dir.mkdir(parents=True, exist_ok=True)
        accelerator = make_accelerator(config.train, output_dir)
        log = RunLog(output_dir / "log.jsonl", accelerator, trackers=bool(config.train.report_to))
        if accelerator.is_main_process:
            dump_config(config, output_dir / "config.yaml")
        run = cls(output_dir, accelerator, log, resume)
        run.record_notices()
        return run

    def record_notices(self) -> None:
        """Write the warnings and notes given since the last call (set-up, loading) to ``log.jsonl``."""
        for notice in drain():
            self.log.event(notice.kind, message=notice.message)

    def save_folder(self, target: Path, write: Callable[[Path], None]) -> None:
        """Write a folder atomically on the main process; every process waits until it exists."""
        if self.accelerator.is_main_process:
            atomic_folder(target, write)
        self.accelerator.wait_for_everyone()

    def close(self) -> None:
        """Record the last notices; end the trackers and the process group."""
        self.record_notices()
        self.accelerator.end_training()


def make_accelerator(train: TrainConfig, output_dir: Path) -> Accelerator:
    """The run's Accelerator: mixed precision, gradient accumulation, trackers, and processes from the launcher."""
    trackers = list(train.report_to) or None
    # Under torchrun on a machine without GPUs, Accelerate only joins the process group (gloo) when told to
    # use the CPU; otherwise every process would silently train alone.
    multi_cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    accelerator = Accelerator(
        cpu=multi_cpu,
        mixed_precision=train.mixed_precision,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        log_with=trackers,
        project_dir=str(output_dir),
        dataloader_config=DataLoaderConfiguration(non_blocking=True),  # pinned batches (GPU) copy asynchronously
    )
    if trackers:
        accelerator.init_trackers("alembert")
    return accelerator


def stage_loader(
    dataset: Any,
    tokenizer: PreTrainedTokenizerBase,
    data: DataConfig,
    train: TrainConfig,
    accelerator: Accelerator,
    *,
    mlm: bool = False,
    student_tokenizer: PreTrainedTokenizerBase | None = None,
) -> DataLoader:
    """One stage's training batches: the run's data settings with the stage's batch size and seed (pinned for a GPU).

    Args:
        dataset: the tokenised training set (or a masked-LM text stream).
        tokenizer: pads the batches.
        data: the run's data section (length grouping, masking probability).
        train: the stage's effective training settings.
        accelerator: the run's accelerator.
        mlm: mask the batches for masked-LM training.
        student_tokenizer: pads the student's side of a paired dataset (its own vocabulary).
    """
    return build_train_loader(
        dataset,
        tokenizer,
        batch_size=train.batch_size,
        seed=train.seed,
        length_grouped=data.length_grouped,
        mlm_probability=data.mlm_probability if mlm else None,
        pin_memory=accelerator.device.type == "cuda",
        student_tokenizer=student_tokenizer,
    )


def build_eval_fn(
    task: Task | None,
    data: TaskData,
    tokenizer: PreTrainedTokenizerBase,
    accelerator: Accelerator,
    cfg: TrainConfig,
) -> tuple[EvalFn | None, str | None]:
    """The scorer of the dev sets and the name of the metric that selects the best model (``(None, None)``
    without a dev set).

    GLUE tasks are scored with their official metrics on every dev set: MNLI's mismatched set adds ``_mm`` keys
    (``accuracy_mm``) and the matched set selects. General distillation (``task`` None) is scored with the
    masked-LM perplexity of the first dev set, reported negated so that higher is better everywhere.
    """
    if not data.dev:
        keeps = "select: best has no scores to compare, so" if cfg.select == "best" else "with select: last"
        warn_once(
            "no-dev-set",
            f"no dev set: training runs without evaluation and {keeps} the weights of the last step are kept; "
            "give data.dev (a file) or put a dev file next to the training file's folder",
        )
        return None, None
    if task is None:
        dataset = next(iter(data.dev.values()))
        return (lambda model: mlm_perplexity(model, dataset, tokenizer, accelerator)), "neg_perplexity"
    scored: list[tuple[str, Any]] = []
    for name, dataset in data.dev.items():
        suffix = dev_suffix(name)
        scored.append((suffix if suffix not in (s for s, _ in scored) else f"_{name}", dataset))
    selects = next((suffix for suffix, _ in scored if suffix == ""), scored[0][0])  # MNLI: the matched set

    def score(model: nn.Module) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for suffix, dataset in scored:
            result = evaluate_model(model, dataset, tokenizer, task, accelerator, batch_size=cfg.eval_batch_size)
            metrics.update({f"{key}{suffix}": value for key, value in result.items()})
        return metrics

    return score, f"{task.main_metric}{selects}"


def final_metrics(result: StageResult, cfg: TrainConfig) -> dict[str, float] | None:
    """The dev scores of the weights a stage ended with, when its own evaluations already measured them.

    The loop evaluates at the last step and, with ``select: best``, ends on the best evaluated weights; either
    way one history record scored exactly those weights, so they need not be evaluated again.
    """
    step = result.best_step if cfg.select == "best" and result.best_step is not None else result.global_step
    for record in result.history:
        if record["step"] == step:
            return dict(record["metrics"])
    return None


def stage_summary(result: StageResult) -> dict[str, Any]:
    """A stage's result as recorded in ``metrics.json`` and ``done.json``."""
    return {
        "global_step": result.global_step,
        "best_metric": result.best_metric,
        "best_step": result.best_step,
        "history": result.history,
        "examples_per_second": result.examples_per_second,
        "tokens": result.tokens,
        "tokens_per_second": result.tokens_per_second,
    }
