"""Peak resident memory of one call, from the kernel's high-water mark (works for PyTorch and ONNX Runtime alike).

``tracemalloc`` does not see PyTorch's or ONNX Runtime's native allocations, so the peak is read from
``/proc/self/status`` (``VmHWM``) after resetting it through ``/proc/self/clear_refs`` (Linux only). Freed heap
memory is first handed back to the OS (``malloc_trim``) so the baseline is not inflated by earlier models.
The result is the extra resident memory the call needed on top of what was resident before (weights already
loaded are not counted): activations, workspace buffers and runtime arenas. It is approximate (page granularity;
other threads of the same process count too).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from pathlib import Path


__all__ = ["peak_rss_delta_mb", "rss_mb"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def rss_mb() -> float | None:
    """Current resident set size in MiB (``None`` where ``/proc`` is unavailable)."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024.0


def _trim_heap() -> None:
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_rss_delta_mb(call: Callable[[], object]) -> float | None:
    """Extra peak resident memory (MiB) that ``call()`` needed, or ``None`` if the platform cannot tell.

    Args:
        call: the work to measure (e.g. one forward pass); it is run once.
    """
    _trim_heap()
    try:
        _CLEAR_REFS.write_text("5", encoding="ascii")  # 5 resets VmHWM to the current RSS
    except OSError:
        return None
    before = _status_kb("VmRSS")
    call()
    peak = _status_kb("VmHWM")
    if before is None or peak is None:
        return None
    return max(peak - before, 0) / 1024.0
