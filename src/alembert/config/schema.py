"""Frozen, validated run configuration. YAML is only its serialisation (``yaml.safe_load``; unknown keys are errors).

A distillation run is :class:`DistillConfig`: a teacher, a student, a task, data, training settings and a list
of stages, each stage a list of :class:`MatchConfig` (what is matched, with which loss and weight).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from alembert.config.sections import (
    AugmentConfig,
    DataConfig,
    MobileBertShape,
    StudentConfig,
    TeacherConfig,
    TrainConfig,
    _Frozen,
)
from alembert.config.task import TaskConfig, TaskField, task_name


__all__ = [
    "DISTRIBUTION_LOSSES",
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
    "StageConfig",
    "StudentConfig",
    "TaskConfig",
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
    "sentence_embedding",
    "hidden@words",
    "embeddings@words",
    "attention_scores@words",
    "attention_probs@words",
]
REPRESENTATIONS: tuple[str, ...] = Representation.__args__  # type: ignore[attr-defined]
# Token-level representations compared word by word (mean over each word's pieces): two tokenizers can meet there.
WORD_REPRESENTATIONS: tuple[str, ...] = tuple(r for r in REPRESENTATIONS if r.endswith("@words"))
# Sequence-level representations: one vector per example, no layer to choose.
SEQUENCE_REPRESENTATIONS: tuple[str, ...] = ("logits", "sentence_embedding")
# Tasks on unlabelled text: masked-LM general distillation, and sentence-embedding distillation.
TEXT_TASKS: tuple[str, ...] = ("mlm", "embedding")
# Logit losses that compare class distributions: meaningless on a regression task's single output.
DISTRIBUTION_LOSSES: tuple[str, ...] = ("kl_div", "soft_ce")


class MatchConfig(_Frozen):
    """One distillation term: teacher representation → student representation, a loss and a weight."""

    representation: Representation
    loss: str
    weight: float = Field(default=1.0, ge=0)
    name: str | None = None
    teacher_layer: int | None = Field(default=None, ge=0, description="HF hidden_states indexing: 0 = embeddings.")
    student_layer: int | None = Field(
        default=None, ge=0, description="With `layers`: keep only the map's pair of this student layer."
    )
    layers: Literal["uniform", "last", "skip", "final"] | list[tuple[int, int]] | None = Field(
        default=None, description="Expand to several (teacher_layer, student_layer) pairs."
    )
    params: dict[str, float | int | bool | str | list[str]] = Field(default_factory=dict)
    projection: Literal["none", "linear"] = "none"
    shared_projection: bool = Field(default=False, description="One W shared by all expanded layers (TinyBERT).")
    mask: Literal["none", "attention_mask", "mlm_positions"] = "none"

    @model_validator(mode="after")
    def _check_layers(self) -> MatchConfig:
        if self.representation in SEQUENCE_REPRESENTATIONS:
            if self.layers is not None or self.teacher_layer is not None or self.student_layer is not None:
                raise ValueError(f"a {self.representation} match takes no layers")
        elif self.layers is None and (self.teacher_layer is None or self.student_layer is None):
            if self.representation not in ("embeddings", "embeddings@words"):
                raise ValueError(f"a {self.representation} match needs `layers` or teacher_layer and student_layer")
        elif self.layers is not None and self.teacher_layer is not None:
            raise ValueError(
                "give either `layers` or teacher_layer/student_layer, not both (student_layer alone next to `layers` "
                "keeps that student layer's pair)"
            )
        return self


class ProgressiveConfig(_Frozen):
    """Progressive knowledge transfer (MobileBERT): the stage is expanded into one stage per student block."""

    num_layers: int | None = Field(default=None, gt=0, description="Default: the student's depth from the config.")
    train_embeddings: bool = Field(default=True, description="The first generated stage also trains the embeddings.")


class StageConfig(_Frozen):
    """One training stage: its matches, the student's own task-loss weight and training overrides."""

    name: str = "distill"
    matches: list[MatchConfig] = Field(default_factory=list)
    task_loss_weight: float = Field(default=0.0, ge=0, description="Weight of the student's own loss (CE/MSE/MLM).")
    train: dict[str, Any] = Field(default_factory=dict, description="Overrides of the run's `train` section.")
    trainable: list[str] | None = Field(default=None, description="Glob patterns of student parameters to train.")
    progressive: ProgressiveConfig | None = Field(
        default=None,
        description="A template (`progressive: true`): a run plan expands it into stages <name>-1..<name>-L, "
        "stage l training block l alone on the matches restricted to student layer l (objective.progressive).",
    )

    @field_validator("progressive", mode="before")
    @classmethod
    def _progressive_flag(cls, value: Any) -> Any:
        if value is True:
            return {}
        return None if value is False else value

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
        if self.progressive is not None:
            if self.trainable is not None:
                raise ValueError(f"stage '{self.name}' is progressive: its stages set `trainable`; remove it")
            fixed = [
                m.name or str(i) for i, m in enumerate(self.matches) if m.layers is None or m.student_layer is not None
            ]
            if fixed:
                raise ValueError(
                    f"stage '{self.name}' is progressive: matches {fixed} need a `layers` map (and no student_layer); "
                    "put logits/embedding matches in a stage of their own"
                )
        return self

    def train_config(self, base: TrainConfig) -> TrainConfig:
        """The effective training settings of this stage: ``base`` with this stage's overrides."""
        return TrainConfig(**{**base.model_dump(), **self.train})


