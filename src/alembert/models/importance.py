"""Activation importance of a BERT-family encoder's units, for structured pruning (Minitron, NVIDIA 2024).

Forward hooks on the model's own modules collect, over the real tokens (``attention_mask == 1``) of calibration
batches: each head's context-output norm, each head dimension's Q·K and V magnitude, each FFN neuron's activation,
each hidden channel's LayerNorm output and each layer's block importance (1 − cosine(input, output), ShortGPT).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel

from alembert.errors import ConfigError


__all__ = ["SUPPORTED_CLASSES", "Importance", "activation_importance", "check_supported"]

SUPPORTED_CLASSES: dict[str, tuple[str, ...]] = {
    "bert": ("BertModel", "BertForSequenceClassification", "BertForMaskedLM"),
    "roberta": ("RobertaModel", "RobertaForSequenceClassification", "RobertaForMaskedLM"),
    "electra": ("ElectraModel", "ElectraForSequenceClassification", "ElectraForMaskedLM", "ElectraForPreTraining"),
}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class Importance:
    """Mean importance of every prunable unit of a teacher (float32 tensors on the CPU; higher = keep).

    Attributes:
        heads: ``(layers, heads)`` L2 norm of each head's context output (before the output projection).
        qk_dims: ``(layers, heads, head_dim)`` mean ``|q_d|·|k_d|``: Q and K dims are kept at the same indices.
        v_dims: ``(layers, heads, head_dim)`` mean ``|context_d|`` (the V side of each head).
        neurons: ``(layers, intermediate_size)`` mean ``|act(intermediate)|``.
        hidden: ``(hidden_size,)`` mean ``|LayerNorm output|`` summed over the embedding LayerNorm (when it is
            ``hidden_size`` wide: not for ELECTRA with a smaller ``embedding_size``) and both LayerNorms of each
            layer.
        blocks: ``(layers,)`` block importance ``1 − mean cos(layer input, layer output)``.
        tokens: number of real tokens averaged over.
    """

    heads: Tensor
    qk_dims: Tensor
    v_dims: Tensor
    neurons: Tensor
    hidden: Tensor
    blocks: Tensor
    tokens: int


def check_supported(model: nn.Module) -> None:
    """Raise :class:`ConfigError` unless ``model`` is a BERT, RoBERTa or ELECTRA class that pruning handles."""
    family = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
    if family not in SUPPORTED_CLASSES:
        raise ConfigError(
            f"prune: model family '{family}' is not supported; supported families: {', '.join(SUPPORTED_CLASSES)}"
        )
    name = type(model).__name__
    if name not in SUPPORTED_CLASSES[family]:
        raise ConfigError(
            f"prune: {name} is not supported (supported {family} classes: {', '.join(SUPPORTED_CLASSES[family])})"
        )
    if getattr(model.config, "add_cross_attention", False):
        raise ConfigError(f"prune: {name} has cross-attention layers, which pruning does not handle")


class _Collector:
    """Forward hooks that add each unit's statistic over the current batch's real tokens (float64 sums)."""

    def __init__(self, model: PreTrainedModel) -> None:
        config = model.config
        self.base = model.base_model
        self.layers = int(config.num_hidden_layers)
        self.num_heads = int(config.num_attention_heads)
        self.hidden = int(config.hidden_size)
        self.head_dim = self.hidden // self.num_heads
        device = next(model.parameters()).device
        shapes = {
            "heads": (self.layers, self.num_heads),
            "qk_dims": (self.layers, self.num_heads, self.head_dim),
            "v_dims": (self.layers, self.num_heads, self.head_dim),
            "neurons": (self.layers, int(config.intermediate_size)),
            "hidden": (self.hidden,),
            "blocks": (self.layers,),
        }
        self.sums = {name: torch.zeros(shape, dtype=torch.float64, device=device) for name, shape in shapes.items()}
        self.mask: Tensor | None = None
        self.query: dict[int, Tensor] = {}
        self.key: dict[int, Tensor] = {}

    def _real(self, tensor: Tensor) -> Tensor:
        return tensor[self.mask].to(torch.float64)  # (real tokens, ...)

    def register(self) -> list[torch.utils.hooks.RemovableHandle]:
        handles = []
        norm = self.base.embeddings.LayerNorm
        if norm.normalized_shape[0] == self.hidden:
            handles.append(norm.register_forward_hook(self._on_norm))
        for i, layer in enumerate(self.base.encoder.layer):
            attention = layer.attention
            handles += [
                attention.self.query.register_forward_hook(lambda m, a, out, i=i: self.query.__setitem__(i, out)),
                attention.self.key.register_forward_hook(lambda m, a, out, i=i: self.key.__setitem__(i, out)),
                attention.output.dense.register_forward_pre_hook(lambda m, args, i=i: self._on_context(i, args[0])),
                layer.intermediate.register_forward_hook(lambda m, a, out, i=i: self._on_neurons(i, out)),
                attention.output.LayerNorm.register_forward_hook(self._on_norm),
                layer.output.LayerNorm.register_forward_hook(self._on_norm),
                layer.register_forward_hook(
                    lambda m, a, kw, out, i=i: self._on_block(i, a, kw, out), with_kwargs=True
                ),
            ]
        return handles

    def _on_context(self, i: int, context: Tensor) -> None:
        per_head = (self.num_heads, self.head_dim)
        ctx = self._real(context).view(-1, *per_head)
        q = self._real(self.query.pop(i)).view(-1, *per_head)
        k = self._real(self.key.pop(i)).view(-1, *per_head)
        self.sums["heads"][i] += ctx.norm(dim=-1).sum(0)
        self.sums["v_dims"][i] += ctx.abs().sum(0)
        self.sums["qk_dims"][i] += (q.abs() * k.abs()).sum(0)

    def _on_neurons(self, i: int, activation: Tensor) -> None:
        self.sums["neurons"][i] += self._real(activation).abs().sum(0)

    def _on_norm(self, module: nn.Module, args: tuple, output: Tensor) -> None:
        self.sums["hidden"] += self._real(output).abs().sum(0)

    def _on_block(self, i: int, args: tuple, kwargs: dict, output: Tensor | tuple) -> None:
        inputs = args[0] if args else kwargs["hidden_states"]
        outputs = output[0] if isinstance(output, tuple) else output
        cosine = nn.functional.cosine_similarity(self._real(inputs), self._real(outputs), dim=-1)
        self.sums["blocks"][i] += (1.0 - cosine).sum()


def activation_importance(model: PreTrainedModel, batches: Iterable[Mapping[str, Tensor]]) -> Importance:
    """Importance of every head, head dimension, FFN neuron, hidden channel and layer of ``model`` on ``batches``.

    The model runs in eval mode without gradients (its training flag is restored afterwards), so the result
    depends only on the weights and the data, not on the random seed.

    Args:
        model: a supported BERT, RoBERTa or ELECTRA model (see :data:`SUPPORTED_CLASSES`).
        batches: dicts of ``input_ids``, ``attention_mask`` and optionally ``token_type_ids`` tensors, as a
            tokenizer returns them; other keys (e.g. ``labels``) are ignored.

    Returns:
        Every statistic averaged over the real tokens of all batches.

    Raises:
        ConfigError: an unsupported model, or batches without a single real token.
    """
    check_supported(model)
    collector = _Collector(model)
    device = next(model.parameters()).device
    was_training = model.training
    handles = collector.register()
    tokens = 0
    try:
        model.eval()
        with torch.no_grad():
            for batch in batches:
                inputs = {k: batch[k].to(device) for k in _INPUTS if k in batch and batch[k] is not None}
                mask = inputs.get("attention_mask")
                collector.mask = torch.ones_like(inputs["input_ids"], dtype=torch.bool) if mask is None else mask > 0
                tokens += int(collector.mask.sum())
                model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if tokens == 0:
        raise ConfigError("prune: the calibration batches hold no real token (attention_mask is all 0 or empty)")
    means = {name: (total / tokens).float().cpu() for name, total in collector.sums.items()}
    return Importance(**means, tokens=tokens)
