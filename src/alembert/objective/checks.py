"""Validation of attention and relation matches against the teacher and student configs (before any training)."""

from __future__ import annotations

from typing import Any

from alembert.config import MatchConfig
from alembert.errors import ConfigError, ModelError
from alembert.features.capture import ATTENTION_REPRESENTATIONS, attention_layout, attention_shape
from alembert.losses.relations import check_relations


__all__ = ["ATTENTION_LOSSES", "check_attention_match"]

_LOSSES_FOR: dict[str, tuple[str, ...]] = {
    "attention_scores": ("attention_mse",),
    "attention_probs": ("attention_kl", "attention_mse"),
    "value_relation": ("value_relation_kl",),
    "qkv_relation": ("qkv_relation_kl",),
}
ATTENTION_LOSSES = frozenset(loss for losses in _LOSSES_FOR.values() for loss in losses)
_PER_HEAD = ("attention_scores", "attention_probs", "value_relation")


def check_attention_match(
    match: MatchConfig, pairs: list[tuple[Any, Any]], teacher_config: Any, student_config: Any, where: str
) -> None:
    """Raise :class:`ConfigError` (or :class:`ModelError`) if an attention/relation match cannot work.

    Checks: the loss fits the representation; both families support hooked capture; no layer 0 (embeddings
    have no self-attention); no projection; padding masked (relations need ``mask: attention_mask``); equal head
    counts for per-head maps (MiniLM v1, TinyBERT); ``relation_heads`` dividing both widths (MiniLMv2).

    Args:
        match: the match as written in the config.
        pairs: its resolved ``(teacher_layer, student_layer)`` pairs.
        teacher_config: the teacher's transformers config.
        student_config: the student's transformers config.
        where: config location prefixed to messages.
    """
    representation = match.representation.removesuffix("@words")  # word-pair maps keep their heads
    if representation not in ATTENTION_REPRESENTATIONS:
        if match.loss in ATTENTION_LOSSES:
            fits = [r for r, losses in _LOSSES_FOR.items() if match.loss in losses]
            raise ConfigError(f"{where}: loss '{match.loss}' needs representation {' or '.join(fits)}")
        return
    if match.loss not in _LOSSES_FOR[representation]:
        raise ConfigError(
            f"{where}.loss: {representation} is compared with {' or '.join(_LOSSES_FOR[representation])}, "
            f"not '{match.loss}'"
        )
    for who, config in (("teacher", teacher_config), ("student", student_config)):
        try:
            attention_layout(config)
        except ModelError as err:
            raise ModelError(f"{where}: {who}: {err}") from None
    if any(teacher_layer == 0 or student_layer == 0 for teacher_layer, student_layer in pairs):
        raise ConfigError(f"{where}: layer 0 is the embedding output and has no self-attention; use layers 1..N")
    if match.projection != "none":
        raise ConfigError(f"{where}.projection: {representation} needs no projection (widths may differ); remove it")
    if match.mask == "mlm_positions":
        raise ConfigError(f"{where}.mask: {representation} always excludes padding; use mask: attention_mask")
    if representation in ("value_relation", "qkv_relation") and match.mask != "attention_mask":
        raise ConfigError(f"{where}.mask: relation losses need mask: attention_mask (padding stays out of softmax)")
    teacher_heads, teacher_width = attention_shape(teacher_config)
    student_heads, student_width = attention_shape(student_config)
    if representation in _PER_HEAD and teacher_heads != student_heads:
        raise ConfigError(
            f"{where}: {representation} compares per-head maps, so teacher and student need the same number of "
            f"attention heads (teacher {teacher_heads}, student {student_heads}); set student.num_heads: "
            f"{teacher_heads}, or use qkv_relation (MiniLMv2 relation heads)"
        )
    if representation == "qkv_relation":
        _check_relation_params(match, teacher_width, student_width, where)


def _check_relation_params(match: MatchConfig, teacher_width: int, student_width: int, where: str) -> None:
    heads = match.params.get("relation_heads")
    if not isinstance(heads, int) or isinstance(heads, bool) or heads <= 0:
        raise ConfigError(f"{where}.params.relation_heads: a positive integer is required (got {heads!r})")
    widths = (("teacher", teacher_width), ("student", student_width))
    bad = [f"{who} width {width}" for who, width in widths if width % heads]
    if bad:
        raise ConfigError(
            f"{where}.params.relation_heads: {heads} must divide the attention width of teacher and student "
            f"({', '.join(bad)} is not divisible)"
        )
    try:
        check_relations(match.params.get("relations", ("qq", "kk", "vv")))
    except ValueError as err:
        raise ConfigError(f"{where}.params.relations: {err}") from None
