"""The GLUE tasks, a built-in table of :class:`~alembert.tasks.task.Task`: text fields, labels as the files hold
them with the ``datasets`` ClassLabel names (``id2label``), official metrics and file layouts."""

from __future__ import annotations

from alembert.errors import ConfigError, suggest
from alembert.tasks.task import Task


__all__ = ["GLUE_TASKS", "GlueTask", "dev_suffix", "get_task", "score_columns"]

GlueTask = Task  # the name before tasks of one's own existed

_HUB = "nyu-mll/glue"

GLUE_TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "cola",
            ("sentence",),
            "label",
            ("0", "1"),
            ("matthews_correlation",),
            label_names=("unacceptable", "acceptable"),
            folder="CoLA",
            header=False,
            no_header_columns=(3,),
            no_header_label_column=1,
            hub_name=(_HUB, "cola"),
        ),
        Task(
            "sst2",
            ("sentence",),
            "label",
            ("0", "1"),
            ("accuracy",),
            label_names=("negative", "positive"),
            folder="SST-2",
            hub_name=(_HUB, "sst2"),
        ),
        Task(
            "mrpc",
            ("#1 String", "#2 String"),
            "Quality",
            ("0", "1"),
            ("f1", "accuracy"),
            label_names=("not_equivalent", "equivalent"),
            folder="MRPC",
            hub_name=(_HUB, "mrpc"),
        ),
        Task(
            "stsb",
            ("sentence1", "sentence2"),
            "score",
            (),
            ("pearson", "spearman"),
            folder="STS-B",
            hub_name=(_HUB, "stsb"),
        ),
        Task(
            "qqp",
            ("question1", "question2"),
            "is_duplicate",
            ("0", "1"),
            ("f1", "accuracy"),
            label_names=("not_duplicate", "duplicate"),
            folder="QQP",
            hub_name=(_HUB, "qqp"),
        ),
        # MNLI: HF/GLUE order (entailment=0, neutral=1, contradiction=2); the reason TinyBERT users got chance
        # accuracy (huawei-noah #229) was a different order between teacher and data. The order is fixed here.
        Task(
            "mnli",
            ("sentence1", "sentence2"),
            "gold_label",
            ("entailment", "neutral", "contradiction"),
            ("accuracy",),
            folder="MNLI",
            dev_files=("dev_matched.tsv", "dev_mismatched.tsv"),
            test_files=("test_matched.tsv", "test_mismatched.tsv"),
            hub_name=(_HUB, "mnli"),
        ),
        Task(
            "qnli",
            ("question", "sentence"),
            "label",
            ("entailment", "not_entailment"),
            ("accuracy",),
            folder="QNLI",
            hub_name=(_HUB, "qnli"),
        ),
        Task(
            "rte",
            ("sentence1", "sentence2"),
            "label",
            ("entailment", "not_entailment"),
            ("accuracy",),
            folder="RTE",
            hub_name=(_HUB, "rte"),
        ),
        Task(
            "wnli",
            ("sentence1", "sentence2"),
            "label",
            ("0", "1"),
            ("accuracy",),
            label_names=("not_entailment", "entailment"),
            folder="WNLI",
            hub_name=(_HUB, "wnli"),
        ),
    )
}

_ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "mnli-m": "mnli", "mnli_matched": "mnli"}


def get_task(name: str) -> Task:
    """Look a GLUE task up by name (case-insensitive; ``SST-2`` and ``sst2`` both work)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in GLUE_TASKS:
        raise ConfigError(
            f"task: unknown task '{name}'{suggest(key, GLUE_TASKS)}; known: {', '.join(GLUE_TASKS)}. For a task of "
            "your own, give its columns (--text-column/--label-column, or a task mapping; see docs/your-own-task.md)"
        )
    return GLUE_TASKS[key]


def dev_suffix(split: str) -> str:
    """Suffix of the metric keys of a dev split: ``_mm`` for MNLI's mismatched set (``accuracy_mm``), else ``""``.

    The papers report MNLI-m and MNLI-mm; runs select their best checkpoint on the matched set.
    """
    return "_mm" if "mismatched" in split else ""


def score_columns(task: str, metrics: dict[str, float], main_metric: str | None = None) -> dict[str, float]:
    """A run's table cells: ``{task: main score}``, plus ``mnli-mm`` when the run measured MNLI mismatched.

    Args:
        task: the run's task name.
        metrics: its dev metrics (``accuracy``, ``accuracy_mm``, …).
        main_metric: the metric to show (default: the task's main metric).
    """
    key = main_metric or (GLUE_TASKS[task].main_metric if task in GLUE_TASKS else None)
    if key is None:
        return {}
    key = key.removesuffix("_mm")
    cells = {}
    if key in metrics:
        cells[task] = metrics[key]
    if f"{key}_mm" in metrics:
        cells[f"{task}-mm"] = metrics[f"{key}_mm"]
    return cells
