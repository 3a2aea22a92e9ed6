"""``alembert prune``: cut a teacher down to a smaller student shape, ranked by activation importance.

The result is a plain Hugging Face model folder (weights, config, tokenizer, ``prune.json``) that loads without
alembert; any recipe can start from it with ``student.path``. Within a run, ``student.init: pruned`` does the
same on the run's training data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from alembert.config import DataConfig, StudentConfig
from alembert.config.io import parse_config
from alembert.data.sources import load_mlm_data, load_task_data
from alembert.errors import ConfigError
from alembert.files import atomic_folder, write_json_atomic
from alembert.models.load import check_model_source, load_model, load_tokenizer
from alembert.models.prune import PruneReport
from alembert.run.assistants import planned_student_config
from alembert.run.students import calibration_batches, pruned_student
from alembert.tasks.glue import get_task


__all__ = ["PruneResult", "prune", "student_shape"]


@dataclass(frozen=True)
class PruneResult:
    """Where the pruned model was written and what was kept.

    Attributes:
        output_dir: the model folder.
        report: kept layers and heads, parameter counts and timings.
        seconds: the whole command's time (loading, importance, slicing, saving).
    """

    output_dir: Path
    report: PruneReport
    seconds: float


def prune(
    teacher: str,
    output: str | Path,
    *,
    student: StudentConfig,
    data: str,
    task: str | None = None,
    max_length: int = 128,
    seed: int = 42,
) -> PruneResult:
    """Prune ``teacher`` to ``student``'s shape with importance from ``data`` and save it to ``output``.

    Args:
        teacher: model folder or Hub name (a fine-tuned classifier keeps its head, sliced; an encoder stays one).
        output: a new folder (an existing non-empty one is refused before anything is loaded).
        student: the shape (``num_layers``, ``hidden_size``, ``num_heads``, ``intermediate_size``) and the
            ``pruning`` settings (layer rule, calibration batches); ``init`` must be ``pruned``.
        data: calibration data: a task folder or training file with ``task``, else a text corpus (a folder made
            by ``alembert corpus``, a .txt/.jsonl/.parquet file).
        task: GLUE task of ``data`` (and of the teacher's head), or ``None`` for raw text.
        max_length: tokens per calibration sequence.
        seed: which training batches calibrate.

    Raises:
        ConfigError, DataError, ModelError: bad shape, missing model or data, existing output (nothing written).
    """
    start = time.perf_counter()
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConfigError(f"--output '{output}' already exists; choose a new folder")
    if student.init != "pruned":
        raise ConfigError("prune: the student's init must be pruned")
    glue_task = get_task(task) if task else None
    teacher_config = check_model_source(teacher, what="teacher")
    planned_student_config(teacher_config, student, "student")  # shape checks before loading weights
    tokenizer = load_tokenizer(teacher)
    if glue_task is not None:
        config = DataConfig(train=data, max_length=max_length)
        train = load_task_data(config, glue_task, tokenizer).train
    else:
        config = DataConfig(train=data, max_length=max_length, streaming=True)
        train = load_mlm_data(config, tokenizer).train
    settings = student.pruning_settings
    head = "sequence_classification" if glue_task is not None else "base"
    if glue_task is None and _has_mlm_head(teacher_config):
        head = "masked_lm"
    model = load_model(teacher, head=head, task=glue_task)
    batches = calibration_batches(
        train, tokenizer, batches=settings.calibration_batches, batch_size=settings.calibration_batch_size, seed=seed
    )
    pruned, report = pruned_student(model, student, batches)

    def write(folder: Path) -> None:
        pruned.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        write_json_atomic(folder / "prune.json", {"teacher": teacher, "data": data, "task": task, **report.to_dict()})

    if output.is_dir():
        output.rmdir()
    atomic_folder(output, write)
    return PruneResult(output, report, time.perf_counter() - start)


def _has_mlm_head(config: object) -> bool:
    return any(name.endswith("ForMaskedLM") or name.endswith("ForPreTraining") for name in config.architectures or [])


def student_shape(layers: int, hidden: int, heads: int, ffn: int, rule: str, batches: int) -> StudentConfig:
    """The ``StudentConfig`` of ``alembert prune``'s flags (``rule``: uniform, importance or ``0,2,3,5``)."""
    layer_rule: str | list[int] = rule
    if rule not in ("uniform", "importance"):
        try:
            layer_rule = [int(x) for x in rule.split(",")]
        except ValueError:
            raise ConfigError(f"--select-layers {rule!r}: use uniform, importance or a list like 0,2,3,5") from None
    shape = {"init": "pruned", "num_layers": layers, "hidden_size": hidden, "num_heads": heads}
    shape.update(intermediate_size=ffn, pruning={"layers": layer_rule, "calibration_batches": batches})
    return parse_config(StudentConfig, shape, source="alembert prune")
