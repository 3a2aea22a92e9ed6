"""Students that hold up on small tasks, on tiny models: a pruned student, a short YAML naming a recipe (and its
dry run), and ``alembert glue`` chaining general and pruned students into task distillation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForSequenceClassification

from alembert.cli import main
from alembert.config.recipes import load_recipe
from alembert.run.distill import distill
from alembert.run.suite import GlueSuiteConfig, run_glue_suite
from tests.conftest import save_tiny_model, sentence, write_sst2


TINY_STAGES = ["stages.intermediate.train.epochs=1", "stages.prediction.train.epochs=1"]


def write_corpus(path: Path, lines: int = 200, seed: int = 0) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sentence(rng, i % 2) + " ." for i in range(lines)) + "\n")
    return path


@pytest.fixture
def teacher(tmp_path: Path) -> Path:
    """A tiny 4-layer, width-32, 4-head BERT classifier."""
    return save_tiny_model(tmp_path / "teacher", "bert", heads=4)


def short_yaml(tmp_path: Path, teacher: Path, data: Path, student: dict) -> Path:
    """Five top-level lines: the recipe, the task, the teacher, the student, the data (and one stage override)."""
    path = tmp_path / "run.yaml"
    path.write_text(
        "recipe: tinybert-task\n"
        "task: sst2\n"
        f"teacher: {{path: {teacher}}}\n"
        f"student: {json.dumps(student)}\n"
        f"data: {{train: {data}, max_length: 32, augment: null}}\n"
        "stages: [{name: intermediate, train: {epochs: 2, batch_size: 16}}]\n"
    )
    return path


def test_a_short_yaml_takes_the_recipes_stages_and_overrides_one(tmp_path: Path, teacher: Path, sst2_dir: Path):
    student = {"init": "pruned", "num_layers": 2, "hidden_size": 24, "num_heads": 4, "intermediate_size": 48}
    config = load_recipe(short_yaml(tmp_path, teacher, sst2_dir, student))
    assert [s.name for s in config.stages] == ["intermediate", "prediction"]
    intermediate = config.stages[0]
    assert intermediate.train == {"epochs": 2, "batch_size": 16, "learning_rate": 5.0e-5}  # merged, not replaced
    assert [m.name for m in intermediate.matches] == ["embd", "hidn", "attn"]
    assert config.data.augment is None and config.student.init == "pruned"


def test_dry_run_prints_the_layer_map_steps_and_the_students_size(tmp_path: Path, teacher: Path, sst2_dir, capsys):
    student = {"init": "pruned", "num_layers": 2, "hidden_size": 24, "num_heads": 4, "intermediate_size": 48}
    assert main(["distill", str(short_yaml(tmp_path, teacher, sst2_dir, student)), "--dry-run"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    plan = printed["plan"]
    assert plan["student"]["layers"] == 2 and plan["student"]["hidden_size"] == 24
    assert 0 < plan["student"]["parameters"] < plan_parameters_of(teacher)
    intermediate = plan["stages"][0]
    assert intermediate["steps"] == 2 * 6  # 96 rows, batch 16, 2 epochs
    layers = {m["name"]: m["layers"] for m in intermediate["matches"]}
    assert layers == {"embd": "0 -> 0", "hidn/t2-s1": "2 -> 1", "hidn/t4-s2": "4 -> 2", "attn/t2-s1": "2 -> 1",
                      "attn/t4-s2": "4 -> 2"}  # fmt: skip
    assert plan["data"]["examples"] == 96 and plan["data"]["tokens"] > 96
    assert not (tmp_path / "runs").exists()


def plan_parameters_of(folder: Path) -> int:
    return sum(p.numel() for p in AutoModelForSequenceClassification.from_pretrained(folder).parameters())


def test_a_pruned_student_distils_and_loads_without_alembert(tmp_path: Path, teacher: Path, sst2_dir: Path):
    student = {"init": "pruned", "num_layers": 2, "hidden_size": 24, "num_heads": 4, "intermediate_size": 48}
    overrides = [f"output_dir={tmp_path / 'run'}", "bench_latency=false", *TINY_STAGES]
    result = distill(load_recipe(short_yaml(tmp_path, teacher, sst2_dir, student), overrides))
    events = [json.loads(line) for line in (result.output_dir / "log.jsonl").read_text().splitlines()]
    pruned = next(e for e in events if e["event"] == "pruned")
    assert pruned["layers"] == [0, 3] and pruned["student_shape"]["hidden_size"] == 24
    initialised = [e for e in events if e["event"] == "projection_init"]
    assert [(e["stage"], sorted(e["projections"])) for e in initialised] == [("intermediate", ["embd", "hidn"])]
    model = AutoModelForSequenceClassification.from_pretrained(result.student_dir)
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.intermediate_size) == (2, 24, 48)
    assert not any("projection" in name for name in model.state_dict())


def test_a_saved_student_is_cut_again_and_taught_by_the_teacher(tmp_path: Path, teacher: Path, sst2_dir: Path):
    # pruning in steps: the teacher's layers first (width kept), then that student's width
    layers = {"init": "pruned", "num_layers": 2, "hidden_size": 32, "num_heads": 4, "intermediate_size": 64}
    first = distill(load_recipe(short_yaml(tmp_path, teacher, sst2_dir, layers),
                                [f"output_dir={tmp_path / 'a'}", "bench_latency=false", *TINY_STAGES]))  # fmt: skip
    narrower = {**layers, "path": str(first.student_dir), "hidden_size": 24, "intermediate_size": 48}
    (tmp_path / "run.yaml").unlink()
    config = load_recipe(short_yaml(tmp_path, teacher, sst2_dir, narrower),
                         [f"output_dir={tmp_path / 'b'}", "bench_latency=false", *TINY_STAGES])  # fmt: skip
    second = distill(config)
    events = [json.loads(line) for line in (second.output_dir / "log.jsonl").read_text().splitlines()]
    pruned = next(e for e in events if e["event"] == "pruned")
    assert pruned["teacher_shape"]["num_layers"] == 2  # the saved 2-layer student was cut, not the 4-layer teacher
    assert pruned["student_shape"] == {"num_layers": 2, "hidden_size": 24, "num_heads": 4, "intermediate_size": 48}
    model = AutoModelForSequenceClassification.from_pretrained(second.student_dir)
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.intermediate_size) == (2, 24, 48)
    assert second.metrics["teacher_metrics"] == first.metrics["teacher_metrics"]  # the same teacher taught both
    wider = {**narrower, "hidden_size": 32, "num_layers": 3}
    (tmp_path / "run.yaml").unlink()
    with pytest.raises(Exception, match=r"cutting the saved model .*larger than .*num_layers 3 > 2"):
        distill(load_recipe(short_yaml(tmp_path, teacher, sst2_dir, wider), [f"output_dir={tmp_path / 'c'}"]))


def test_alembert_prune_cuts_a_teacher_on_task_data(tmp_path: Path, teacher: Path, sst2_dir: Path, capsys):
    out = tmp_path / "pruned"
    args = ["prune", str(teacher), "--layers", "3", "--hidden", "16", "--heads", "2", "--ffn", "40"]
    code = main([*args, "--data", str(sst2_dir), "--task", "sst2", "--output", str(out), "--calibration-batches", "2"])
    assert code == 0, capsys.readouterr().err
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert (model.config.num_hidden_layers, model.config.num_attention_heads) == (3, 2)
    report = json.loads((out / "prune.json").read_text())
    assert not report["head_dims_cut"] and [len(h) for h in report["heads"]] == [2, 2, 2]  # whole heads: 16 / 2 = 8
    batch = {"input_ids": torch.tensor([[2, 10, 11, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    assert torch.isfinite(model(**batch).logits).all()


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (["--layers", "6", "--hidden", "32", "--heads", "4", "--ffn", "64"], "must not be larger than the teacher"),
        (["--layers", "2", "--hidden", "30", "--heads", "4", "--ffn", "64"], "not divisible by num_heads"),
    ],
)
def test_prune_refuses_impossible_shapes_with_one_line(tmp_path, teacher, sst2_dir, capsys, shape, message):
    out = tmp_path / "pruned"
    code = main(["prune", str(teacher), *shape, "--data", str(sst2_dir), "--task", "sst2", "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_student_path_that_is_not_a_saved_model_is_refused(tmp_path: Path, teacher: Path, sst2_dir: Path, capsys):
    (tmp_path / "not-a-model").mkdir()
    path = short_yaml(tmp_path, teacher, sst2_dir, {"path": str(tmp_path / "not-a-model")})
    code = main(["distill", str(path), "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "not-a-model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_general_student_of_another_head_count_is_refused_before_training(tmp_path, teacher, sst2_dir, capsys):
    general = save_tiny_model(tmp_path / "general", "bert", heads=2, layers=2)  # attention maps need 4 heads
    path = short_yaml(tmp_path, teacher, sst2_dir, {"path": str(general)})
    code = main(["distill", str(path), "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "heads" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def general_recipe(tmp_path: Path) -> Path:
    """A tiny general TinyBERT recipe streamed from a text corpus (the suite fills in the teacher)."""
    corpus = write_corpus(tmp_path / "corpus" / "corpus.txt")
    path = tmp_path / "general.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "recipe": "tinybert-general",
                "task": "mlm",
                "teacher": {"path": "set-by-the-suite"},
                "student": {"init": "random", "num_layers": 2, "hidden_size": 24, "num_heads": 4,
                            "intermediate_size": 48},
                "data": {"train": str(corpus), "streaming": True, "max_length": 32},
                "train": {"max_steps": 4, "batch_size": 8, "snapshot_steps": [2], "save_every": 2},
                "bench_latency": False,
            }
        )
    )  # fmt: skip
    return path


def test_glue_chains_general_and_pruned_students_into_task_distillation(tmp_path: Path) -> None:
    root = tmp_path / "glue"
    write_sst2(root / "SST-2", train=64, dev=24)
    pretrained = save_tiny_model(tmp_path / "pretrained", "bert", heads=4)
    pruned = {"init": "pruned", "num_layers": 2, "hidden_size": 24, "num_heads": 4, "intermediate_size": 48}
    earlier = f"{tmp_path}/suite/{{task}}/pruned/seed-{{seed}}/student"  # the pruned row's student, cut again
    config = GlueSuiteConfig(
        teacher=str(pretrained),
        data_root=str(root),
        tasks=["sst2"],
        general=[{"name": "gd", "recipe": str(general_recipe(tmp_path))}],
        rows=[
            {"name": "no-gd", "recipe": "tinybert-task", "set": ["student.num_layers=2", "student.hidden_size=24"]},
            {"name": "gd", "recipe": "tinybert-task", "student": "general:gd", "paper_retention": 96.8},
            {"name": "gd-half", "recipe": "tinybert-task", "student": "general:gd@step-2"},
            {"name": "gd-finetuned", "finetune": True, "student": "general:gd"},
            {"name": "pruned", "recipe": "tinybert-task", "set": [f"student={json.dumps(pruned)}"]},
            {"name": "pruned-again", "recipe": "tinybert-task", "student": earlier,
             "set": ["student.init=pruned", "student.num_layers=2", "student.hidden_size=24",
                     "student.intermediate_size=32"]},
        ],
        output_dir=str(tmp_path / "suite"),
        latency_seq_len=32,
        finetune=["train.epochs=1", "train.batch_size=16", "data.max_length=32"],
        distill=["data.max_length=32", "data.augment=null", "train.batch_size=16", "student.num_heads=4",
                 "student.intermediate_size=48", *TINY_STAGES],
    )  # fmt: skip
    result = run_glue_suite(config, say=lambda _: None)
    out = tmp_path / "suite"
    gd_config = yaml.safe_load((out / "sst2" / "gd" / "seed-42" / "config.yaml").read_text())
    assert gd_config["student"]["path"] == str(out / "general" / "gd" / "student")
    half = yaml.safe_load((out / "sst2" / "gd-half" / "seed-42" / "config.yaml").read_text())
    assert half["student"]["path"].endswith("general/gd/checkpoints/general/snapshots/step-2")
    table = result.files["markdown"].read_text()
    for row in ("teacher", "no-gd", "gd", "gd-half", "gd-finetuned", "pruned"):
        assert f"| {row} |" in table
    assert "| 96.8% |" in table  # the paper's retention, as a reference column
    rows = {r["name"]: r for r in json.loads(result.files["json"].read_text())["rows"]}
    assert rows["pruned"]["parameters"] < rows["teacher"]["parameters"]
    again = yaml.safe_load((out / "sst2" / "pruned-again" / "seed-42" / "config.yaml").read_text())
    assert again["student"]["path"] == str(out / "sst2" / "pruned" / "seed-42" / "student")
    assert rows["pruned-again"]["parameters"] < rows["pruned"]["parameters"]  # its FFN cut from 48 to 32
    assert rows["gd"]["speedup"] is not None and rows["gd"]["latency_ms"] > 0
