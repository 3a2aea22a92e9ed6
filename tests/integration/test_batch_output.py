"""What a batch job (nohup, SLURM, CI) sees: the CLI's output when neither stdout nor stderr is a terminal has
periodic progress lines for training and for the phases around it, and its final lines are not cut."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import save_tiny_model


REPO = Path(__file__).resolve().parents[2]


def test_non_tty_run_prints_periodic_progress_lines(tmp_path: Path, sst2_dir: Path) -> None:
    model = save_tiny_model(tmp_path / "base", "bert")
    env = {**os.environ, "ALEMBERT_PROGRESS_SECONDS": "0", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO / "src"), "COLUMNS": "80"}  # fmt: skip
    env.pop("ALEMBERT_PLAIN_PROGRESS", None)
    command = [sys.executable, "-m", "alembert.cli", "finetune", "--model", str(model), "--task", "sst2",
               "--data", str(sst2_dir), "--output", str(tmp_path / "run"), "--set", "train.epochs=2",
               "--set", "train.batch_size=16", "--set", "data.max_length=32"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    err = done.stderr
    steps = [line for line in err.splitlines() if "[finetune] step " in line and "/12 " in line]
    assert len(steps) >= 6, err[-3000:]  # 12 steps, a line each with an interval of 0 s
    assert all(line.startswith("[") and "loss " in line and "ETA" in line and "step" in line for line in steps)
    assert "reading and tokenising the data: done in" in err and "evaluating on the dev set (32) ..." in err
    assert "\x1b[" not in err  # no terminal control codes in a log file
    out = done.stdout
    assert "fine-tuned base on sst2" in out and "accuracy" in out
    saved = [line for line in out.splitlines() if line.startswith("model saved to")]
    assert saved and str(tmp_path / "run" / "model") in saved[0]  # the final line is whole, not cut at 80 columns
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}  # pipeline() answers names, not '1'
