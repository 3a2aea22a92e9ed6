"""Evaluate a model on a task's dev set(s): official metrics, predictions, GLUE submission files."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate import Accelerator
from torch import nn
from transformers import PreTrainedTokenizerBase

from alembert.config import DataConfig
from alembert.config.task import TaskConfig
from alembert.data.batches import build_eval_loader, build_train_loader
from alembert.data.sources import load_task_data
from alembert.errors import ConfigError, DataError
from alembert.features.extract import model_inputs
from alembert.files import FolderClaim
from alembert.models.load import check_model_source, load_model, load_tokenizer
from alembert.tasks.metrics import compute_metrics, predictions_from_logits
from alembert.tasks.resolve import resolve_task
from alembert.tasks.task import Task, labels_from_model
from alembert.terminal import Phase
from alembert.train.checkpoint import write_json_atomic


__all__ = ["evaluate", "evaluate_model", "mlm_perplexity", "predict_logits"]


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    accelerator: Accelerator,
    *,
    batch_size: int = 128,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits for every example, in dataset order, gathered across processes without duplicates.

    ``progress`` is called with the number of examples of each batch done (see :class:`alembert.terminal.Phase`).

    Returns:
        ``(logits (n, num_labels), labels (n,) or None)``.
    """
    loader = accelerator.prepare_data_loader(build_eval_loader(dataset, tokenizer, batch_size=batch_size))
    was_training = model.training
    model.eval()
    all_logits, all_labels = [], []
    for batch in loader:
        with accelerator.autocast():
            logits = model(**model_inputs(model, batch)).logits.float()
        labels = batch.get("labels")
        gathered = accelerator.gather_for_metrics((logits, labels) if labels is not None else (logits,))
        all_logits.append(gathered[0].cpu())
        if labels is not None:
            all_labels.append(gathered[1].cpu())
        if progress is not None:
            progress(len(gathered[0]))
    model.train(was_training)
    logits = torch.cat(all_logits).numpy()
    labels = torch.cat(all_labels).numpy() if all_labels else None
    return logits, labels


def evaluate_model(
    model: nn.Module,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    task: Task,
    accelerator: Accelerator,
    *,
    batch_size: int = 128,
    title: str = "evaluating on the dev set",
) -> dict[str, float]:
    """The task's metrics (percent) for ``model`` on a labelled dataset, with a progress line (main process)."""
    with Phase(title, total=len(dataset), enabled=accelerator.is_main_process) as phase:
        logits, labels = predict_logits(
            model, dataset, tokenizer, accelerator, batch_size=batch_size, progress=phase.advance
        )
    return compute_metrics(predictions_from_logits(logits, task), labels, task)


@torch.no_grad()
def mlm_perplexity(
    model: nn.Module,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    accelerator: Accelerator,
    *,
    batch_size: int = 64,
    mlm_probability: float = 0.15,
    seed: int = 0,
) -> dict[str, float]:
    """Masked-LM perplexity on held-out text with a fixed masking seed (model selection in general distillation)."""
    loader = build_train_loader(
        dataset, tokenizer, batch_size=batch_size, seed=seed, length_grouped=False, mlm_probability=mlm_probability
    )
    loader = accelerator.prepare_data_loader(loader)
    model.eval()
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    total, count = 0.0, 0
    for batch in loader:
        logits = model(**model_inputs(model, batch)).logits.float()
        labels = batch["labels"]
        loss = nn.functional.cross_entropy(
            logits.view(-1, logits.shape[-1]), labels.view(-1), reduction="sum", ignore_index=-100
        )
        n = (labels != -100).sum()
        total += accelerator.gather(loss.reshape(1)).sum().item()
        count += accelerator.gather(n.reshape(1)).sum().item()
    torch.random.set_rng_state(state)
    model.train()
    # negative so that "higher is better" holds for model selection, like every GLUE metric
    return {"neg_perplexity": -math.exp(total / max(count, 1)), "mlm_loss": total / max(count, 1)}


def _write_predictions(path: Path, logits: np.ndarray, task: Task) -> None:
    predictions = predictions_from_logits(logits, task)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["index", "prediction"])
        for i, value in enumerate(predictions):
            writer.writerow([i, f"{value:.3f}" if task.is_regression else task.labels[int(value)]])


