"""TinyBERT end to end on tiny models: general distillation → augmentation → task intermediate → task prediction."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
from transformers import AutoConfig, BertTokenizerFast

from alembert import distill, load_recipe
from alembert.cli import main
from tests.conftest import FILLER, NEGATIVE, POSITIVE, save_tiny_model, write_sst2


SHRINK = [
    "data.max_length=24",
    "train.batch_size=8",
    "train.log_every=1",
    "train.max_steps=2",
    "bench_latency=false",
    "student.num_layers=2",
    "student.hidden_size=16",
    "student.num_heads=4",  # the tiny teachers' head count (attention maps are compared per head)
    "student.intermediate_size=32",
]


def tiny_model(folder: Path, **kwargs) -> Path:
    save_tiny_model(folder, "bert", layers=4, hidden=32, heads=4, **kwargs)
    # a tokenizer that really uses vocab.txt, so that words are words and not all [UNK]
    BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    return folder


def write_glove(path: Path) -> Path:
    rng = np.random.default_rng(0)
    words = FILLER + POSITIVE + NEGATIVE
    path.write_text("\n".join(f"{w} " + " ".join(f"{x:.4f}" for x in rng.normal(size=8)) for w in words) + "\n")
    return path


def events(run: Path, kind: str) -> list[dict]:
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [e for e in log if e["event"] == kind]


def terms(run: Path, stage: str) -> set[str]:
    train = [e for e in events(run, "train") if e["stage"] == stage]
    assert train and all(math.isfinite(e["loss"]) for e in train)
    return {key.split("/")[0] for key in train[-1]} - {
        "event",
        "stage",
        "step",
        "loss",
        "lr",
        "time",
        "tokens",
        "tokens_per_s",
    }


def test_general_then_augment_then_task_stages(tmp_path):
    classifier = tiny_model(tmp_path / "teacher")  # fine-tuned teacher stand-in: no MLM head
    mlm = tiny_model(tmp_path / "bert-mlm", mlm=True, seed=1)  # the augmentation model needs one
    rng = random.Random(0)
    words = FILLER + POSITIVE + NEGATIVE
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) for _ in range(32)))
    sst2 = write_sst2(tmp_path / "SST-2", train=16, dev=8)
    glove = write_glove(tmp_path / "glove.txt")

    # 1. general distillation: the teacher has no MLM head and none is needed (bare encoders)
    general = distill(
        load_recipe(
            "tinybert-general",
            [f"teacher.path={classifier}", f"data.train={corpus}", f"output_dir={tmp_path / 'general'}", *SHRINK],
        )
    )
    assert (general.output_dir / "checkpoints" / "general" / "final" / "config.json").is_file()
    assert AutoConfig.from_pretrained(general.student_dir).architectures == ["BertModel"]
    assert terms(general.output_dir, "general") == {"embd", "hidn", "attn"}

    # 2. augmentation from the command line, then reused by the task run with the same inputs
    augment = [f"data.augment.model={mlm}", f"data.augment.word_vectors={glove}", "data.augment.num_augmented=4"]
    augment.append(f"data.augment.cache_dir={tmp_path / 'augmented'}")
    args = ["augment", "--task", "sst2", "--data", str(sst2), "--model", str(mlm), "--word-vectors", str(glove)]
    args += ["--num-augmented", "4", "--max-length", "24", "--cache-dir", str(tmp_path / "augmented")]
    assert main(args) == 0
    (folder,) = (tmp_path / "augmented").iterdir()
    record = json.loads((folder / "augment.json").read_text())
    assert record["result"]["examples"] > record["result"]["original_examples"] == 16

    # 3. task distillation from the general student: intermediate stage, then prediction stage
    task = distill(
        load_recipe(
            "tinybert-task",
            [
                f"teacher.path={classifier}",
                f"data.train={sst2}",
                f"student.path={general.student_dir}",
                f"output_dir={tmp_path / 'task'}",
                *SHRINK,
                *augment,
            ],
        )
    )
    assert [p.name for p in (tmp_path / "augmented").iterdir()] == [folder.name]  # reused, not made again
    for stage in ("intermediate", "prediction"):
        assert (task.output_dir / "checkpoints" / stage / "final" / "model.safetensors").is_file()
    assert terms(task.output_dir, "intermediate") == {"embd", "hidn", "attn"}
    assert terms(task.output_dir, "prediction") == {"pred"}
    student = AutoConfig.from_pretrained(task.student_dir)
    assert student.architectures == ["BertForSequenceClassification"] and student.num_hidden_layers == 2
    assert not any("projection" in key or "fit_dense" in key for key in _weight_names(task.student_dir))


def test_zero_weights_skip_a_stage_and_no_da_reads_the_original_data(tmp_path):
    classifier = tiny_model(tmp_path / "teacher")
    sst2 = write_sst2(tmp_path / "SST-2", train=16, dev=8)
    zero = [f"stages.intermediate.matches.{name}.weight=0" for name in ("embd", "hidn", "attn")]
    run = distill(
        load_recipe(
            "tinybert-task",
            [f"teacher.path={classifier}", f"data.train={sst2}", f"output_dir={tmp_path / 'run'}", *SHRINK]
            + ["data.augment=null", *zero],
        )
    )
    skipped = events(run.output_dir, "stage_skipped")
    assert [(e["stage"], e["reason"]) for e in skipped] == [("intermediate", "every loss weight is 0")]
    assert (run.output_dir / "checkpoints" / "intermediate" / "final" / "config.json").is_file()
    assert terms(run.output_dir, "prediction") == {"pred"}


def _weight_names(folder: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        return list(handle.keys())
