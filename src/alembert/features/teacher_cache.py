"""Teacher-output cache: the frozen teacher runs over the training set once; epochs and stages read its outputs.

The teacher is in eval mode (no dropout) and task data is fixed, so its outputs on an example never change; only
masked-LM data (random masking every batch) is not cacheable, and the config refuses ``teacher.cache`` there.

Layout: ``<cache_dir>/<key>/`` with ``key`` a hash of the teacher's weights and config, the tokenised training
set (every model input, ``idx`` included) and the mixed-precision mode. Each requested ``(representation,
layer)`` is one entry: a flat file of every example's **unpadded** feature (real tokens only), read through
``numpy.memmap``, plus ``<entry>.json`` written last, which marks the entry complete and records the key and
size it was built with. A batch is re-padded to its own layout from its ``attention_mask``; padded positions
hold 0. That is exact for what the objective consumes because the config requires ``mask: attention_mask`` on
every token-level term when the cache is on (sequence logits have no padding).

A different teacher, dataset or precision gives another key, hence another folder: a stale entry is never read.
An entry whose metadata or file size disagrees with the expected one is rebuilt, and the reason is logged.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
import transformers
from accelerate import Accelerator
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from alembert.errors import AlembertError
from alembert.features.cache_store import INPUTS, TOKEN_AXES, Key, offsets_of, open_entry, token_index, write_entries
from alembert.features.extract import Features
from alembert.terminal import Phase


__all__ = ["CachedOutputs", "TeacherCache", "build_teacher_cache", "data_fingerprint", "teacher_fingerprint"]

_VERSION = 1


@dataclass(frozen=True)
class CachedOutputs:
    """Stands in for a model output: ``logits`` and a ``hidden_states`` tuple holding the cached layers only."""

    logits: Tensor | None
    hidden_states: tuple[Tensor | None, ...] | None


def teacher_fingerprint(model: nn.Module, mixed_precision: str = "no") -> str:
    """SHA-256 of the model class, its config (minus its path) and every weight and buffer, byte for byte."""
    hasher = hashlib.sha256(f"v{_VERSION}|{type(model).__name__}|{mixed_precision}|".encode())
    config = json.loads(model.config.to_json_string(use_diff=False))
    config.pop("_name_or_path", None)
    hasher.update(json.dumps(config, sort_keys=True).encode())
    hasher.update(transformers.__version__.encode())
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        hasher.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        hasher.update(memoryview(flat.view(torch.uint8).numpy()))
    return hasher.hexdigest()


def _example_index(dataset: datasets.Dataset) -> tuple[str, np.ndarray, np.ndarray]:
    """``(fingerprint, idx per row, real tokens per row)`` of a tokenised dataset, read in chunks via Arrow."""
    hasher = hashlib.sha256(f"v{_VERSION}|{len(dataset)}|".encode())
    table = dataset.with_format("arrow")
    columns = [c for c in INPUTS if c in dataset.column_names]
    hasher.update(",".join(columns).encode())
    idx, lengths = [], []
    for start in range(0, len(dataset), 8192):
        chunk = table[start : start + 8192]
        for column in columns:
            array = chunk.column(column).combine_chunks()
            if hasattr(array, "offsets"):  # a list column: hash its values and its row boundaries
                offsets = array.offsets.to_numpy()
                hasher.update(np.diff(offsets).astype(np.int64).tobytes())
                hasher.update(np.ascontiguousarray(array.values.to_numpy()[offsets[0] : offsets[-1]]).tobytes())
            else:
                hasher.update(np.ascontiguousarray(array.to_numpy()).tobytes())
        ids = chunk.column("input_ids").combine_chunks()
        lengths.append(np.diff(ids.offsets.to_numpy()))
        idx.append(chunk.column("idx").to_numpy() if "idx" in columns else np.arange(start, start + len(ids)))
    return hasher.hexdigest(), np.concatenate(idx).astype(np.int64), np.concatenate(lengths).astype(np.int64)


def data_fingerprint(dataset: datasets.Dataset) -> str:
    """SHA-256 of every model input column of a tokenised dataset (what the teacher reads)."""
    return _example_index(dataset)[0]


def _entry_name(key: Key, dtype: str) -> str:
    representation, layer = key
    return f"{representation}-{'na' if layer is None else layer}-{dtype}"


class TeacherCache:
    """Read-only view of complete cache entries; :meth:`features` returns a batch's teacher :class:`Features`.

    Args:
        folder: the cache folder of this teacher/data/precision key.
        entries: ``(representation, layer)`` → ``(memmap, per-example shape with -1 on token axes)``.
        idx: the ``idx`` of each dataset row.
        lengths: real tokens of each dataset row.
    """

    def __init__(
        self,
        folder: Path,
        entries: Mapping[Key, tuple[np.ndarray, tuple[int, ...]]],
        idx: np.ndarray,
        lengths: np.ndarray,
    ) -> None:
        self.folder = folder
        self.entries = dict(entries)
        self.lengths = lengths
        self.row_of_idx = np.full(int(idx.max()) + 1 if len(idx) else 0, -1, dtype=np.int64)
        self.row_of_idx[idx] = np.arange(len(idx))
        self.offsets = {key: offsets_of(shape, lengths) for key, (_, shape) in self.entries.items()}

    def example(self, key: Key, row: int) -> Tensor:
        """One row's unpadded feature as float32."""
        data, shape = self.entries[key]
        start, end = self.offsets[key][row], self.offsets[key][row + 1]
        n = int(self.lengths[row])
        return torch.from_numpy(np.array(data[start:end])).reshape([n if s < 0 else s for s in shape]).float()

    def features(self, batch: Mapping[str, Tensor]) -> Features:
        """The cached teacher features of ``batch`` (which must carry ``idx``), padded like ``batch``."""
        if "idx" not in batch:
            raise AlembertError("teacher.cache: the training batches carry no idx column to look examples up by")
        rows = self.row_of_idx[batch["idx"].cpu().numpy()].tolist()
        mask = batch["attention_mask"].bool().cpu()
        positions = [mask[b].nonzero().squeeze(1) for b in range(len(rows))]
        device = batch["input_ids"].device
        captured: dict[tuple[str, int], Tensor] = {}
        logits, hidden = None, {}
        for key in self.entries:
            value = self._padded(key, rows, positions, mask.shape[1]).to(device)
            representation, layer = key
            if representation == "logits":
                logits = value
            elif representation in ("hidden", "embeddings"):
                hidden[0 if representation == "embeddings" else int(layer or 0)] = value
            else:
                captured[(representation, int(layer or 0))] = value
        states = tuple(hidden.get(i) for i in range(max(hidden) + 1)) if hidden else None
        return Features(CachedOutputs(logits, states), captured)

    def _padded(self, key: Key, rows: list[int], positions: list[Tensor], seq: int) -> Tensor:
        shape = self.entries[key][1]
        axes = TOKEN_AXES[key[0]]
        out = torch.zeros((len(rows), *[seq if s < 0 else s for s in shape]))
        for b, row in enumerate(rows):
            value = self.example(key, row)
            if axes and len(positions[b]) != value.shape[axes[0]]:
                raise AlembertError(
                    f"teacher cache {self.folder}: example {row} has {len(positions[b])} tokens in this batch but "
                    f"{value.shape[axes[0]]} in the cache; delete the folder to rebuild it"
                )
            out[b][token_index(axes, positions[b])] = value
        return out


