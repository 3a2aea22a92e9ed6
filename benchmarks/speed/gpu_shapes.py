"""Every recipe's student shape against BERT-base on a GPU: batch 1 and 128, seq 128, fp32 and bf16, with achieved
TFLOP/s against the card's measured matmul peak. The shapes (and the papers' claimed speed-ups) are those of
``student_shapes.py``; random weights built in code, no downloads.

On the GPU machine (results to a JSON file)::

    python -m benchmarks.speed.gpu_shapes --output $OUT/gpu_shapes.json

Here, afterwards: copy that JSON to ``benchmarks/results/gpu_shapes.json`` and run ``python -m benchmarks.readme``.

Cells are run round-robin (``--rounds`` rounds, each cell ``--runs`` timed passes after warm-up) and the median of
the rounds' medians is reported, so a clock change or a neighbour hits every shape alike. fp32 runs with TF32 off
(PyTorch's default for matmuls); bf16 casts the weights (``model.to(torch.bfloat16)``), the usual way to serve.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from accelerate import PartialState

from alembert.bench.compare import time_block
from alembert.bench.flops import count_flops
from alembert.bench.latency import count_parameters, environment
from benchmarks import tables
from benchmarks.common import command_line, write_result_json
from benchmarks.readme import update_readme
from benchmarks.speed.student_shapes import BASELINE, SHAPES, build_models


HERE = Path(__file__).resolve().parents[1]  # benchmarks/
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak_tflops(device: torch.device, dtype: torch.dtype, size: int = 8192, repeats: int = 10) -> float:
    """Best TFLOP/s of ``size``³ matrix products on ``device`` (three untimed first)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        torch.cuda.synchronize(device)
        begin = time.perf_counter()
        a @ b
        torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - begin)
    return 2 * size**3 / best / 1e12


@torch.inference_mode()
def _median_ms(model, batch: int, seq_len: int, runs: int, device) -> float:
    """Median milliseconds of a forward pass on random tokens (5 warm-up passes; alembert.bench.timing's clock,
    which waits for the GPU)."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, int(model.config.vocab_size), (batch, seq_len), generator=generator).to(device)
    mask = torch.ones_like(ids)
    return statistics.median(
        time_block(lambda: model(input_ids=ids, attention_mask=mask), warmup=5, runs=runs, max_seconds=float("inf"))
    )


def measure(rounds: int, runs: int, batches: list[int], seq_len: int) -> dict:
    device = PartialState().device
    if device.type != "cuda":
        sys.exit("gpu_shapes.py needs a CUDA device (student_shapes.py is the CPU benchmark)")
    models = {}
    for dtype in DTYPES:  # the same seeds, so the same weights, in each precision
        for name, model in build_models().items():
            models[(name, dtype)] = model.to(device=device, dtype=DTYPES[dtype])
    cells: dict[tuple, list[float]] = {}
    for _ in range(rounds):
        for (name, dtype), model in models.items():
            for batch in batches:
                cells.setdefault((name, dtype, batch), []).append(_median_ms(model, batch, seq_len, runs, device))
    peaks = {dtype: matmul_peak_tflops(device, DTYPES[dtype]) for dtype in DTYPES}
    rows = []
    for (name, dtype, batch), medians in cells.items():
        config = SHAPES[name][0]
        flops = count_flops(config, seq_len).total * batch
        ms = statistics.median(medians)
        base = statistics.median(cells[(BASELINE, dtype, batch)])
        rows.append(
            {
                "shape": name,
                "dtype": dtype,
                "batch_size": batch,
                "median_ms": ms,
                "round_medians_ms": medians,
                "speedup_vs_bert_base_same_dtype": base / ms,
                "speedup_vs_bert_base_fp32": statistics.median(cells[(BASELINE, "fp32", batch)]) / ms,
                "tflops_per_s": flops / (ms / 1000) / 1e12,
                "peak_fraction": flops / (ms / 1000) / 1e12 / peaks[dtype],
            }
        )
    parameters = {name: count_parameters(models[(name, "fp32")]) for name in SHAPES}
    return {
        "what": "BERT-family shapes on a GPU: latency, speed-up over BERT-base, achieved TFLOP/s",
        "command": command_line("benchmarks.speed.gpu_shapes"),
        "device_name": torch.cuda.get_device_name(device),
        "seq_len": seq_len,
        "rounds": rounds,
        "runs": runs,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "matmul_peak_tflops": peaks,
        "parameters": parameters,
        "claims": {name: claim for name, (_, claim, _) in SHAPES.items()},
        "rows": rows,
        "environment": environment(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=HERE / "results" / "gpu_shapes.json")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--batch-sizes", default="1,128")
    parser.add_argument("--seq-len", type=int, default=128)
    args = parser.parse_args()
    batches = [int(b) for b in args.batch_sizes.split(",")]
    result = measure(args.rounds, args.runs, batches, args.seq_len)
    write_result_json(args.output, result)
    print(tables.gpu_shapes(result))
    if args.output.resolve().parent == HERE / "results":
        update_readme()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
