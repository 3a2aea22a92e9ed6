"""``alembert glue``: the seed's GLUE table from one command.

For a pre-trained teacher and a list of rows: make the general (task-agnostic) students first, fine-tune the
teacher on every task, then run each row on every task (once per seed): a recipe distilled from that task's
teacher (starting from a random, copied, pruned or general student) or a general student fine-tuned (MiniLM's
protocol). The table has the papers' shape (Model | #Params | CoLA | SST-2 | ... | Avg | Retention | Latency |
Speed-up), each score the median over seeds (DistilBERT's protocol); the teacher and every row's student are
timed in the same interleaved rounds. Every run is an ordinary run folder; a finished one is reused, an
interrupted one resumed, so running the command again continues where it stopped.

Layout of ``output_dir``::

    general/<name>/             alembert distill run of a general (task: mlm) recipe
    <task>/teacher/             alembert finetune run (model/, metrics.json)
    <task>/<row>/seed-<s>/      alembert distill (or finetune) run
    glue.json, glue.md, report.html, *.png
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alembert.config import DistillConfig, FinetuneConfig
from alembert.config.io import dump_config
from alembert.errors import ConfigError
from alembert.report.compare import write_comparison
from alembert.report.glue_table import glue_markdown, retention
from alembert.run.distill import distill
from alembert.run.finetune import finetune
from alembert.run.folder import check_same_config
from alembert.run.suite_plan import GeneralRun, GlueSuiteConfig, PlannedRun, SuiteRow, plan_glue_suite
from alembert.run.suite_results import collect_scores, models_to_time, table_rows, time_rows
from alembert.train.checkpoint import write_json_atomic


__all__ = ["GeneralRun", "GlueSuiteConfig", "GlueSuiteResult", "SuiteRow", "plan_glue_suite", "run_glue_suite"]


@dataclass
class GlueSuiteResult:
    """Paths and scores of a finished suite."""

    output_dir: Path
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def _run(planned: PlannedRun, say: Callable[[str], None]) -> None:
    resume = (planned.folder / "config.yaml").is_file()
    if resume:  # a finished or interrupted run of this suite: it must be the run planned now
        try:
            check_same_config(planned.folder, planned.config)
        except ConfigError as err:
            raise ConfigError(
                f"glue: {planned.folder} holds a run with other settings ({err}); move it away to redo it"
            ) from None
    if planned.finished:
        say(f"[glue] {planned.task} {planned.label}: finished earlier, reusing {planned.folder}")
        return
    say(f"[glue] {planned.task} {planned.label}: {'resuming' if resume else 'running'} in {planned.folder}")
    if isinstance(planned.config, FinetuneConfig):
        finetune(planned.config, resume=resume)
    else:
        distill(planned.config, resume=resume)


def run_glue_suite(
    config: GlueSuiteConfig, *, rows: list[str] | None = None, say: Callable[[str], None] = print
) -> GlueSuiteResult:
    """Run (or continue) the suite and write ``glue.json``, ``glue.md`` and ``report.html`` in ``output_dir``.

    All run configs are built and validated first; then each run is reused if finished, resumed if interrupted,
    or started. Runs are independent folders, so an interrupted suite loses at most its current run's progress
    since that run's last checkpoint. Last, the teacher and each row's student are timed side by side.

    ``rows`` restricts the runs to those rows (several suite processes can share one output folder, each running
    its own rows or tasks); the table then shows only them, and a final call without ``rows`` tabulates all.
    """
    runs = plan_glue_suite(config, rows)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dump_config(config, out / "glue-config.yaml")
    for planned in runs:
        _run(planned, say)
    scores = collect_scores(config, runs)
    timed = {}
    if config.latency and rows is None:  # a partial call leaves the timing to the final one
        timed = time_rows(models_to_time(config, runs), say, seq_len=config.latency_seq_len)
    rows = table_rows(config, scores, timed)
    tasks = [column for t in config.tasks for column in (t, f"{t}-mm") if column in scores]  # MNLI: m and mm
    note = (
        f"Latency: batch 1, {config.latency_seq_len} tokens, PyTorch sdpa, one thread; every model timed in the "
        "same interleaved rounds, so the speed-ups are measured side by side." if timed else ""
    )  # fmt: skip
    students = [p.folder for p in runs if isinstance(p.config, DistillConfig) and p.task != "general"]
    files = write_comparison(students, out, title="alembert glue: GLUE dev", group_seeds=True)
    files["markdown"].unlink(missing_ok=True)
    files["markdown"] = out / "glue.md"
    files["markdown"].write_text(glue_markdown(rows, tasks, latency_note=note), encoding="utf-8")
    record = {
        "config": config.model_dump(mode="json"),
        "scores": scores,
        "rows": [{**asdict(r), "average": r.average(tasks), "retention": retention(r, rows[0], tasks)} for r in rows],
    }
    write_json_atomic(out / "glue.json", record)
    files["json"] = out / "glue.json"
    return GlueSuiteResult(out, scores, files)
