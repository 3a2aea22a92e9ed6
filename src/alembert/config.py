"""Frozen, validated run configuration. YAML is only its serialisation (``yaml.safe_load``; unknown keys are errors).

A distillation run is :class:`DistillConfig`: a teacher, a student, a task, data, training settings and a list
of stages, each stage a list of :class:`MatchConfig` (what is matched, with which loss and weight).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


__all__ = [
    "REPRESENTATIONS",
    "DataConfig",
    "DistillConfig",
    "FinetuneConfig",
    "MatchConfig",
    "StageConfig",
    "StudentConfig",
    "TeacherConfig",
    "TrainConfig",
]

Representation = Literal[
    "logits",
    "hidden",
    "embeddings",
    "attention_scores",
    "attention_probs",
    "value_relation",
    "qkv_relation",
]
REPRESENTATIONS: tuple[str, ...] = Representation.__args__  # type: ignore[attr-defined]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeacherConfig(_Frozen):
    """The teacher (or, for ``finetune``, the model being fine-tuned)."""

    path: str = Field(description="Local model folder or Hugging Face Hub name.")
    revision: str | None = Field(default=None, description="Hub revision (ignored for local folders).")


class StudentConfig(_Frozen):
    """How the student is built: from a saved model, or from the teacher's config with a new shape."""

    path: str | None = Field(default=None, description="Start from this saved model instead of building one.")
    init: Literal["every_other", "random", "teacher"] | list[int] = Field(
        default="every_other",
        description="every_other: keep one teacher layer out of two (DistilBERT); a list: those teacher layers "
        "(0-based); random: fresh weights; teacher: copy all teacher layers.",
    )
    num_layers: int | None = Field(default=None, gt=0)
    hidden_size: int | None = Field(default=None, gt=0)
    num_heads: int | None = Field(default=None, gt=0)
    intermediate_size: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_shape(self) -> StudentConfig:
        if self.hidden_size is not None and self.num_heads is not None and self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if isinstance(self.init, list):
            if not self.init:
                raise ValueError("init: the list of teacher layers is empty")
            if self.num_layers is not None and self.num_layers != len(self.init):
                raise ValueError(f"init lists {len(self.init)} teacher layers but num_layers is {self.num_layers}")
        return self


class DataConfig(_Frozen):
    """Where the examples come from and how they are tokenised and batched."""

    train: str | None = Field(default=None, description="Training file or GLUE task folder.")
    dev: str | None = Field(default=None, description="Dev file (defaults to dev.tsv/dev_matched in a GLUE folder).")
    test: str | None = None
    format: Literal["auto", "glue", "csv", "tsv", "json", "jsonl", "parquet", "text", "hub"] = "auto"
    hub_name: str | None = Field(default=None, description="datasets.load_dataset name (format: hub).")
    hub_config: str | None = None
    text_columns: list[str] | None = Field(default=None, description="Override the task's text fields.")
    label_column: str | None = Field(default=None, description="Override the task's label field.")
    max_length: int = Field(default=128, gt=0)
    max_train_samples: int | None = Field(default=None, gt=0)
    max_eval_samples: int | None = Field(default=None, gt=0)
    length_grouped: bool = True
    mlm_probability: float = Field(default=0.15, gt=0, lt=1)


