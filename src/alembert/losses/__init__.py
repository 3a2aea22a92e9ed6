"""Pure distillation losses and the one name → function table that YAML recipes refer to."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from alembert.losses.attention import attention_kl, attention_mse
from alembert.losses.embedding import similarity_kl
from alembert.losses.hidden import cosine_embedding, mse
from alembert.losses.logits import hard_label_loss, kl_div_with_temperature, logits_mse, soft_cross_entropy
from alembert.losses.relations import qkv_relation_kl, value_relation_kl


LossFn = Callable[..., Tensor]

LOSSES: dict[str, LossFn] = {
    "kl_div": kl_div_with_temperature,
    "soft_ce": soft_cross_entropy,
    "logits_mse": logits_mse,
    "cosine": cosine_embedding,
    "mse": mse,
    "attention_mse": attention_mse,
    "attention_kl": attention_kl,
    "value_relation_kl": value_relation_kl,
    "qkv_relation_kl": qkv_relation_kl,
    "similarity_kl": similarity_kl,
}

__all__ = [
    "LOSSES",
    "LossFn",
    "attention_kl",
    "attention_mse",
    "cosine_embedding",
    "hard_label_loss",
    "kl_div_with_temperature",
    "logits_mse",
    "mse",
    "qkv_relation_kl",
    "similarity_kl",
    "soft_cross_entropy",
    "value_relation_kl",
]
