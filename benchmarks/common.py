"""What every benchmark script does with its results: the JSON file under ``results/`` with the command and wall
time stamped into it; ``benchmarks.readme`` then renders the README's tables from those files
(``benchmarks.readme.update_readme``).
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any


BENCHMARKS = Path(__file__).resolve().parent
RESULTS = BENCHMARKS / "results"
QUICK_RESULTS = Path("runs") / "benchmarks-quick"  # smoke runs stay out of results/ (runs/ is not committed)


def command_line(module: str, argv: list[str] | None = None) -> str:
    """The command that runs ``module`` (``benchmarks.speed.x``) with ``argv`` (default: this process's)."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])


def result_path(name: str, quick: bool) -> Path:
    """Where a script's result goes: ``results/NAME.json``, or under ``runs/`` for a ``--quick`` smoke run."""
    return (QUICK_RESULTS if quick else RESULTS) / f"{name}.json"


def write_result_json(path: Path, report: dict[str, Any]) -> Path:
    """Write ``report`` as indented JSON to ``path`` (folders created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def stamp_run(environment: dict[str, Any], module: str, started: float) -> None:
    """Record how a result was made: the module's command line and its wall time since ``started``."""
    environment["command"] = command_line(module)
    environment["wall_seconds"] = round(time.time() - started, 1)