class TrainConfig(_Frozen):
    """Optimisation and bookkeeping for one stage (stages may override any field)."""

    epochs: float = Field(default=3.0, gt=0)
    max_steps: int | None = Field(default=None, gt=0, description="Optimizer steps; overrides epochs.")
    batch_size: int = Field(default=32, gt=0)
    eval_batch_size: int = Field(default=128, gt=0)
    learning_rate: float = Field(default=5e-5, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    max_grad_norm: float = Field(default=1.0, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    eval_every: int | None = Field(default=None, gt=0, description="Optimizer steps; None: every epoch.")
    save_every: int | None = Field(default=None, gt=0, description="Optimizer steps; None: at each evaluation.")
    keep_checkpoints: int = Field(default=2, gt=0)
    log_every: int = Field(default=20, gt=0)
    seed: int = 42
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    select: Literal["best", "last"] = Field(default="best", description="Which weights end the stage.")
    report_to: list[Literal["tensorboard"]] = Field(default_factory=list)


class MatchConfig(_Frozen):
    """One distillation term: teacher representation → student representation, a loss and a weight."""

    representation: Representation
    loss: str
    weight: float = Field(default=1.0, ge=0)
    name: str | None = None
    teacher_layer: int | None = Field(default=None, ge=0, description="HF hidden_states indexing: 0 = embeddings.")
    student_layer: int | None = Field(default=None, ge=0)
    layers: Literal["uniform", "last", "skip", "final"] | list[tuple[int, int]] | None = Field(
        default=None, description="Expand to several (teacher_layer, student_layer) pairs."
    )
    params: dict[str, float | int | bool | str | list[str]] = Field(default_factory=dict)
    projection: Literal["none", "linear"] = "none"
    shared_projection: bool = Field(default=False, description="One W shared by all expanded layers (TinyBERT).")
    mask: Literal["none", "attention_mask", "mlm_positions"] = "none"

    @model_validator(mode="after")
    def _check_layers(self) -> MatchConfig:
        if self.representation == "logits":
            if self.layers is not None or self.teacher_layer is not None or self.student_layer is not None:
                raise ValueError("a logits match takes no layers")
        elif self.layers is None and (self.teacher_layer is None or self.student_layer is None):
            if self.representation != "embeddings":
                raise ValueError(f"a {self.representation} match needs `layers` or teacher_layer and student_layer")
        elif self.layers is not None and (self.teacher_layer is not None or self.student_layer is not None):
            raise ValueError("give either `layers` or teacher_layer/student_layer, not both")
        return self


class StageConfig(_Frozen):
    """One training stage: its matches, the student's own task-loss weight and training overrides."""

    name: str = "distill"
    matches: list[MatchConfig] = Field(default_factory=list)
    task_loss_weight: float = Field(default=0.0, ge=0, description="Weight of the student's own loss (CE/MSE/MLM).")
    train: dict[str, Any] = Field(default_factory=dict, description="Overrides of the run's `train` section.")
    trainable: list[str] | None = Field(default=None, description="Glob patterns of student parameters to train.")

    @field_validator("train")
    @classmethod
    def _check_train_overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        TrainConfig(**value)  # validates names and types; raises on unknown keys
        return value

    @model_validator(mode="after")
    def _check_not_empty(self) -> StageConfig:
        if not self.matches and self.task_loss_weight == 0:
            raise ValueError(f"stage '{self.name}' has no matches and task_loss_weight 0: nothing to train")
        names = [m.name for m in self.matches if m.name]
        if len(names) != len(set(names)):
            raise ValueError(f"stage '{self.name}' has duplicate match names: {names}")
        return self

    def train_config(self, base: TrainConfig) -> TrainConfig:
        """The effective training settings of this stage: ``base`` with this stage's overrides."""
        return TrainConfig(**{**base.model_dump(), **self.train})


class DistillConfig(_Frozen):
    """A whole distillation run."""

    recipe: str | None = Field(default=None, description="Recipe name recorded in the model card.")
    task: str = Field(description="GLUE task name (e.g. sst2), or 'mlm' for general distillation on raw text.")
    teacher: TeacherConfig
    student: StudentConfig = Field(default_factory=StudentConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    stages: list[StageConfig]
    assistants: list[StudentConfig] = Field(
        default_factory=list,
        description="Teacher assistants (MiniLM, Mirzadeh et al. 2020): distil teacher → assistants[0] → … → "
        "student, every hop with these stages; hop k is saved as a full run in <output_dir>/assistant-k.",
    )
    output_dir: str = "runs/distill"
    bench_latency: bool = Field(default=True, description="Measure teacher/student CPU latency for the report.")

    @model_validator(mode="after")
    def _check_stages(self) -> DistillConfig:
        if not self.stages:
            raise ValueError("stages: at least one stage is required")
        names = [s.name for s in self.stages]
        if len(names) != len(set(names)):
            raise ValueError(f"stages: names must be unique, got {names}")
        return self


class FinetuneConfig(_Frozen):
    """Fine-tune a model (usually the future teacher) on a task with the same training loop."""

    task: str
    model: TeacherConfig
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output_dir: str = "runs/finetune"
