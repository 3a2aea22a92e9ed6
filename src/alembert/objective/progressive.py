"""Progressive knowledge transfer (MobileBERT, Sun et al. 2020, arXiv:2004.02984, §3.5) as generated stages.

A stage with ``progressive`` set is a template. When a run is planned (:func:`alembert.run.stages.plan_stages`),
it is replaced by one stage per student block ``l = 1..L``, named ``<name>-<l>``:

* ``trainable``: block ``l`` only (its parameters ``*.layer.<l-1>.*``), plus the embeddings in stage 1 unless
  ``progressive.train_embeddings`` is false. Every other block, below and above, stays frozen: the blocks below
  because they were trained by the earlier stages, the ones above because no loss of stage ``l`` reaches them.
* ``matches``: the template's, each restricted to student layer ``l`` (``student_layer: l`` next to the
  template's ``layers`` map picks that layer's pair, e.g. ``layers: uniform`` → ``(g(l), l)``).
* everything else (``train`` overrides, ``task_loss_weight``) as in the template.

The number of stages ``L`` is the student's depth (``progressive.num_layers``, when given, must agree with it).
:func:`planned_num_layers` tells the depth from the config alone, before any model is built (``--dry-run``).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembert.config import StageConfig, StudentConfig
from alembert.models.mobilebert import MOBILEBERT_PRESETS


__all__ = ["EMBEDDING_PATTERNS", "block_patterns", "expand_progressive", "planned_num_layers"]

EMBEDDING_PATTERNS: tuple[str, ...] = ("*embeddings.*",)


def block_patterns(layer: int) -> list[str]:
    """Glob patterns (see :func:`alembert.train.loop.freeze_except`) of the parameters of block ``layer``.

    Args:
        layer: 1-based block index (HF ``hidden_states`` indexing: block ``l`` outputs ``hidden_states[l]``).
    """
    return [f"*.layer.{layer - 1}.*"]


def planned_num_layers(student: StudentConfig) -> int | None:
    """The student's number of blocks if the config alone determines it, else ``None`` (``student.path``, or a
    depth derived from the teacher such as ``init: every_other``)."""
    if student.path is not None:
        return None
    if student.num_layers is not None:
        return student.num_layers
    if isinstance(student.init, list):
        return len(student.init)
    if student.architecture == "mobilebert":
        return int(MOBILEBERT_PRESETS[student.mobilebert_shape.preset]["num_hidden_layers"])
    return None


def expand_progressive(stages: Sequence[StageConfig], num_layers: int | None) -> list[StageConfig]:
    """Replace every progressive template in ``stages`` by its per-block stages (others are kept as they are).

    Args:
        stages: the run's stages as configured.
        num_layers: the student's number of blocks (``None``: not known yet, see :func:`planned_num_layers`).

    Raises:
        ValueError: the number of blocks is unknown, or differs from the student's.
    """
    expanded: list[StageConfig] = []
    for stage in stages:
        if stage.progressive is None:
            expanded.append(stage)
            continue
        layers = _num_layers(stage, num_layers)
        template = stage.model_dump(exclude={"name", "matches", "trainable", "progressive"})
        for layer in range(1, layers + 1):
            trainable = block_patterns(layer)
            if layer == 1 and stage.progressive.train_embeddings:
                trainable += list(EMBEDDING_PATTERNS)
            matches = [type(m).model_validate({**m.model_dump(), "student_layer": layer}) for m in stage.matches]
            expanded.append(
                type(stage).model_validate(
                    {**template, "name": f"{stage.name}-{layer}", "matches": matches, "trainable": trainable}
                )
            )
    return expanded


def _num_layers(stage: StageConfig, planned: int | None) -> int:
    given = stage.progressive.num_layers
    if given is not None and planned is not None and given != planned:
        raise ValueError(
            f"stages.{stage.name}.progressive.num_layers is {given} but the student has {planned} layers; "
            "leave num_layers out or make them agree"
        )
    if given is None and planned is None:
        raise ValueError(
            f"stages.{stage.name}.progressive: the student's number of layers is not stated in the config "
            "(student.path, or a depth taken from the teacher); set progressive.num_layers"
        )
    return int(given if given is not None else planned)
