"""Capture self-attention internals with forward hooks, without forking the model or giving up ``sdpa``.

``sdpa`` (the transformers default) returns no attention maps. Instead of switching the whole model to ``eager``,
:class:`AttentionCapture` hooks only the Q/K/V linear layers of the requested blocks and recomputes, in fp32, what
was asked for. Unhooked blocks keep the fast kernel. Layer ``k`` (HF ``hidden_states`` indexing) is block
``encoder.layer[k - 1]``.

Captured representations (keys of :attr:`alembert.features.extract.Features.captured`):

* ``attention_scores``: ``(batch, heads, seq, seq)`` pre-softmax ``Q·Kᵀ/√d_head`` (+ MPNet's relative position
  bias), padded keys set to ``finfo(float32).min`` (what HF eager gets by adding its additive mask). TinyBERT.
* ``attention_probs``: ``(batch, heads, seq, seq)`` softmax of the scores (what ``output_attentions`` returns).
* ``value_relation``: ``(batch, heads, seq, d_head)`` the values per head (MiniLM ``L_VR`` input).
* ``qkv_relation``: ``(batch, 3, seq, heads·d_head)`` queries, keys and values, heads concatenated (MiniLMv2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from alembert.errors import ModelError


__all__ = ["ATTENTION_REPRESENTATIONS", "AttentionCapture", "AttentionLayout", "attention_layout", "attention_shape"]

ATTENTION_REPRESENTATIONS = frozenset({"attention_scores", "attention_probs", "value_relation", "qkv_relation"})


@dataclass(frozen=True)
class AttentionLayout:
    """Where a family keeps its self-attention projections, as attribute paths from the base model.

    Attributes:
        layers: path of the ``nn.ModuleList`` of blocks.
        attention: path from one block to its self-attention module.
        qkv: names of the query, key and value ``nn.Linear`` in that module.
        position_bias: path of the relative position bias ``nn.Embedding`` (MPNet), or ``None``.
        width: config attribute holding the attention width (heads · d_head).
    """

    layers: tuple[str, ...]
    attention: tuple[str, ...]
    qkv: tuple[str, str, str]
    position_bias: tuple[str, ...] | None = None
    width: str = "hidden_size"


_BERT_LIKE = AttentionLayout(("encoder", "layer"), ("attention", "self"), ("query", "key", "value"))
_LAYOUTS: dict[str, AttentionLayout] = {
    "bert": _BERT_LIKE,
    "roberta": _BERT_LIKE,
    "xlm-roberta": _BERT_LIKE,
    "electra": _BERT_LIKE,
    "mobilebert": replace(_BERT_LIKE, width="true_hidden_size"),
    "distilbert": AttentionLayout(("transformer", "layer"), ("attention",), ("q_lin", "k_lin", "v_lin")),
    "mpnet": AttentionLayout(
        ("encoder", "layer"), ("attention", "attn"), ("q", "k", "v"), ("encoder", "relative_attention_bias")
    ),
}


def attention_layout(config: Any) -> AttentionLayout:
    """The module layout of a model family; raises :class:`ModelError` for families without one."""
    model_type = getattr(config, "model_type", None)
    if model_type not in _LAYOUTS:
        raise ModelError(
            f"attention capture does not know the '{model_type}' architecture; "
            f"supported: {', '.join(sorted(_LAYOUTS))}"
        )
    return _LAYOUTS[model_type]


def attention_shape(config: Any) -> tuple[int, int]:
    """``(number of attention heads, attention width)`` of a config (MobileBERT: width is ``true_hidden_size``)."""
    return int(config.num_attention_heads), int(getattr(config, attention_layout(config).width))


def _walk(module: nn.Module, path: tuple[str, ...]) -> nn.Module:
    for name in path:
        module = getattr(module, name)
    return module


class AttentionCapture:
    """Context manager: hook the mapped blocks during one forward pass, then recompute what was requested.

    Args:
        model: a transformers encoder (any head), possibly DDP-wrapped (``model.module``).
        requested: ``(representation, layer)`` pairs, representation in :data:`ATTENTION_REPRESENTATIONS`,
            layer ``1..num_hidden_layers``.
        attention_mask: ``(batch, seq)`` 1 for tokens, 0 for padding; ``None`` when nothing is padded.
        unpack: for a packed forward pass (:mod:`alembert.features.packing`), maps a captured ``(rows, width, …)``
            projection back to ``(batch, seq, …)`` before anything is computed from it.

    Example:
        >>> with AttentionCapture(model, [("attention_probs", 4)], batch["attention_mask"]) as capture:
        ...     outputs = model(**inputs)
        >>> probs = capture.features()[("attention_probs", 4)]
    """

    def __init__(
        self,
        model: nn.Module,
        requested: Iterable[tuple[str, int]],
        attention_mask: Tensor | None,
        unpack: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        base = getattr(model, "module", model).base_model
        self.config = base.config
        self.layout = attention_layout(self.config)
        self.requested = sorted(set(requested))
        blocks = _walk(base, self.layout.layers)
        self.modules: dict[tuple[int, str], nn.Module] = {}
        for representation, layer in self.requested:
            if representation not in ATTENTION_REPRESENTATIONS:
                raise ValueError(f"{representation} is not captured by hooks")
            if not 1 <= int(layer) <= len(blocks):
                raise ValueError(f"{representation}: layer {layer} out of range 1..{len(blocks)}")
            attention = _walk(blocks[int(layer) - 1], self.layout.attention)
            for role, name in zip("qkv", self.layout.qkv):
                self.modules[(int(layer), role)] = getattr(attention, name)
        if self.layout.position_bias is not None:
            self.modules[(0, "bias")] = _walk(base, self.layout.position_bias)
        self.attention_mask = attention_mask
        self.unpack = unpack
        self._outputs: dict[tuple[int, str], Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> AttentionCapture:
        self._outputs.clear()
        for key, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook(key)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def reset(self) -> None:
        """Forget what the hooks stored (a pass whose features were not read, such as an evaluation's)."""
        self._outputs.clear()

    def _hook(self, key: tuple[int, str]):
        def store(_module: nn.Module, _args: tuple, output: Tensor) -> None:
            self._outputs[key] = output

        return store

    def features(self, attention_mask: Tensor | None = None) -> dict[tuple[str, int], Tensor]:
        """The requested tensors, fp32, keyed by ``(representation, layer)``; raises if a hook never fired.

        Args:
            attention_mask: this pass's mask, for hooks installed once for many passes (default: the one given
                when the capture was made).
        """
        missing = sorted({f"{layer}.{role}" for layer, role in self.modules if (layer, role) not in self._outputs})
        if missing:
            raise RuntimeError(
                f"attention capture: hooks on {missing} did not fire during the forward pass "
                f"({type(self.config).__name__}); the model's module layout is not the expected one"
            )
        mask = self.attention_mask if attention_mask is None else attention_mask
        features = {}
        with torch.autocast(device_type=next(iter(self._outputs.values())).device.type, enabled=False):
            for representation, layer in self.requested:
                features[(representation, layer)] = self._compute(representation, int(layer), mask)
        self._outputs.clear()
        return features

    def _compute(self, representation: str, layer: int, attention_mask: Tensor | None) -> Tensor:
        query, key, value = (self._projection(layer, role) for role in "qkv")
        if representation == "qkv_relation":
            return torch.stack([query, key, value], dim=1)
        heads = int(self.config.num_attention_heads)
        if representation == "value_relation":
            return _split_heads(value, heads)
        query, key = _split_heads(query, heads), _split_heads(key, heads)
        scores = query @ key.transpose(-1, -2) * query.shape[-1] ** -0.5
        if (0, "bias") in self._outputs:  # MPNet: (q_len, k_len, heads) from relative_attention_bias
            # the bias depends only on key - query distance, so a longer (packed) row's top-left corner is this one
            seq = scores.shape[-1]
            scores = scores + self._outputs[(0, "bias")][:seq, :seq].float().permute(2, 0, 1).unsqueeze(0)
        if attention_mask is not None:
            padded_keys = ~attention_mask.bool()[:, None, None, :]
            scores = scores.masked_fill(padded_keys, torch.finfo(scores.dtype).min)
        return scores if representation == "attention_scores" else scores.softmax(dim=-1)

    def _projection(self, layer: int, role: str) -> Tensor:
        output = self._outputs[(layer, role)]
        return (output if self.unpack is None else self.unpack(output)).float()


def _split_heads(x: Tensor, heads: int) -> Tensor:
    """``(batch, seq, heads·d)`` → ``(batch, heads, seq, d)``."""
    batch, seq, width = x.shape
    return x.view(batch, seq, heads, width // heads).transpose(1, 2)
