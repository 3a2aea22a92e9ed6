"""The machine a benchmark ran on: library versions, threads, CPU features, load, and its fp32 matmul peak."""

from __future__ import annotations

import statistics
from typing import Any

import torch

from alembert.bench.latency import environment
from alembert.bench.timing import cpu_count, load_average, sample_times


__all__ = ["bench_environment", "cpu_flags", "load_average", "measure_matmul_peak"]

_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")


def cpu_flags() -> list[str]:
    """The SIMD features that matter for fp32/bf16/int8 inference (from ``/proc/cpuinfo``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in _FLAGS if flag in present]
    except OSError:
        pass
    return []


def bench_environment() -> dict[str, Any]:
    """:func:`alembert.bench.latency.environment` plus ONNX Runtime, CPU features, core count and load."""
    import onnxruntime

    return {
        **environment(),
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cpu_count": cpu_count(),
        "cpu_flags": cpu_flags(),
        "load_average_start": load_average(),
    }


def measure_matmul_peak(size: int = 1024, repeats: int = 10, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """GFLOP/s of ``torch.mm`` on square ``size`` matrices with the current thread count (best and median).

    Args:
        size: matrix side.
        repeats: timed multiplications (after two untimed ones).
        dtype: element type.
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(dtype)
    b = torch.randn(size, size, generator=generator).to(dtype)
    for _ in range(2):
        torch.mm(a, b)
    seconds = sample_times(lambda: torch.mm(a, b), seconds=float("inf"), runs=repeats)
    flops = 2.0 * size**3
    return {
        "size": size,
        "dtype": str(dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "best_gflops": flops / min(seconds) / 1e9,
        "median_gflops": flops / statistics.median(seconds) / 1e9,
    }
