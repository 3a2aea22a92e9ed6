"""Small conventions of the command line: --version, help pages with an example, --dry-run that checks inputs
and prints YAML, trackers checked when the config loads, and a run without a dev set that says what it does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from alembert import ConfigError, DistillConfig, parse_config
from alembert.cli import build_parser, main
from alembert.config.sections import TRACKER_PACKAGES
from alembert.terminal import _warned
from tests.conftest import save_tiny_model, tiny_distill_config


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == "alembert 0.1.0"


def test_every_command_has_a_description_and_an_example():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them here
    assert {"distill", "finetune", "evaluate", "bench", "export", "report", "glue", "recipes"} <= set(commands)
    for name, command in commands.items():
        page = command.format_help()
        assert command.description and len(command.description) > 40, name
        assert "example:\n  alembert " + name in page, name


def test_dry_run_refuses_placeholders_and_prints_yaml(tmp_path, sst2_dir, bert_teacher, capsys):
    assert main(["distill", "distilbert-task", "--dry-run"]) == 2  # the recipe's path/to/finetuned-teacher
    assert "path/to/finetuned-teacher" in capsys.readouterr().err
    sets = ["--set", f"teacher.path={bert_teacher}", "--set", f"data.train={tmp_path / 'nope'}"]
    assert main(["distill", "distilbert-task", *sets, "--dry-run"]) == 2
    assert "data.train: '" in capsys.readouterr().err
    sets = ["--set", f"teacher.path={bert_teacher}", "--set", f"data.train={sst2_dir}", "--set", "data.max_length=32"]
    assert main(["distill", "distilbert-task", *sets, "--dry-run", "--text-column", "sentence"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)["config"]
    assert printed["recipe"] == "distilbert-task" and printed["teacher"]["path"] == str(bert_teacher)
    assert printed["task"] == {"name": "sst-2", "text_columns": ["sentence"], "label_column": "label",
                               "labels": None, "regression": False, "metrics": None}  # fmt: skip
    assert main(["distill", "distilbert-task", *sets, "--dry-run", "--task", "sst3"]) == 2
    assert "unknown task 'sst3'" in capsys.readouterr().err


def test_every_accelerate_tracker_is_accepted_when_installed(tmp_path, monkeypatch):
    from accelerate.utils import LoggerType

    assert set(TRACKER_PACKAGES) == {t.value for t in LoggerType} - {"all"}
    base = {"task": "sst2", "teacher": {"path": "t"}, "stages": [{"name": "d", "task_loss_weight": 1.0}]}
    with pytest.raises(ConfigError, match="train.report_to: wandb needs the package 'wandb'.*pip install wandb"):
        parse_config(DistillConfig, {**base, "train": {"report_to": ["wandb"]}})
    with pytest.raises(ConfigError, match="train.report_to.0"):
        parse_config(DistillConfig, {**base, "train": {"report_to": ["neptune"]}})
    (tmp_path / "wandb").mkdir()
    (tmp_path / "wandb" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    config = parse_config(DistillConfig, {**base, "train": {"report_to": ["wandb", "wandb"]}})
    assert config.train.report_to == ["wandb"]


def test_a_run_without_dev_set_warns_once(tmp_path: Path, sst2_dir: Path, capsys):
    (sst2_dir / "dev.tsv").unlink()
    model = save_tiny_model(tmp_path / "m", "bert")
    _warned.discard("no-dev-set")
    config = tiny_distill_config(model, sst2_dir, tmp_path / "run", max_steps=2, batch_size=8)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["distill", str(tmp_path / "c.yaml")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: no dev set") == 1
    assert "select: best has no scores to compare, so the weights of the last step are kept" in " ".join(err.split())
