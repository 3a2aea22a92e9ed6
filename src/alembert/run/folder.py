"""A run's folder and settings, checked before anything is loaded: the folder is claimed by one command for as
long as it runs, a new run needs it empty, and ``--resume`` needs the interrupted run's config.

On ``--resume`` only the optimiser settings named with ``--allow-changes`` may differ (the change is recorded in
the run's log); paths are compared relative to the run folder, so a run folder that was moved or copied (with
what lay beside it, such as earlier hops of a teacher-assistant chain) resumes where it is now.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import yaml

from alembert.config import DistillConfig, FinetuneConfig
from alembert.errors import ConfigError, Interrupted
from alembert.files import FolderClaim
from alembert.train.control import TrainingInterrupted


__all__ = [
    "EXECUTION_SETTINGS",
    "RESUMABLE_SETTINGS",
    "Changes",
    "check_allowed_changes",
    "check_precision",
    "check_same_config",
    "claim_run_folder",
]

RESUMABLE_SETTINGS = ("learning_rate", "weight_decay", "max_grad_norm", "warmup_ratio")
# How a run computes, not what it computes: the teacher's outputs read from a cache or computed live, the step
# compiled or eager. A run resumes under another choice (e.g. a later version's default) and its log records it.
# How often it checkpoints by the clock is one of them too.
_TEACHER_EXECUTION_SETTINGS = ("cache", "cache_dir", "cache_dtype")
_TRAIN_EXECUTION_SETTINGS = ("compile", "save_every_minutes")
EXECUTION_SETTINGS = _TEACHER_EXECUTION_SETTINGS + _TRAIN_EXECUTION_SETTINGS
Changes = dict[str, tuple[Any, Any]]
_NEW_RUN_HINT = "pass --resume to continue that run or choose a new output_dir"


def _device_type() -> str:
    """The device type Accelerate will train on (decided the way :func:`~alembert.run.context.make_accelerator`
    and Accelerate decide it, without starting a process group)."""
    if os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes"):
        return "cpu"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        return "cpu"
    device = torch.accelerator.current_accelerator(check_available=True)
    return device.type if device is not None else "cpu"


def check_precision(config: DistillConfig | FinetuneConfig) -> None:
    """Refuse a precision that would not run as recorded: Accelerate silently trains ``fp16`` in fp32 on a CPU.

    Raises:
        ConfigError: ``train.mixed_precision: fp16`` where the run would train on a CPU.
    """
    if config.train.mixed_precision == "fp16" and _device_type() == "cpu":
        raise ConfigError(
            "train.mixed_precision: fp16 needs a GPU; on this CPU the run would train in fp32 while config.yaml said "
            "fp16 (Accelerate has no fp16 autocast on CPUs); use bf16 (CPU autocast) or no"
        )


def check_allowed_changes(keys: Sequence[str], resume: bool) -> None:
    """``--allow-changes`` names optimiser settings (``train.<name>`` or ``stages.<stage>.train.<name>``).

    Raises:
        ConfigError: without ``--resume``, or naming a key that cannot change in the middle of a run.
    """
    if keys and not resume:
        raise ConfigError("--allow-changes applies to --resume only (a new run takes any config)")
    for key in keys:
        parts = key.split(".")
        top = len(parts) == 2 and parts[0] == "train"
        staged = len(parts) == 4 and parts[0] == "stages" and parts[2] == "train"
        if not (top or staged) or parts[-1] not in RESUMABLE_SETTINGS:
            raise ConfigError(
                f"--allow-changes {key}: only optimiser settings may change when a run resumes: "
                f"train.<{'|'.join(RESUMABLE_SETTINGS)}> or stages.<stage>.train.<...>"
            )


def _interrupted_message(output_dir: Path) -> str:
    if (output_dir / "config.yaml").is_file():
        return f"interrupted; what was done so far is kept in {output_dir}: continue with --resume"
    return "interrupted before the run started; nothing was written (there is no run to resume)"


@contextmanager
def claim_run_folder(
    config: DistillConfig | FinetuneConfig, *, resume: bool, allow_changes: Sequence[str] = ()
) -> Iterator[Changes]:
    """Check and claim the run folder for the ``with`` block; yields the allowed changes of a resumed run.

    A new run needs an absent or empty ``output_dir`` (it is created now, so a folder that cannot be created or
    written fails before any model or data is loaded); ``--resume`` needs the folder of an earlier run of the
    same config. Ctrl-C in the block ends as :class:`~alembert.errors.Interrupted`, whose message advises
    ``--resume`` only when there is a run to resume; the folder is given back (removed if it stayed empty).

    Raises:
        ConfigError: see :func:`check_same_config`, :func:`check_allowed_changes` and
            :meth:`alembert.files.FolderClaim.acquire`.
    """
    output_dir = Path(config.output_dir)
    check_allowed_changes(allow_changes, resume)
    changes: Changes = {}
    if resume:
        if not (output_dir / "config.yaml").is_file():
            raise ConfigError(f"--resume: {output_dir} holds no earlier run (no config.yaml)")
        changes = check_same_config(output_dir, config, allow=allow_changes)
    claim = FolderClaim.acquire(output_dir, what="output_dir", must_be_empty=not resume, hint=_NEW_RUN_HINT)
    try:
        yield changes
    except KeyboardInterrupt:
        raise Interrupted(_interrupted_message(output_dir)) from None
    except Interrupted as err:
        if isinstance(err, TrainingInterrupted):  # it names the checkpoint it saved
            raise
        raise Interrupted(_interrupted_message(output_dir)) from None  # a hop's: this folder is what resumes
    finally:
        claim.release()


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; list elements with unique names are keyed by name (``stages.distill``)."""
    if isinstance(data, dict):
        return {k: v for key, value in data.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        names = [item.get("name") for item in data]
        named = all(isinstance(n, str) for n in names) and len(set(names)) == len(names)
        keys = names if named else [str(i) for i in range(len(data))]
        return {k: v for key, item in zip(keys, data) for k, v in _flatten(item, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): data}


def _same(old: Any, new: Any, old_root: str, new_root: str) -> bool:
    """Equal values, or paths that point to the same place relative to the run folder that moved."""
    if old == new:
        return True
    if not (isinstance(old, str) and isinstance(new, str) and old_root and new_root and "/" in old + new):
        return False
    try:
        old_rel, new_rel = os.path.relpath(old, old_root), os.path.relpath(new, new_root)
    except ValueError:  # pragma: no cover - paths on different Windows drives
        return False
    return old_rel == new_rel and not old_rel.startswith(os.path.join(os.pardir, os.pardir))


def _with_defaults(saved: dict[str, Any], schema: type[DistillConfig] | type[FinetuneConfig]) -> dict[str, Any]:
    """The saved config with every key a later version added at its default (a run written before a setting
    existed ran with its default), or as saved when it no longer validates (then every difference shows)."""
    try:
        return json.loads(schema.model_validate(saved).model_dump_json())
    except ValueError:
        return saved


def _execution_setting(key: str) -> bool:
    """``teacher.cache``, ``teacher.cache_dir``, ``teacher.cache_dtype`` (``model.`` in fine-tuning), or a
    ``train.compile`` or ``train.save_every_minutes`` (of the run or of a stage)."""
    parts = key.split(".")
    if parts[0] in ("teacher", "model") and len(parts) == 2:
        return parts[1] in _TEACHER_EXECUTION_SETTINGS
    return parts[-1] in _TRAIN_EXECUTION_SETTINGS and len(parts) >= 2 and parts[-2] == "train"


def check_same_config(
    output_dir: Path, config: DistillConfig | FinetuneConfig, *, allow: Sequence[str] = ()
) -> Changes:
    """A resumed (or reused) run must be the run that was interrupted.

    ``output_dir`` and ``bench_latency`` may differ, paths may differ as the folder moved (see :func:`_same`),
    the keys in ``allow`` and the :data:`EXECUTION_SETTINGS` (``teacher.cache*``, ``train.compile``,
    ``train.save_every_minutes``) may differ.

    Returns:
        The allowed keys that changed, ``{key: (before, now)}``.

    Raises:
        ConfigError: naming the first keys that differ from the run folder's ``config.yaml``.
    """
    saved_path = output_dir / "config-with-assistants.yaml"
    if not saved_path.is_file():
        saved_path = output_dir / "config.yaml"
    try:
        saved_data = yaml.safe_load(saved_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"--resume: cannot read {saved_path} ({str(err).splitlines()[0]})") from None
    if not isinstance(saved_data, dict):
        raise ConfigError(f"--resume: {saved_path} is not a run config")
    current_data = json.loads(config.model_dump_json())
    saved_data = _with_defaults(saved_data, type(config))
    roots = str(saved_data.get("output_dir") or ""), str(current_data.get("output_dir") or "")
    saved, current = _flatten(saved_data), _flatten(current_data)
    keys = (saved.keys() | current.keys()) - {"bench_latency", "output_dir"}
    changed = sorted(k for k in keys if not _same(saved.get(k), current.get(k), *roots))
    blocked = [k for k in changed if k not in set(allow) and not _execution_setting(k)]
    if blocked:
        resumable = all(k.split(".")[-1] in RESUMABLE_SETTINGS and ".train." in f".{k}" for k in blocked)
        hint = (
            f"resume with the same config, allow the change with --resume --allow-changes {','.join(blocked)}, or "
            "start a new output_dir"
            if resumable
            else "resume with the same config, or start a new output_dir"
        )
        raise ConfigError(
            f"--resume: the config differs from the interrupted run's {saved_path} in {', '.join(blocked[:5])}; "
            + hint
        )
    return {k: (saved.get(k), current.get(k)) for k in changed}
