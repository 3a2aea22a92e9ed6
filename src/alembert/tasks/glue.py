"""The GLUE task registry: text fields, label lists, problem type, official metrics and file layouts."""

from __future__ import annotations

from dataclasses import dataclass

from alembert.errors import ConfigError, suggest


__all__ = ["GLUE_TASKS", "GlueTask", "dev_suffix", "get_task", "score_columns"]


@dataclass(frozen=True)
class GlueTask:
    """One GLUE task as the official TSV files lay it out.

    Attributes:
        name: lower-case task key (``sst2``).
        folder: folder name in the GLUE download (``SST-2``).
        text_fields: header names of the one or two text columns.
        label_field: header name of the label column (for CoLA, which has no header, a column index).
        labels: label strings in model-output order; empty for regression.
        metrics: official metrics; the first is the one used for model selection.
        dev_files: dev file names (MNLI has matched and mismatched).
        test_files: unlabeled test file names.
        text_columns_no_header: column indices of the texts for header-less files (CoLA).
        test_text_fields: text column names in test files when they differ (QNLI/RTE use the same names).
        hub_name: ``datasets.load_dataset`` path and config.
    """

    name: str
    folder: str
    text_fields: tuple[str, ...]
    label_field: str
    labels: tuple[str, ...]
    metrics: tuple[str, ...]
    dev_files: tuple[str, ...] = ("dev.tsv",)
    test_files: tuple[str, ...] = ("test.tsv",)
    header: bool = True
    no_header_columns: tuple[int, ...] = ()
    no_header_label_column: int = -1
    hub_name: tuple[str, str] = ("nyu-mll/glue", "")

    @property
    def is_regression(self) -> bool:
        """True for STS-B (a single float output)."""
        return not self.labels

    @property
    def num_labels(self) -> int:
        """Width of the classification head (1 for regression)."""
        return len(self.labels) or 1

    @property
    def main_metric(self) -> str:
        """The metric used to pick the best checkpoint."""
        return self.metrics[0]


GLUE_TASKS: dict[str, GlueTask] = {
    t.name: t
    for t in (
        GlueTask(
            "cola",
            "CoLA",
            ("sentence",),
            "label",
            ("0", "1"),
            ("matthews_correlation",),
            header=False,
            no_header_columns=(3,),
            no_header_label_column=1,
            hub_name=("nyu-mll/glue", "cola"),
        ),
        GlueTask(
            "sst2", "SST-2", ("sentence",), "label", ("0", "1"), ("accuracy",), hub_name=("nyu-mll/glue", "sst2")
        ),
        GlueTask(
            "mrpc",
            "MRPC",
            ("#1 String", "#2 String"),
            "Quality",
            ("0", "1"),
            ("f1", "accuracy"),
            hub_name=("nyu-mll/glue", "mrpc"),
        ),
        GlueTask(
            "stsb",
            "STS-B",
            ("sentence1", "sentence2"),
            "score",
            (),
            ("pearson", "spearman"),
            hub_name=("nyu-mll/glue", "stsb"),
        ),
        GlueTask(
            "qqp",
            "QQP",
            ("question1", "question2"),
            "is_duplicate",
            ("0", "1"),
            ("f1", "accuracy"),
            hub_name=("nyu-mll/glue", "qqp"),
        ),
        # MNLI: HF/GLUE order (entailment=0, neutral=1, contradiction=2); the reason TinyBERT users got chance
        # accuracy (huawei-noah #229) was a different order between teacher and data. The order is fixed here.
        GlueTask(
            "mnli",
            "MNLI",
            ("sentence1", "sentence2"),
            "gold_label",
            ("entailment", "neutral", "contradiction"),
            ("accuracy",),
            dev_files=("dev_matched.tsv", "dev_mismatched.tsv"),
            test_files=("test_matched.tsv", "test_mismatched.tsv"),
            hub_name=("nyu-mll/glue", "mnli"),
        ),
        GlueTask(
            "qnli",
            "QNLI",
            ("question", "sentence"),
            "label",
            ("entailment", "not_entailment"),
            ("accuracy",),
            hub_name=("nyu-mll/glue", "qnli"),
        ),
        GlueTask(
            "rte",
            "RTE",
            ("sentence1", "sentence2"),
            "label",
            ("entailment", "not_entailment"),
            ("accuracy",),
            hub_name=("nyu-mll/glue", "rte"),
        ),
        GlueTask(
            "wnli",
            "WNLI",
            ("sentence1", "sentence2"),
            "label",
            ("0", "1"),
            ("accuracy",),
            hub_name=("nyu-mll/glue", "wnli"),
        ),
    )
}

_ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "mnli-m": "mnli", "mnli_matched": "mnli"}


def get_task(name: str) -> GlueTask:
    """Look a GLUE task up by name (case-insensitive; ``SST-2`` and ``sst2`` both work)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in GLUE_TASKS:
        raise ConfigError(f"task: unknown task '{name}'{suggest(key, GLUE_TASKS)}; known: {', '.join(GLUE_TASKS)}")
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
