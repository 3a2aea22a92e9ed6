"""The same config under 2 CPU processes (torchrun, gloo) and 1 process reaches the same student."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from tests.conftest import make_tokenizer, tiny_config, tiny_distill_config


PACKED_STAGE = {  # TinyBERT-style intermediate matches: token losses without padding, run packed in each process
    "name": "intermediate",
    "task_loss_weight": 0.0,
    "matches": [
        {"name": "hidn", "representation": "hidden", "layers": "uniform", "loss": "mse", "mask": "attention_mask"},
        {
            "name": "attn",
            "representation": "attention_scores",
            "layers": "uniform",
            "loss": "attention_mse",
            "mask": "attention_mask",
        },
    ],
}


def _config(teacher: Path, data: Path, output: Path, accumulation: int, packed: bool) -> dict:
    config = _distill_config(teacher, data, output, accumulation)
    if packed:
        config["stages"] = [PACKED_STAGE]
        config["train"]["pack_sequences"] = "always"
        config["data"]["length_grouped"] = False  # random batches: padding to remove
    return config


def _distill_config(teacher: Path, data: Path, output: Path, accumulation: int) -> dict:
    return tiny_distill_config(
        teacher,
        data,
        output,
        epochs=1,
        batch_size=8,
        gradient_accumulation_steps=accumulation,
        learning_rate=1e-3,
        log_every=1,
        seed=0,
        select="last",
        warmup_ratio=0.0,
    )


@pytest.mark.parametrize("packed", [False, True], ids=["distilbert-stage", "packed-intermediate-stage"])
def test_two_processes_match_one_process_with_accumulation(tmp_path, sst2_dir, packed):
    torch.manual_seed(0)
    config = tiny_config("bert")
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    config.num_labels = 2
    AutoModelForSequenceClassification.from_config(config).save_pretrained(tmp_path / "teacher")
    make_tokenizer(tmp_path / "teacher")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd() / "src")}
    runs = {}
    for processes, accumulation in ((2, 1), (1, 2)):
        path = tmp_path / f"c{processes}.yaml"
        output = tmp_path / f"run{processes}"
        path.write_text(yaml.safe_dump(_config(tmp_path / "teacher", sst2_dir, output, accumulation, packed)))
        command = [sys.executable, "-m", "alembert.cli", "distill", str(path)]
        if processes > 1:
            command = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nproc_per_node",
                str(processes),
                "--master_port",
                "29517",
                "-m",
                "alembert.cli",
                "distill",
                str(path),
            ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[processes] = output
    logs = {p: [json.loads(x) for x in (o / "log.jsonl").read_text().splitlines()] for p, o in runs.items()}
    steps = {p: [e["step"] for e in log if e["event"] == "train"] for p, log in logs.items()}
    assert steps[1] == steps[2] == list(range(1, 7))  # 96 examples / (8 x 2) per step, logged once
    if packed:  # every process packed its share of each batch
        assert [e["student"] > 0 for e in logs[2] if e["event"] == "packed_batches"] == [True]
    else:
        assert len([e for e in logs[2] if e["event"] == "eval"]) == 1  # evaluated once, not once per process
    single, double = (load_file(runs[p] / "student" / "model.safetensors") for p in (1, 2))
    assert single.keys() == double.keys()
    for key in single:
        torch.testing.assert_close(single[key], double[key], atol=2e-4, rtol=1e-3)
    teacher_metrics = {p: json.loads((o / "metrics.json").read_text())["teacher_metrics"] for p, o in runs.items()}
    assert teacher_metrics[1] == teacher_metrics[2]


@pytest.fixture(autouse=True)
def _cwd_is_repo(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
