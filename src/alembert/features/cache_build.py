"""Building the teacher-output cache (see :mod:`alembert.features.teacher_cache`) in two steps.

:func:`plan_teacher_cache` finds which entries are complete and how many bytes the missing ones will take (one
example's forward pass gives the shapes), so a caller can refuse or skip a cache that would not fit before any long
work; :func:`fill_teacher_cache` then runs the teacher over the training set and opens the cache.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from accelerate import Accelerator
from torch import nn
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from alembert.errors import AlembertError
from alembert.features.cache_store import INPUTS, STORAGE, Key, offsets_of, open_entry, probe_shapes, write_entries
from alembert.features.teacher_cache import TeacherCache, entry_name, example_index, teacher_fingerprint
from alembert.terminal import Phase


__all__ = ["CacheLayout", "build_teacher_cache", "fill_teacher_cache", "plan_teacher_cache"]


@dataclass(frozen=True)
class CacheLayout:
    """What a teacher cache holds and still needs, before anything is computed.

    Attributes:
        folder: ``<cache_dir>/<key[:20]>``.
        key: hash of the teacher (weights, config, precision) and the tokenised training set.
        names: entry file name of each requested ``(representation, layer)``.
        complete: the entries already on disk, opened.
        missing: the entries to compute, with the reason each one is (re)built.
        idx: the ``idx`` of each dataset row.
        lengths: real tokens of each dataset row.
        shapes: per-example shape of each requested entry (-1 on token axes).
        entry_bytes: bytes on disk of each requested entry.
    """

    folder: Path
    key: str
    names: dict[Key, str]
    complete: dict[Key, tuple[np.ndarray, tuple[int, ...], str]]
    missing: dict[Key, str]
    idx: np.ndarray
    lengths: np.ndarray
    shapes: dict[Key, tuple[int, ...]]
    entry_bytes: dict[Key, int]

    @property
    def total_bytes(self) -> int:
        """Bytes of every requested entry."""
        return sum(self.entry_bytes.values())

    @property
    def missing_bytes(self) -> int:
        """Bytes the entries still to compute will add."""
        return sum(self.entry_bytes[k] for k in self.missing)


def plan_teacher_cache(
    teacher: nn.Module,
    dataset: datasets.Dataset,
    requested: Iterable[Key],
    *,
    tokenizer: PreTrainedTokenizerBase,
    cache_dir: Path,
    dtype: str,
    accelerator: Accelerator,
) -> CacheLayout:
    """Find the cache folder of ``teacher`` on ``dataset``, its complete entries and the size of the missing ones.

    Args:
        teacher: the frozen teacher, in eval mode, on the accelerator's device.
        dataset: the tokenised training set (``idx`` identifies an example in the batches).
        requested: the ``(representation, layer)`` pairs the stage's objective reads from the teacher.
        tokenizer: pads the probe batch.
        cache_dir: the cache root.
        dtype: storage of intermediate features (``float32``, ``float16`` or ``bfloat16``); logits stay float32.
        accelerator: the run's accelerator (device, autocast).

    Raises:
        AlembertError: ``idx`` values repeat, or a requested representation cannot be cached.
    """
    data_key, idx, lengths = example_index(dataset)
    if len(np.unique(idx)) != len(idx):
        raise AlembertError("teacher.cache: the training set's idx values repeat; examples cannot be told apart")
    key = hashlib.sha256(f"{teacher_fingerprint(teacher, accelerator.mixed_precision)}|{data_key}".encode())
    key = key.hexdigest()
    folder = Path(cache_dir) / key[:20]
    dtypes = {k: "float32" if k[0] == "logits" else dtype for k in requested}
    names = {k: entry_name(k, dtypes[k]) for k in sorted(dtypes, key=str)}
    complete, missing = {}, {}
    for k, name in names.items():
        opened, reason = open_entry(folder, name, key, lengths)
        if opened is None:
            missing[k] = reason
        else:
            complete[k] = opened
    first = DataCollatorWithPadding(tokenizer)([{k: v for k, v in dataset[0].items() if k in INPUTS}])
    with torch.no_grad(), accelerator.autocast():
        shapes = probe_shapes(teacher, {k: v.to(accelerator.device) for k, v in first.items()}, list(names))
    entry_bytes = {k: int(offsets_of(shapes[k], lengths)[-1]) * STORAGE[dtypes[k]].itemsize for k in names}
    return CacheLayout(folder, key, names, complete, missing, idx, lengths, shapes, entry_bytes)


def fill_teacher_cache(
    layout: CacheLayout,
    teacher: nn.Module,
    dataset: datasets.Dataset,
    *,
    tokenizer: PreTrainedTokenizerBase,
    accelerator: Accelerator,
    batch_size: int = 64,
) -> tuple[TeacherCache, dict[str, Any]]:
    """Compute the missing entries of ``layout`` and open the cache.

    Every process computes a contiguous share of the rows into the same files (written to temporary names and
    renamed by the main process once all are done), then all processes open the complete entries.

    Returns:
        The cache and a record for the run log (``folder``, ``reused``, ``built`` with reasons, ``bytes``,
        ``seconds``).

    Raises:
        AlembertError: the cache cannot be written (full disk, permissions).
    """
    started = time.perf_counter()
    entries = dict(layout.complete)
    names, folder = layout.names, layout.folder
    if layout.missing:
        try:
            with Phase(f"computing the teacher's outputs on {len(layout.idx):,} training examples for the cache"):
                write_entries(
                    teacher,
                    dataset,
                    {k: layout.shapes[k] for k in layout.missing},
                    names,
                    folder,
                    layout.key,
                    layout.lengths,
                    tokenizer,
                    accelerator,
                    batch_size,
                )
        except OSError as err:
            raise AlembertError(
                f"teacher.cache: could not write {folder} ({err.strerror or err}); free space or set "
                "teacher.cache_dir elsewhere (or teacher.cache: false)"
            ) from err
        for k in layout.missing:
            entries[k], reason = open_entry(folder, names[k], layout.key, layout.lengths)
            assert entries[k] is not None, reason
    record = {
        "folder": str(folder),
        "reused": sorted(names[k] for k in names if k not in layout.missing),
        "built": {names[k]: reason for k, reason in layout.missing.items()},
        "bytes": layout.total_bytes,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return TeacherCache(folder, entries, layout.idx, layout.lengths), record


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
    """Open the cached outputs of ``teacher`` on ``dataset``, computing the entries that are missing or stale
    (:func:`plan_teacher_cache` then :func:`fill_teacher_cache`, without a size check).

    Raises:
        AlembertError: see :func:`plan_teacher_cache` and :func:`fill_teacher_cache`.
    """
    layout = plan_teacher_cache(
        teacher, dataset, requested, tokenizer=tokenizer, cache_dir=cache_dir, dtype=dtype, accelerator=accelerator
    )
    return fill_teacher_cache(
        layout, teacher, dataset, tokenizer=tokenizer, accelerator=accelerator, batch_size=batch_size
    )
