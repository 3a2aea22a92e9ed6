"""alembert: compress BERT-family encoders by knowledge distillation.

The public API: :func:`distill`, :func:`finetune`, :func:`evaluate`, :func:`augment_dataset` (TinyBERT data
augmentation), the config types and the recipes.
"""

from alembert.augment import augment_dataset
from alembert.config import (
    AugmentConfig,
    DataConfig,
    DistillConfig,
    FinetuneConfig,
    MatchConfig,
    StageConfig,
    StudentConfig,
    TeacherConfig,
    TrainConfig,
)
from alembert.config_io import apply_overrides, load_config, parse_config
from alembert.errors import AlembertError, ConfigError, DataError, ModelError
from alembert.evaluate import evaluate
from alembert.pipeline import DistillResult, distill, finetune
from alembert.recipes import copy_recipe, list_recipes, load_recipe


__version__ = "0.1.0"

__all__ = [
    "AlembertError",
    "AugmentConfig",
    "ConfigError",
    "DataConfig",
    "DataError",
    "DistillConfig",
    "DistillResult",
    "FinetuneConfig",
    "MatchConfig",
    "ModelError",
    "StageConfig",
    "StudentConfig",
    "TeacherConfig",
    "TrainConfig",
    "apply_overrides",
    "augment_dataset",
    "copy_recipe",
    "distill",
    "evaluate",
    "finetune",
    "list_recipes",
    "load_config",
    "load_recipe",
    "parse_config",
]
