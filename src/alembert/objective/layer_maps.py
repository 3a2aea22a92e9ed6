"""Teacher → student layer maps. Layer indices follow HF ``hidden_states``: 0 = embeddings, k = output of block k."""

from __future__ import annotations

from alembert.errors import ConfigError


__all__ = ["expand_layer_map", "final_map", "last_map", "skip_map", "uniform_map"]


def uniform_map(teacher_layers: int, student_layers: int) -> list[tuple[int, int]]:
    """TinyBERT's ``g(m) = m · N / M`` for student blocks ``m = 1..M`` (rounded down when N/M is fractional)."""
    _check_counts(teacher_layers, student_layers, "uniform")
    return [(m * teacher_layers // student_layers, m) for m in range(1, student_layers + 1)]


def skip_map(teacher_layers: int, student_layers: int) -> list[tuple[int, int]]:
    """BERT-PKD "skip": student block m ← teacher block ``m · ⌊N / M⌋`` (every k-th teacher block)."""
    _check_counts(teacher_layers, student_layers, "skip")
    step = teacher_layers // student_layers
    return [(m * step, m) for m in range(1, student_layers + 1)]


def last_map(teacher_layers: int, student_layers: int) -> list[tuple[int, int]]:
    """BERT-PKD "last": student block m ← teacher block ``N − M + m`` (the teacher's last M blocks)."""
    _check_counts(teacher_layers, student_layers, "last")
    return [(teacher_layers - student_layers + m, m) for m in range(1, student_layers + 1)]


def final_map(teacher_layers: int, student_layers: int) -> list[tuple[int, int]]:
    """Only the last block of each (MiniLM's last-layer transfer)."""
    return [(teacher_layers, student_layers)]


_MAPS = {"uniform": uniform_map, "skip": skip_map, "last": last_map, "final": final_map}


def _check_counts(teacher_layers: int, student_layers: int, kind: str) -> None:
    if student_layers > teacher_layers:
        raise ConfigError(
            f"layers: {kind} map needs at most as many student blocks as teacher blocks "
            f"(student {student_layers} > teacher {teacher_layers})"
        )


def expand_layer_map(
    layers: str | list[tuple[int, int]], teacher_layers: int, student_layers: int
) -> list[tuple[int, int]]:
    """Resolve a named map or check an explicit list of ``(teacher_layer, student_layer)`` pairs."""
    if isinstance(layers, str):
        if layers not in _MAPS:
            raise ConfigError(f"layers: unknown map '{layers}' (use {', '.join(_MAPS)} or a list of pairs)")
        return _MAPS[layers](teacher_layers, student_layers)
    for teacher_layer, student_layer in layers:
        check_layer(teacher_layer, teacher_layers, "teacher")
        check_layer(student_layer, student_layers, "student")
    return [tuple(pair) for pair in layers]


def check_layer(index: int, count: int, who: str) -> None:
    """Raise if ``index`` is not a valid ``hidden_states`` index for a model with ``count`` blocks."""
    if not 0 <= index <= count:
        raise ConfigError(f"{who} layer {index} out of range: the {who} has layers 0 (embeddings)..{count}")
