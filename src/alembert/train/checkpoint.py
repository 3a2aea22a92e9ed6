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
    "checkpoint_problem",
    "prune_checkpoints",
    "resumable_checkpoint",
    "save_best_weights",
    "save_training_state",
    "write_json_atomic",
]

STATE_FILE = "trainer_state.json"
MANIFEST_FILE = "manifest.json"


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


def checkpoint_problem(checkpoint: Path) -> str | None:
    """What is wrong with a ``step-N`` checkpoint, or ``None`` if it is intact.

    Every file must have the size the manifest (``manifest.json``, written with the checkpoint) records, and
    ``trainer_state.json`` must be readable. Checkpoints written before manifests existed are checked for empty
    files only.
    """
    try:
        TrainerState.load(checkpoint)
    except (OSError, ValueError, TypeError) as err:
        return f"{STATE_FILE} is unreadable ({type(err).__name__})"
    manifest_path = checkpoint / MANIFEST_FILE
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            return f"{MANIFEST_FILE} is unreadable"
        for name, size in manifest.get("sizes", {}).items():
            path = checkpoint / name
            if not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != size:
                return f"{name} has {path.stat().st_size} bytes, {size} were written"
        return None
    for path in checkpoint.rglob("*"):
        if path.is_file() and path.stat().st_size == 0:
            return f"{path.relative_to(checkpoint)} is empty"
    return None


def _candidates(folder: Path) -> list[Path]:
    """Complete ``step-N`` folders (with ``trainer_state.json``), newest first; temporary folders are ignored."""
    if not folder.is_dir():
        return []
    complete = [p for p in folder.glob("step-*") if p.is_dir() and (p / STATE_FILE).is_file()]
    return sorted(complete, key=_step_of, reverse=True)


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest intact ``step-N`` checkpoint under ``folder`` (see :func:`checkpoint_problem`)."""
    return next((p for p in _candidates(folder) if checkpoint_problem(p) is None), None)


def resumable_checkpoint(folder: Path) -> tuple[Path | None, list[str]]:
    """The newest intact checkpoint to resume from, and a line for each newer one that is damaged.

    Raises:
        AlembertError: checkpoints exist but none is intact.
    """
    damaged = []
    for checkpoint in _candidates(folder):
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            return checkpoint, damaged
        damaged.append(f"checkpoint {checkpoint} is damaged ({problem})")
    if damaged:
        raise AlembertError(f"--resume: no intact checkpoint in {folder}: {'; '.join(damaged)}")
    return None, damaged


def _write_manifest(folder: Path) -> None:
    sizes = {
        str(path.relative_to(folder)): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name not in (STATE_FILE, MANIFEST_FILE)
    }
    write_json_atomic(folder / MANIFEST_FILE, {"sizes": sizes})


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
        if accelerator.is_main_process:  # the manifest, then the state: a checkpoint is complete once it has both
            _write_manifest(tmp)
            write_json_atomic(tmp / STATE_FILE, state_dict(state))
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
