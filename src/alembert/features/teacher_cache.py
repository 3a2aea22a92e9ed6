"""Teacher-output cache: the frozen teacher runs over the training set once; epochs and stages read its outputs.

The teacher is in eval mode (no dropout) and task data is fixed, so its outputs on an example never change; only
masked-LM data (random masking every batch) is not cacheable (see :mod:`alembert.run.cache_policy` for when a
stage reads the cache).

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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
from torch import Tensor, nn

from alembert.errors import AlembertError
from alembert.features.cache_store import (
    INPUTS,
    TOKEN_AXES,
    Key,
    decode,
    offsets_of,
    token_index,
)
from alembert.features.extract import Features


__all__ = ["CachedOutputs", "TeacherCache", "data_fingerprint", "entry_name", "example_index", "teacher_fingerprint"]

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


def example_index(dataset: datasets.Dataset) -> tuple[str, np.ndarray, np.ndarray]:
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
    return example_index(dataset)[0]


def entry_name(key: Key, dtype: str) -> str:
    """The file name (without suffix) of one cache entry: ``<representation>-<layer|na>-<dtype>``."""
    representation, layer = key
    return f"{representation}-{'na' if layer is None else layer}-{dtype}"


class TeacherCache:
    """Read-only view of complete cache entries; :meth:`features` returns a batch's teacher :class:`Features`.

    Args:
        folder: the cache folder of this teacher/data/precision key.
        entries: ``(representation, layer)`` → ``(memmap, per-example shape with -1 on token axes, dtype)``.
        idx: the ``idx`` of each dataset row.
        lengths: real tokens of each dataset row.
    """

    def __init__(
        self,
        folder: Path,
        entries: Mapping[Key, tuple[np.ndarray, tuple[int, ...], str]],
        idx: np.ndarray,
        lengths: np.ndarray,
    ) -> None:
        self.folder = folder
        self.entries = dict(entries)
        self.idx, self.lengths = idx, lengths
        self.row_of_idx = np.full(int(idx.max()) + 1 if len(idx) else 0, -1, dtype=np.int64)
        self.row_of_idx[idx] = np.arange(len(idx))
        self.offsets = {key: offsets_of(shape, lengths) for key, (_, shape, _) in self.entries.items()}

    def subset(self, keys: set[Key]) -> TeacherCache:
        """A view of the same files that returns only ``keys`` (a stage's own features of a shared cache)."""
        return TeacherCache(self.folder, {k: v for k, v in self.entries.items() if k in keys}, self.idx, self.lengths)

    def example(self, key: Key, row: int) -> Tensor:
        """One row's unpadded feature as float32."""
        data, shape, dtype = self.entries[key]
        start, end = self.offsets[key][row], self.offsets[key][row + 1]
        n = int(self.lengths[row])
        return decode(data[start:end], dtype).reshape([n if s < 0 else s for s in shape])

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
