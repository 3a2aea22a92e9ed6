"""Faults: SIGTERM checkpoints and exits cleanly, kill -9 + --resume ends where an uninterrupted run ends,
a NaN loss stops with the step, the term and the last good checkpoint."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from alembert import distill, parse_config
from alembert.config import DistillConfig
from alembert.train.loop import TrainingDiverged
from tests.conftest import (
    save_diverging_teacher,
    save_tiny_model,
    tiny_distill_config,
    write_sst2,
)


REPO = Path(__file__).resolve().parents[2]


def _config(teacher: Path, data: Path, output: Path, steps: int = 30) -> dict:
    return tiny_distill_config(
        teacher,
        data,
        output,
        max_steps=steps,
        batch_size=8,
        learning_rate=1e-3,
        log_every=1,
        seed=0,
        save_every=5,
        eval_every=10,
        keep_checkpoints=10,
    )


def _cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "alembert.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_step(log: Path, step: int, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.is_file():
            steps = [json.loads(x).get("step", 0) for x in log.read_text().splitlines() if '"train"' in x]
            if steps and max(steps) >= step:
                return
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.05)
    raise AssertionError(f"step {step} not reached")


@pytest.fixture
def setup(tmp_path):
    teacher = save_tiny_model(tmp_path / "teacher", "bert")
    data = write_sst2(tmp_path / "SST-2", train=160)
    return tmp_path, teacher, data


def test_sigterm_saves_a_checkpoint_and_resume_finishes(setup):
    tmp_path, teacher, data = setup
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_config(teacher, data, tmp_path / "run", steps=60)))
    process = _cli(["distill", str(path)])
    _wait_for_step(tmp_path / "run" / "log.jsonl", 3, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "stopped by SIGTERM" in " ".join(err.split()) and "--resume" in err
    checkpoints = list((tmp_path / "run" / "checkpoints" / "distill").glob("step-*"))
    assert checkpoints and all((c / "trainer_state.json").is_file() for c in checkpoints)
    assert not (tmp_path / "run" / "student").exists()
    resumed = _cli(["distill", str(path), "--resume"])
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["stages"]["distill"]["global_step"] == 60


def test_kill_9_then_resume_matches_an_uninterrupted_run(setup):
    tmp_path, teacher, data = setup
    reference = distill(parse_config(DistillConfig, _config(teacher, data, tmp_path / "reference")))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_config(teacher, data, tmp_path / "run")))
    process = _cli(["distill", str(path)])
    kill_at = random.Random().randint(7, 25)
    _wait_for_step(tmp_path / "run" / "log.jsonl", kill_at, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert not (tmp_path / "run" / "student").exists()
    resumed = _cli(["distill", str(path), "--resume"])
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    final = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert final["stages"]["distill"]["global_step"] == 30
    assert final["student_metrics"] == pytest.approx(reference.metrics["student_metrics"], abs=1e-6)
    expected = load_file(reference.student_dir / "model.safetensors")
    got = load_file(tmp_path / "run" / "student" / "model.safetensors")
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-5, rtol=1e-4)


def test_nan_loss_names_step_term_and_checkpoint(tmp_path):
    save_diverging_teacher(tmp_path / "teacher")
    data = write_sst2(tmp_path / "SST-2")
    run_config = _config(tmp_path / "teacher", data, tmp_path / "run")
    with pytest.raises(TrainingDiverged, match=r"not finite at step 1 \(term ce.*last good checkpoint: none"):
        distill(parse_config(DistillConfig, run_config))
