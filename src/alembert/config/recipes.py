"""Shipped recipes (YAML in the package): list, show, copy and load them."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from alembert.config import DistillConfig
from alembert.config.io import apply_overrides, parse_config, read_yaml
from alembert.errors import ConfigError, suggest


__all__ = ["copy_recipe", "list_recipes", "load_recipe", "merge_recipe", "recipe_path", "recipe_summary"]


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
    """Load a run config from a YAML file, or from a shipped recipe name, with ``--set`` overrides.

    A YAML file whose ``recipe`` names a shipped recipe and that defines no stage of its own (no ``stages``, or
    stages that only override settings by name) is a short config: it takes that recipe's stages and settings,
    and its own keys override them (see :func:`merge_recipe`), e.g.::

        recipe: tinybert-task
        task: cola
        teacher: {path: runs/cola-teacher/model}
        data: {train: glue/CoLA, augment: null}
        stages: [{name: intermediate, train: {epochs: 5}}]
    """
    path = Path(name_or_path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a YAML config file or a recipe name")
    if not path.is_file() and path.suffix not in (".yaml", ".yml"):
        path = recipe_path(str(name_or_path))
    data, text = read_yaml(path)
    if _is_short(data):
        base, _ = read_yaml(recipe_path(data["recipe"]))
        data, text = merge_recipe(base, data, where=str(path)), None
    merged = apply_overrides(data, overrides or [])  # errors about keys the file sets keep its line numbers
    return parse_config(DistillConfig, merged, source=str(path), text=text, file_data=data if overrides else None)


def _is_short(data: dict[str, Any]) -> bool:
    """A config that names a shipped recipe and gives no stage of its own (stages, if any, only override)."""
    if not isinstance(data.get("recipe"), str) or data["recipe"] not in list_recipes():
        return False
    stages = data.get("stages")
    if stages is None:
        return True
    defining = ("matches", "task_loss_weight", "progressive")
    return isinstance(stages, list) and not any(isinstance(s, dict) and any(k in s for k in defining) for s in stages)


def merge_recipe(recipe: dict[str, Any], user: dict[str, Any], *, where: str = "<config>") -> dict[str, Any]:
    """A shipped recipe's mapping with the user's keys on top.

    Sections merge key by key; ``stages`` and each stage's ``matches`` merge element by element on ``name`` (a
    stage or match the recipe does not have is an error, with a suggestion); any other value replaces the
    recipe's (``null`` removes an optional section such as ``data.augment``).
    """
    return _merge(recipe, user, where, "")


def _merge(base: Any, top: Any, where: str, key: str) -> Any:
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for name, value in top.items():
            child = f"{key}.{name}" if key else str(name)
            merged[name] = _merge(base[name], value, where, child) if name in base else value
        return merged
    if key.endswith(("stages", "matches")) and isinstance(base, list) and isinstance(top, list):
        return _merge_named(base, top, where, key)
    return top


def _merge_named(base: list[Any], top: list[Any], where: str, key: str) -> list[Any]:
    merged = list(base)
    names = [item.get("name") for item in base if isinstance(item, dict)]
    for item in top:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in names:
            known = [n for n in names if n]
            raise ConfigError(
                f"{where}: {key}: the recipe has no element named {name!r}{suggest(str(name), known)}; "
                f"its {key.rsplit('.', 1)[-1]} are {known} (give `stages` in full to define your own)"
            )
        index = names.index(name)
        merged[index] = _merge(base[index], item, where, f"{key}.{name}")
    return merged


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
