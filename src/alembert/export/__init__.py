"""Export students for deployment: ONNX (fp32 and int8) with an output check, and a backend recommendation."""

from __future__ import annotations

from typing import Any

from alembert.export.onnx import ExportError, export_onnx_file, onnx_session, quantize_int8


__all__ = ["ExportError", "ExportResult", "export_model", "export_onnx_file", "onnx_session", "quantize_int8"]


def __getattr__(name: str) -> Any:
    # export_model builds on alembert.bench, which itself uses alembert.export.onnx: import it on first use
    if name in ("ExportResult", "export_model"):
        from alembert.export import folder

        return getattr(folder, name)
    raise AttributeError(f"module 'alembert.export' has no attribute {name!r}")
