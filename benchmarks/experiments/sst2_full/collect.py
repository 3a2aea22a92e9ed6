"""Collect the full-SST-2 acceptance run (issue 2) into ``results/sst2_full.json`` and the ``sst2_full`` table of
``benchmarks/README.md``, from the two run folders:

    alembert finetune --model $TEACHER --task sst2 --data ../shared/data/glue/SST-2 --output runs/sst2-full-teacher \
        --set train.epochs=2 --set train.learning_rate=5e-5 --set train.eval_every=700 --set train.seed=42
    alembert distill benchmarks/experiments/sst2_full/distill.yaml
    python -m benchmarks.experiments.sst2_full.collect
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import tables
from benchmarks.common import RESULTS
from benchmarks.readme import update_readme


TEACHER_COMMAND = (
    "alembert finetune --model $TEACHER --task sst2 --data ../shared/data/glue/SST-2 --output runs/sst2-full-teacher "
    "--set train.epochs=2 --set train.learning_rate=5e-5 --set train.eval_every=700 --set train.seed=42"
)
STUDENT_COMMAND = "alembert distill benchmarks/experiments/sst2_full/distill.yaml"
# The reference: a plain PyTorch loop, 3 epochs each, teacher layers 0, 2, 4, 5·KL·T² (T=2) + 2·CE + 1·cos.
PLAIN_LOOP = {"teacher": 89.2, "student": 88.4, "retention": 99.1, "epochs": 3}


def main(runs: Path = Path("runs")) -> int:
    teacher = json.loads((runs / "sst2-full-teacher" / "metrics.json").read_text(encoding="utf-8"))
    student = json.loads((runs / "sst2-full-student" / "metrics.json").read_text(encoding="utf-8"))
    stage = student["stages"]["distill"]
    summary = {
        "command": "python -m benchmarks.experiments.sst2_full.collect",
        "task": "sst2",
        "train_rows": 67349,
        "dev_rows": 872,
        "teacher": {
            "model": "all-MiniLM-L6-v2 (6x384), fine-tuned",
            "command": TEACHER_COMMAND,
            "accuracy": teacher["metrics"]["accuracy"],
            "history": teacher["history"],
            "train_examples_per_second": teacher["examples_per_second"],
        },
        "student": {
            "model": "3x384, teacher layers 0, 2, 4 (distilbert-task)",
            "command": STUDENT_COMMAND,
            "accuracy": student["student_metrics"]["accuracy"],
            "retention": student["retention"],
            "history": stage["history"],
            "train_examples_per_second": stage["examples_per_second"],
            "parameters": student["parameters"],
            "latency": student.get("latency"),
        },
        "plain_loop_reference_from_the_issue": PLAIN_LOOP,
        "device": "CPU, AMD EPYC, 2 cores, 1 thread per process (another job on the other core)",
    }
    out = RESULTS / "sst2_full.json"
    out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    update_readme()
    print(tables.sst2_full(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
