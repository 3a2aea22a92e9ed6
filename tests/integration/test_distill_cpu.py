"""A few distillation steps with tiny models on CPU: losses finite and falling, files written, resume works."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from alembert import DistillConfig, distill, parse_config
from alembert.config import StudentConfig
from alembert.data.batches import build_train_loader, tokenize_examples
from alembert.data.readers import read_examples
from alembert.features.extract import forward_features
from alembert.models.student import build_student
from alembert.objective.terms import DistillationObjective, resolve_matches
from alembert.tasks.glue import get_task
from tests.conftest import FAMILIES, save_tiny_model


def distilbert_task_config(teacher: Path, data: Path, output: Path, **train) -> DistillConfig:
    """The distilbert-task recipe, shrunk for tiny models."""
    return parse_config(
        DistillConfig,
        {
            "recipe": "distilbert-task",
            "task": "sst2",
            "teacher": {"path": str(teacher)},
            "student": {"init": "every_other"},
            "data": {"train": str(data), "max_length": 32},
            "train": {
                "epochs": 2,
                "batch_size": 16,
                "learning_rate": 1e-3,
                "eval_every": 4,
                "log_every": 1,
                "seed": 0,
                **train,
            },
            "stages": [
                {
                    "name": "distill",
                    "task_loss_weight": 2.0,
                    "matches": [
                        {
                            "name": "ce",
                            "representation": "logits",
                            "loss": "kl_div",
                            "weight": 5.0,
                            "params": {"temperature": 2.0},
                        },
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
            "output_dir": str(output),
            "bench_latency": False,
        },
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_and_each_term_fall_on_a_fixed_batch(tmp_path, sst2_dir, family):
    teacher_dir = save_tiny_model(tmp_path / family, family)
    config = distilbert_task_config(teacher_dir, sst2_dir, tmp_path / "run")
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_dir).eval()
    with torch.no_grad():  # a random tiny teacher predicts ~0 logits; make its soft targets informative
        for name, parameter in teacher.named_parameters():
            if "classifier" in name:
                parameter.mul_(30.0)
    layered, init = build_student(teacher, config.student, masked_lm=False)
    assert init.teacher_layers == (0, 2) and init.copied > 0  # every_other copies layers (checked in unit tests)
    torch.manual_seed(0)
    student, _ = build_student(teacher, StudentConfig(init="random", num_layers=2), masked_lm=False)
    student.eval()  # no dropout: the same batch gives the same loss unless the weights change
    matches = resolve_matches(config.stages[0], teacher.config, student.config)
    objective = DistillationObjective(matches, 2.0, teacher.config, student.config)
    examples = read_examples(sst2_dir / "train.tsv", get_task("sst2"))
    dataset = tokenize_examples(examples[:16], tokenizer, max_length=32)
    batch = next(iter(build_train_loader(dataset, tokenizer, batch_size=16, seed=0)))
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    with torch.no_grad():
        teacher_features = forward_features(teacher, batch, objective.requested("teacher"))
    requested = objective.requested("student") | {("logits", None)}
    history = []
    for _ in range(10):
        loss, terms = objective(forward_features(student, batch, requested), teacher_features, batch)
        assert torch.isfinite(loss) and set(terms) == {"ce", "cos", "task"}
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({"loss": loss.item(), **{k: v.item() for k, v in terms.items()}})
    assert history[0]["ce"] > 1e-3 and history[0]["cos"] > 0.1
    for key in ("loss", "ce", "cos"):
        assert history[-1][key] < history[0][key], (key, history[0][key], history[-1][key])


@pytest.mark.parametrize("family", FAMILIES)
def test_distill_writes_a_reloadable_student(tmp_path, sst2_dir, family):
    teacher_dir = save_tiny_model(tmp_path / family, family)
    result = distill(distilbert_task_config(teacher_dir, sst2_dir, tmp_path / "run", epochs=1))
    run = result.output_dir
    for name in ("config.yaml", "metrics.json", "log.jsonl", "report.md", "student/README.md"):
        assert (run / name).is_file(), name
    assert list((run / "checkpoints" / "distill").glob("step-*"))
    student = AutoModelForSequenceClassification.from_pretrained(run / "student")
    assert student.config.num_hidden_layers == 2
    tokenizer = AutoTokenizer.from_pretrained(run / "student")
    assert tokenizer.get_vocab() == AutoTokenizer.from_pretrained(teacher_dir).get_vocab()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["teacher_metrics"]) == {"accuracy"} and set(metrics["student_metrics"]) == {"accuracy"}
    assert metrics["parameters"]["student"]["total"] < metrics["parameters"]["teacher"]["total"]
    card = (run / "student" / "README.md").read_text()
    assert str(teacher_dir) in card and "distilbert-task" in card


def test_projections_are_not_saved_in_the_student(tmp_path, sst2_dir):
    teacher_dir = save_tiny_model(tmp_path / "teacher", "bert")
    config = distilbert_task_config(teacher_dir, sst2_dir, tmp_path / "run", epochs=1)
    data = config.model_dump()
    data["student"] = {"init": "random", "num_layers": 2, "hidden_size": 16, "num_heads": 2}
    data["stages"][0]["matches"][1]["projection"] = "linear"
    result = distill(DistillConfig.model_validate(data))
    from safetensors.torch import load_file

    keys = load_file(result.student_dir / "model.safetensors").keys()
    assert not [k for k in keys if "projection" in k]
    assert AutoModelForSequenceClassification.from_pretrained(result.student_dir).config.hidden_size == 16


def test_resume_continues_to_the_same_final_step(tmp_path, sst2_dir):
    teacher_dir = save_tiny_model(tmp_path / "teacher", "bert")
    config = distilbert_task_config(teacher_dir, sst2_dir, tmp_path / "run", epochs=2, save_every=3)
    first = distill(config)
    steps = first.metrics["stages"]["distill"]["global_step"]
    # simulate an interruption: drop the end products and the newest checkpoints, keep an early one
    run = first.output_dir
    checkpoints = sorted((run / "checkpoints" / "distill").glob("step-*"), key=lambda p: int(p.name[5:]))
    for folder in checkpoints[1:]:
        import shutil

        shutil.rmtree(folder)
    (run / "checkpoints" / "distill" / "done.json").unlink()
    resumed = distill(config, resume=True)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    resume_events = [e for e in log if e["event"] == "resume"]
    assert resume_events and resume_events[-1]["step"] == int(checkpoints[0].name[5:])
    assert resumed.metrics["stages"]["distill"]["global_step"] == steps


def test_existing_output_dir_is_never_overwritten(tmp_path, sst2_dir):
    teacher_dir = save_tiny_model(tmp_path / "teacher", "bert")
    config = distilbert_task_config(teacher_dir, sst2_dir, tmp_path / "run", max_steps=2)
    distill(config)
    from alembert import ConfigError

    with pytest.raises(ConfigError, match="--resume"):
        distill(config)


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_distilbert_general_recipe_with_mlm_head(tmp_path, family):
    import random

    from alembert import load_recipe
    from tests.conftest import FILLER, POSITIVE

    rng = random.Random(0)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(FILLER + POSITIVE) for _ in range(12)) for _ in range(64)))
    (tmp_path / "heldout.txt").write_text(
        "\n".join(" ".join(rng.choice(FILLER) for _ in range(12)) for _ in range(16))
    )
    teacher = save_tiny_model(tmp_path / "teacher", family, mlm=True)
    config = load_recipe(
        "distilbert-general",
        [
            f"teacher.path={teacher}",
            f"data.train={corpus}",
            f"data.dev={tmp_path / 'heldout.txt'}",
            "data.max_length=32",
            "train.max_steps=6",
            "train.batch_size=16",
            "train.eval_every=3",
            f"output_dir={tmp_path / 'run'}",
            "bench_latency=false",
        ],
    )
    result = distill(config)
    log = [json.loads(line) for line in (result.output_dir / "log.jsonl").read_text().splitlines()]
    train = [e for e in log if e["event"] == "train"]
    assert train and all(math.isfinite(e["loss"]) for e in train) and {"ce", "cos", "task"} <= set(train[-1])
    assert "neg_perplexity" in result.metrics["student_metrics"]
    from transformers import AutoModelForMaskedLM

    assert AutoModelForMaskedLM.from_pretrained(result.student_dir).config.num_hidden_layers == 2


def test_resume_with_a_different_config_is_refused(tmp_path, sst2_dir):
    from alembert import ConfigError

    teacher_dir = save_tiny_model(tmp_path / "teacher", "bert")
    config = distilbert_task_config(teacher_dir, sst2_dir, tmp_path / "run", max_steps=2)
    distill(config)
    changed = distilbert_task_config(teacher_dir, sst2_dir, tmp_path / "run", max_steps=2, learning_rate=5e-4)
    with pytest.raises(ConfigError, match=r"--resume: the config differs .* train.learning_rate"):
        distill(changed, resume=True)
