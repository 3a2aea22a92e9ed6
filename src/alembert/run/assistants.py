"""Teacher assistants: distil through a chain of intermediate models, teacher → assistant(s) → student.

MiniLM (Wang et al. 2020, §3.3) distils a large teacher (L layers, width d) into an assistant (L layers, d') and
the assistant into the student (M layers, d'); Mirzadeh et al. (2020, arXiv:1902.03393) introduced the idea.
Here a hop is an ordinary :func:`alembert.distill` run with the config's stages: hop ``k`` writes a complete run
folder ``<output_dir>/assistant-k`` whose ``student/`` is the next hop's teacher, and the last hop (the actual
student) fills ``<output_dir>`` itself. Every hop is planned and validated before the first one trains.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembert.config import DistillConfig, StudentConfig, TeacherConfig
from alembert.config.io import dump_config
from alembert.errors import ConfigError
from alembert.models.load import check_model_source, num_layers
from alembert.models.mobilebert import mobilebert_config
from alembert.models.student import student_layer_sources
from alembert.objective.matches import resolve_matches


__all__ = ["check_assistant_chain", "distill_assistants", "hop_config", "planned_student_config"]

RunFn = Callable[..., Any]


def hop_config(
    config: DistillConfig, teacher: TeacherConfig, student: StudentConfig, output_dir: Path
) -> DistillConfig:
    """The config of one hop: ``config`` with another teacher, student and folder, and no assistants."""
    data = config.model_dump()
    data.update(teacher=teacher.model_dump(), student=student.model_dump(), assistants=[], output_dir=str(output_dir))
    return DistillConfig.model_validate(data)


def planned_student_config(teacher_config: Any, student: StudentConfig, who: str) -> Any:
    """The transformers config the hop's student will have (shape only; no weights are built)."""
    if student.path is not None:
        saved = check_model_source(student.path, what=who)
        if student.init != "pruned":
            return saved
        teacher_config, who = saved, f"{who} (cut from {student.path})"  # the saved model is the one cut down
    if student.architecture == "mobilebert":
        return mobilebert_config(teacher_config, student)
    teacher_layers = num_layers(teacher_config)
    try:
        sources = student_layer_sources(student, teacher_layers)
    except ConfigError as err:
        raise ConfigError(f"{who}: {err}") from None
    config = copy.deepcopy(teacher_config)
    default_layers = teacher_layers if student.init == "pruned" else math.ceil(teacher_layers / 2)
    config.num_hidden_layers = len(sources) or student.num_layers or default_layers
    if student.hidden_size is not None:
        config.hidden_size = student.hidden_size
    if student.num_heads is not None:
        config.num_attention_heads = student.num_heads
    if student.intermediate_size is not None and hasattr(config, "intermediate_size"):
        config.intermediate_size = student.intermediate_size
    if student.init == "pruned":
        _check_pruned_shape(teacher_config, config, who)
    if sources and config.hidden_size != teacher_config.hidden_size:
        raise ConfigError(
            f"{who}.init copies layers of the model before it, which needs its hidden size "
            f"{teacher_config.hidden_size} (got {config.hidden_size}); use init: random"
        )
    return config


def _check_pruned_shape(teacher_config: Any, config: Any, who: str) -> None:
    fields = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size")
    larger = [f"{f} {getattr(config, f)} > {getattr(teacher_config, f)}" for f in fields
              if getattr(config, f, 0) > getattr(teacher_config, f, 0)]  # fmt: skip
    if larger:
        raise ConfigError(f"{who}.init pruned: the student must not be larger than the teacher ({', '.join(larger)})")


def check_assistant_chain(config: DistillConfig) -> None:
    """Resolve every stage of every hop against the planned shapes; raises before anything is trained."""
    teacher_config = check_model_source(config.teacher.path, what="teacher", revision=config.teacher.revision)
    hops = [(f"assistants.{k}", a) for k, a in enumerate(config.assistants)] + [("student", config.student)]
    for who, student in hops:
        student_config = planned_student_config(teacher_config, student, who)
        for stage in config.stages:
            try:
                resolve_matches(stage, teacher_config, student_config, has_mlm_labels=config.task == "mlm")
            except ConfigError as err:
                raise ConfigError(f"hop to {who}: {err}") from None
        teacher_config = student_config


def distill_assistants(config: DistillConfig, *, resume: bool, run: RunFn) -> DistillConfig:
    """Train the assistant hops of ``config``; return the config of the last hop (teacher = last assistant).

    Args:
        config: a run config with a non-empty ``assistants`` list.
        resume: continue an interrupted chain; finished hops (with ``metrics.json``) are kept as they are.
        run: the function that runs one hop (:func:`alembert.distill`; passed in to avoid an import cycle).

    Returns:
        The config of the final hop, which the caller runs in ``config.output_dir``.
    """
    check_assistant_chain(config)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    dump_config(config, output_dir / "config-with-assistants.yaml")
    if not (output_dir / "config.yaml").is_file():
        dump_config(config, output_dir / "config.yaml")  # marks the run as started, so --resume finds it
    teacher = config.teacher
    for k, assistant in enumerate(config.assistants, start=1):
        folder = output_dir / f"assistant-{k}"
        if not (folder / "metrics.json").is_file():
            run(hop_config(config, teacher, assistant, folder), resume=resume and (folder / "config.yaml").is_file())
        teacher = config.teacher.model_copy(update={"path": str(folder / "student"), "revision": None})  # cache too
    return hop_config(config, teacher, config.student, output_dir)
