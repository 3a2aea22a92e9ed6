"""What every benchmark script does with its results: the JSON file under ``results/``, the command and wall time
stamped into it, and its table in ``benchmarks/README.md`` between its own markers (tables are generated, never
typed): ``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``, appended at the end the first time."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any


README = Path(__file__).resolve().parent / "README.md"


def update_readme_section(name: str, title: str, body: str, readme: Path = README) -> None:
    """Replace (or append) the section ``name`` with a ``### title`` heading and ``body``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n### {title}\n\n{body.strip()}\n{end}"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")


def write_result_json(path: Path, report: dict[str, Any]) -> Path:
    """Write ``report`` as indented JSON to ``path`` (folders created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def stamp_run(environment: dict[str, Any], script: str, started: float) -> None:
    """Record how a result was made: the script's command line and its wall time since ``started``."""
    environment["command"] = shlex.join(["python", f"benchmarks/{script}", *sys.argv[1:]])
    environment["wall_seconds"] = round(time.time() - started, 1)
