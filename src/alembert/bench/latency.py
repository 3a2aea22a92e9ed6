"""Parameter counts and the machine facts recorded next to every measurement (timing itself is
:mod:`alembert.bench.timing`, the one routine every speed figure comes from)."""

from __future__ import annotations

import platform

import torch
from torch import nn


__all__ = ["count_parameters", "environment"]


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameters split as the MiniLM table does: embeddings, Transformer body, and the rest (heads)."""
    embeddings = transformer = other = 0
    seen: set[int] = set()
    for name, parameter in model.named_parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        if "embeddings" in name:
            embeddings += parameter.numel()
        elif ".layer." in name or "encoder" in name or "transformer" in name:
            transformer += parameter.numel()
        else:
            other += parameter.numel()
    return {
        "total": embeddings + transformer + other,
        "embeddings": embeddings,
        "transformer": transformer,
        "other": other,
    }


def environment() -> dict[str, str | int]:
    """Versions and machine facts recorded next to every measurement."""
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "threads": torch.get_num_threads(),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
