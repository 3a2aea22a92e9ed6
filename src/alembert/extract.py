"""Run a model on a batch and expose the representations a distillation objective asks for.

Layer indices follow HF ``hidden_states``: 0 is the embedding output, ``k`` the output of block ``k``.
A requested representation that the model did not return is an error, never a silent zero loss.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from torch import Tensor, nn

from alembert.capture import ATTENTION_REPRESENTATIONS, AttentionCapture


__all__ = ["Features", "forward_features", "model_inputs", "representation_width"]

_HIDDEN_REPRESENTATIONS = frozenset({"hidden", "embeddings"})


class Features:
    """The outputs of one forward pass, addressed by ``(representation, layer)``.

    Args:
        outputs: a transformers ``ModelOutput`` (``logits``, optional ``hidden_states``).
        captured: extra tensors captured by hooks, keyed by ``(representation, layer)``.
    """

    def __init__(self, outputs: Any, captured: Mapping[tuple[str, int], Tensor] | None = None) -> None:
        self.outputs = outputs
        self.captured = dict(captured or {})

    @property
    def logits(self) -> Tensor:
        """The prediction-layer logits."""
        return self.outputs.logits

    def get(self, representation: str, layer: int | None) -> Tensor:
        """Return one representation; raises ``RuntimeError`` if the forward pass did not produce it."""
        if representation == "logits":
            return self.outputs.logits
        if representation in _HIDDEN_REPRESENTATIONS:
            hidden_states = getattr(self.outputs, "hidden_states", None)
            if not hidden_states:
                raise RuntimeError(f"{representation} requested but the model returned no hidden_states")
            return hidden_states[0 if representation == "embeddings" else layer]
        key = (representation, int(layer or 0))
        if key not in self.captured:
            raise RuntimeError(f"{representation} of layer {layer} requested but was not captured")
        return self.captured[key]


@lru_cache(maxsize=64)
def _accepted_inputs(model_class: type) -> frozenset[str]:
    return frozenset(inspect.signature(model_class.forward).parameters)


def model_inputs(model: nn.Module, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The batch entries the model's ``forward`` accepts (DistilBERT takes no ``token_type_ids``), minus labels."""
    base = getattr(model, "module", model)  # DDP-wrapped
    accepted = _accepted_inputs(type(base))
    return {k: v for k, v in batch.items() if k in accepted and k != "labels"}


def forward_features(model: nn.Module, batch: Mapping[str, Tensor], requested: Iterable[tuple[str, Any]]) -> Features:
    """Run ``model`` on ``batch``, asking for hidden states only if a requested representation needs them.

    Attention representations (:data:`alembert.capture.ATTENTION_REPRESENTATIONS`) are captured by hooks on the
    requested blocks only (see :class:`alembert.capture.AttentionCapture`); the hooks are removed after the pass.
    """
    requested = list(requested)
    needs_hidden = any(rep in _HIDDEN_REPRESENTATIONS for rep, _ in requested)
    hooked = [(rep, int(layer)) for rep, layer in requested if rep in ATTENTION_REPRESENTATIONS]
    inputs = model_inputs(model, batch)
    if not hooked:
        return Features(model(**inputs, output_hidden_states=needs_hidden, return_dict=True))
    with AttentionCapture(model, hooked, batch.get("attention_mask")) as capture:
        outputs = model(**inputs, output_hidden_states=needs_hidden, return_dict=True)
    return Features(outputs, capture.features())


def representation_width(config: Any, representation: str) -> int:
    """Feature width of a hidden-state representation (the encoder's ``hidden_size``)."""
    if representation not in _HIDDEN_REPRESENTATIONS:
        raise ValueError(f"{representation} has no feature width to project")
    return int(config.hidden_size)