def build_teacher_cache(
    teacher: nn.Module,
    dataset: datasets.Dataset,
    requested: Iterable[Key],
    *,
    tokenizer: PreTrainedTokenizerBase,
    cache_dir: Path,
    dtype: str,
    accelerator: Accelerator,
    batch_size: int = 64,
) -> tuple[TeacherCache, dict[str, Any]]:
    """Open the cached outputs of ``teacher`` on ``dataset``, computing the entries that are missing or stale.

    Every process computes a contiguous share of the rows into the same files (written to temporary names and
    renamed by the main process once all are done), then all processes open the complete entries.

    Args:
        teacher: the frozen teacher, in eval mode, on the accelerator's device.
        dataset: the tokenised training set (``idx`` identifies an example in the batches).
        requested: the ``(representation, layer)`` pairs the stage's objective reads from the teacher.
        tokenizer: pads the teacher's batches.
        cache_dir: the cache root; entries go to ``<cache_dir>/<key[:20]>/``.
        dtype: storage of intermediate features (``float16`` or ``float32``); logits are always ``float32``.
        accelerator: the run's accelerator (device, autocast, processes).
        batch_size: examples per teacher forward pass while building.

    Returns:
        The cache and a record for the run log (``folder``, ``reused``, ``built`` with reasons, ``seconds``).

    Raises:
        AlembertError: the cache cannot be written (full disk, permissions) or ``idx`` values repeat.
    """
    started = time.perf_counter()
    data_key, idx, lengths = _example_index(dataset)
    if len(np.unique(idx)) != len(idx):
        raise AlembertError("teacher.cache: the training set's idx values repeat; examples cannot be told apart")
    key = hashlib.sha256(f"{teacher_fingerprint(teacher, accelerator.mixed_precision)}|{data_key}".encode())
    key = key.hexdigest()
    folder = Path(cache_dir) / key[:20]
    names = {k: _entry_name(k, "float32" if k[0] == "logits" else dtype) for k in sorted(requested, key=str)}
    entries, missing = {}, {}
    for k, name in names.items():
        opened, reason = open_entry(folder, name, key, lengths)
        if opened is None:
            missing[k] = reason
        else:
            entries[k] = opened
    if missing:
        try:
            with Phase(f"computing the teacher's outputs on {len(idx):,} training examples for the cache"):
                write_entries(
                    teacher, dataset, list(missing), names, folder, key, lengths, tokenizer, accelerator, batch_size
                )
        except OSError as err:
            raise AlembertError(
                f"teacher.cache: could not write {folder} ({err.strerror or err}); free space or set "
                "teacher.cache_dir elsewhere (or teacher.cache: false)"
            ) from err
        for k in missing:
            entries[k], reason = open_entry(folder, names[k], key, lengths)
            assert entries[k] is not None, reason
    record = {
        "folder": str(folder),
        "reused": sorted(names[k] for k in names if k not in missing),
        "built": {names[k]: reason for k, reason in missing.items()},
        "seconds": round(time.perf_counter() - started, 3),
    }
    return TeacherCache(folder, entries, idx, lengths), record
