"""Run a model on a batch and expose the representations a distillation objective asks for.

Layer indices follow HF ``hidden_states``: 0 is the embedding output, ``k`` the output of block ``k``.
A requested representation that the model did not return is an error, never a silent zero loss.
With ``pack=True`` the model runs on the real tokens only (:mod:`alembert.features.packing`) and every per-token
representation comes back in the padded layout, zeros at padded positions.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from torch import Tensor, nn

from alembert.features.capture import ATTENTION_REPRESENTATIONS, AttentionCapture
from alembert.features.packing import PackingPlan, pack_inputs, plan_packing


__all__ = ["Features", "forward_features", "model_inputs", "representation_width"]

_HIDDEN_REPRESENTATIONS = frozenset({"hidden", "embeddings"})


class Features:
    """The outputs of one forward pass, addressed by ``(representation, layer)``.

    Args:
        outputs: a transformers ``ModelOutput`` (``logits``, optional ``hidden_states``).
        captured: extra tensors captured by hooks, keyed by ``(representation, layer)``.
        packing: the plan the forward pass ran packed with; hidden states are unpacked on request, and there
            are no sequence logits (the head pooled packed rows, not sequences).
    """

    def __init__(
        self,
        outputs: Any,
        captured: Mapping[tuple[str, int], Tensor] | None = None,
        packing: PackingPlan | None = None,
    ) -> None:
        self.outputs = outputs
        self.captured = dict(captured or {})
        self.packing = packing
        self._unpacked: dict[int, Tensor] = {}

    @property
    def logits(self) -> Tensor:
        """The prediction-layer logits."""
        if self.packing is not None:
            raise RuntimeError("logits requested from a packed forward pass (it has no per-sequence logits)")
        return self.outputs.logits

    def get(self, representation: str, layer: int | None) -> Tensor:
        """Return one representation; raises ``RuntimeError`` if the forward pass did not produce it."""
        if representation == "logits":
            return self.logits
        if representation in _HIDDEN_REPRESENTATIONS:
            hidden_states = getattr(self.outputs, "hidden_states", None)
            if not hidden_states:
                raise RuntimeError(f"{representation} requested but the model returned no hidden_states")
            index = 0 if representation == "embeddings" else int(layer or 0)
            if self.packing is None:
                return hidden_states[index]
            if index not in self._unpacked:
                self._unpacked[index] = self.packing.unpack(hidden_states[index])
            return self._unpacked[index]
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


def forward_features(
    model: nn.Module, batch: Mapping[str, Tensor], requested: Iterable[tuple[str, Any]], *, pack: bool = False
) -> Features:
    """Run ``model`` on ``batch``, asking for hidden states only if a requested representation needs them.

    Attention representations (:data:`alembert.features.capture.ATTENTION_REPRESENTATIONS`) are captured by hooks
    on the requested blocks only (see :class:`alembert.features.capture.AttentionCapture`); the hooks are removed
    after the pass.

    Args:
        model: a transformers encoder, possibly DDP-wrapped.
        batch: padded model inputs (extra keys such as ``labels`` are ignored).
        requested: ``(representation, layer)`` pairs.
        pack: run on the real tokens only (see :mod:`alembert.features.packing`; the caller checks
            :func:`alembert.features.packing.model_packing_blocker` and that no loss reads padded positions or
            logits). A batch that is not right-padded runs padded.
    """
    requested = list(requested)
    needs_hidden = any(rep in _HIDDEN_REPRESENTATIONS for rep, _ in requested)
    hooked = [(rep, int(layer)) for rep, layer in requested if rep in ATTENTION_REPRESENTATIONS]
    inputs = model_inputs(model, batch)
    plan = plan_packing(inputs["attention_mask"]) if pack and "attention_mask" in inputs else None
    model_kwargs = inputs if plan is None else pack_inputs(inputs, plan, model)
    if not hooked:
        return Features(model(**model_kwargs, output_hidden_states=needs_hidden, return_dict=True), packing=plan)
    unpack = None if plan is None else plan.unpack
    with AttentionCapture(model, hooked, batch.get("attention_mask"), unpack=unpack) as capture:
        outputs = model(**model_kwargs, output_hidden_states=needs_hidden, return_dict=True)
    return Features(outputs, capture.features(), packing=plan)


def representation_width(config: Any, representation: str) -> int:
    """Feature width of a hidden-state representation or of a one-mode sentence embedding (``hidden_size``)."""
    representation = representation.removesuffix("@words")  # word states have their tokens' width
    if representation not in (*_HIDDEN_REPRESENTATIONS, "sentence_embedding"):
        raise ValueError(f"{representation} has no feature width to project")
    return int(config.hidden_size)
