"""``alembert export``: a self-contained ONNX folder (model, int8 model, tokenizer, config, ``export.json``) whose
fp32 outputs are checked against PyTorch, with optional dev-set accuracy and a measured backend recommendation."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alembert.bench.backends import Runner, build_runner, onnx_runner
from alembert.bench.env import bench_environment
from alembert.bench.timing import interleave, judge, load_average, ratio_stats
from alembert.config import DataConfig
from alembert.config.task import TaskConfig
from alembert.data.batches import build_eval_loader
from alembert.data.sources import load_task_data
from alembert.errors import ConfigError
from alembert.export.onnx import (
    Exporter,
    ExportError,
    export_onnx_file,
    onnx_session,
    quantize_int8,
    random_inputs,
    session_feeds,
    torch_logits,
)
from alembert.files import FolderClaim
from alembert.models.load import check_model_source, load_model, load_tokenizer
from alembert.tasks.metrics import compute_metrics, predictions_from_logits
from alembert.tasks.resolve import resolve_task
from alembert.tasks.task import Task, labels_from_model
from alembert.terminal import Phase


__all__ = ["ExportResult", "export_model"]

_SAMPLES = ("A quick check of the exported model.", "It was great!", "Short.", "The plot is dull and the cast tired.")


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote and checked (also saved as ``export.json``)."""

    output_dir: Path
    files: dict[str, str]
    max_abs_diff: float
    atol: float
    int8_max_abs_diff: float | None = None
    int8_agreement: float | None = None
    accuracy: dict[str, dict[str, float]] = field(default_factory=dict)
    backend_choice: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {**asdict(self), "output_dir": str(self.output_dir)}


def _check_inputs(model, tokenizer) -> list[dict[str, np.ndarray]]:
    encoded = tokenizer(list(_SAMPLES[:2]), list(_SAMPLES[2:]), padding=True, truncation=True, return_tensors="np")
    batches = [dict(encoded), random_inputs(model, 3, 24, seed=1, padded=True), random_inputs(model, 1, 7, seed=2)]
    return [{k: np.asarray(v, dtype=np.int64) for k, v in b.items()} for b in batches]


def _onnx_logits(session, inputs) -> np.ndarray:
    return session.run(["logits"], session_feeds(session, inputs))[0]


