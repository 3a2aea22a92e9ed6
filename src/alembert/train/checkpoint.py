"""Atomic, resumable checkpoints: everything is written to a temporary folder, then renamed into place."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from accelerate import Accelerator
from torch import nn
from transformers import PreTrainedModel

from alembert.errors import AlembertError
from alembert.files import atomic_folder, is_write_error, write_error_reason, write_json_atomic


__all__ = [
    "TrainerState",
    "atomic_folder",
    "latest_checkpoint",
    "load_weights",
    "prune_checkpoints",
    "save_best_weights",
    "save_training_state",
    "write_json_atomic",
]

STATE_FILE = "trainer_state.json"


@dataclass
class TrainerState:
    """Loop counters saved with every checkpoint (runtime state; the config itself is never mutated).

    Attributes:
        global_step: optimizer steps done.
        epoch: current epoch (0-based).
        batches_in_epoch: batches consumed in the current epoch (to skip them on resume).
        best_metric: best evaluation score so far, or ``None``.
        best_step: step of ``best_metric``.
        history: evaluation records ``{"step", "metrics"}``.
        stream_positions: for a streamed training set, where each process's reader continues (by process).
        tokens: real (non-padding) input tokens trained on so far, all processes together.
        train_seconds: training wall-clock so far (evaluation excluded), over every resumed leg.
    """

    global_step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    history: list[dict] = field(default_factory=list)
    stream_positions: list[list[int]] | None = None
    tokens: int = 0
    train_seconds: float = 0.0

    @classmethod
    def load(cls, folder: Path) -> TrainerState:
        """Read the state saved in a checkpoint folder."""
        return cls(**json.loads((folder / STATE_FILE).read_text()))


def _step_of(folder: Path) -> int:
    return int(folder.name.split("-")[-1])


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete ``step-N`` checkpoint under ``folder`` (incomplete temporary folders are ignored)."""
    if not folder.is_dir():
        return None
    complete = [p for p in folder.glob("step-*") if p.is_dir() and (p / STATE_FILE).is_file()]
    return max(complete, key=_step_of) if complete else None


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints."""
    complete = sorted((p for p in folder.glob("step-*") if p.is_dir()), key=_step_of)
    for old in complete[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def state_dict(state: TrainerState) -> dict:
    """JSON-serialisable form of ``state``."""
    return asdict(state)


def save_training_state(accelerator: Accelerator, folder: Path, state: TrainerState, keep: int) -> None:
    """Every process writes its part (weights, optimizer, its RNG state) into one temporary folder; the main
    process adds ``trainer_state.json`` last and renames the folder into place, so a checkpoint is complete
    or absent, never half-written."""
    target = folder / f"step-{state.global_step}"
    tmp = folder / f".step-{state.global_step}.tmp"
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(tmp), safe_serialization=True)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            write_json_atomic(tmp / "trainer_state.json", state_dict(state))
    except Exception as err:  # e.g. a full disk: drop the partial folder, keep every complete checkpoint
        if not is_write_error(err):  # safetensors and torch.save wrap a failed write in their own types
            raise
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        raise AlembertError(
            f"could not write checkpoint {target} ({write_error_reason(err)}); earlier checkpoints are intact "
            f"(latest: {latest_checkpoint(folder) or 'none'}); free space and continue with --resume"
        ) from err
    if accelerator.is_main_process:
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        prune_checkpoints(folder, keep)
    accelerator.wait_for_everyone()


def save_best_weights(accelerator: Accelerator, student: nn.Module, target: Path) -> None:
    """The main process saves the (unwrapped) student's weights, atomically, for ``select: best``."""
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(student)
        atomic_folder(target, lambda tmp: model.save_pretrained(tmp))
    accelerator.wait_for_everyone()


def load_weights(model: PreTrainedModel, folder: Path) -> None:
    """Load weights saved by :func:`save_best_weights` into ``model`` in place."""
    reloaded = type(model).from_pretrained(folder)
    model.load_state_dict(reloaded.state_dict())
