"""Collect the IMDb run of ``run.sh`` into ``benchmarks/results/imdb.json`` and the ``imdb`` section of
``benchmarks/README.md``: teacher and student dev scores, retention, the speed-up measured side by side at the end
of the distillation run (task lengths and 128 tokens, with its verdict), the ``bench`` and ``export`` results, and
the student's ``pipeline()`` answers (label names, not ids). Every number is read from the run folders.

    python benchmarks/experiments/imdb/collect.py [OUT]     # OUT defaults to runs/imdb
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from transformers import pipeline


HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parents[1]
sys.path.insert(0, str(BENCHMARKS))
from readme_section import update_readme_section, write_result_json  # noqa: E402


def commands(settings: dict) -> list[str]:
    """The two commands that made the result, with the sizes the run used (``settings.json`` of run.sh)."""
    env = (
        f"TRAIN={settings['train']} TEST={settings['test']} MAX_LENGTH={settings['max_length']} "
        f"TEACHER_EPOCHS={settings['teacher_epochs']} STUDENT_EPOCHS={settings['student_epochs']}"
    )
    return [
        f"{env} OMP_NUM_THREADS=1 bash benchmarks/experiments/imdb/run.sh ../shared/data runs/imdb",
        "python benchmarks/experiments/imdb/collect.py runs/imdb",
    ]


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def speed_rows(latency: dict) -> list[str]:
    rows = []
    for s in latency["settings"]:
        verdict = "reliable" if s["reliable"] else "unreliable: " + "; ".join(s["reasons"])
        rows.append(
            f"| {s['name']} (mean {s['mean_tokens']:.0f} tokens) | {s['teacher_ms']:.1f} | {s['student_ms']:.1f} | "
            f"{s['speedup']:.2f}× ({s['speedup_min']:.2f}–{s['speedup_max']:.2f}) | {verdict} |"
        )
    return rows


def model_row(label: str, run: dict, who: str, metric: str) -> str:
    scores = run[f"{who}_metrics"]
    params = run["parameters"][who]["total"] / 1e6
    return f"| {label} | {scores[metric]:.2f} | {scores.get('f1_macro', float('nan')):.2f} | {params:.1f}M |"


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
    metric = student_run["main_metric"]
    settings = read(out / "settings.json")
    COMMANDS = commands(settings)  # noqa: N806 - the two commands of this result
    result = {
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
    write_result_json(BENCHMARKS / "results" / "imdb.json", result)
    lines = [
        "| model | dev " + metric + " | dev f1_macro | parameters |",
        "|---|---|---|---|",
        model_row(
            f"teacher all-MiniLM-L6-v2 6×384, fine-tuned {settings['teacher_epochs']} epoch(s)",
            student_run,
            "teacher",
            metric,
        ),
        model_row(
            f"student distilbert-task 3×384, {settings['student_epochs']} epoch(s)", student_run, "student", metric
        ),
        "",
        f"IMDb as a task alembert has no table entry for (labels read from the training data: "
        f"{student_run['task_spec']['labels']}): {settings['train']:,} training and {settings['test']:,} test "
        f"reviews (seeded samples), max_length {settings['max_length']}, one CPU thread.",
        "",
        f"Retention **{student_run['retention']:.1f}%** of the teacher's {metric}. Speed at batch 1 on the CPU, "
        "measured side by side by the distillation run:",
        "",
        "| lengths | teacher ms | student ms | speed-up (rounds) | verdict |",
        "|---|---|---|---|---|",
        *speed_rows(student_run["latency"]),
        "",
        f"`pipeline('text-classification')` on the student: {', '.join(repr(a['label']) for a in answers)} for "
        f"{', '.join(repr(a['text']) for a in answers)}. ONNX fp32 max |diff| {export['max_abs_diff']:.1e}; dev "
        + ", ".join(f"{k} {v[metric]:.2f}" for k, v in export["accuracy"].items())
        + f". Commands: `{COMMANDS[0]}`, then `{COMMANDS[1]}` (results/imdb.json).",
    ]
    update_readme_section("imdb", "IMDb as a task of one's own", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
