"""The run's ``log.jsonl`` (one JSON object per event) and, when configured, Accelerate's trackers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from accelerate import Accelerator


__all__ = ["RunLog"]


class RunLog:
    """Append-only JSONL log written by the main process; numeric values also go to ``accelerator.log``."""

    def __init__(self, path: Path, accelerator: Accelerator, *, trackers: bool = False) -> None:
        self.path = path
        self.accelerator = accelerator
        self.trackers = trackers

    def event(self, kind: str, **values: Any) -> None:
        """Record one event (``train``, ``eval``, ``resume``, ``stage_end`` …)."""
        if not self.accelerator.is_main_process:
            return
        record = {"event": kind, "time": round(time.time(), 3), **values}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=float) + "\n")
        if self.trackers and "step" in values:
            prefix = f"{values.get('stage', 'run')}/{kind}"
            numbers = {f"{prefix}/{k}": v for k, v in values.items() if isinstance(v, (int, float)) and k != "step"}
            self.accelerator.log(numbers, step=int(values["step"]))
