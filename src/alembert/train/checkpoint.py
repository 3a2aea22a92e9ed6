"""Atomic, resumable checkpoints: everything is written to a temporary folder, then renamed into place."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from alembert.errors import AlembertError


__all__ = ["TrainerState", "atomic_folder", "latest_checkpoint", "prune_checkpoints", "write_json_atomic"]

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
    """

    global_step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    history: list[dict] = field(default_factory=list)
    stream_positions: list[list[int]] | None = None

    @classmethod
    def load(cls, folder: Path) -> TrainerState:
        """Read the state saved in a checkpoint folder."""
        return cls(**json.loads((folder / STATE_FILE).read_text()))


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON to ``path`` via a temporary file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")
    os.replace(tmp, path)


def atomic_folder(target: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a fresh temporary folder, then move it to ``target`` (replacing any old one).

    A crash during ``write`` leaves ``target`` as it was; a full disk raises :class:`AlembertError` and
    leaves the last good folder intact.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise AlembertError(f"could not write {target} ({err.strerror or err}); the previous copy is intact") from err
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


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
