"""Storage of the teacher-output cache (see :mod:`alembert.features.teacher_cache`): flat per-entry files of unpadded
per-example features, their offsets, and the multi-process writer."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list
from torch import Tensor, nn
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from alembert.errors import AlembertError
from alembert.features.extract import forward_features


__all__ = [
    "INPUTS",
    "STORAGE",
    "TOKEN_AXES",
    "Key",
    "decode",
    "encode",
    "offsets_of",
    "open_entry",
    "probe_shapes",
    "token_index",
    "write_entries",
]

INPUTS = ("input_ids", "attention_mask", "token_type_ids", "idx")
# Axes (per example, batch axis removed) that run over tokens and are therefore stored unpadded.
TOKEN_AXES: dict[str, tuple[int, ...]] = {
    "logits": (),
    "hidden": (0,),
    "embeddings": (0,),
    "attention_scores": (1, 2),
    "attention_probs": (1, 2),
    "value_relation": (1,),
    "qkv_relation": (1,),
}
Key = tuple[str, int | None]
# Storage of each cache dtype on disk: numpy has no bfloat16, so its values are kept as their 16 raw bits.
STORAGE: dict[str, np.dtype] = {
    "float32": np.dtype("float32"),
    "float16": np.dtype("float16"),
    "bfloat16": np.dtype("uint16"),
}


def encode(value: Tensor, dtype: str) -> np.ndarray:
    """A float tensor as the flat array stored for cache dtype ``dtype`` (see :data:`STORAGE`)."""
    if dtype == "bfloat16":
        return value.detach().to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16).reshape(-1)
    return value.detach().numpy().astype(STORAGE[dtype], copy=False).reshape(-1)


def decode(values: np.ndarray, dtype: str) -> Tensor:
    """Stored values of cache dtype ``dtype`` back as a float32 tensor (flat)."""
    array = np.array(values)  # a copy: out of the memory map
    if dtype == "bfloat16":
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16).float()
    return torch.from_numpy(array).float()


def token_index(axes: tuple[int, ...], positions: Tensor) -> tuple[Any, ...]:
    """Advanced index that places the real tokens of one example on ``axes``."""
    if not axes:
        return (Ellipsis,)
    index: list[Any] = [slice(None)] * (axes[-1] + 1)
    if len(axes) == 1:
        index[axes[0]] = positions
    else:
        index[axes[0]], index[axes[1]] = positions[:, None], positions[None, :]
    return tuple(index)


def offsets_of(shape: tuple[int, ...], lengths: np.ndarray) -> np.ndarray:
    """Start offset of each row's values in a flat shard (``-1`` in ``shape`` = a token axis), then the total."""
    fixed = int(np.prod([s for s in shape if s >= 0], dtype=np.int64))
    token_axes = sum(1 for s in shape if s < 0)
    return np.concatenate([[0], np.cumsum(fixed * lengths**token_axes)]).astype(np.int64)


