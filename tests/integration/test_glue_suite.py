"""``alembert glue`` on tiny models: a classification and a regression task, two seeds, resume of finished runs."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest

from alembert.cli import main
from alembert.errors import ConfigError, DataError
from alembert.run.suite import GlueSuiteConfig, plan_glue_suite, run_glue_suite
from tests.conftest import save_tiny_model, sentence, write_sst2


def write_stsb(folder: Path, *, train: int = 64, dev: int = 24, seed: int = 0) -> Path:
    """A tiny STS-B folder in the official column layout; the score is learnable from the words."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    for name, count in (("train", train), ("dev", dev)):
        lines = [header]
        for i in range(count):
            label = i % 2
            score = 4.0 + rng.random() if label else rng.random()
            first, second = sentence(rng, label), sentence(rng, label)
            lines.append(f"{i}\tmain\tx\t2012\t{i:04d}\tnone\tnone\t{first}\t{second}\t{score:.3f}")
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def glue_root(tmp_path: Path) -> Path:
    root = tmp_path / "glue"
    write_sst2(root / "SST-2", train=64, dev=24)
    write_stsb(root / "STS-B")
    return root


def suite_config(tmp_path: Path, glue_root: Path, **extra) -> GlueSuiteConfig:
    teacher = save_tiny_model(tmp_path / "pretrained", "bert")
    fields = {
        "teacher": str(teacher),
        "data_root": str(glue_root),
        "tasks": ["sst2", "stsb"],
        "recipes": ["distilbert-task"],
        "seeds": [1, 2],
        "output_dir": str(tmp_path / "suite"),
        "finetune": ["train.epochs=1", "train.batch_size=16", "data.max_length=32"],
        "distill": ["train.epochs=1", "train.batch_size=16", "data.max_length=32"],
        "latency": False,
        **extra,
    }
    return GlueSuiteConfig(**fields)


def test_suite_plans_every_run_and_converts_kd_for_regression(tmp_path: Path, glue_root: Path) -> None:
    runs = plan_glue_suite(suite_config(tmp_path, glue_root))
    assert [(r.task, r.label) for r in runs] == [
        ("sst2", "teacher"),
        ("sst2", "distilbert-task"),
        ("sst2", "distilbert-task"),
        ("stsb", "teacher"),
        ("stsb", "distilbert-task"),
        ("stsb", "distilbert-task"),
    ]
    stsb_student = runs[4].config
    assert stsb_student.teacher.path == str(tmp_path / "suite" / "stsb" / "teacher" / "model")
    assert stsb_student.stages[0].matches[0].loss == "logits_mse"
    assert runs[1].config.stages[0].matches[0].loss == "kl_div"
    assert [r.config.train.seed for r in runs[1:3]] == [1, 2]


def test_suite_rejects_bad_input_before_training(tmp_path: Path, glue_root: Path) -> None:
    with pytest.raises(DataError, match="no folder .*CoLA"):
        plan_glue_suite(suite_config(tmp_path, glue_root, tasks=["cola"]))
    with pytest.raises(ConfigError, match="row distilbert-task, task sst2: .*unknown key 'train.epoch'"):
        plan_glue_suite(suite_config(tmp_path, glue_root, distill=["train.epoch=1"]))
    with pytest.raises(ValueError, match="unknown task 'sst3'.*sst2"):
        suite_config(tmp_path, glue_root, tasks=["sst3"])
    assert not (tmp_path / "suite").exists()


def test_suite_runs_tables_medians_and_reuses_finished_runs(tmp_path: Path, glue_root: Path) -> None:
    config = suite_config(tmp_path, glue_root)
    result = run_glue_suite(config, say=lambda _: None)
    scores = result.scores
    assert set(scores) == {"sst2", "stsb"}
    assert scores["stsb"]["metric"] == "pearson"
    seeds = scores["sst2"]["distilbert-task"]["seeds"]
    assert set(seeds) == {"1", "2"}
    assert scores["sst2"]["distilbert-task"]["median"] == pytest.approx(statistics.median(seeds.values()))
    table = result.files["markdown"].read_text(encoding="utf-8")
    assert "| Model | #Params | SST-2 (acc) | STS-B (Pearson) | Avg | Retention |" in table
    assert table.count("| distilbert-task |") == 1  # seeds folded into one row
    assert json.loads((tmp_path / "suite" / "glue.json").read_text())["scores"] == json.loads(json.dumps(scores))
    student = tmp_path / "suite" / "sst2" / "distilbert-task" / "seed-1" / "student"
    stamp = (student / "model.safetensors").stat().st_mtime_ns

    messages: list[str] = []
    run_glue_suite(config, say=messages.append)  # everything finished: nothing is trained again
    assert all("finished earlier" in m for m in messages) and len(messages) == 6
    assert (student / "model.safetensors").stat().st_mtime_ns == stamp

    changed = config.model_copy(update={"distill": [*config.distill, "train.learning_rate=1e-3"]})
    expected = r"sst2/distilbert-task/seed-1 holds a run with other settings .*learning_rate"
    with pytest.raises(ConfigError, match=expected):
        run_glue_suite(changed, say=lambda _: None)  # a finished run is reused only if it is the run asked for


def test_cli_glue_with_already_fine_tuned_teacher(tmp_path: Path, glue_root: Path, capsys) -> None:
    teacher = save_tiny_model(tmp_path / "sst2-teacher", "bert")
    code = main(
        [
            "glue",
            "--teacher", str(teacher),
            "--data", str(glue_root),
            "--tasks", "sst2",
            "--recipes", "distilbert-task",
            "--output", str(tmp_path / "cli-suite"),
            "--set", f"teachers.sst2={teacher}",
            "--distill-set", "train.epochs=1",
            "--distill-set", "data.max_length=32",
            "--set", "latency=false",
        ]
    )  # fmt: skip
    assert code == 0
    assert not (tmp_path / "cli-suite" / "sst2" / "teacher").exists()  # the given teacher is used as is
    out = capsys.readouterr().out
    assert "alembert glue: dev scores" in out and "distilbert-task retention" in out  # the rich table
    assert "sst2" in out and "accuracy" in out and "glue.md" in out
