"""Sentence-transformers folders: read a teacher's pooling and normalisation, pool, and save a student as one.

A sentence-transformers folder (``modules.json``) chains modules: the transformer (here: the folder itself, a
``save_pretrained`` folder), ``Pooling`` (``1_Pooling/config.json``: which of CLS / mean / max / mean·√len is
taken, concatenated in that order when several are on) and optionally ``Normalize`` (unit length). alembert reads
those files itself (no ``sentence_transformers`` import) and pools exactly as the library does, so a student saved
with :func:`save_sentence_folder` returns from ``SentenceTransformer(path).encode`` what :func:`encode` computes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from alembert.errors import ModelError
from alembert.features.extract import model_inputs
from alembert.files import write_json_atomic


__all__ = ["POOLING_MODES", "SentencePooling", "encode", "is_sentence_folder", "pool", "read_pooling",
           "save_sentence_folder"]  # fmt: skip

# Pooling-config keys in the order sentence-transformers concatenates them.
POOLING_MODES = {
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean": "pooling_mode_mean_tokens",
    "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
}
_UNSUPPORTED = ("pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
_TRANSFORMER, _POOLING, _NORMALIZE = "Transformer", "Pooling", "Normalize"


@dataclass(frozen=True)
class SentencePooling:
    """How token states become one sentence embedding.

    Attributes:
        modes: pooling modes, concatenated in this order (``cls``, ``max``, ``mean``, ``mean_sqrt_len``).
        normalize: scale the embedding to unit length (a ``Normalize`` module follows the pooling).
        max_seq_length: the folder's ``sentence_bert_config.json`` limit, if any.
        source: the folder the settings were read from (``None``: the default, masked mean).
    """

    modes: tuple[str, ...] = ("mean",)
    normalize: bool = False
    max_seq_length: int | None = None
    source: str | None = None

    def describe(self) -> str:
        """``mean``, ``cls+normalize`` …, for logs and reports."""
        return "+".join(self.modes) + ("+normalize" if self.normalize else "")


def is_sentence_folder(path: str | Path) -> bool:
    """Whether ``path`` is a local sentence-transformers folder (has ``modules.json``)."""
    return Path(path, "modules.json").is_file()


def _module_kind(entry: dict) -> str:
    return str(entry.get("type", "")).rsplit(".", 1)[-1]


def read_pooling(path: str | Path) -> SentencePooling:
    """The pooling of a sentence-transformers folder, or masked mean pooling for a plain model folder.

    Raises:
        ModelError: a module alembert cannot reproduce (``Dense``, weighted-mean or last-token pooling, a
            transformer kept in a subfolder), naming the file.
    """
    folder = Path(path)
    if not is_sentence_folder(folder):
        return SentencePooling()
    modules_file = folder / "modules.json"
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{modules_file}: not a readable modules list ({err})") from None
    kinds = [_module_kind(entry) for entry in modules]
    if not kinds or kinds[0] != _TRANSFORMER or kinds[1:] not in ([_POOLING], [_POOLING, _NORMALIZE]):
        raise ModelError(
            f"{modules_file}: modules {kinds}; alembert reproduces Transformer, Pooling and an optional Normalize"
        )
    if modules[0].get("path", "") not in ("", "."):
        raise ModelError(
            f"{modules_file}: the transformer lives in '{modules[0]['path']}'; use that subfolder, or a folder whose "
            "transformer is the folder itself"
        )
    pooling_file = folder / modules[1]["path"] / "config.json"
    try:
        settings = json.loads(pooling_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{pooling_file}: cannot read the pooling config ({err})") from None
    unsupported = [key for key in _UNSUPPORTED if settings.get(key)]
    if unsupported:
        raise ModelError(f"{pooling_file}: {', '.join(unsupported)} is not supported; use cls, mean or max pooling")
    modes = tuple(mode for mode, key in POOLING_MODES.items() if settings.get(key))
    if not modes:
        raise ModelError(f"{pooling_file}: no pooling mode is on")
    length = None
    bert_config = folder / "sentence_bert_config.json"
    if bert_config.is_file():
        length = json.loads(bert_config.read_text(encoding="utf-8")).get("max_seq_length")
    return SentencePooling(modes, kinds[-1] == _NORMALIZE, length, str(folder))


def pool(hidden: Tensor, attention_mask: Tensor, pooling: SentencePooling, *, normalize: bool = True) -> Tensor:
    """Sentence embeddings from token states, as sentence-transformers' ``Pooling`` (+ ``Normalize``) computes them.

    Args:
        hidden: ``(batch, seq, hidden)`` last-layer token states.
        attention_mask: ``(batch, seq)`` 1 for tokens, 0 for padding.
        pooling: the modes and normalisation.
        normalize: apply ``pooling.normalize`` (``False``: leave it to the caller, e.g. after a projection).

    Returns:
        ``(batch, hidden · len(modes))`` float32.
    """
    hidden = hidden.float()
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    parts = []
    for mode in pooling.modes:
        if mode == "cls":
            parts.append(hidden[:, 0])
        elif mode == "max":
            parts.append(hidden.masked_fill(mask == 0, -1e9).max(dim=1).values)
        else:
            total, count = (hidden * mask).sum(dim=1), mask.sum(dim=1).clamp_min(1e-9)
            parts.append(total / (count if mode == "mean" else count.sqrt()))
    embedding = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
    return F.normalize(embedding, p=2, dim=-1) if normalize and pooling.normalize else embedding


@torch.no_grad()
def encode(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    pooling: SentencePooling,
    *,
    batch_size: int = 64,
    max_length: int | None = None,
) -> np.ndarray:
    """Embed ``texts`` with an encoder (any head; its last hidden state is pooled). Returns ``(n, dim)`` float32."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    max_length = max_length or pooling.max_seq_length or 512
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths per batch: less padding
    out: list[np.ndarray | None] = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        inputs = tokenizer([texts[i] for i in index], padding=True, truncation=True, max_length=max_length,
                           return_tensors="pt").to(device)  # fmt: skip
        base = getattr(model, "base_model", model)
        hidden = base(**model_inputs(base, inputs), return_dict=True).last_hidden_state
        for i, row in zip(index, pool(hidden, inputs["attention_mask"], pooling).cpu().numpy()):
            out[i] = row
    model.train(was_training)
    return np.stack(out) if out else np.zeros((0, 0), dtype=np.float32)


def save_sentence_folder(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    folder: Path,
    pooling: SentencePooling,
    *,
    max_seq_length: int,
) -> None:
    """Write ``model`` as a sentence-transformers folder: the model and tokenizer at its root, ``1_Pooling`` and
    (when ``pooling.normalize``) a ``Normalize`` module, so ``SentenceTransformer(folder)`` loads it."""
    folder = Path(folder)
    base = getattr(model, "base_model", model)
    base.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if pooling.normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
    write_json_atomic(folder / "modules.json", modules)
    settings = {"word_embedding_dimension": int(base.config.hidden_size)}
    settings.update({key: mode in pooling.modes for mode, key in POOLING_MODES.items()})
    (folder / "1_Pooling").mkdir(exist_ok=True)
    write_json_atomic(folder / "1_Pooling" / "config.json", settings)
    lower = bool(getattr(tokenizer, "do_lower_case", False))
    write_json_atomic(folder / "sentence_bert_config.json", {"max_seq_length": max_seq_length, "do_lower_case": lower})
