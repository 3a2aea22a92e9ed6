"""The general-distillation training step, eager and compiled (``train.compile``) side by side: a BERT-base-shaped
teacher forward, a TinyBERT 4×312 student forward and backward, TinyBERT's intermediate losses (embeddings and
hidden states through projections, attention scores of every mapped layer), clipping and the fused AdamW step;
batch 256 × 128 in bf16, with the achieved TFLOP/s against the card's bf16 matmul peak measured in the same run.

On the GPU machine (``benchmarks/device_checks.sh`` runs it)::

    python -m benchmarks.speed.compiled_step --output $OUT/compiled_step.json

A dry run on CPU at tiny shapes (a few steps, nothing written under ``results/``)::

    QUICK=1 python -m benchmarks.speed.compiled_step

Both steps run the same prepared stage (:class:`alembert.train.loop.StageTrainer`'s eager step and
:class:`alembert.train.compiled.CompiledStep`) on the same fixed batch, in rounds that take turns; the figure is
the median over rounds of each round's mean step time. FLOPs count the matrix products of the teacher's forward and
three times the student's forward (forward and backward), from the shapes (:func:`alembert.bench.flops.count_flops`);
the attention maps recomputed for the losses are not counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoModelForSequenceClassification, BertConfig

from alembert.bench.flops import count_flops
from alembert.bench.timing import synchronize
from alembert.config import StageConfig, TrainConfig
from alembert.objective.terms import DistillationObjective, resolve_matches
from alembert.train.loop import StageInputs, StageSpec, StageTrainer
from alembert.train.runlog import RunLog
from alembert.train.setup import prepare_stage
from benchmarks.common import command_line, result_path, write_result_json


MATCHES = [  # the tinybert-general recipe's terms
    {"name": "embd", "representation": "embeddings", "loss": "mse", "projection": "linear", "mask": "attention_mask"},
    {"name": "hid", "representation": "hidden", "layers": "uniform", "loss": "mse", "projection": "linear",
     "mask": "attention_mask"},
    {"name": "attn", "representation": "attention_scores", "layers": "uniform", "loss": "attention_mse",
     "mask": "attention_mask"},
]  # fmt: skip
FULL = {"teacher": BertConfig(), "student": BertConfig(num_hidden_layers=4, hidden_size=312, intermediate_size=1200)}
TINY = {  # QUICK: a dry run of the same code on CPU
    "teacher": BertConfig(num_hidden_layers=4, hidden_size=64, intermediate_size=128, num_attention_heads=4),
    "student": BertConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=4),
}


def _stage(configs: dict, batch: int, seq: int, precision: str, folder: Path):
    accelerator = Accelerator(mixed_precision=precision)
    models = {}
    for seed, name in enumerate(("teacher", "student")):
        torch.manual_seed(seed)
        models[name] = AutoModelForSequenceClassification.from_config(configs[name])
    teacher, student = models["teacher"], models["student"]
    stage = StageConfig.model_validate({"name": "general", "matches": MATCHES})
    objective = DistillationObjective(resolve_matches(stage, teacher.config, student.config), 0.0, teacher.config,
                                      student.config)  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    rows = [{"input_ids": ids, "attention_mask": torch.ones(seq, dtype=torch.long),
             "token_type_ids": torch.zeros(seq, dtype=torch.long)}
            for ids in torch.randint(5, teacher.config.vocab_size, (batch, seq), generator=generator)]  # fmt: skip
    loader = DataLoader(rows, batch_size=batch)
    cfg = TrainConfig(max_steps=10_000, learning_rate=1e-4, warmup_ratio=0.0, compile="always",
                      mixed_precision=precision)  # fmt: skip
    spec = StageSpec("general", cfg, folder / "stage", max_length=seq)
    log = RunLog(folder / "log.jsonl", accelerator)
    prepared = prepare_stage(StageInputs(accelerator, student, teacher, objective, loader, log), spec)
    return prepared, next(iter(prepared.loader))


def _steps(trainer: StageTrainer, step, batch: dict, count: int) -> float:
    """Mean seconds of ``count`` whole training steps (loss, backward, clipping, optimizer)."""
    stage, accelerator = trainer.stage, trainer.accelerator
    trainable = [p for group in stage.optimizer.param_groups for p in group["params"]]
    accelerator.wait_for_everyone()
    synchronize()
    begin = time.perf_counter()
    for _ in range(count):
        loss, _terms = step(batch)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(trainable, 1.0)
        stage.optimizer.step()
        stage.optimizer.zero_grad(set_to_none=True)
    synchronize()
    return (time.perf_counter() - begin) / count


def measure(batch: int, seq: int, steps: int, rounds: int, precision: str, quick: bool) -> dict:
    configs = TINY if quick else FULL
    with tempfile.TemporaryDirectory() as folder:
        stage, data = _stage(configs, batch, seq, precision, Path(folder))
        trainer = StageTrainer(stage)
        compiled = trainer.step.compiled
        begin = time.perf_counter()
        _steps(trainer, compiled, data, 1)
        compile_seconds = time.perf_counter() - begin
        _steps(trainer, compiled, data, 2)  # CUDA graphs are recorded on the first calls
        _steps(trainer, trainer.eager_step, data, 2)
        times: dict[str, list[float]] = {"eager": [], "compiled": []}
        for _ in range(rounds):  # taking turns: both see the same clocks and neighbours
            times["eager"].append(_steps(trainer, trainer.eager_step, data, steps))
            times["compiled"].append(_steps(trainer, compiled, data, steps))
        graphs, mode, device = compiled.graphs, compiled.mode, trainer.accelerator.device
        trainer.step.close()
    flops = batch * (count_flops(configs["teacher"], seq).total + 3 * count_flops(configs["student"], seq).total)
    report = {
        "command": command_line("benchmarks.speed.compiled_step"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "torch": torch.__version__,
        "quick": quick,
        "shape": {
            "batch": batch,
            "seq": seq,
            "teacher": _shape(configs["teacher"]),
            "student": _shape(configs["student"]),
        },  # fmt: skip
        "precision": precision,
        "mode": mode,
        "steps_per_round": steps,
        "rounds": rounds,
        "compile_seconds": round(compile_seconds, 2),
        "graphs": graphs,
        "step_flops": flops,
    }
    for name, seconds in times.items():
        median = statistics.median(seconds)
        report[name] = {"step_ms": round(median * 1e3, 3), "rounds_ms": [round(s * 1e3, 3) for s in seconds],
                        "tflops": round(flops / median / 1e12, 3)}  # fmt: skip
    report["speedup"] = round(report["eager"]["step_ms"] / report["compiled"]["step_ms"], 3)
    if device.type == "cuda":
        from benchmarks.speed.gpu_shapes import matmul_peak_tflops

        peak = matmul_peak_tflops(device, torch.bfloat16 if precision == "bf16" else torch.float32)
        report["matmul_peak_tflops"] = round(peak, 1)
        for name in times:
            report[name]["share_of_peak"] = round(report[name]["tflops"] / peak, 4)
    return report


def _shape(config: BertConfig) -> str:
    return f"{config.num_hidden_layers}×{config.hidden_size}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes on any device (also QUICK=1)")
    parser.add_argument("--batch", type=int, default=None, help="default 256 (8 quick)")
    parser.add_argument("--seq", type=int, default=None, help="default 128 (32 quick)")
    parser.add_argument("--steps", type=int, default=None, help="steps per round, default 10 (2 quick)")
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (2 quick)")
    parser.add_argument("--precision", choices=("bf16", "no"), default=None, help="default bf16 (no quick)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("QUICK") == "1"
    if not quick and not torch.cuda.is_available():
        raise SystemExit("compiled_step.py measures a GPU; on CPU run it with QUICK=1 (a dry run at tiny shapes)")
    report = measure(
        args.batch or (8 if quick else 256),
        args.seq or (32 if quick else 128),
        args.steps or (2 if quick else 10),
        args.rounds or (2 if quick else 5),
        args.precision or ("no" if quick else "bf16"),
        quick,
    )
    output = args.output or result_path("gpu/compiled_step", quick)
    write_result_json(output, report)
    print(f"eager {report['eager']['step_ms']} ms, compiled {report['compiled']['step_ms']} ms a step "
          f"({report['speedup']}×, compile {report['compile_seconds']} s) → {output}")  # fmt: skip


if __name__ == "__main__":
    main()