class DistillConfig(_Frozen):
    """A whole distillation run."""

    recipe: str | None = Field(default=None, description="Recipe name recorded in the model card.")
    task: TaskField = Field(
        description="GLUE task name (e.g. sst2), 'mlm' for general distillation on raw text, 'embedding' for a "
        "sentence-embedding student distilled on unlabelled sentences (a text/JSONL file or a corpus folder), or a "
        "task of your own as a mapping {name, text_columns, label_column, labels | regression, metrics} "
        "(see alembert.config.task)."
    )
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
        if self.student.tokenizer is not None:
            if self.task == "mlm":
                raise ValueError(
                    "student.tokenizer: task mlm masks one tokenizer's pieces; a student vocabulary of its own is "
                    "for GLUE tasks and task embedding"
                )
            if self.data.augment is not None or self.teacher.cache is True:
                raise ValueError(
                    "student.tokenizer: not with data.augment or teacher.cache (both store one tokenisation)"
                )
            if self.assistants:
                raise ValueError("student.tokenizer: not with assistants (each hop would need its own vocabulary)")
            for stage in self.stages:
                for i, match in enumerate(stage.matches):
                    kind = match.representation
                    if kind not in SEQUENCE_REPRESENTATIONS and kind not in WORD_REPRESENTATIONS and match.weight:
                        aligned = f"{kind}@words" if f"{kind}@words" in WORD_REPRESENTATIONS else None
                        fix = f"use {aligned} (word-aligned)" if aligned else "drop it or use a sequence-level term"
                        raise ValueError(
                            f"stages.{stage.name}.matches.{match.name or i}: {kind} compares the teacher's and the "
                            f"student's tokens one by one, but student.tokenizer gives the student tokens of its own; "
                            f"{fix}"
                        )
        if self.data.augment is not None and self.task in TEXT_TASKS:
            raise ValueError(f"data.augment: augmentation applies to a task's labelled data, not to task: {self.task}")
        return self

    @model_validator(mode="after")
    def _check_cache_and_streaming(self) -> DistillConfig:
        if self.teacher.cache is True:  # auto decides per stage (alembert.run.cache_policy) and never refuses
            if self.task == "mlm":
                raise ValueError(
                    "teacher.cache: task: mlm masks its inputs at random every batch, so the teacher's outputs "
                    "differ each time and cannot be cached; set teacher.cache: false"
                )
            for stage in self.stages:
                for i, match in enumerate(stage.matches):
                    sequence_level = match.representation in SEQUENCE_REPRESENTATIONS  # pooled over real tokens
                    if not sequence_level and match.weight > 0 and match.mask != "attention_mask":
                        raise ValueError(
                            f"stages.{stage.name}.matches.{match.name or i}.mask: teacher.cache keeps real tokens "
                            f"only, so a {match.representation} match must ignore padding; set mask: attention_mask"
                        )
        if self.data.streaming:
            if self.task != "mlm":
                raise ValueError(
                    f"data.streaming: streams raw text for task: mlm, not for task: {task_name(self.task)}"
                )
            for stage in self.stages:
                if stage.train_config(self.train).max_steps is None:
                    raise ValueError(
                        f"data.streaming: stage '{stage.name}' needs train.max_steps (a stream has no length, so "
                        "epochs cannot be counted)"
                    )
        return self

    @model_validator(mode="after")
    def _check_embedding_task(self) -> DistillConfig:
        if self.task == "embedding":
            for stage in self.stages:
                if stage.task_loss_weight > 0:
                    raise ValueError(
                        f"stages.{stage.name}.task_loss_weight: task embedding has no labels; set it to 0"
                    )
                for i, match in enumerate(stage.matches):
                    if match.representation == "logits":
                        raise ValueError(
                            f"stages.{stage.name}.matches.{match.name or i}: task embedding has no logits; match "
                            "sentence_embedding (or hidden states) instead"
                        )
        return self


class FinetuneConfig(_Frozen):
    """Fine-tune a model (usually the future teacher) on a task with the same training loop."""

    task: TaskField = Field(description="GLUE task name, or a task of your own (see DistillConfig.task).")
    model: TeacherConfig
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output_dir: str = "runs/finetune"

    @model_validator(mode="after")
    def _check_unused_options(self) -> FinetuneConfig:
        if self.model.cache is True:
            raise ValueError("model.cache: fine-tuning has no teacher whose outputs could be cached")
        if self.data.streaming:
            raise ValueError("data.streaming: fine-tuning reads labelled task data, not a text stream")
        return self
