"""Pure distillation losses and the one name → function table that YAML recipes refer to."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from alembert.losses.hidden import cosine_embedding, mse
from alembert.losses.logits import hard_label_loss, kl_div_with_temperature, logits_mse, soft_cross_entropy


LossFn = Callable[..., Tensor]

LOSSES: dict[str, LossFn] = {
    "kl_div": kl_div_with_temperature,
    "soft_ce": soft_cross_entropy,
    "logits_mse": logits_mse,
    "cosine": cosine_embedding,
    "mse": mse,
}

__all__ = [
    "LOSSES",
    "LossFn",
    "cosine_embedding",
    "hard_label_loss",
    "kl_div_with_temperature",
    "logits_mse",
    "mse",
    "soft_cross_entropy",
]