def evaluate(
    model_path: str,
    task: str | TaskConfig | Task,
    data: DataConfig | str,
    output_dir: str | Path | None = None,
    *,
    batch_size: int = 128,
) -> dict[str, dict[str, float]]:
    """Evaluate a saved model on every dev set of a task; write ``metrics.json`` and predictions if asked.

    Args:
        model_path: a ``save_pretrained`` folder (or Hub name) with a classification head for the task.
        task: GLUE task name, or a task of one's own; when it lists no labels, the model's ``id2label`` gives them.
        data: a :class:`DataConfig`, or a GLUE task folder / dev file path.
        output_dir: where to write ``metrics.json``, ``predictions_<split>.tsv`` and, for test files, GLUE
            submission files; ``None`` writes nothing.
        batch_size: evaluation batch size.

    Returns:
        Metrics per dev split, e.g. ``{"dev": {"accuracy": 91.2}}``; MNLI: ``dev_matched`` and
        ``dev_mismatched``.

    Raises:
        ConfigError: a batch size below 1, or an ``output_dir`` that holds files or cannot be written (before
            the model is loaded).
        ModelError: a missing model folder, or a model whose classification head is not in its checkpoint.
    """
    model_config = check_model_source(model_path)
    glue_task = labels_from_model(resolve_task(task), getattr(model_config, "id2label", None))
    if batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size}: the batch size must be at least 1")
    data_cfg = data if isinstance(data, DataConfig) else _data_for_path(data)
    check_model_source(model_path)
    out = Path(output_dir) if output_dir is not None else None
    claim = None
    if out is not None:  # refused before anything is loaded: earlier results are never overwritten
        claim = FolderClaim.acquire(out, what="--output", must_be_empty=True, hint="choose a new folder")
    try:
        return _evaluate(model_path, glue_task, data, data_cfg, out, batch_size)
    finally:
        if claim is not None:
            claim.release()


def _evaluate(
    model_path: str, glue_task: Task, data: object, data_cfg: DataConfig, out: Path | None, batch_size: int
) -> dict[str, dict[str, float]]:
    tokenizer = load_tokenizer(model_path)
    task_data = load_task_data(data_cfg, glue_task, tokenizer, need_train=False)
    glue_task = task_data.task or glue_task
    if not task_data.dev and not task_data.test:
        raise DataError(f"no dev or test file for task {glue_task.name} in {data}")
    model = load_model(model_path, head="sequence_classification", task=glue_task, trained_head=True)
    accelerator = Accelerator()
    model = model.to(accelerator.device)
    results: dict[str, dict[str, float]] = {}
    for name, dataset in task_data.dev.items():
        with Phase(f"evaluating on {name}", total=len(dataset), enabled=accelerator.is_main_process) as phase:
            logits, labels = predict_logits(
                model, dataset, tokenizer, accelerator, batch_size=batch_size, progress=phase.advance
            )
        results[name] = compute_metrics(predictions_from_logits(logits, glue_task), labels, glue_task)
        if out is not None and accelerator.is_main_process:
            _write_predictions(out / f"predictions_{name}.tsv", logits, glue_task)
    for name, dataset in task_data.test.items():
        logits, _ = predict_logits(model, dataset, tokenizer, accelerator, batch_size=batch_size)
        if out is not None and accelerator.is_main_process:
            _write_predictions(out / f"{_submission_name(glue_task, name)}.tsv", logits, glue_task)
    if out is not None and accelerator.is_main_process:
        record = {"model": model_path, "task": glue_task.name, "task_spec": glue_task.to_dict(), "metrics": results}
        write_json_atomic(out / "metrics.json", record)
    return results


def _submission_name(task: Task, split: str) -> str:
    """GLUE leaderboard file names (``SST-2.tsv``, ``MNLI-m.tsv``, ``MNLI-mm.tsv``, ``AX.tsv``)."""
    if task.name == "mnli":
        return "MNLI-mm" if "mismatched" in split else "MNLI-m"
    return task.folder or task.name


def _data_for_path(path: str) -> DataConfig:
    target = Path(path)
    if target.is_dir():
        return DataConfig(dev=str(target), test=str(target))
    return DataConfig(dev=str(target))
