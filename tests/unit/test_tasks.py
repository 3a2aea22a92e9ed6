"""Tasks as data: a config's task mapping, labels read from the training data (or a model's id2label), the GLUE
table's ClassLabel names, and the errors a user's own data can cause."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from alembert import ConfigError, DataError, DistillConfig, FinetuneConfig, parse_config
from alembert.config import METRIC_NAMES, DataConfig, TaskConfig
from alembert.data.sources import load_examples, load_task_data, task_with_training_labels
from alembert.models.heads import align_label_order
from alembert.models.load import load_model, task_label_kwargs
from alembert.tasks import GLUE_TASKS, get_task, infer_labels, labels_from_model, resolve_task
from alembert.tasks.metrics import METRICS, compute_metrics
from tests.conftest import make_tokenizer, save_tiny_model


def own(**extra) -> TaskConfig:
    return TaskConfig(name="reviews", text_columns=["text"], label_column="stars", **extra)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def tokenizer(tmp_path):
    return make_tokenizer(tmp_path / "tok")


def test_task_section_takes_a_glue_name_or_a_mapping():
    base = {"teacher": {"path": "t"}, "stages": [{"name": "d", "task_loss_weight": 1.0}]}
    assert parse_config(DistillConfig, {**base, "task": "sst2"}).task == "sst2"
    config = parse_config(DistillConfig, {**base, "task": {"name": "imdb", "text_columns": ["text"]}})
    assert config.task == TaskConfig(name="imdb", text_columns=["text"])
    assert parse_config(FinetuneConfig, {"task": {"name": "x", "text_columns": ["a", "b"]}, "model": {"path": "m"}})
    with pytest.raises(ConfigError, match=r"unknown key 'task.lables' \(did you mean 'labels'"):
        parse_config(DistillConfig, {**base, "task": {"name": "x", "text_columns": ["t"], "lables": ["a", "b"]}})
    with pytest.raises(ConfigError, match="task: a task name .* or a mapping"):
        parse_config(DistillConfig, {**base, "task": 3})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"labels": ["a"]}, "at least two distinct labels"),
        ({"labels": ["a", "a"]}, "at least two distinct labels"),
        ({"labels": ["a", "b"], "regression": True}, "either labels .* or regression"),
        ({"regression": True, "metrics": ["accuracy"]}, r"\['accuracy'\] do not apply to a regression task"),
        ({"metrics": ["pearson"]}, "do not apply to a classification task"),
        ({"labels": ["a", "b", "c"], "metrics": ["f1"]}, "f1 is binary F1, but there are 3 labels; use f1_macro"),
        ({"metrics": []}, "at least one metric"),
    ],
)
def test_task_mapping_is_checked_when_the_config_loads(extra, message):
    with pytest.raises(ValueError, match=message):
        own(**extra)


def test_number_labels_in_yaml_are_text_and_metric_names_match_the_table():
    assert own(labels=[1, 2, 3]).labels == ["1", "2", "3"]
    assert set(METRIC_NAMES) == set(METRICS)


def test_glue_is_a_table_of_tasks_with_classlabel_names():
    assert get_task("SST-2").names == ("negative", "positive") and get_task("sst2").labels == ("0", "1")
    assert get_task("mnli").names == ("entailment", "neutral", "contradiction")
    assert get_task("stsb").is_regression and get_task("stsb").num_labels == 1
    assert task_label_kwargs(get_task("sst2"))["id2label"] == {0: "negative", 1: "positive"}
    assert all(task.resolved and task.folder for task in GLUE_TASKS.values())
    with pytest.raises(ConfigError, match="unknown task 'sst3'.*did you mean 'sst2'.*--text-column"):
        resolve_task("sst3")


def test_labels_are_sorted_numerically_when_they_are_numbers():
    assert infer_labels(["10", "9", "2", "10"]) == ("2", "9", "10")
    assert infer_labels(["pos", "neg", "mixed"]) == ("mixed", "neg", "pos")


def test_labels_read_from_training_data_and_recorded(tmp_path, tokenizer):
    rows = [{"text": f"good film {i}", "stars": [5, 1, 10][i % 3]} for i in range(9)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    dev = write_jsonl(tmp_path / "dev.jsonl", rows[:4])
    data = load_task_data(DataConfig(train=str(train), dev=str(dev)), resolve_task(own()), tokenizer)
    assert data.task.labels == ("1", "5", "10") and data.task.labels_from.startswith("read from the training data")
    assert data.train["labels"][:3] == [1, 0, 2] and data.dev["dev"]["labels"] == [1, 0, 2, 1]
    assert data.task.to_dict()["labels"] == ["1", "5", "10"]
    assert task_with_training_labels(DataConfig(train=str(train)), resolve_task(own())).labels == ("1", "5", "10")


def test_own_task_errors_name_file_and_line(tmp_path, tokenizer):
    train = write_jsonl(tmp_path / "train.jsonl", [{"text": "a", "stars": 1}, {"text": "b", "stars": 5}])
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"text": "a", "stars": 1}, {"text": "c", "stars": 3}])
    with pytest.raises(DataError, match=r"dev.jsonl:2: label 3 is not in the label set of task reviews \['1', '5'\]"):
        load_task_data(DataConfig(train=str(train), dev=str(dev)), resolve_task(own()), tokenizer)
    one = write_jsonl(tmp_path / "one.jsonl", [{"text": "a", "stars": 1}, {"text": "b", "stars": 1}])
    with pytest.raises(DataError, match=r"one.jsonl are \['1'\]; a classification task needs at least two"):
        load_task_data(DataConfig(train=str(one)), resolve_task(own()), tokenizer)
    words = write_jsonl(tmp_path / "words.jsonl", [{"text": "a", "stars": "high"}])
    with pytest.raises(DataError, match="words.jsonl:1: label 'high' is not a number .*regression"):
        load_task_data(DataConfig(train=str(words)), resolve_task(own(regression=True)), tokenizer)
    with pytest.raises(DataError, match=r"no label column 'stars'; columns are \['text', 'label'\]"):
        load_examples(DataConfig(train=str(write_jsonl(tmp_path / "x.jsonl", [{"text": "a", "label": 1}]))),
                      resolve_task(own()), "train")  # fmt: skip
    with pytest.raises(DataError, match=r"text column\(s\) \['text'\] of task reviews not found"):
        load_examples(DataConfig(train=str(write_jsonl(tmp_path / "y.jsonl", [{"review": "a", "stars": 1}]))),
                      resolve_task(own()), "train")  # fmt: skip
    with pytest.raises(DataError, match="labels are read from the training data, but there is none"):
        load_task_data(DataConfig(dev=str(dev)), resolve_task(own()), tokenizer, need_train=False)
    with pytest.raises(ConfigError, match="f1 is binary F1, but task reviews has 3 labels"):
        resolve_task(own(metrics=["f1"])).with_labels(["a", "b", "c"], "read from the training data")


def test_model_labels_come_first_and_a_shuffled_head_is_reordered_by_name(tmp_path):
    task = resolve_task(own())
    assert labels_from_model(task, {0: "LABEL_0", 1: "LABEL_1"}) is task  # transformers' placeholders say nothing
    from_teacher = labels_from_model(task, {"1": "pos", "0": "neg"}, what="teacher")
    assert from_teacher.labels == ("neg", "pos") and from_teacher.labels_from == "from the teacher's id2label"
    model = load_model(str(save_tiny_model(tmp_path / "m", "bert", num_labels=2)), head="sequence_classification")
    rows = model.classifier.weight.detach().clone()
    model.config.id2label = {0: "POSITIVE", 1: "NEGATIVE"}  # SST-2's ClassLabel names, in the other order
    align_label_order(model, model.config, get_task("sst2"), "m", "teacher")
    assert torch.equal(model.classifier.weight, rows[[1, 0]])  # rows follow the names: negative first
    assert model.config.id2label == {0: "negative", 1: "positive"}  # names kept, so pipeline() answers with them


def test_glue_data_may_use_label_names(tmp_path):
    path = tmp_path / "sst.csv"
    path.write_text("sentence,label\ngood,positive\nbad,negative\nok,1\n")
    examples = load_examples(DataConfig(train=str(path)), get_task("sst2"), "train")["sst"]
    assert [e.label for e in examples] == [1, 0, 1]


def test_hub_classlabel_gives_names_and_order(monkeypatch, tmp_path, tokenizer):
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    splits = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": ["bad", "good", "fine"], "label": [0, 1, 1]}, features=features),
        test=datasets.Dataset.from_dict({"text": ["dull", "great"], "label": [0, 1]}, features=features),
    )
    monkeypatch.setattr(datasets, "load_dataset", lambda name, config=None: splits)
    task = resolve_task(TaskConfig(name="movies", text_columns=["text"]))
    cfg = DataConfig(format="hub", hub_name="someone/movies", dev="test")
    data = load_task_data(cfg, task, tokenizer)
    assert data.task.labels == ("neg", "pos") and data.task.labels_from == "from the ClassLabel of 'someone/movies'"
    assert data.dev["test"]["labels"] == [0, 1]
    with pytest.raises(DataError, match="'someone/movies' has no split 'validation'"):
        load_task_data(cfg.model_copy(update={"dev": "validation"}), task, tokenizer)
    assert not load_task_data(DataConfig(format="hub", hub_name="someone/movies"), task, tokenizer).dev  # none


def test_metrics_of_an_own_task():
    task = resolve_task(own(labels=["a", "b", "c"], metrics=["f1_macro", "accuracy", "matthews_correlation"]))
    scores = compute_metrics(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 1]), task)
    assert list(scores) == ["f1_macro", "accuracy", "matthews_correlation"] and scores["accuracy"] == 75.0
    assert task.main_metric == "f1_macro"
