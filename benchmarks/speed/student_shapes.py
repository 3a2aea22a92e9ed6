"""Every recipe's student shape against the BERT-base teacher shape on this machine's CPU, next to the speed-ups
the papers claim. Random weights built in code (no downloads); all cells interleaved (``alembert.bench``).

Full run (about an hour on 2 cores; bf16 is very slow without AVX512-BF16/AMX)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.speed.student_shapes

Smoke run (batch 1 only, fewer backends and rounds; about 2-3 minutes)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.speed.student_shapes --quick

Writes ``benchmarks/results/student_shapes.json`` (``--quick``: ``runs/benchmarks-quick/``) and regenerates
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, BertConfig, MobileBertConfig

from alembert.bench.compare import BenchConfig, bench_models
from alembert.bench.table import print_bench
from benchmarks.common import result_path, stamp_run, write_result_json
from benchmarks.readme import update_readme


HERE = Path(__file__).resolve().parents[1]  # benchmarks/

# name -> (config, the papers' claimed speed-up over BERT-base, where it comes from)
SHAPES: dict[str, tuple[object, float | None, str]] = {
    "BERT-base 12×768 (teacher)": (BertConfig(), 1.0, "baseline"),
    "6×768 (DistilBERT, TinyBERT6, MiniLM)": (
        BertConfig(num_hidden_layers=6),
        1.63,
        "DistilBERT: 668 s → 410 s STS-B dev pass, CPU, batch 1 (“60% faster”); TinyBERT and MiniLM tables: 2.0×",
    ),
    "4×768 (BERT4-PKD, DistilBERT4)": (BertConfig(num_hidden_layers=4), 3.0, "TinyBERT table (hardware unverified)"),
    "TinyBERT 4×312": (
        BertConfig(num_hidden_layers=4, hidden_size=312, intermediate_size=1200, num_attention_heads=12),
        9.4,
        "TinyBERT: 188 s → 19.9 s (hardware unverified)",
    ),
    "MiniLM 6×384": (
        BertConfig(num_hidden_layers=6, hidden_size=384, intermediate_size=1536, num_attention_heads=12),
        5.3,
        "MiniLM table: 93.1 s → 17.7 s (the 2.7× row is 12×384)",
    ),
    "MiniLM 3×384": (
        BertConfig(num_hidden_layers=3, hidden_size=384, intermediate_size=1536, num_attention_heads=12),
        10.1,
        "MiniLM table: 93.1 s → 9.2 s",
    ),
    "MobileBERT 24×128 (512 body)": (MobileBertConfig(), 5.5, "MobileBERT: 342 ms → 62 ms, Pixel 4 (TFLite)"),
}
BASELINE = "BERT-base 12×768 (teacher)"


def build_models() -> dict[str, torch.nn.Module]:
    """Random-weight sequence classifiers (2 labels) of every shape."""
    models = {}
    for index, (name, (config, _claim, _source)) in enumerate(SHAPES.items()):
        torch.manual_seed(index)
        config.num_labels = 2
        models[name] = AutoModelForSequenceClassification.from_config(config).eval()
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 1, sdpa/ort/ort-int8, 2 rounds × 3 runs")
    parser.add_argument("--backends", help="comma-separated (default: sdpa,eager,bf16,ort,ort-int8)")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated (default 1,32)")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--threads", type=int, help="intra-op threads (default: torch's)")
    parser.add_argument("--exporter", choices=["dynamo", "torchscript"])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    quick = args.quick
    default_backends = "sdpa,ort,ort-int8" if quick else "sdpa,eager,bf16,ort,ort-int8"
    config = BenchConfig(
        backends=tuple((args.backends or default_backends).split(",")),
        batch_sizes=tuple(int(b) for b in (args.batch_sizes or ("1" if quick else "1,32")).split(",")),
        seq_len=args.seq_len,
        rounds=args.rounds or (2 if quick else 3),
        runs=args.runs or (3 if quick else 5),
        max_cell_seconds=20.0 if quick else 60.0,
        exporter=args.exporter or ("torchscript" if quick else "dynamo"),
        threads=args.threads,
    )
    started = time.time()
    result = bench_models(build_models(), baseline=BASELINE, config=config, progress=lambda m: print(m, flush=True))
    stamp_run(result.environment, "benchmarks.speed.student_shapes", started)
    result.environment["claims"] = {name: {"speedup": c, "source": s} for name, (_, c, s) in SHAPES.items()}
    output = args.output or result_path("student_shapes", quick)
    write_result_json(output, {"command": result.environment["command"], **result.to_dict()})
    update_readme()
    print_bench(result)
    print(f"wrote {output} and benchmarks/README.md in {result.environment['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
