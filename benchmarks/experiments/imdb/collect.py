"""Collect the IMDb run of ``run.sh`` into ``benchmarks/results/imdb.json`` and the ``imdb`` section of
``benchmarks/README.md``: teacher and student dev scores, retention, the speed-up measured side by side at the end
of the distillation run (task lengths and 128 tokens, with its verdict), the ``bench`` and ``export`` results, and
the student's ``pipeline()`` answers (label names, not ids). Every number is read from the run folders.

    python -m benchmarks.experiments.imdb.collect [OUT]     # OUT defaults to runs/imdb
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from transformers import pipeline

from benchmarks.common import RESULTS, write_result_json
from benchmarks.readme import update_readme


def commands(settings: dict) -> list[str]:
    """The two commands that made the result, with the sizes the run used (``settings.json`` of run.sh)."""
    env = (
        f"TRAIN={settings['train']} TEST={settings['test']} MAX_LENGTH={settings['max_length']} "
        f"TEACHER_EPOCHS={settings['teacher_epochs']} STUDENT_EPOCHS={settings['student_epochs']}"
    )
    return [
        f"{env} OMP_NUM_THREADS=1 bash benchmarks/experiments/imdb/run.sh ../shared/data runs/imdb",
        "python -m benchmarks.experiments.imdb.collect runs/imdb",
    ]


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/imdb")
    teacher_run, student_run = read(out / "teacher" / "metrics.json"), read(out / "student" / "metrics.json")
    evaluated, bench, export = (
        read(out / "eval" / "metrics.json"),
        read(out / "bench.json"),
        read(out / "onnx" / "export.json"),
    )
    classify = pipeline("text-classification", model=str(out / "student" / "student"))
    samples = ["One of the best films I have seen in years.", "A dull, badly acted waste of two hours."]
    answers = [{"text": text, **answer} for text, answer in zip(samples, classify(samples))]
    settings = read(out / "settings.json")
    COMMANDS = commands(settings)  # noqa: N806 - the two commands of this result
    result = {
        "command": " && ".join(COMMANDS),
        "commands": COMMANDS,
        "settings": settings,
        "task": student_run["task_spec"],
        "data": f"IMDb (shared/data/text/imdb): seeded samples of {settings['train']:,} training and "
        f"{settings['test']:,} test reviews (run.sh), max_length {settings['max_length']}",
        "teacher": {"model": teacher_run["model"], "dev": teacher_run["metrics"], "steps": teacher_run["global_step"]},
        "student": {
            "recipe": student_run["recipe"],
            "dev": student_run["student_metrics"],
            "parameters": student_run["parameters"],
            "stages": {k: {"steps": v["global_step"]} for k, v in student_run["stages"].items()},
        },
        "teacher_in_distill_run": student_run["teacher_metrics"],
        "retention": student_run["retention"],
        "speed": {k: v for k, v in student_run["latency"].items() if k != "environment"},
        "evaluate": evaluated["metrics"],
        "bench": bench,
        "export": {k: export[k] for k in ("files", "max_abs_diff", "int8_agreement", "accuracy", "backend_choice")},
        "pipeline": answers,
        "environment": student_run["latency"].get("environment"),
    }
    write_result_json(RESULTS / "imdb.json", result)
    update_readme()
    print(f"written to {RESULTS / 'imdb.json'}")


if __name__ == "__main__":
    main()
