"""The fastest end-to-end TinyBERT intermediate stage an fp32 CPU core allows, against TextBrewer's measured speed.

Comparison (b) of ``textbrewer_throughput.py`` asks alembert for 12× TextBrewer's examples/s. Whatever the
implementation, every real token must go through the BERT-base teacher's forward pass and the 4×312 student's
forward and backward passes, and those are matrix products. This script counts those FLOPs per example on the
same 960 SST-2 sentences (real tokens only: no padding at all, better than any batching), measures the core's
fp32 (and bf16) matrix-product rate on the teacher's own shapes (the best of several runs), and divides: the time
per example if every FLOP ran at that rate and nothing else cost anything. TextBrewer's measured time per example
over that bound is the largest ratio fp32 can give on this machine.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.compare.textbrewer_cpu_bound --threads 1

Reads ``results/textbrewer_throughput.json`` (TextBrewer's examples/s, (b)); writes
``results/textbrewer_cpu_bound.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig

from alembert.bench.latency import environment
from alembert.data.readers import read_examples
from alembert.tasks.glue import get_task
from benchmarks.common import command_line, write_result_json
from benchmarks.compare.textbrewer_throughput import SST2, bert_vocabulary
from benchmarks.readme import update_readme


HERE = Path(__file__).resolve().parents[1]  # benchmarks/


def encoder_matmul_weights(hidden: int, layers: int, ffn: int) -> int:
    """Weights of an encoder's matrix products per token: Q, K, V, output (4 h²) and the two FFN matrices."""
    return layers * (4 * hidden * hidden + 2 * hidden * ffn)


def best_gemm_rate(rows: int, shapes: list[tuple[int, int]], repeats: int, dtype: torch.dtype) -> float:
    """Best FLOP/s of ``linear`` in ``dtype`` over the given ``(in, out)`` shapes at ``rows`` tokens."""
    best = 0.0
    for in_features, out_features in shapes:
        x = torch.randn(rows, in_features, dtype=dtype)
        weight = torch.randn(out_features, in_features, dtype=dtype)
        bias = torch.randn(out_features, dtype=dtype)
        for _ in range(3):
            torch.nn.functional.linear(x, weight, bias)
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(10):
                torch.nn.functional.linear(x, weight, bias)
            seconds = (time.perf_counter() - start) / 10
            best = max(best, 2 * rows * in_features * out_features / seconds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--examples", type=int, default=960, help="the first N SST-2 training sentences, as in (b)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--measured", type=Path, default=HERE / "results" / "textbrewer_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(bert_vocabulary(None))
    texts = [e.texts[0] for e in read_examples(SST2 / "train.tsv", get_task("sst2"))[: args.examples]]
    tokens = sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=128)["input_ids"])
    per_example_tokens = tokens / len(texts)
    teacher = BertConfig()
    teacher_weights = encoder_matmul_weights(teacher.hidden_size, teacher.num_hidden_layers, teacher.intermediate_size)
    student_weights = encoder_matmul_weights(312, 4, 1200)
    projections = 5 * 312 * 768  # W_e and the four W_h of the intermediate stage (TextBrewer has them too)
    # forward 2 FLOPs per weight and token; backward twice that (input and weight gradients)
    flops_per_token = 2 * teacher_weights + 6 * (student_weights + projections)
    rows = round(per_example_tokens * 32)  # one batch of 32 real-token sequences, packed
    shapes = [(768, 768), (768, 3072), (3072, 768)]
    rate = best_gemm_rate(rows, shapes, args.repeats, torch.float32)
    bf16_rate = best_gemm_rate(rows, shapes, max(1, args.repeats // 2), torch.bfloat16)  # the route
    bound_seconds = per_example_tokens * flops_per_token / rate
    measured = json.loads(args.measured.read_text(encoding="utf-8"))["end_to_end"]
    textbrewer_seconds = 1 / measured["textbrewer_examples_per_second"]
    alembert_seconds = 1 / measured["alembert_examples_per_second"]
    report = {
        "what": "fp32 lower bound on the time per example of the TinyBERT intermediate stage, vs TextBrewer (b)",
        "command": command_line("benchmarks.compare.textbrewer_cpu_bound"),
        "examples": len(texts),
        "real_tokens_per_example": per_example_tokens,
        "teacher_matmul_weights": teacher_weights,
        "student_and_projection_matmul_weights": student_weights + projections,
        "flops_per_token": flops_per_token,
        "best_fp32_gemm_flops_per_second": rate,
        "best_bf16_gemm_flops_per_second": bf16_rate,
        "gemm_rows": rows,
        "bound_seconds_per_example": bound_seconds,
        "textbrewer_seconds_per_example": textbrewer_seconds,
        "alembert_seconds_per_example": alembert_seconds,
        "largest_possible_ratio": textbrewer_seconds / bound_seconds,
        "alembert_ratio": textbrewer_seconds / alembert_seconds,
        "alembert_share_of_bound": bound_seconds / alembert_seconds,
        "measured_from": str(args.measured.relative_to(HERE)),
        "environment": environment(),
    }
    out = HERE / "results" / "textbrewer_cpu_bound.json"
    write_result_json(out, report)
    update_readme()
    print(json.dumps({k: v for k, v in report.items() if k != "environment"}, indent=1))


if __name__ == "__main__":
    main()
