"""Run folders: damaged checkpoints, moved folders, advice that ``--resume`` accepts, one command per folder,
Ctrl-C before a run exists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from transformers import get_linear_schedule_with_warmup

from alembert import distill, parse_config
from alembert.cli import main
from alembert.config import DistillConfig, TrainConfig
from alembert.train.setup import apply_optimizer_settings
from tests.conftest import (
    save_diverging_teacher,
    save_tiny_model,
    tiny_distill_config,
    write_sst2,
)


REPO = Path(__file__).resolve().parents[2]


def _config(teacher: Path, data: Path, output: Path, **train) -> dict:
    settings = {"max_steps": 4, "batch_size": 8, "save_every": 2, "eval_every": 2, "keep_checkpoints": 5, "seed": 0}
    return tiny_distill_config(teacher, data, output, **{**settings, **train})


@pytest.fixture
def inputs(tmp_path):
    return save_tiny_model(tmp_path / "teacher"), write_sst2(tmp_path / "SST-2", train=48, dev=16)


def _write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _interrupted_after_step_4(run: Path) -> Path:
    """Make a finished 4-step run look interrupted right after its step-4 checkpoint."""
    stage = run / "checkpoints" / "distill"
    for name in ("done.json", "final", "best"):
        shutil.rmtree(stage / name, ignore_errors=True) if (stage / name).is_dir() else (stage / name).unlink(True)
    shutil.rmtree(run / "student")
    (run / "metrics.json").unlink()
    return stage


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("damaged", "damage"),
    [
        ("model.safetensors", _truncate),
        ("optimizer.bin", _truncate),
        ("trainer_state.json", lambda p: p.write_text("")),
    ],
    ids=["weights", "optimizer", "state"],
)
def test_a_damaged_latest_checkpoint_resumes_from_the_one_before(tmp_path, inputs, capsys, damaged, damage):
    path = _write(tmp_path, _config(*inputs, tmp_path / "run"))
    assert main(["distill", str(path)]) == 0
    stage = _interrupted_after_step_4(tmp_path / "run")
    damage(stage / "step-4" / damaged)
    capsys.readouterr()
    assert main(["distill", str(path), "--resume"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"checkpoint {stage / 'step-4'} is damaged ({damaged}" in err, err
    assert f"resuming from {stage / 'step-2'}" in err
    events = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    resumed = [e for e in events if e.get("event") == "resume"]
    assert resumed[-1]["step"] == 2
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["stages"]["distill"]["global_step"] == 4


def test_no_intact_checkpoint_stops_with_one_line(tmp_path, inputs, capsys):
    path = _write(tmp_path, _config(*inputs, tmp_path / "run"))
    assert main(["distill", str(path)]) == 0
    stage = _interrupted_after_step_4(tmp_path / "run")
    for step in ("step-2", "step-4"):
        _truncate(stage / step / "model.safetensors")
    capsys.readouterr()
    assert main(["distill", str(path), "--resume"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no intact checkpoint" in errors[0] and "step-4" in errors[0], errors


def test_a_moved_run_folder_resumes(tmp_path, inputs, capsys):
    config = _config(*inputs, tmp_path / "run")
    assert main(["distill", str(_write(tmp_path, config))]) == 0
    _interrupted_after_step_4(tmp_path / "run")
    shutil.move(tmp_path / "run", tmp_path / "moved")
    config["output_dir"] = str(tmp_path / "moved")
    capsys.readouterr()
    assert main(["distill", str(_write(tmp_path, config)), "--resume"]) == 0, capsys.readouterr().err
    assert (tmp_path / "moved" / "student" / "model.safetensors").is_file()


def test_the_nan_advice_is_accepted_by_resume(tmp_path, capsys):
    save_diverging_teacher(tmp_path / "teacher")
    data = write_sst2(tmp_path / "SST-2", train=16, dev=8)
    path = _write(tmp_path, _config(tmp_path / "teacher", data, tmp_path / "run", learning_rate=1e-3))
    assert main(["distill", str(path)]) == 3
    advice = " ".join(capsys.readouterr().err.split())
    assert "--set train.learning_rate=<lower> --resume --allow-changes train.learning_rate" in advice, advice
    # following the advice: the config check accepts it (the teacher still diverges: exit code 3, not 2)
    args = ["--set", "train.learning_rate=1e-4", "--resume", "--allow-changes", "train.learning_rate"]
    assert main(["distill", str(path), *args]) == 3
    events = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    changes = [e for e in events if e.get("event") == "resume_changes"]
    assert changes and changes[-1]["changes"]["train.learning_rate"] == {"before": 1e-3, "now": 1e-4}


def test_a_resumed_optimizer_takes_the_new_learning_rate():
    layer = torch.nn.Linear(2, 2)
    groups = [{"params": [layer.weight], "weight_decay": 0.01}, {"params": [layer.bias], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=1e-3)
    scheduler = get_linear_schedule_with_warmup(optimizer, 2, 10)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    state = optimizer.state_dict(), scheduler.state_dict()
    optimizer = torch.optim.AdamW(groups, lr=1e-4)
    scheduler = get_linear_schedule_with_warmup(optimizer, 2, 10)
    optimizer.load_state_dict(state[0])  # what a checkpoint restores: the old learning rate
    scheduler.load_state_dict(state[1])
    apply_optimizer_settings(optimizer, scheduler, TrainConfig(learning_rate=1e-4, weight_decay=0.1))
    expected = 1e-4 * (10 - 4) / (10 - 2)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([expected, expected])
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4 * (10 - 5) / (10 - 2))


def test_two_commands_cannot_share_an_output_folder(tmp_path, inputs):
    # the first command trains far longer than the test lasts (it is killed at the end), so it holds the folder
    # for as long as the second command runs, however slow the machine is
    long_run = {"max_steps": 1_000_000, "save_every": 500_000, "eval_every": 500_000}
    path = _write(tmp_path, _config(*inputs, tmp_path / "run", **long_run))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "alembert.cli", "distill", str(path)]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "run" / ".alembert.lock").exists():
            assert first.poll() is None and time.time() < deadline, first.stderr.read() if first.stderr else ""
            time.sleep(0.05)
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2, second.stderr
        assert "is in use by another alembert command" in " ".join(second.stderr.split())
        assert first.poll() is None, "the first command ended before the second one was refused"
    finally:
        first.kill()
        first.wait()


def test_ctrl_c_while_loading_says_there_is_nothing_to_resume(tmp_path, inputs, monkeypatch, capsys):
    import alembert.run.distill as run_distill

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_distill, "load_model", interrupted)
    path = _write(tmp_path, _config(*inputs, tmp_path / "run"))
    assert main(["distill", str(path)]) == 130
    err = capsys.readouterr().err
    assert "nothing was written" in err and "--resume" not in err, err
    assert not (tmp_path / "run").exists()


def test_config_check_ignores_the_moved_output_path(tmp_path, inputs):
    config = parse_config(DistillConfig, _config(*inputs, tmp_path / "run", max_steps=2))
    distill(config)
    from alembert.run.folder import check_same_config

    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    moved = config.model_copy(update={"output_dir": str(tmp_path / "copy")})
    assert check_same_config(tmp_path / "copy", moved) == {}


def test_a_run_written_before_a_setting_existed_resumes(tmp_path, inputs):
    """A key a later version added, absent from the saved config.yaml, counts as its default; other keys still
    count."""
    from alembert.errors import ConfigError
    from alembert.run.folder import check_same_config

    config = parse_config(DistillConfig, _config(*inputs, tmp_path / "run", max_steps=2))
    distill(config)
    saved_path = tmp_path / "run" / "config.yaml"
    saved = yaml.safe_load(saved_path.read_text())
    del saved["teacher"]["cache_dtype"]  # as written before the setting existed (its default is not None)
    del saved["train"]["compile"]
    del saved["train"]["save_every_minutes"]
    saved_path.write_text(yaml.safe_dump(saved))
    assert check_same_config(tmp_path / "run", config) == {}
    # a setting whose default changed since, on how the run computes (cache, compile), is recorded, not refused
    saved["teacher"].update(cache=False, cache_dtype="float16")
    saved["train"].update(compile="never", save_every_minutes=None)
    saved_path.write_text(yaml.safe_dump(saved))
    assert check_same_config(tmp_path / "run", config) == {
        "teacher.cache": (False, "auto"),
        "teacher.cache_dtype": ("float16", "auto"),
        "train.compile": ("never", "auto"),
        "train.save_every_minutes": (None, 30.0),
    }
    saved["train"]["learning_rate"] = 1.0
    saved_path.write_text(yaml.safe_dump(saved))
    with pytest.raises(ConfigError, match="train.learning_rate"):
        check_same_config(tmp_path / "run", config)


def test_a_long_stage_checkpoints_by_the_clock_between_its_evaluations(tmp_path, inputs, monkeypatch):
    """``train.save_every_minutes``: with no step-based checkpoint before the end, one is still written each time
    the clock says so (here every step: the fake clock moves a minute per reading)."""
    import alembert.train.loop as loop
    from alembert.train.control import CheckpointClock

    def clock_reading(now):
        monkeypatch.setattr(loop, "CheckpointClock", lambda minutes: CheckpointClock(minutes, now=now))

    minutes = iter(range(10**6))
    clock_reading(lambda: 60.0 * next(minutes))
    long_epochs = {"max_steps": 4, "save_every": 1000, "eval_every": 1000, "save_every_minutes": 1.0}
    config = parse_config(DistillConfig, _config(*inputs, tmp_path / "run", **long_epochs))
    distill(config)
    stage = tmp_path / "run" / "checkpoints" / "distill"
    assert sorted(p.name for p in stage.glob("step-*")) == ["step-1", "step-2", "step-3", "step-4"]

    clock_reading(lambda: 0.0)  # the clock never moves: the last step only
    config = parse_config(DistillConfig, _config(*inputs, tmp_path / "still", **long_epochs))
    distill(config)
    assert [p.name for p in (tmp_path / "still" / "checkpoints" / "distill").glob("step-*")] == ["step-4"]