def _dev_scores(model, sessions: dict[str, Any], tokenizer, task: Task, data: str, limit: int | None):
    dev = load_task_data(DataConfig(dev=data, max_eval_samples=limit), task, tokenizer, need_train=False).dev
    if not dev:
        raise ConfigError(f"export: no dev data for task {task.name} in {data}")
    dataset = next(iter(dev.values()))
    logits: dict[str, list[np.ndarray]] = {"torch": [], **{name: [] for name in sessions}}
    labels = []
    with Phase(f"scoring PyTorch and {', '.join(sessions)} on the dev set", total=len(dataset)) as phase:
        for batch in build_eval_loader(dataset, tokenizer, batch_size=32):
            inputs = {k: v.numpy() for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            logits["torch"].append(torch_logits(model, inputs))
            for name, session in sessions.items():
                logits[name].append(_onnx_logits(session, inputs))
            labels.append(batch["labels"].numpy())
            phase.advance(len(batch["labels"]))
    gold = np.concatenate(labels)
    return {
        name: compute_metrics(predictions_from_logits(np.concatenate(parts), task), gold, task)
        for name, parts in logits.items()
    }


def _choose_backend(
    candidates: dict[str, Runner], inputs: dict[str, np.ndarray], excluded: dict[str, str], rounds: int = 3
) -> dict[str, Any]:
    load_start = load_average()
    with Phase(f"timing {', '.join(candidates)} at batch 1") as phase:
        times = interleave(
            {name: runner.bind(inputs) for name, runner in candidates.items()},
            rounds=rounds,
            budget_seconds=10.0,
            say=lambda _message: phase.advance(),
        )
    medians = {
        name: 1000.0 * statistics.median(t for block in rounds_ for t in block) for name, rounds_ in times.items()
    }
    allowed = {name: ms for name, ms in medians.items() if name not in excluded}
    ranked = sorted(allowed, key=allowed.get)
    chosen = ranked[0]
    margin = ratio_stats(times[ranked[1]], times[chosen]) if len(ranked) > 1 else None
    verdict = judge(margin["spread"] if margin else None, [load_start, load_average()])
    return {
        "chosen": chosen,
        "median_ms": medians,
        "excluded": excluded,
        "margin_over_next": margin,
        "reliable": verdict.reliable,
        "reasons": list(verdict.reasons),
        "batch_size": int(next(iter(inputs.values())).shape[0]),
        "seq_len": int(next(iter(inputs.values())).shape[1]),
        "threads": torch.get_num_threads(),
        "environment": bench_environment(),
    }


def export_model(
    model: str,
    output_dir: str | Path,
    *,
    int8: bool = False,
    task: str | TaskConfig | None = None,
    data: str | None = None,
    exporter: Exporter = "dynamo",
    atol: float = 1e-4,
    choose_backend: bool = False,
    seq_len: int = 128,
    max_accuracy_drop: float = 1.0,
    max_eval_examples: int | None = None,
) -> ExportResult:
    """Export a saved sequence classifier to ONNX and check it.

    Args:
        model: a ``save_pretrained`` folder (or Hub name) with its tokenizer.
        output_dir: new folder for ``model.onnx`` (+ ``model_int8.onnx``), tokenizer, ``config.json`` and
            ``export.json``; must be empty or absent.
        int8: also write a dynamically quantised int8 model.
        task: GLUE task or a task of one's own (labels from the model's ``id2label``); with ``data``, dev scores of
            PyTorch, ONNX fp32 and int8 are reported.
        data: GLUE task folder or dev file.
        exporter: ``dynamo`` or ``torchscript`` (see :func:`alembert.export.onnx.export_onnx_file`).
        atol: largest accepted |PyTorch − ONNX Runtime| logit difference for the fp32 model.
        choose_backend: time PyTorch, ONNX Runtime fp32 (and int8) at batch 1 and recommend the fastest.
        seq_len: sequence length for the backend timing (capped by the model's position embeddings).
        max_accuracy_drop: int8 is not recommended if it loses more than this many points on the dev set.
        max_eval_examples: score only the first dev examples.

    Raises:
        ExportError: the export failed or the fp32 outputs differ by more than ``atol``.
    """
    out = Path(output_dir)
    if (task is None) != (data is None):
        raise ConfigError("export: --task and --data go together (they score the exported models on a dev set)")
    glue_task = None
    if task:
        glue_task = labels_from_model(resolve_task(task), getattr(check_model_source(model), "id2label", None))
    # the folder is claimed before any model is loaded: a file, a folder that holds files or cannot be created
    # (a read-only mount) is one line, and a failed export leaves no empty folder behind
    claim = FolderClaim.acquire(out, what="export: --output", must_be_empty=True, hint="choose a new output folder")
    try:
        tokenizer = load_tokenizer(model)
        torch_model = load_model(model, head="sequence_classification", task=glue_task).eval()
        with Phase(f"exporting {model} to ONNX ({exporter} exporter)"):
            fp32_path = export_onnx_file(torch_model, out / "model.onnx", exporter=exporter)
        files = {"fp32": fp32_path.name}
        session = onnx_session(fp32_path)
        checks = _check_inputs(torch_model, tokenizer)
        expected = [torch_logits(torch_model, inputs) for inputs in checks]
        diff = max(float(np.max(np.abs(_onnx_logits(session, x) - e))) for x, e in zip(checks, expected))
        if not diff <= atol:
            raise ExportError(f"export: ONNX fp32 logits differ from PyTorch by {diff:.2e} (> atol {atol:.0e})")
        sessions = {"ort": session}
        int8_diff = agreement = None
        if int8:
            with Phase("quantising to int8"):
                int8_path = quantize_int8(fp32_path, out / "model_int8.onnx")
            files["int8"] = int8_path.name
            sessions["ort-int8"] = onnx_session(int8_path)
            quantized = [_onnx_logits(sessions["ort-int8"], x) for x in checks]
            int8_diff = max(float(np.max(np.abs(q - e))) for q, e in zip(quantized, expected))
            same = [q.argmax(-1) == e.argmax(-1) for q, e in zip(quantized, expected)]
            agreement = float(np.mean(np.concatenate(same)))
        accuracy = {}
        if glue_task is not None and data is not None:
            accuracy = _dev_scores(torch_model, sessions, tokenizer, glue_task, data, max_eval_examples)
        choice = None
        if choose_backend:
            excluded = _int8_exclusion(accuracy, glue_task, max_accuracy_drop) if int8 else {}
            candidates = {"sdpa": build_runner(torch_model, "sdpa", out), "ort": onnx_runner(fp32_path)}
            if int8:
                candidates["ort-int8"] = onnx_runner(out / files["int8"], "ort-int8")
            positions = getattr(torch_model.config, "max_position_embeddings", seq_len + 2) - 2  # RoBERTa offsets by 2
            choice = _choose_backend(candidates, random_inputs(torch_model, 1, min(seq_len, positions)), excluded)
        tokenizer.save_pretrained(out)
        torch_model.config.save_pretrained(out)
        result = ExportResult(out, files, diff, atol, int8_diff, agreement, accuracy, choice)
        (out / "export.json").write_text(json.dumps({"source": model, **result.to_dict()}, indent=2) + "\n")
        return result
    finally:
        claim.release()


def _int8_exclusion(accuracy: dict[str, dict[str, float]], task: Task | None, max_drop: float) -> dict[str, str]:
    if not accuracy or task is None:
        return {}
    metric = task.main_metric
    drop = accuracy["ort"][metric] - accuracy["ort-int8"][metric]
    if drop > max_drop:
        return {"ort-int8": f"int8 loses {drop:.2f} points of {metric} on the dev set (> {max_drop})"}
    return {}
