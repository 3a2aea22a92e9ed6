"""The shipped MiniLM recipes run end to end for a few steps on tiny models of two families."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from transformers import AutoConfig

from alembert import ConfigError, distill, load_recipe
from tests.conftest import FILLER, NEGATIVE, POSITIVE, save_tiny_model, write_sst2


FAMILIES = ("distilbert", "mpnet")  # two module layouts other than BERT's; MPNet adds relative position bias
SHRINK = ["data.max_length=24", "train.batch_size=8", "train.log_every=1", "bench_latency=false"]


def write_corpus(path: Path) -> Path:
    rng = random.Random(0)
    words = FILLER + POSITIVE + NEGATIVE
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) for _ in range(32)))
    return path


def train_events(run: Path) -> list[dict]:
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [e for e in log if e["event"] == "train"]


def result_overrides(tmp_path: Path, data: Path | None = None) -> list[str]:
    data = data or tmp_path / "corpus.txt"
    return [f"teacher.path={tmp_path / 'teacher'}", f"data.train={data}", f"output_dir={tmp_path / 'run'}", *SHRINK]


def run_recipe(name: str, family: str, tmp_path: Path, extra: list[str]):
    mlm = load_recipe(name).task == "mlm"
    save_tiny_model(tmp_path / "teacher", family, mlm=mlm, layers=4, hidden=32, heads=4)
    data = write_corpus(tmp_path / "corpus.txt") if mlm else write_sst2(tmp_path / "SST-2", train=24, dev=8)
    return distill(load_recipe(name, result_overrides(tmp_path, data) + ["train.max_steps=2", *extra]))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("name", "terms", "student"),
    [
        ("minilm", {"at", "vr"}, ["student.num_layers=2", "student.hidden_size=16", "student.intermediate_size=32"]),
        (
            "minilmv2",
            {"qkv"},
            [
                "student.num_layers=2",
                "student.hidden_size=24",
                "student.num_heads=2",  # other head count and width than the teacher (4 heads, 32)
                "student.intermediate_size=32",
                "stages.minilmv2.matches.qkv.params.relation_heads=8",
                "stages.minilmv2.matches.qkv.layers=[[3, 2]]",  # an upper-middle teacher block
            ],
        ),
    ],
)
def test_general_recipes(tmp_path, family, name, terms, student):
    result = run_recipe(name, family, tmp_path, student)
    events = train_events(result.output_dir)
    assert len(events) == 2 and all(math.isfinite(e["loss"]) and e["loss"] > 0 for e in events)
    assert terms == {k for k in events[-1] if k in terms} and "task" not in events[-1]
    config = AutoConfig.from_pretrained(result.student_dir)
    assert config.num_hidden_layers == 2 and config.model_type == family


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("name", "first", "student"),
    [
        ("minilm-task", "minilm", ["student.num_layers=2", "student.hidden_size=16"]),
        (
            "minilmv2-task",
            "minilmv2",
            ["student.num_layers=2", "student.hidden_size=24", "student.num_heads=2"]
            + ["stages.minilmv2.matches.qkv.params.relation_heads=4"],
        ),
    ],
)
def test_task_recipes_distil_then_finetune(tmp_path, family, name, first, student):
    result = run_recipe(name, family, tmp_path, [*student, "student.intermediate_size=32"])
    stages = {e["stage"]: e for e in train_events(result.output_dir)}
    assert set(stages) == {first, "finetune"}
    assert "task" not in stages[first] and set(stages["finetune"]) >= {"task", "loss"}
    assert result.metrics["stages"][first]["history"] == []  # the distillation stage trains no head
    assert result.metrics["stages"]["finetune"]["history"]  # the fine-tuning stage is evaluated
    assert "accuracy" in result.metrics["student_metrics"]


@pytest.mark.parametrize("family", FAMILIES)
def test_teacher_assistant_chain(tmp_path, family):
    shape = ["assistants.0.num_layers=4", "assistants.0.hidden_size=16", "assistants.0.intermediate_size=32"]
    student = ["student.num_layers=2", "student.hidden_size=16", "student.intermediate_size=32", "student.init=[1, 3]"]
    result = run_recipe("minilm-ta", family, tmp_path, [*shape, *student])
    run = result.output_dir
    assistant = run / "assistant-1"
    assert AutoConfig.from_pretrained(assistant / "student").num_hidden_layers == 4
    assert AutoConfig.from_pretrained(result.student_dir).num_hidden_layers == 2
    assert train_events(assistant) and train_events(run)
    assert result.metrics["teacher_path"] == str(assistant / "student")  # the final hop's teacher
    hop = json.loads((assistant / "metrics.json").read_text())
    assert hop["teacher_path"] == str(tmp_path / "teacher")
    start = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()][0]
    assert start["student_init"] == [1, 3]  # the student copied assistant layers 1 and 3
    assert (run / "config-with-assistants.yaml").is_file()
    # an interruption during the final hop: --resume keeps hop 1 and finishes the student
    hop_done = (assistant / "metrics.json").stat().st_mtime_ns
    (run / "checkpoints" / "minilm" / "done.json").unlink()
    (run / "metrics.json").unlink()
    config = load_recipe("minilm-ta", [*result_overrides(tmp_path), "train.max_steps=2", *shape, *student])
    distill(config, resume=True)
    assert (assistant / "metrics.json").stat().st_mtime_ns == hop_done and (run / "metrics.json").is_file()


def test_teacher_assistant_chain_is_validated_before_training(tmp_path):
    with pytest.raises(ConfigError, match=r"hop to student: .*same number of attention heads"):
        run_recipe("minilm-ta", "bert", tmp_path, ["assistants.0.num_layers=4", "student.num_heads=2"])
    assert not (tmp_path / "run" / "assistant-1").exists()
