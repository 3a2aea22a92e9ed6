"""A task alembert has never heard of (three string labels in a TSV built here) goes through finetune → distill →
evaluate → export from the command line, and the student's ``pipeline()`` answers with the label names."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from transformers import pipeline

from alembert.cli import main
from tests.conftest import FILLER, NEGATIVE, POSITIVE, save_tiny_model, tiny_distill_config


NEUTRAL = [f"w{i}" for i in range(8)]
LABELS = ["mixed", "negative", "positive"]  # sorted, as inferred from the training data


def write_reviews(folder: Path, *, train: int = 120, dev: int = 36, seed: int = 0) -> Path:
    """``train.tsv``/``dev.tsv`` with columns ``review`` and ``verdict`` (three classes, learnable from words)."""
    rng = random.Random(seed)
    words = {"negative": NEGATIVE, "mixed": NEUTRAL, "positive": POSITIVE}
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", train), ("dev", dev)):
        lines = ["id\treview\tverdict"]
        for i in range(count):
            label = ("positive", "negative", "mixed")[i % 3]
            text = [rng.choice(FILLER) for _ in range(rng.randint(3, 8))]
            for _ in range(2):
                text.insert(rng.randrange(len(text) + 1), rng.choice(words[label]))
            lines.append(f"{i}\t{' '.join(text)}\t{label}")
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return folder


OWN_TASK = ["--text-column", "review", "--label-column", "verdict"]


def test_unknown_task_end_to_end(tmp_path: Path, capsys) -> None:
    data = write_reviews(tmp_path / "reviews")
    base = save_tiny_model(tmp_path / "base", "bert", num_labels=2)  # another task's 2-way head: replaced
    train, dev = str(data / "train.tsv"), str(data / "dev.tsv")

    teacher_run = tmp_path / "teacher"
    code = main(["finetune", "--model", str(base), "--data", train, "--output", str(teacher_run), *OWN_TASK,
                 "--set", f"data.dev={dev}", "--set", "train.epochs=3", "--set", "train.batch_size=16",
                 "--set", "train.learning_rate=1e-3", "--set", "data.max_length=32"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "fine-tuned base on reviews" in out and "accuracy" in out and "f1_macro" in out
    summary = json.loads((teacher_run / "metrics.json").read_text())
    assert summary["task"] == "reviews" and summary["task_spec"]["labels"] == LABELS
    assert summary["task_spec"]["labels_from"].startswith("read from the training data")
    teacher_config = json.loads((teacher_run / "model" / "config.json").read_text())
    assert teacher_config["id2label"] == {"0": "mixed", "1": "negative", "2": "positive"}

    config = tiny_distill_config(teacher_run / "model", data / "train.tsv", tmp_path / "student", epochs=2)
    config["data"]["dev"] = dev
    config["train"]["batch_size"] = 16
    (tmp_path / "distill.yaml").write_text(yaml.safe_dump(config))  # the recipe says task: sst2; the flags win
    assert main(["distill", str(tmp_path / "distill.yaml"), "--task", "reviews", *OWN_TASK]) == 0
    metrics = json.loads((tmp_path / "student" / "metrics.json").read_text())
    assert metrics["task"] == "reviews" and metrics["task_spec"]["labels"] == LABELS
    assert metrics["task_spec"]["labels_from"] == "from the teacher's id2label"
    assert set(metrics["student_metrics"]) == {"accuracy", "f1_macro"} and metrics["main_metric"] == "accuracy"
    student = tmp_path / "student" / "student"

    assert main(["evaluate", str(student), "--data", dev, *OWN_TASK, "--output", str(tmp_path / "eval")]) == 0
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert evaluated["metrics"]["dev"]["accuracy"] == pytest.approx(metrics["student_metrics"]["accuracy"])
    predictions = (tmp_path / "eval" / "predictions_dev.tsv").read_text().splitlines()[1:]
    assert {line.split("\t")[1] for line in predictions} <= set(LABELS)
    assert main(["evaluate", str(student), "--data", dev, "--output", str(tmp_path / "again")]) == 0  # recorded task
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["task"] == "reviews" and again["metrics"] == evaluated["metrics"]

    onnx = tmp_path / "onnx"
    assert main(["export", str(student), "--output", str(onnx), "--data", dev, *OWN_TASK, "--exporter",
                 "torchscript"]) == 0  # fmt: skip
    exported = json.loads((onnx / "export.json").read_text())
    assert exported["accuracy"]["ort"]["accuracy"] == pytest.approx(exported["accuracy"]["torch"]["accuracy"])

    classify = pipeline("text-classification", model=str(student), tokenizer=str(student))
    answers = classify(["the film was great and superb", "the plot was dull and awful"])
    assert {answer["label"] for answer in answers} <= set(LABELS)
    card = (student / "README.md").read_text()
    assert "base_model:" in card and "pipeline_tag: text-classification" in card and "model-index" in card
