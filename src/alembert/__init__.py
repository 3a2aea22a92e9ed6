"""alembert: compress BERT-family encoders by knowledge distillation.

The public API: :func:`distill`, :func:`finetune`, :func:`evaluate`, :func:`build_corpus`, :func:`augment_dataset`
(TinyBERT data augmentation), the config types and the recipes. Names are imported on first use, so
``import alembert`` (and the ``alembert`` command's help) loads neither torch nor transformers.
"""

from __future__ import annotations

import importlib
from typing import Any


__version__ = "0.1.0"

_EXPORTS = {
    "AlembertError": "alembert.errors",
    "ConfigError": "alembert.errors",
    "DataError": "alembert.errors",
    "ModelError": "alembert.errors",
    "AugmentConfig": "alembert.config",
    "DataConfig": "alembert.config",
    "DistillConfig": "alembert.config",
    "FinetuneConfig": "alembert.config",
    "MatchConfig": "alembert.config",
    "StageConfig": "alembert.config",
    "StudentConfig": "alembert.config",
    "TeacherConfig": "alembert.config",
    "TrainConfig": "alembert.config",
    "apply_overrides": "alembert.config.io",
    "load_config": "alembert.config.io",
    "parse_config": "alembert.config.io",
    "copy_recipe": "alembert.config.recipes",
    "list_recipes": "alembert.config.recipes",
    "load_recipe": "alembert.config.recipes",
    "DistillResult": "alembert.run.context",
    "distill": "alembert.run.distill",
    "finetune": "alembert.run.finetune",
    "evaluate": "alembert.run.evaluate",
    "build_corpus": "alembert.data.corpus",
    "augment_dataset": "alembert.augment.dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'alembert' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