def open_entry(folder: Path, name: str, key: str, lengths: np.ndarray) -> tuple[Any, str]:
    """``((memmap, shape, dtype), "")`` for a complete entry that matches ``key``, else ``(None, reason)``."""
    meta_path = folder / f"{name}.json"
    if not meta_path.is_file():
        return None, "not cached yet"
    try:
        meta = json.loads(meta_path.read_text())
        shape, dtype_name = tuple(meta["shape"]), meta["dtype"]
        dtype = STORAGE[dtype_name]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return None, f"unreadable metadata ({err})"
    if meta.get("key") != key or meta.get("rows") != len(lengths):
        return None, "built for another teacher or dataset"
    expected = int(offsets_of(shape, lengths)[-1]) * dtype.itemsize
    data_path = folder / f"{name}.bin"
    if not data_path.is_file() or data_path.stat().st_size != expected:
        return None, f"{data_path.name} is missing or not {expected} bytes"
    return (np.memmap(data_path, dtype=dtype, mode="r", shape=(expected // dtype.itemsize,)), shape, dtype_name), ""


def probe_shapes(teacher: nn.Module, first: Mapping[str, Tensor], keys: list[Key]) -> dict[Key, tuple[int, ...]]:
    """Per-example shape of each representation, with -1 on the token axes (from one example's forward pass).

    Raises:
        AlembertError: token-level logits were requested (masked-LM logits are not cached).
    """
    features = forward_features(teacher, first, keys)
    tokens = int(first["attention_mask"].sum())
    shapes = {}
    for key in keys:
        value = features.get(*key)[0]
        axes = TOKEN_AXES[key[0]]
        if key[0] == "logits" and value.ndim != 1:
            raise AlembertError("teacher.cache: only sequence-level logits can be cached (token logits are MLM)")
        assert all(value.shape[a] == tokens for a in axes), (key, tuple(value.shape), tokens)
        shapes[key] = tuple(-1 if a in axes else s for a, s in enumerate(value.shape))
    return shapes


def _write_features(
    teacher: nn.Module,
    dataset: datasets.Dataset,
    rows: np.ndarray,
    keys: list[Key],
    outputs: dict[Key, tuple[np.memmap, np.ndarray, str]],
    collate: DataCollatorWithPadding,
    accelerator: Accelerator,
    batch_size: int,
) -> None:
    """Run the teacher on ``rows`` (shortest first: little padding) and store each example's real tokens."""
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size].tolist()
        batch = collate([{k: v for k, v in dataset[row].items() if k in INPUTS} for row in chunk])
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        with torch.no_grad(), accelerator.autocast():
            features = forward_features(teacher, batch, keys)
        mask = batch["attention_mask"].bool().cpu()
        for key in keys:
            values, axes = features.get(*key).float().cpu(), TOKEN_AXES[key[0]]
            data, offsets, dtype = outputs[key]
            for b, row in enumerate(chunk):
                value = values[b][token_index(axes, mask[b].nonzero().squeeze(1))] if axes else values[b]
                data[offsets[row] : offsets[row + 1]] = encode(value, dtype)


def write_entries(
    teacher: nn.Module,
    dataset: datasets.Dataset,
    shapes: dict[Key, tuple[int, ...]],
    names: dict[Key, str],
    folder: Path,
    key: str,
    lengths: np.ndarray,
    tokenizer: PreTrainedTokenizerBase,
    accelerator: Accelerator,
    batch_size: int,
) -> None:
    """Run the teacher over ``dataset`` (each process its share) into one memory-mapped shard per key of ``shapes``
    (per-example shapes from :func:`probe_shapes`).

    Shards are written under temporary names and renamed, with their JSON metadata, once every process is done.
    """
    collate = DataCollatorWithPadding(tokenizer)
    keys = list(shapes)
    token = broadcast_object_list([f"{os.getpid()}-{time.time_ns()}"])[0]  # one temporary name for all processes
    temporary = {k: folder / f".{names[k]}.bin.{token}.tmp" for k in keys}
    offsets = {k: offsets_of(shapes[k], lengths) for k in keys}
    dtypes = {k: "float32" if k[0] == "logits" else names[k].rsplit("-", 1)[1] for k in keys}
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        for k in keys:
            (folder / f"{names[k]}.json").unlink(missing_ok=True)  # incomplete until rewritten below
            np.memmap(temporary[k], dtype=STORAGE[dtypes[k]], mode="w+", shape=(int(offsets[k][-1]),)).flush()
    accelerator.wait_for_everyone()
    try:
        share = np.array_split(np.arange(len(lengths)), accelerator.num_processes)[accelerator.process_index]
        rows = share[np.argsort(lengths[share], kind="stable")]
        outputs = {
            k: (np.memmap(temporary[k], dtype=STORAGE[dtypes[k]], mode="r+"), offsets[k], dtypes[k]) for k in keys
        }
        _write_features(teacher, dataset, rows, keys, outputs, collate, accelerator, batch_size)
        for data, _, _ in outputs.values():
            data.flush()
    except BaseException:
        if accelerator.is_main_process:
            for path in temporary.values():
                path.unlink(missing_ok=True)
        raise
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for k in keys:
            os.replace(temporary[k], folder / f"{names[k]}.bin")
            meta = {"key": key, "rows": len(lengths), "shape": list(shapes[k]), "dtype": dtypes[k]}
            meta_tmp = folder / f".{names[k]}.json.{token}.tmp"
            meta_tmp.write_text(json.dumps({**meta, "representation": k[0], "layer": k[1]}) + "\n")
            os.replace(meta_tmp, folder / f"{names[k]}.json")
    accelerator.wait_for_everyone()
