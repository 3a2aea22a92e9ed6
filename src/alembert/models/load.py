"""Load teachers, students and tokenizers from a local folder or a Hugging Face Hub name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from alembert.errors import ModelError
from alembert.models.heads import align_label_order, check_trained_head
from alembert.tasks.task import Task


__all__ = ["Head", "check_model_source", "load_model", "load_tokenizer", "model_widths", "num_layers"]

Head = Literal["sequence_classification", "masked_lm", "base"]


def check_model_source(path: str, *, what: str = "model", revision: str | None = None) -> PretrainedConfig:
    """Fail fast with a clear message if ``path`` is neither a model folder nor a reachable Hub name.

    Returns:
        The model's config (cheap to load), so callers can validate shapes before loading weights.
    """
    local = Path(path).expanduser()
    if local.exists() or _looks_local(path):
        if not local.exists():
            raise ModelError(f"{what}: '{path}' not found (no such folder)")
        if not local.is_dir():
            raise ModelError(f"{what}: '{path}' is not a folder (expected a save_pretrained folder)")
        if not (local / "config.json").is_file():
            raise ModelError(f"{what}: '{path}' has no config.json (is it a save_pretrained folder?)")
    try:
        return AutoConfig.from_pretrained(str(local) if local.exists() else path, revision=revision)
    except (OSError, ValueError) as err:
        offline = " (HF_HUB_OFFLINE=1: only local folders and cached models load)" if _offline() else ""
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not local.exists():
            raise ModelError(
                f"{what}: '{path}' not found: no such local folder, and it cannot be loaded from the Hub{offline}: "
                f"{first_line}"
            ) from None
        raise ModelError(f"{what}: cannot load '{path}'{offline}: {first_line}") from None


def _looks_local(path: str) -> bool:
    """A path no Hub repository id can be (``./x``, ``/x``, ``~/x``, ``runs/a/student``, ``x/``)."""
    return path.startswith((".", "/", "~")) or path.count("/") > 1 or path.endswith("/") or "\\" in path


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def load_tokenizer(path: str, *, revision: str | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer saved with a model (fast tokenizer when available)."""
    local = Path(path).expanduser()
    if not local.exists() and _looks_local(path):
        raise ModelError(f"tokenizer: '{path}' not found (no such folder)")
    if local.is_dir() and not any((local / name).is_file() for name in _TOKENIZER_FILES):
        # transformers would build an empty-vocabulary tokenizer from config.json and every word would be [UNK]
        raise ModelError(
            f"tokenizer: '{path}' holds no tokenizer files ({', '.join(_TOKENIZER_FILES[:3])}, ...); save the "
            "tokenizer with the model (tokenizer.save_pretrained)"
        )
    try:
        return AutoTokenizer.from_pretrained(path, revision=revision)
    except (OSError, ValueError) as err:
        raise ModelError(f"tokenizer: cannot load from '{path}': {str(err).splitlines()[0]}") from None


def load_model(
    path: str,
    *,
    head: Head,
    task: Task | None = None,
    revision: str | None = None,
    attn_implementation: str | None = None,
    new_head: bool = False,
    trained_head: bool = False,
    what: str = "model",
) -> PreTrainedModel:
    """Load a model with the head the run needs.

    A classification head whose checkpoint names the task's labels in another order gets its rows reordered to
    the task's order (:func:`alembert.models.heads.align_label_order`).

    Args:
        path: local folder or Hub name.
        head: ``sequence_classification`` (GLUE tasks), ``masked_lm`` (general distillation that reads the MLM
            head) or ``base`` (the encoder alone: general distillation of intermediate layers, e.g. TinyBERT).
        task: sets ``num_labels``, label names (``id2label``) and the problem type of classification heads. A head
            whose size differs from the task's is re-initialised only if the checkpoint has no head of that task.
        revision: Hub revision.
        attn_implementation: e.g. ``eager`` or ``sdpa``; ``None`` keeps the model's default.
        new_head: fine-tuning: a classification head of another size (another task's) is replaced by a freshly
            initialised one instead of being an error.
        trained_head: a teacher, or a model to evaluate: weights missing from the checkpoint (a head that would
            be initialised at random) are an error.
        what: how messages name the model (``teacher``, ``student``, ``model``).

    Raises:
        ModelError: an unusable folder or weights file, a head of another size, or (``trained_head``) weights
            the checkpoint lacks.
    """
    config = check_model_source(path, what=what, revision=revision)
    # fp32 master weights whatever the checkpoint's dtype (transformers 5 loads a half-precision checkpoint in
    # half precision): compute precision is Accelerate's ``mixed_precision``, and a student initialised from an
    # fp16 teacher must not be optimised in fp16.
    kwargs: dict[str, object] = {"revision": revision, "dtype": torch.float32, "output_loading_info": True}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    classifier = head == "sequence_classification"
    try:
        if head == "masked_lm":
            model, info = AutoModelForMaskedLM.from_pretrained(path, **kwargs)
        elif head == "base":
            model, info = AutoModel.from_pretrained(path, **kwargs)
        else:
            if task is not None:
                kwargs.update(task_label_kwargs(task))
                existing = getattr(config, "num_labels", None)
                if new_head:
                    kwargs["ignore_mismatched_sizes"] = True
                elif existing is not None and existing != task.num_labels and _has_classifier(path):
                    raise ModelError(
                        f"{what} '{path}' has a {existing}-way head but task {task.name} needs {task.num_labels}"
                    )
            model, info = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    except ValueError as err:
        raise ModelError(f"{what} '{path}': {str(err).splitlines()[0]}") from None
    except (OSError, RuntimeError, SafetensorError) as err:  # a truncated or corrupt weights file
        raise ModelError(f"{what} '{path}': cannot load the weights ({str(err).splitlines()[0]})") from None
    missing = set(info.get("missing_keys") or ()) | {str(k[0]) for k in info.get("mismatched_keys") or ()}
    if trained_head:
        check_trained_head(model, missing, path, what, task)
    head_loaded = not any(not k.startswith(f"{model.base_model_prefix}.") for k in missing)
    if classifier and task is not None and not task.is_regression and head_loaded:  # fine-tuning too
        align_label_order(model, config, task, path, what)
    return model


def _has_classifier(path: str) -> bool:
    local = Path(path)
    if not local.is_dir():
        return False
    config = AutoConfig.from_pretrained(path)
    return bool(getattr(config, "architectures", None)) and any(
        a.endswith("ForSequenceClassification") for a in config.architectures or []
    )


def task_label_kwargs(task: Task) -> dict[str, object]:
    """``num_labels``/``id2label``/``problem_type`` config overrides for a task's classification head."""
    if task.is_regression:
        return {"num_labels": 1, "problem_type": "regression"}
    return {  # the names (SST-2: negative/positive), so that a pipeline answers with them
        "num_labels": task.num_labels,
        "id2label": dict(enumerate(task.names)),
        "label2id": {label: i for i, label in enumerate(task.names)},
        "problem_type": "single_label_classification",
    }


def num_layers(config: PretrainedConfig) -> int:
    """Number of Transformer blocks (``num_hidden_layers``; DistilBERT maps it to ``n_layers``)."""
    return int(config.num_hidden_layers)


def model_widths(model: nn.Module) -> tuple[int, int]:
    """``(embedding width, hidden width)`` of an encoder (they differ for ELECTRA-small and MobileBERT)."""
    config = model.config
    hidden = int(config.hidden_size)
    embedding = int(model.get_input_embeddings().weight.shape[1])
    return embedding, hidden
