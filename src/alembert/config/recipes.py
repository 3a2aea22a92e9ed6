"""Shipped recipes (YAML in the package): list, show, copy and load them."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from alembert.config import DistillConfig
from alembert.config.io import load_config
from alembert.errors import ConfigError, suggest


__all__ = ["copy_recipe", "list_recipes", "load_recipe", "recipe_path", "recipe_summary"]


def _recipe_dir() -> Path:
    return Path(str(resources.files("alembert") / "recipes"))


def list_recipes() -> list[str]:
    """Names of the shipped recipes."""
    return sorted(p.stem for p in _recipe_dir().glob("*.yaml"))


def recipe_path(name: str) -> Path:
    """The YAML file of a shipped recipe."""
    path = _recipe_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"unknown recipe '{name}'{suggest(name, list_recipes())}; known: {', '.join(list_recipes())}"
        )
    return path


def recipe_summary(name: str) -> str:
    """The first comment line of a recipe (its paper and variant)."""
    for line in recipe_path(name).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def load_recipe(name_or_path: str | Path, overrides: list[str] | None = None) -> DistillConfig:
    """Load a run config from a YAML file, or from a shipped recipe name, with ``--set`` overrides."""
    path = Path(name_or_path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a YAML config file or a recipe name")
    if not path.is_file() and path.suffix not in (".yaml", ".yml"):
        path = recipe_path(str(name_or_path))
    return load_config(DistillConfig, path, overrides)


def copy_recipe(name: str, destination: str | Path) -> Path:
    """Copy a shipped recipe to ``destination`` for editing (refuses to overwrite)."""
    as_folder = str(destination).endswith(("/", "\\"))
    destination = Path(destination)
    if as_folder and not destination.is_dir():
        raise ConfigError(f"recipes copy: folder {destination} does not exist; create it first")
    if destination.is_dir():
        destination = destination / f"{name}.yaml"
    if destination.exists():
        raise ConfigError(f"{destination} already exists; not overwriting")
    if not destination.parent.is_dir():
        raise ConfigError(f"recipes copy: folder {destination.parent} does not exist; create it first")
    source = recipe_path(name)
    try:
        shutil.copyfile(source, destination)
    except OSError as err:
        raise ConfigError(f"recipes copy: cannot write {destination} ({err.strerror or err})") from None
    return destination
