"""Whether a stage reads its teacher from the teacher-output cache (``teacher.cache``), in which storage type, and
whether the cache fits on disk; the decision and its reason go to the run's log.

``teacher.cache: auto`` (the default) caches wherever the cache is exact and pays off: a stage that reads its
training data more than once (TinyBERT's task stages run many epochs), on fixed data (not ``task: mlm``, not a
stream, not a student with a tokenizer of its own), whose token-level terms ignore padding, and whose cache fits
in half of the free space of ``teacher.cache_dir``'s disk. ``true`` caches every stage that reads the teacher and
refuses to start one whose cache would not fit; ``false`` never caches.

Stages of one run share the cache: the first cached stage also computes what the later cached stages will read
(TinyBERT's prediction stage reads the logits of the teacher that its intermediate stage already ran), so the
teacher goes over the training data once per run, not once per stage.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import datasets
from accelerate.utils import broadcast_object_list
from torch import nn
from transformers import PreTrainedTokenizerBase

from alembert.config import SEQUENCE_REPRESENTATIONS, DistillConfig, TrainConfig
from alembert.errors import ConfigError
from alembert.features.cache_build import fill_teacher_cache, plan_teacher_cache
from alembert.features.cache_store import Key
from alembert.features.teacher_cache import TeacherCache
from alembert.notices import note
from alembert.objective.matches import ResolvedMatch, requested_features
from alembert.objective.terms import DistillationObjective
from alembert.run.context import RunContext


__all__ = [
    "HEADROOM_BYTES",
    "cache_blocker",
    "cache_dtype",
    "free_bytes",
    "later_cached_features",
    "open_stage_cache",
    "passes_over_data",
    "remove_run_cache",
]

HEADROOM_BYTES = 1 << 30  # left free for checkpoints and the student after the cache is written
_DTYPE_OF_PRECISION = {"bf16": "bfloat16", "fp16": "float16"}


def cache_dtype(setting: str, mixed_precision: str) -> str:
    """The storage type of cached features: ``setting``, or for ``auto`` the run's precision (float32 unless the
    run trains in bf16 or fp16)."""
    return _DTYPE_OF_PRECISION.get(mixed_precision, "float32") if setting == "auto" else setting


def passes_over_data(train: TrainConfig, rows: int, num_processes: int = 1) -> float:
    """How many times a stage reads each training example (its epochs, or what its ``max_steps`` amount to)."""
    if train.max_steps is None:
        return float(train.epochs)
    examples = train.max_steps * train.batch_size * train.gradient_accumulation_steps * num_processes
    return examples / max(rows, 1)


def cache_blocker(
    config: DistillConfig, matches: list[ResolvedMatch], train: TrainConfig, dataset: datasets.Dataset, processes: int
) -> str | None:
    """Why ``teacher.cache: auto`` leaves a stage's teacher live, or ``None`` where a cache is exact and pays off.

    Args:
        config: the run's config.
        matches: the stage's resolved loss terms.
        train: the stage's training settings.
        dataset: the stage's training set (a stream has no length and is never cached).
        processes: training processes (each reads its share of a batch).
    """
    if config.task == "mlm":
        return "task: mlm masks its inputs at random every batch, so the teacher's outputs are never the same twice"
    if config.data.streaming:
        return "the training data is streamed"
    if config.student.tokenizer is not None:
        return "the student has a tokenizer of its own"
    for match in matches:
        if match.representation not in SEQUENCE_REPRESENTATIONS and match.mask != "attention_mask":
            return f"match {match.name} compares padded positions (mask: {match.mask}); the cache keeps real tokens"
    passes = passes_over_data(train, len(dataset), processes)
    if passes <= 1:
        return f"the stage reads each example {passes:.3g} time(s): a cache would not save a teacher pass"
    return None


def later_cached_features(
    config: DistillConfig,
    stages: list[tuple[list[ResolvedMatch], TrainConfig]],
    dataset: datasets.Dataset,
    processes: int,
) -> list[set[Key]]:
    """For each stage, the teacher features that the stages after it will read from the cache.

    A stage that builds the cache computes these too, in the same teacher pass.

    Args:
        config: the run's config.
        stages: each stage's resolved matches and training settings, in order.
        dataset: the training set (every stage reads the same one).
        processes: training processes.
    """
    cached = [
        requested_features(matches, "teacher")
        if matches
        and config.teacher.cache is not False
        and (config.teacher.cache is True or cache_blocker(config, matches, train, dataset, processes) is None)
        else set()
        for matches, train in stages
    ]
    return [set().union(*cached[i + 1 :]) for i in range(len(cached))]


def free_bytes(folder: Path) -> int:
    """Free bytes on the disk that holds (or will hold) ``folder``."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    return shutil.disk_usage(existing).free


