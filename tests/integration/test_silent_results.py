"""Results that used to be wrong without a word: a teacher's label order, MNLI mismatched never scored, fp16 recorded
on a CPU, a teacher (or a model to evaluate) whose task head was initialised at load time."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoModelForSequenceClassification

from alembert import distill, parse_config
from alembert.cli import main
from alembert.config import DistillConfig
from alembert.data.sources import TaskData
from alembert.errors import ModelError
from alembert.models.load import load_model
from alembert.report.compare import write_comparison
from alembert.run.evaluate import evaluate
from alembert.run.teacher import check_teacher_scores
from alembert.tasks.glue import get_task
from alembert.tasks.metrics import chance_scores
from tests.conftest import save_tiny_model, tiny_distill_config, write_sst2


MNLI = Path(__file__).resolve().parents[1] / "fixtures" / "glue" / "MNLI"
BERT_ORDER = ["contradiction", "entailment", "neutral"]  # the original BERT and TinyBERT code's MNLI order


def _relabel(folder: Path, names: list[str]) -> Path:
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {str(i): name for i, name in enumerate(names)}
    config["label2id"] = {name: i for i, name in enumerate(names)}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _logits(model, tokenizer_dir: Path) -> torch.Tensor:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    pairs = (["the film was good", "a dull plot"], ["it is fine", "very bad"])
    batch = tokenizer(*pairs, return_tensors="pt", padding=True)
    with torch.no_grad():
        return model.eval()(**batch).logits


def test_a_teacher_in_another_label_order_gets_its_classifier_rows_reordered(tmp_path, caplog):
    folder = _relabel(save_tiny_model(tmp_path / "teacher", num_labels=3), BERT_ORDER)
    saved = AutoModelForSequenceClassification.from_pretrained(folder)
    with caplog.at_level(logging.INFO, logger="alembert"):
        model = load_model(str(folder), head="sequence_classification", task=get_task("mnli"))
    # task order entailment, neutral, contradiction = the checkpoint's rows 1, 2, 0
    torch.testing.assert_close(_logits(model, folder), _logits(saved, folder)[:, [1, 2, 0]])
    assert model.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    further = load_model(str(folder), head="sequence_classification", task=get_task("mnli"), new_head=True)
    torch.testing.assert_close(_logits(further, folder), _logits(saved, folder)[:, [1, 2, 0]])  # fine-tuning it
    assert any("rows were reordered" in r.getMessage() and "contradiction, entailment, neutral" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_generic_label_names_keep_the_order_with_one_warning(tmp_path, caplog):
    folder = save_tiny_model(tmp_path / "teacher", num_labels=3)  # id2label LABEL_0..LABEL_2
    saved = AutoModelForSequenceClassification.from_pretrained(folder)
    with caplog.at_level(logging.INFO, logger="alembert"):
        for _ in range(2):
            model = load_model(str(folder), head="sequence_classification", task=get_task("mnli"))
    torch.testing.assert_close(_logits(model, folder), _logits(saved, folder))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "LABEL_0" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]


def test_a_near_chance_teacher_is_reported_with_its_score(caplog):
    import datasets

    dev = datasets.Dataset.from_dict({"labels": [0, 0, 0, 1]})
    data = TaskData(train=None, dev={"dev": dev})
    task = get_task("sst2")
    assert chance_scores(np.array([0, 0, 0, 1]), task)["accuracy"] == 75.0
    with caplog.at_level(logging.WARNING, logger="alembert"):
        assert not check_teacher_scores({"accuracy": 75.0}, "accuracy", task, data, "t")
        assert check_teacher_scores({"accuracy": 100.0}, "accuracy", task, data, "t")
    (record,) = caplog.records
    assert "scores 75.00 accuracy" in record.getMessage() and "chance (75.00" in record.getMessage()


def test_distilling_a_chance_level_teacher_warns_in_the_log(tmp_path):
    teacher = save_tiny_model(tmp_path / "teacher")
    data = write_sst2(tmp_path / "SST-2", train=16, dev=16)
    config = tiny_distill_config(teacher, data, tmp_path / "run", max_steps=1, batch_size=8)
    # a random teacher: force it to predict one class for every input
    model = AutoModelForSequenceClassification.from_pretrained(teacher)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([5.0, -5.0]))
    model.save_pretrained(teacher)
    distill(parse_config(DistillConfig, config))
    events = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    warnings = [e["message"] for e in events if e.get("event") == "warning"]
    assert any("no better than chance" in w for w in warnings), events[:5]


def _mnli_teacher(tmp_path: Path) -> Path:
    return _relabel(save_tiny_model(tmp_path / "teacher", num_labels=3), ["entailment", "neutral", "contradiction"])


def test_mnli_runs_score_matched_and_mismatched_and_select_on_matched(tmp_path):
    config = tiny_distill_config(_mnli_teacher(tmp_path), MNLI, tmp_path / "run", max_steps=2, batch_size=2)
    config.update(task="mnli")
    config["train"].update(eval_every=1, select="best")
    result = distill(parse_config(DistillConfig, config))
    metrics = result.metrics
    assert metrics["main_metric"] == "accuracy"
    for who in ("teacher_metrics", "student_metrics"):
        assert set(metrics[who]) >= {"accuracy", "accuracy_mm"}, metrics[who]
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert history["student_metrics"]["accuracy_mm"] == metrics["student_metrics"]["accuracy_mm"]
    files = write_comparison([tmp_path / "run"], tmp_path / "report")
    header = next(line for line in files["markdown"].read_text().splitlines() if line.startswith("| Model"))
    assert "| MNLI-m | MNLI-mm |" in header, header


def test_evaluate_reports_both_mnli_dev_sets(tmp_path):
    results = evaluate(str(_mnli_teacher(tmp_path)), "mnli", str(MNLI))
    assert set(results) == {"dev_matched", "dev_mismatched"}


def test_fp16_on_a_cpu_is_refused_before_anything_is_written(tmp_path, capsys):
    teacher = save_tiny_model(tmp_path / "teacher")
    data = write_sst2(tmp_path / "SST-2", train=16, dev=8)
    config = tiny_distill_config(teacher, data, tmp_path / "run", max_steps=1, mixed_precision="fp16")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["distill", str(path)]) == 2
    err = capsys.readouterr().err
    assert "train.mixed_precision: fp16 needs a GPU" in err
    assert not (tmp_path / "run").exists()


def _encoder_without_head(tmp_path: Path) -> Path:
    """A pre-trained encoder as published: MLM head, no classification head (like the MiniLM folder)."""
    return save_tiny_model(tmp_path / "encoder", mlm=True)


def test_a_teacher_without_a_trained_task_head_is_refused(tmp_path, capsys):
    data = write_sst2(tmp_path / "SST-2", train=16, dev=8)
    config = tiny_distill_config(_encoder_without_head(tmp_path), data, tmp_path / "run", max_steps=1)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["distill", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "has no trained task head: classifier.bias, classifier.weight" in err, err
    assert "alembert finetune" in err
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_evaluating_a_model_without_its_task_head_is_an_error(tmp_path):
    data = write_sst2(tmp_path / "SST-2", train=16, dev=8)
    with pytest.raises(ModelError, match="no trained task head.*alembert finetune"):
        evaluate(str(_encoder_without_head(tmp_path)), "sst2", str(data))


def test_a_fine_tuned_classifier_still_loads_as_teacher(tmp_path):
    folder = save_tiny_model(tmp_path / "teacher")
    model = load_model(str(folder), head="sequence_classification", task=get_task("sst2"), trained_head=True)
    assert model.config.num_labels == 2


def test_glue_suite_scores_have_mnli_m_and_mm_columns(tmp_path):
    """``alembert glue`` collects both MNLI dev sets from each run's metrics (glue.json and the table)."""
    from alembert.report.glue_table import TableRow, glue_markdown
    from alembert.run.suite_plan import PlannedRun
    from alembert.run.suite_results import collect_scores

    config = tiny_distill_config(_mnli_teacher(tmp_path), MNLI, tmp_path / "run", max_steps=1, batch_size=2)
    config.update(task="mnli")
    result = distill(parse_config(DistillConfig, config))
    planned = PlannedRun("mnli", "distilbert-task", parse_config(DistillConfig, config))
    scores = collect_scores(None, [planned])
    assert set(scores) == {"mnli", "mnli-mm"}
    assert scores["mnli-mm"]["metric"] == "accuracy_mm"
    assert scores["mnli-mm"]["teacher"] == result.metrics["teacher_metrics"]["accuracy_mm"]
    assert scores["mnli-mm"]["distilbert-task"]["median"] == result.metrics["student_metrics"]["accuracy_mm"]
    rows = [TableRow("teacher", {c: e["teacher"] for c, e in scores.items()}), TableRow("student", {"mnli": 1.0})]
    header = glue_markdown(rows, ["mnli", "mnli-mm"]).splitlines()[0]
    assert "| MNLI-m (acc) | MNLI-mm (acc) |" in header, header
