"""Files written whole or not at all: a temporary name, then an atomic rename (no torch, no heavy imports)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from alembert.errors import AlembertError


__all__ = ["atomic_folder", "write_json_atomic"]


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
