"""Analytic FLOPs per example of a BERT-family encoder, counted the way TinyBERT and MobileBERT report them.

Only matrix multiplications are counted (a multiply-add is 2 FLOPs): the Q/K/V/output projections, the two
attention matmuls (``QKᵀ`` and ``AV``), the feed-forward network, MobileBERT's bottlenecks and the embedding
projections of ELECTRA-small and MobileBERT, plus the pooler/classifier. Embedding look-ups, softmax, LayerNorm,
activations and biases are left out. BERT-base at sequence length 128 comes to 22.3 GFLOPs (the papers round
it to 22.5B); TinyBERT 4×312 to 1.2 GFLOPs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from alembert.errors import ModelError


__all__ = ["FlopCount", "count_flops", "encoder_shape"]

_BERT_LIKE = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "mpnet", "deberta", "ernie")


@dataclass(frozen=True)
class FlopCount:
    """FLOPs for one example at ``seq_len`` tokens, by part.

    Attributes:
        seq_len: tokens per example.
        embeddings: embedding projections (ELECTRA ``embeddings_project``, MobileBERT trigram input).
        attention_projections: Q, K, V and attention-output projections of every layer.
        attention_matmuls: ``QKᵀ`` and ``AV`` of every layer (quadratic in ``seq_len``).
        ffn: feed-forward networks of every layer.
        bottlenecks: MobileBERT's input/output bottleneck projections (0 for other families).
        head: pooler (on the first token) and classifier.
    """

    seq_len: int
    embeddings: int
    attention_projections: int
    attention_matmuls: int
    ffn: int
    bottlenecks: int
    head: int

    @property
    def encoder(self) -> int:
        """FLOPs of the Transformer layers only."""
        return self.attention_projections + self.attention_matmuls + self.ffn + self.bottlenecks

    @property
    def total(self) -> int:
        """All counted FLOPs."""
        return self.embeddings + self.encoder + self.head

    def to_dict(self) -> dict[str, int]:
        """Plain dict for JSON, with ``encoder`` and ``total``."""
        return {**asdict(self), "encoder": self.encoder, "total": self.total}


def encoder_shape(config: Any) -> dict[str, int]:
    """``layers``, ``hidden``, ``ffn``, ``heads`` (and ``embedding``) of a config, whatever the family calls them."""
    if config.model_type == "distilbert":
        return {
            "layers": config.n_layers,
            "hidden": config.dim,
            "ffn": config.hidden_dim,
            "heads": config.n_heads,
            "embedding": config.dim,
        }
    if config.model_type == "mobilebert":
        return {
            "layers": config.num_hidden_layers,
            "hidden": config.true_hidden_size if config.use_bottleneck else config.hidden_size,
            "ffn": config.intermediate_size,
            "heads": config.num_attention_heads,
            "embedding": config.embedding_size,
        }
    if config.model_type not in _BERT_LIKE:
        raise ModelError(
            f"FLOPs: no analytic count for model type '{config.model_type}' (known: distilbert, mobilebert, "
            f"{', '.join(_BERT_LIKE)})"
        )
    return {
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "ffn": config.intermediate_size,
        "heads": config.num_attention_heads,
        "embedding": getattr(config, "embedding_size", None) or config.hidden_size,
    }


def count_flops(config: Any, seq_len: int = 128, *, num_labels: int | None = None, head: bool = True) -> FlopCount:
    """Analytic FLOPs of one forward pass of one example (no padding).

    Args:
        config: a Hugging Face config of a BERT-family encoder (BERT, RoBERTa, ELECTRA, MPNet, DistilBERT,
            MobileBERT).
        seq_len: tokens per example.
        num_labels: classifier width (defaults to ``config.num_labels``).
        head: count the sequence-classification head (pooler/pre-classifier + classifier).

    Returns:
        The count, split by part.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    labels = config.num_labels if num_labels is None else num_labels
    if config.model_type == "mobilebert":
        return _mobilebert_flops(config, seq_len, labels if head else None)
    shape = encoder_shape(config)
    d, f, n, s = shape["hidden"], shape["ffn"], shape["layers"], seq_len
    embed = s * shape["embedding"] * d if shape["embedding"] != d else 0
    head_macs = d * d + d * labels if head else 0
    return FlopCount(
        seq_len=s,
        embeddings=2 * embed,
        attention_projections=2 * n * s * 4 * d * d,
        attention_matmuls=2 * n * 2 * s * s * d,
        ffn=2 * n * s * 2 * d * f,
        bottlenecks=0,
        head=2 * head_macs,
    )


def _mobilebert_flops(config: Any, s: int, labels: int | None) -> FlopCount:
    """MobileBERT (Sun et al. 2020): bottlenecked attention, stacked FFNs and a trigram embedding projection."""
    wide, n = config.hidden_size, config.num_hidden_layers
    narrow = config.true_hidden_size if config.use_bottleneck else wide
    heads_width = config.num_attention_heads * (narrow // config.num_attention_heads)
    if config.use_bottleneck:
        # input bottleneck (residual branch) + output bottleneck, + the shared key/query bottleneck
        bottleneck = wide * config.intra_bottleneck_size + narrow * wide
        if config.key_query_shared_bottleneck and not config.use_bottleneck_attention:
            bottleneck += wide * config.intra_bottleneck_size
        qk_in = narrow
        v_in = narrow if config.use_bottleneck_attention else wide
    else:
        bottleneck, qk_in, v_in = 0, wide, wide
    projections = 2 * qk_in * heads_width + v_in * heads_width + narrow * narrow
    ffn = config.num_feedforward_networks * 2 * narrow * config.intermediate_size
    embed_in = config.embedding_size * (3 if config.trigram_input else 1)
    embed = embed_in * wide if (config.trigram_input or config.embedding_size != wide) else 0
    head_macs = 0
    if labels is not None:
        head_macs = (wide * wide if config.classifier_activation else 0) + wide * labels
    return FlopCount(
        seq_len=s,
        embeddings=2 * s * embed,
        attention_projections=2 * n * s * projections,
        attention_matmuls=2 * n * 2 * s * s * heads_width,
        ffn=2 * n * s * ffn,
        bottlenecks=2 * n * s * bottleneck,
        head=2 * head_macs,
    )
