"""Parameter counts and CPU/GPU inference latency (median and spread over repeated runs after warm-up)."""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn


__all__ = ["Latency", "count_parameters", "environment", "measure_latency"]


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


@dataclass(frozen=True)
class Latency:
    """Latency statistics in milliseconds for one model and input shape."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    runs: int
    batch_size: int
    seq_len: int
    threads: int

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


@torch.inference_mode()
def measure_latency(
    model: nn.Module,
    *,
    batch_size: int = 1,
    seq_len: int = 128,
    warmup: int = 5,
    runs: int = 30,
    min_seconds: float = 0.0,
    device: torch.device | str = "cpu",
    vocab_size: int | None = None,
) -> Latency:
    """Time ``model`` on random token ids: warm-up, then ``runs`` timed forward passes (or ``min_seconds``).

    Args:
        model: a Hugging Face encoder (inputs ``input_ids`` and ``attention_mask``).
        batch_size: examples per forward pass.
        seq_len: tokens per example (no padding).
        warmup: untimed passes first.
        runs: timed passes (at least).
        min_seconds: keep timing until this much time has passed.
        device: where the inputs go (the model must already be there).
        vocab_size: token id range (defaults to the model's).
    """
    vocab = vocab_size or int(model.config.vocab_size)
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, vocab, (batch_size, seq_len), generator=generator).to(device)
    attention_mask = torch.ones_like(input_ids)
    was_training = model.training
    model.eval()
    for _ in range(warmup):
        model(input_ids=input_ids, attention_mask=attention_mask)
    times = []
    start = time.perf_counter()
    while len(times) < runs or time.perf_counter() - start < min_seconds:
        if isinstance(device, torch.device) and device.type == "cuda":
            torch.cuda.synchronize()
        begin = time.perf_counter()
        model(input_ids=input_ids, attention_mask=attention_mask)
        if isinstance(device, torch.device) and device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - begin) * 1000.0)
    model.train(was_training)
    quantiles = statistics.quantiles(times, n=10)
    return Latency(
        statistics.median(times), quantiles[0], quantiles[-1], len(times), batch_size, seq_len, torch.get_num_threads()
    )


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
