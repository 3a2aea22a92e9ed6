"""Under 2 CPU processes (torchrun, gloo): each process streams its own share of the corpus and checkpoints its
own reader position; the teacher cache is built by both processes into one set of files, equal to a 1-process
build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from accelerate import Accelerator
from transformers import AutoTokenizer

from alembert.config import DataConfig
from alembert.data.sources import load_task_data
from alembert.features.cache_build import build_teacher_cache
from alembert.models.load import load_model
from alembert.tasks.glue import get_task
from tests.conftest import FILLER, POSITIVE, save_tiny_model


REPO = Path(__file__).resolve().parents[2]


def _torchrun(config: dict, path: Path, port: int) -> None:
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(port),
        "-m",
        "alembert.cli",
        "distill",
        str(path),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]


def test_each_process_streams_its_own_share(tmp_path):
    teacher = save_tiny_model(tmp_path / "teacher", "bert", mlm=True)
    words = FILLER + POSITIVE + [f"w{i}" for i in range(60)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "\n".join(" ".join(words[(i * 3 + k) % len(words)] for k in range(4 + i % 7)) for i in range(400))
    )
    config = {
        "task": "mlm",
        "teacher": {"path": str(teacher)},
        "data": {"train": str(corpus), "max_length": 24, "streaming": True},
        "train": {"max_steps": 4, "batch_size": 4, "save_every": 2, "seed": 0, "log_every": 1},
        "stages": [
            {
                "name": "general",
                "task_loss_weight": 1.0,
                "matches": [
                    {
                        "name": "cos",
                        "representation": "hidden",
                        "layers": "final",
                        "loss": "cosine",
                        "mask": "attention_mask",
                    },
                ],
            }
        ],
        "output_dir": str(tmp_path / "run"),
        "bench_latency": False,
    }
    _torchrun(config, tmp_path / "c.yaml", 29531)
    state = json.loads((tmp_path / "run" / "checkpoints" / "general" / "step-4" / "trainer_state.json").read_text())
    first, second = state["stream_positions"]
    half = corpus.stat().st_size // 2
    assert first[:2] == second[:2] == [0, 0]  # both still in the first pass of the one file
    assert 0 < first[2] <= half + 80 < second[2]  # process 0 reads the first half, process 1 the second
    steps = [
        e["step"]
        for e in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines())
        if e["event"] == "train"
    ]
    assert steps == [1, 2, 3, 4]


@pytest.mark.slow  # ~50 s on a busy 2-core machine; the 1-process build is covered in the default tier
def test_two_processes_build_one_cache_equal_to_a_single_process_build(tmp_path, sst2_dir):
    teacher = save_tiny_model(tmp_path / "teacher", "bert")
    config = {
        "task": "sst2",
        "teacher": {"path": str(teacher), "cache": True, "cache_dtype": "float32", "cache_dir": str(tmp_path / "tc")},
        "data": {"train": str(sst2_dir), "max_length": 32},
        "train": {"max_steps": 3, "batch_size": 8, "seed": 0},
        "stages": [
            {
                "name": "distill",
                "task_loss_weight": 1.0,
                "matches": [
                    {"name": "kd", "representation": "logits", "loss": "kl_div", "params": {"temperature": 2.0}},
                    {
                        "name": "hid",
                        "representation": "hidden",
                        "layers": "final",
                        "loss": "mse",
                        "mask": "attention_mask",
                    },
                ],
            }
        ],
        "output_dir": str(tmp_path / "run"),
        "bench_latency": False,
    }
    _torchrun(config, tmp_path / "c.yaml", 29532)
    (built,) = [
        e
        for e in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines())
        if e["event"] == "teacher_cache"
    ]
    assert sorted(built["built"]) == ["hidden-4-float32", "logits-na-float32"]
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    data = load_task_data(DataConfig(train=str(sst2_dir), max_length=32), get_task("sst2"), tokenizer)
    model = load_model(str(teacher), head="sequence_classification", task=get_task("sst2")).eval()  # as distill
    single, record = build_teacher_cache(
        model,
        data.train,
        {("logits", None), ("hidden", 4)},
        tokenizer=tokenizer,
        cache_dir=tmp_path / "single",
        dtype="float32",
        accelerator=Accelerator(cpu=True),
    )
    assert record["folder"].endswith(Path(built["folder"]).name)  # same teacher, data and precision: same key
    for name in built["built"]:
        two = np.fromfile(Path(built["folder"]) / f"{name}.bin", dtype=np.float32)
        one = np.fromfile(single.folder / f"{name}.bin", dtype=np.float32)
        np.testing.assert_allclose(two, one, atol=1e-5, rtol=1e-5)


@pytest.fixture(autouse=True)
def _cwd_is_repo(monkeypatch):
    monkeypatch.chdir(REPO)
