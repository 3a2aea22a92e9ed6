"""Gather the small-task experiment into one result: the corpus statistics, a summary of the general runs' logs
(steps, corpus tokens, tokens/s, final losses, snapshots) and the ``alembert glue`` table.

Usage (from the repository root, after the commands in README.md here):
    python -m benchmarks.experiments.small_tasks.collect --runs runs/small-tasks --output benchmarks/results
Writes ``small_tasks.json`` (everything, with the commands) and ``small_tasks.md`` (the tables).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


COMMANDS = {
    "data": "bash benchmarks/experiments/small_tasks/data_root.sh ../shared/data/glue runs/small-tasks/glue",
    "corpus": "bash benchmarks/experiments/small_tasks/corpus.sh ../shared/data runs/small-tasks/corpus",
    "general-tinybert": "alembert distill benchmarks/experiments/small_tasks/general-tinybert.yaml "
    "--set teacher.path=$TEACHER --set data.train=runs/small-tasks/corpus --output runs/small-tasks/general-tinybert",
    "general-minilmv2": "alembert distill benchmarks/experiments/small_tasks/general-minilmv2.yaml "
    "--set teacher.path=$TEACHER --set data.train=runs/small-tasks/corpus --output runs/small-tasks/general-minilmv2",
    "teachers": "bash benchmarks/experiments/small_tasks/teachers.sh runs/small-tasks/glue runs/small-tasks/teachers",
    "suite": "alembert glue --config benchmarks/experiments/small_tasks/suite.yaml --set teacher=$TEACHER",
}


def general_summary(folder: Path) -> dict:
    """Steps, corpus tokens, tokens/s, wall-clock and the last logged losses of one general run."""
    events = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines() if line.strip()]
    train = [e for e in events if e["event"] == "train"]
    last = train[-1]
    losses = {k: v for k, v in last.items() if k not in ("event", "time", "stage", "step", "lr", "tokens_per_s")}
    ends = [e for e in events if e["event"] == "stage_end"]
    return {
        "folder": str(folder),
        "steps": last["step"],
        "tokens": last["tokens"],
        "tokens_per_s": round(last["tokens_per_s"], 1),
        "final_losses": {k: round(v, 4) for k, v in losses.items() if k != "tokens"},
        "first_losses": {k: round(v, 4) for k, v in train[0].items() if k == "loss"},
        "snapshots": [{"step": e["step"], "tokens": e["tokens"]} for e in events if e["event"] == "snapshot"],
        "finished": bool(ends),
        "resumed": sum(e["event"] == "resume" for e in events),
    }


def general_markdown(generals: dict[str, dict], corpus: dict) -> str:
    lines = [
        f"Corpus: {corpus['documents']:,} documents, {corpus['segments']:,} segments, {corpus['tokens']:,} tokens "
        f"(teacher tokenizer, ≤ {corpus['settings']['max_length']} per segment); {corpus['dropped_duplicates']:,} "
        f"duplicate and {corpus['dropped_empty']:,} near-empty documents dropped; {corpus['excluded_sentences']:,} "
        f"sentences removed because a GLUE dev or test file holds them.",
        "",
        "| general run | steps | corpus tokens | tokens/s (one thread) | first loss | final loss |",
        "|---|---|---|---|---|---|",
    ]
    for name, g in generals.items():
        lines.append(
            f"| {name} | {g['steps']:,} | {g['tokens']:,} | {g['tokens_per_s']:.0f} | "
            f"{g['first_losses'].get('loss', float('nan')):.3f} | {g['final_losses'].get('loss', float('nan')):.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/small-tasks")
    parser.add_argument("--output", default="benchmarks/results")
    args = parser.parse_args()
    runs, out = Path(args.runs), Path(args.output)
    corpus = json.loads((runs / "corpus" / "corpus.json").read_text())
    generals = {
        name: general_summary(runs / name)
        for name in ("general-tinybert", "general-minilmv2")
        if (runs / name / "log.jsonl").is_file()
    }
    suite_json = runs / "suite" / "glue.json"
    suite = json.loads(suite_json.read_text()) if suite_json.is_file() else None
    record = {
        "command": "python -m benchmarks.experiments.small_tasks.collect --runs runs/small-tasks",
        "commands": COMMANDS,
        "hardware": "AMD EPYC, 2 cores (AVX2), one thread per job, jobs side by side",
        "corpus": corpus,
        "general": generals,
        "suite": suite,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "small_tasks.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    table = (runs / "suite" / "glue.md").read_text() if (runs / "suite" / "glue.md").is_file() else ""
    (out / "small_tasks.md").write_text(table + "\n" + general_markdown(generals, corpus), encoding="utf-8")
    print(f"wrote {out / 'small_tasks.json'} and {out / 'small_tasks.md'}")


if __name__ == "__main__":
    main()
