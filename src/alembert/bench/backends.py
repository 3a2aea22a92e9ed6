"""Inference backends behind one interface: PyTorch fp32 (eager, sdpa), bf16, ``torch.compile`` and ONNX Runtime
fp32/int8. A :class:`Runner` binds numpy inputs to a zero-argument call, so timing code treats them all alike."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel

from alembert.errors import ConfigError
from alembert.export.onnx import Exporter, export_onnx_file, onnx_session, quantize_int8, session_feeds
from alembert.features.extract import model_inputs


__all__ = ["BACKENDS", "Runner", "build_runner", "check_backends", "onnx_runner"]

BACKENDS: dict[str, str] = {
    "eager": "PyTorch fp32, eager attention",
    "sdpa": "PyTorch fp32, scaled_dot_product_attention",
    "bf16": "PyTorch bfloat16 weights and activations (sdpa)",
    "compile": "torch.compile of the fp32 sdpa model",
    "ort": "ONNX Runtime fp32 (CPU)",
    "ort-int8": "ONNX Runtime, dynamic int8 quantisation of the weights",
}


@dataclass(frozen=True)
class Runner:
    """One model on one backend.

    Attributes:
        backend: a key of :data:`BACKENDS`.
        bind: ``bind(inputs)`` returns a zero-argument call running one forward pass on those inputs. Bind right
            before timing: the PyTorch runners of one model share its weights and set the attention kernel here.
        weights_mb: size of the weights this backend holds (parameters, or the ``.onnx`` file).
        dtype: numeric type of the weights (``float32``, ``bfloat16``, ``int8``).
    """

    backend: str
    bind: Callable[[Mapping[str, np.ndarray]], Callable[[], object]]
    weights_mb: float
    dtype: str


def check_backends(backends: tuple[str, ...] | list[str]) -> None:
    """Raise :class:`ConfigError` for an unknown backend name."""
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ConfigError(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")


def _parameter_mb(model: torch.nn.Module) -> float:
    return sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20


def _torch_runner(model: PreTrainedModel, backend: str) -> Runner:
    attn = "eager" if backend == "eager" else "sdpa"
    target: Callable[..., object] = model
    dtype = "float32"
    if backend == "bf16":
        model = copy.deepcopy(model).to(torch.bfloat16)
        target, dtype = model, "bfloat16"
    elif backend == "compile":
        target = torch.compile(model, dynamic=False)
    owner = model
    try:
        owner.set_attn_implementation(attn)
    except ValueError as err:
        raise ConfigError(f"backend {backend}: {str(err).splitlines()[0]}") from None
    if owner.config._attn_implementation != attn:  # some models silently keep their only kernel
        raise ConfigError(f"backend {backend}: {type(owner).__name__} has no {attn} attention")

    def bind(inputs: Mapping[str, np.ndarray]) -> Callable[[], object]:
        owner.set_attn_implementation(attn)
        tensors = {k: torch.from_numpy(np.asarray(v, dtype=np.int64)) for k, v in inputs.items()}
        tensors = model_inputs(owner, tensors)

        def call() -> object:
            with torch.inference_mode():
                return target(**tensors)

        return call

    return Runner(backend, bind, _parameter_mb(owner), dtype)


def onnx_runner(
    path: str | Path, backend: str = "ort", *, threads: int | None = None, spinning: bool = True
) -> Runner:
    """A runner for an existing ``.onnx`` file (see :func:`alembert.export.onnx.onnx_session` for the options)."""
    session = onnx_session(path, threads=threads, spinning=spinning)

    def bind(inputs: Mapping[str, np.ndarray]) -> Callable[[], object]:
        feeds = session_feeds(session, inputs)
        return lambda: session.run(None, feeds)

    return Runner(backend, bind, Path(path).stat().st_size / 2**20, "int8" if backend == "ort-int8" else "float32")


def build_runner(
    model: PreTrainedModel,
    backend: str,
    workdir: str | Path,
    *,
    exporter: Exporter = "dynamo",
    threads: int | None = None,
    spinning: bool = True,
) -> Runner:
    """Prepare ``model`` (fp32, eval) for ``backend``; ONNX files are written to (and reused from) ``workdir``.

    Args:
        model: a Hugging Face sequence classifier; it is not modified except for its attention kernel setting.
        backend: a key of :data:`BACKENDS`.
        workdir: folder for ``model.onnx`` / ``model_int8.onnx``.
        exporter: ONNX exporter (see :func:`alembert.export.onnx.export_onnx_file`).
        threads: ONNX Runtime intra-op threads (defaults to ``torch.get_num_threads()``).
        spinning: ONNX Runtime worker threads spin while idle (off for interleaved benchmarks).
    """
    check_backends([backend])
    model.eval()
    if backend in ("eager", "sdpa", "bf16", "compile"):
        return _torch_runner(model, backend)
    workdir = Path(workdir)
    fp32 = workdir / "model.onnx"
    if not fp32.is_file():
        try:
            model.set_attn_implementation("sdpa")
        except ValueError:  # e.g. MPNet has no sdpa path; export its eager attention
            model.set_attn_implementation("eager")
        export_onnx_file(model, fp32, exporter=exporter)
    if backend == "ort":
        return onnx_runner(fp32, "ort", threads=threads, spinning=spinning)
    int8 = workdir / "model_int8.onnx"
    if not int8.is_file():
        quantize_int8(fp32, int8)
    return onnx_runner(int8, "ort-int8", threads=threads, spinning=spinning)
