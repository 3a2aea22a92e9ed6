"""Where one TinyBERT intermediate-stage step spends its time, alembert vs TextBrewer (setup of
``textbrewer_throughput.py`` (a): BERT-base-shaped teacher, 4×312 student, identical SST-2 batches of 32).

Prints, per tool: wall time per step without profiling; the Python functions with the most own time (cProfile);
the operators with the most own CPU time and the number of device kernels per step (``torch.profiler``).

    python -m benchmarks.compare.profile_step --data .gpu/SST-2 --tokenizer .gpu/teacher > $OUT/profile.txt
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import AutoTokenizer

from alembert.bench.timing import synchronize
from alembert.config import TrainConfig
from alembert.data.batches import tokenize_examples
from alembert.data.readers import read_examples
from alembert.run.context import make_accelerator
from alembert.tasks.glue import get_task
from benchmarks.compare import textbrewer_throughput as tb


def alembert_run(models, dataset, tokenizer, steps: int, tmp: Path, accelerator, mixed_precision: str) -> None:
    pin = torch.cuda.is_available()
    loader = DataLoader(dataset, batch_size=32, collate_fn=tb.TimedCollate(tokenizer), pin_memory=pin)
    cfg = TrainConfig(
        max_steps=steps, batch_size=32, warmup_ratio=0.0, log_every=10**6, mixed_precision=mixed_precision
    )
    tb.train_alembert(*models, loader, cfg, accelerator, tmp / f"alembert-{time.monotonic_ns()}")


def textbrewer_run(models, dataset, tokenizer, steps: int, tmp: Path, device) -> None:
    textbrewer = tb.import_textbrewer()
    teacher, student = models
    pin = torch.cuda.is_available()
    loader = DataLoader(dataset, batch_size=32, collate_fn=tb.TimedCollate(tokenizer), pin_memory=pin)
    tb.train_textbrewer(textbrewer, teacher, student, loader, steps, tmp / f"tb-{time.monotonic_ns()}", device)


def profile(name: str, run, steps: int) -> None:
    synchronize()
    start = time.perf_counter()
    run(steps)
    synchronize()
    seconds = time.perf_counter() - start
    print(f"\n##### {name}: {steps} steps in {seconds:.2f} s = {1000 * seconds / steps:.1f} ms a step", flush=True)
    profiler = cProfile.Profile()
    profiler.enable()
    run(steps)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
    print(f"--- {name}: cProfile, own time, {steps} steps\n" + text.getvalue()[-9000:], flush=True)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        run(12)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30, max_name_column_width=60)
    print(f"--- {name}: torch.profiler, 12 steps\n{table}", flush=True)
    kernels = sum(e.count for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA)
    print(f"--- {name}: device kernels per step: {kernels / 12:.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--mixed-precision", default="no")
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    examples = read_examples(args.data / "train.tsv", get_task("sst2"))[: (args.steps + 2) * 32]
    dataset = tokenize_examples(examples, tokenizer, max_length=128).remove_columns(["idx"])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(mixed_precision=args.mixed_precision)
        accelerator = make_accelerator(cfg, Path(tmp))
        models = tb.models("sdpa")
        run = lambda n: alembert_run(models, dataset, tokenizer, n, Path(tmp), accelerator, args.mixed_precision)  # noqa: E731
        profile("alembert", run, args.steps)
        models = tb.models("eager")
        profile(
            "textbrewer",
            lambda n: textbrewer_run(models, dataset, tokenizer, n, Path(tmp), accelerator.device),
            args.steps,
        )


if __name__ == "__main__":
    main()
