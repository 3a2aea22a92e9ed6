"""Run configuration: frozen, validated pydantic models (:mod:`.schema`, :mod:`.sections`), their YAML
serialisation (:mod:`.io`) and the shipped recipes (:mod:`.recipes`). Imports nothing of alembert but its errors."""

from alembert.config.io import apply_overrides, dump_config, load_config, parse_config
from alembert.config.schema import (
    DISTRIBUTION_LOSSES,
    REPRESENTATIONS,
    SEQUENCE_REPRESENTATIONS,
    TEXT_TASKS,
    WORD_REPRESENTATIONS,
    DistillConfig,
    FinetuneConfig,
    MatchConfig,
    ProgressiveConfig,
    StageConfig,
)
from alembert.config.sections import (
    AugmentConfig,
    DataConfig,
    MobileBertShape,
    PruningConfig,
    StudentConfig,
    StudentTokenizerConfig,
    TeacherConfig,
    TrainConfig,
)
from alembert.config.task import METRIC_NAMES, TaskConfig, task_name


__all__ = [
    "DISTRIBUTION_LOSSES",
    "METRIC_NAMES",
    "REPRESENTATIONS",
    "SEQUENCE_REPRESENTATIONS",
    "TEXT_TASKS",
    "WORD_REPRESENTATIONS",
    "AugmentConfig",
    "DataConfig",
    "DistillConfig",
    "FinetuneConfig",
    "MatchConfig",
    "MobileBertShape",
    "ProgressiveConfig",
    "PruningConfig",
    "StageConfig",
    "StudentConfig",
    "StudentTokenizerConfig",
    "TaskConfig",
    "TeacherConfig",
    "TrainConfig",
    "apply_overrides",
    "dump_config",
    "load_config",
    "parse_config",
    "task_name",
]