def _run_cache_dir(run: RunContext) -> Path:
    """The run's own cache folder, used when ``teacher.cache_dir`` is not set."""
    return run.output_dir / "teacher-cache"


def remove_run_cache(run: RunContext, config: DistillConfig) -> None:
    """Delete the run's own teacher cache once the run has finished; a ``teacher.cache_dir`` the user named stays.

    The default folder, ``<output_dir>/teacher-cache``, is keyed to this run's teacher, data and precision, so no
    other run reads it, and on small tasks it is often larger than everything else the run writes. The log records
    the folder and the bytes freed.
    """
    if config.teacher.cache_dir is not None:
        return
    folder = _run_cache_dir(run)
    run.accelerator.wait_for_everyone()  # every process has finished reading it
    if not run.accelerator.is_main_process or not folder.is_dir():
        return
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    shutil.rmtree(folder)
    run.log.event("teacher_cache_removed", folder=str(folder), bytes=size)


def _gb(size: int) -> str:
    return f"{size / 1e9:.2f} GB"


def open_stage_cache(
    run: RunContext,
    config: DistillConfig,
    stage: str,
    train: TrainConfig,
    objective: DistillationObjective,
    teacher: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    dataset: datasets.Dataset,
    later: set[Key] | None = None,
) -> TeacherCache | None:
    """The stage's teacher cache, built where missing, or ``None`` where the teacher runs live.

    ``later`` (:func:`later_cached_features`) are computed in the same pass when they fit as well; the stage
    itself reads only its own features.

    The size of the missing entries is computed first (one example's forward pass gives the shapes) and compared
    with the free space of the cache's disk, leaving :data:`HEADROOM_BYTES` free; every process follows the main
    process's decision.

    Raises:
        ConfigError: ``teacher.cache: true`` and the cache does not fit on disk.
    """
    setting = config.teacher.cache
    if setting is False or not objective.needs_teacher:
        return None
    processes = run.accelerator.num_processes
    blocker = cache_blocker(config, objective.matches, train, dataset, processes) if setting == "auto" else None
    if blocker is not None:
        run.log.event("teacher_cache", stage=stage, used=False, reason=blocker)
        return None
    dtype = cache_dtype(config.teacher.cache_dtype, run.accelerator.mixed_precision)
    own = objective.requested("teacher")
    for requested in [own | later, own] if later and not later <= own else [own]:
        layout = plan_teacher_cache(
            teacher,
            dataset,
            requested,
            tokenizer=tokenizer,
            cache_dir=Path(config.teacher.cache_dir) if config.teacher.cache_dir else _run_cache_dir(run),
            dtype=dtype,
            accelerator=run.accelerator,
        )
        free = free_bytes(layout.folder)
        usable = free // 2 if setting == "auto" else free  # auto takes at most half of what is free
        fits = broadcast_object_list([layout.missing_bytes + HEADROOM_BYTES <= usable])[0]
        if fits:
            break
    if not fits:
        share = "half of the free space" if setting == "auto" else "the free space"
        problem = (
            f"teacher.cache: the teacher's outputs for stage '{stage}' ({len(layout.lengths):,} examples, "
            f"{len(layout.names)} features in {dtype}) need {_gb(layout.missing_bytes)} in {layout.folder.parent}, "
            f"more than {share} ({_gb(free)} free, {_gb(HEADROOM_BYTES)} kept for checkpoints)"
        )
        if setting is True:
            raise ConfigError(
                f"{problem}; set teacher.cache_dir to a larger disk, teacher.cache_dtype: bfloat16 or float16, or "
                "teacher.cache: false"
            )
        note(f"{problem}; the teacher runs live instead")
        run.record_notices()
        run.log.event("teacher_cache", stage=stage, used=False, reason=problem)
        return None
    if layout.missing_bytes > 1 << 30:
        size = _gb(layout.total_bytes)
        note(f"teacher.cache: the teacher's outputs for stage '{stage}' take {size} in {layout.folder}")
        run.record_notices()
    cache, record = fill_teacher_cache(
        layout, teacher, dataset, tokenizer=tokenizer, accelerator=run.accelerator, batch_size=train.eval_batch_size
    )
    passes = passes_over_data(train, len(dataset), processes)
    ahead = sorted(layout.names[k] for k in layout.names if k not in own)
    run.log.event(
        "teacher_cache", stage=stage, used=True, dtype=dtype, passes=round(passes, 3), for_later_stages=ahead, **record
    )
    return cache.subset(own)
