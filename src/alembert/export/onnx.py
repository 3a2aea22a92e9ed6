"""ONNX building blocks: export with ``torch.onnx.export``, int8 dynamic quantisation, sessions and output checks."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import PreTrainedModel

from alembert.errors import AlembertError
from alembert.features.extract import model_inputs


__all__ = [
    "ExportError",
    "Exporter",
    "export_onnx_file",
    "max_abs_difference",
    "onnx_session",
    "quantize_int8",
    "random_inputs",
    "torch_logits",
]

Exporter = Literal["dynamo", "torchscript"]
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class ExportError(AlembertError):
    """The model could not be exported, or the exported model does not reproduce PyTorch's outputs."""


def input_names(model: PreTrainedModel) -> list[str]:
    """The encoder inputs the model's ``forward`` takes (DistilBERT has no ``token_type_ids``)."""
    probe = {name: torch.zeros(1, 1, dtype=torch.long) for name in _INPUTS}
    return [name for name in _INPUTS if name in model_inputs(model, probe)]


def random_inputs(
    model: PreTrainedModel, batch_size: int, seq_len: int, *, seed: int = 0, padded: bool = False
) -> dict[str, np.ndarray]:
    """Random token ids (``int64``) for ``model``; ``padded`` masks the tail of every other example."""
    rng = np.random.default_rng(seed)
    vocab = int(model.config.vocab_size)
    inputs = {
        "input_ids": rng.integers(5, vocab, size=(batch_size, seq_len), dtype=np.int64),
        "attention_mask": np.ones((batch_size, seq_len), dtype=np.int64),
        "token_type_ids": np.zeros((batch_size, seq_len), dtype=np.int64),
    }
    if padded:
        for row in range(1, batch_size, 2):
            inputs["attention_mask"][row, max(1, seq_len // 2) :] = 0
    if seq_len > 2 and batch_size > 1:
        inputs["token_type_ids"][:, seq_len // 2 :] = 1
    accepted = input_names(model)
    return {name: value for name, value in inputs.items() if name in accepted}


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' tracing chatter (tracer warnings, optional-op registration logs)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", message=".*will be removed.*", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*axis name.*will not be used.*")
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*aten::index operator of advanced indexing.*")
            yield
    finally:
        logger.setLevel(level)


def export_onnx_file(
    model: PreTrainedModel, path: str | Path, *, exporter: Exporter = "dynamo", opset: int | None = None
) -> Path:
    """Export a sequence classifier to ONNX with dynamic batch and sequence axes; output ``logits``.

    The trace uses a padded batch so that attention-mask handling is part of the graph.

    Args:
        model: a Hugging Face sequence-classification model (fp32).
        path: the ``.onnx`` file to write.
        exporter: ``dynamo`` (``torch.export``-based, the default of torch ≥ 2.9; needs ``onnxscript``) or
            ``torchscript`` (the legacy tracer: much faster to run, deprecated by PyTorch).
        opset: ONNX opset (defaults: the exporter's own; 17 for ``torchscript``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    sample = {k: torch.from_numpy(v) for k, v in random_inputs(model, 2, 16, padded=True).items()}
    names = list(sample)
    try:
        with _quiet_exporter(), torch.no_grad():
            if exporter == "dynamo":
                batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
                program = torch.onnx.export(
                    model,
                    (),
                    kwargs=sample,
                    input_names=names,
                    output_names=["logits"],
                    dynamic_shapes={name: {0: batch, 1: seq} for name in names},
                    opset_version=opset,
                    dynamo=True,
                    verbose=False,
                )
                program.save(str(path))
            else:
                axes = {name: {0: "batch", 1: "sequence"} for name in names}
                torch.onnx.export(
                    model,
                    tuple(sample[name] for name in names),
                    str(path),
                    input_names=names,
                    output_names=["logits"],
                    dynamic_axes={**axes, "logits": {0: "batch"}},
                    opset_version=opset or 17,
                    dynamo=False,
                )
    except ImportError as err:
        raise ExportError(
            f"ONNX export ({exporter}): {err}; install onnxscript or use exporter 'torchscript'"
        ) from None
    except Exception as err:  # the exporters raise many types; the first line is what the user needs
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(f"ONNX export ({exporter}) of {type(model).__name__} failed: {first}") from err
    return path


def quantize_int8(source: str | Path, target: str | Path) -> Path:
    """Dynamic int8 quantisation of the weights of every MatMul/Gemm (``onnxruntime.quantization``)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT logs a "consider pre-processing" hint through the root logger
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return Path(target)


def onnx_session(path: str | Path, *, threads: int | None = None, spinning: bool = True) -> ort.InferenceSession:
    """A CPU ONNX Runtime session.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads; defaults to PyTorch's intra-op thread count (fair comparisons).
        spinning: let idle worker threads spin (ORT's default: lowest latency, but the spinning steals CPU from
            whatever runs next, so interleaved benchmarks turn it off).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def session_feeds(session: ort.InferenceSession, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The subset of ``inputs`` the session takes, as ``int64``."""
    feeds = {}
    for spec in session.get_inputs():
        if spec.name not in inputs:
            raise ExportError(f"the ONNX model needs input '{spec.name}', which was not given")
        feeds[spec.name] = np.ascontiguousarray(inputs[spec.name], dtype=np.int64)
    return feeds


@torch.no_grad()
def torch_logits(model: PreTrainedModel, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """PyTorch fp32 logits for numpy inputs."""
    tensors = {k: torch.from_numpy(np.asarray(v, dtype=np.int64)) for k, v in inputs.items()}
    return model.eval()(**model_inputs(model, tensors)).logits.float().numpy()


def max_abs_difference(
    model: PreTrainedModel, session: ort.InferenceSession, inputs: Mapping[str, np.ndarray]
) -> float:
    """Largest absolute difference between PyTorch and ONNX Runtime logits on ``inputs``."""
    expected = torch_logits(model, inputs)
    actual = session.run(["logits"], session_feeds(session, inputs))[0]
    return float(np.max(np.abs(expected - actual)))
