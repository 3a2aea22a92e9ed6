"""Sentence-embedding students end to end on tiny models: a sentence-transformers teacher in, one out."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel

from alembert import ConfigError, distill, load_recipe
from alembert.cli import main
from alembert.models.load import load_tokenizer
from alembert.models.sentence import encode, read_pooling
from tests.conftest import FILLER, NEGATIVE, POSITIVE, make_tokenizer, tiny_config, write_sst2


SHRINK = ["data.max_length=24", "train.batch_size=8", "train.log_every=1", "bench_latency=false", "train.max_steps=3"]


def save_sentence_teacher(folder: Path, *, pooling: str = "mean", normalize: bool = True) -> Path:
    """A tiny random BERT saved as a sentence-transformers folder, its files written as the library writes them."""
    torch.manual_seed(0)
    AutoModel.from_config(tiny_config("bert", layers=4, hidden=32, heads=4)).save_pretrained(folder)
    make_tokenizer(folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    settings = {"word_embedding_dimension": 32, "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": pooling == "max",
                "pooling_mode_mean_sqrt_len_tokens": False}  # fmt: skip
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(settings))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 24, "do_lower_case": False}))
    return folder


def sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = FILLER + POSITIVE + NEGATIVE
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(count)]


def run(tmp_path: Path, recipe: str, extra: list[str] = (), **teacher) -> tuple[Path, Path]:
    teacher_dir = save_sentence_teacher(tmp_path / "teacher", **teacher)
    corpus = tmp_path / "sentences.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": text}) for text in sentences(40)))
    overrides = [f"teacher.path={teacher_dir}", f"data.train={corpus}", f"output_dir={tmp_path / 'run'}", *SHRINK]
    result = distill(load_recipe(recipe, [*overrides, *extra]))
    return teacher_dir, result.student_dir


def alembert_embeddings(folder: Path, texts: list[str], pooling_from: Path) -> np.ndarray:
    model = AutoModel.from_pretrained(folder)
    return encode(model, load_tokenizer(str(folder)), texts, read_pooling(pooling_from))


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_embedding_distil_saves_a_sentence_transformers_student(tmp_path, pooling):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    teacher_dir, student_dir = run(tmp_path, "embedding-distil", normalize=pooling == "mean", pooling=pooling)
    texts = sentences(10, seed=1)
    # the teacher is read as sentence-transformers reads it ...
    reference = sentence_transformers.SentenceTransformer(str(teacher_dir), device="cpu").encode(texts)
    np.testing.assert_allclose(alembert_embeddings(teacher_dir, texts, teacher_dir), reference, atol=1e-5)
    # ... and the student loads with SentenceTransformer and returns alembert's embeddings
    student = sentence_transformers.SentenceTransformer(str(student_dir), device="cpu")
    saved, original = read_pooling(student_dir), read_pooling(teacher_dir)
    assert (saved.modes, saved.normalize, saved.max_seq_length) == (original.modes, original.normalize, 24)
    ours = alembert_embeddings(student_dir, texts, student_dir)
    np.testing.assert_allclose(student.encode(texts), ours, atol=1e-5)
    assert AutoModel.from_pretrained(student_dir).config.num_hidden_layers == 2  # one teacher layer of two
    assert not np.allclose(ours, reference, atol=1e-3)  # trained: not the teacher
    events = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [e for e in events if e["event"] == "train"]
    assert len(losses) == 3 and {"mse", "cos"} <= set(losses[0])


def test_embedding_minilmv2_combines_relations_and_embedding_terms(tmp_path):
    # a mask on a sequence-level term is harmless (each model pools over its own attention mask)
    extra = ["stages.distill.matches.qkv.params.relation_heads=4", "stages.distill.matches.mse.mask=attention_mask"]
    _teacher, student_dir = run(tmp_path, "embedding-minilmv2", extra)
    assert (student_dir / "modules.json").is_file() and (student_dir / "1_Pooling" / "config.json").is_file()
    events = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    first = next(e for e in events if e["event"] == "train")
    assert {"qkv", "mse", "sim"} <= set(first)
    assert all(np.isfinite(first[k]) for k in ("qkv", "mse", "sim"))


def test_embedding_task_refuses_logits_and_labels(tmp_path):
    with pytest.raises(ConfigError, match="task embedding has no logits"):
        load_recipe("embedding-distil", ["stages.distill.matches.cos.representation=logits"])
    with pytest.raises(ConfigError, match="takes no layers"):
        load_recipe("embedding-distil", ["stages.distill.matches.cos.teacher_layer=2"])


def write_embedding_glue(root: Path) -> Path:
    """Tiny STS-B, SST-2 and MRPC folders in GLUE's layout."""
    rng = random.Random(3)
    texts = sentences(60, seed=2)
    write_sst2(root / "SST-2", train=24, dev=12)
    (root / "STS-B").mkdir(parents=True)
    rows = [
        "sentence1\tsentence2\tscore",
        *(f"{texts[i]}\t{texts[i + 1]}\t{rng.uniform(0, 5):.2f}" for i in range(20)),
    ]
    (root / "STS-B" / "dev.tsv").write_text("\n".join(rows) + "\n")
    (root / "MRPC").mkdir()
    for split, start in (("train", 0), ("dev", 30)):
        rows = ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
        rows += [f"{i % 2}\t{i}\t{i + 1}\t{texts[start + i]}\t{texts[start + i + 1]}" for i in range(12)]
        (root / "MRPC" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_embedding_run_scores_teacher_and_student_and_evaluate_cli(tmp_path):
    glue = write_embedding_glue(tmp_path / "glue")
    extra = [f"data.dev={glue}", "bench_latency=true"]
    _teacher, student_dir = run(tmp_path, "embedding-distil", extra)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    expected = {"stsb_spearman", "sst2_accuracy", "mrpc_accuracy", "mrpc_f1"}
    assert set(metrics["teacher_metrics"]) == expected == set(metrics["student_metrics"])
    assert metrics["main_metric"] == "stsb_spearman" and metrics["retention"] is not None
    assert metrics["latency"]["batch_size"] == 1 and metrics["latency"]["batch_32"]["batch_size"] == 32
    report = (tmp_path / "run" / "report.md").read_text()
    assert "stsb_spearman" in report and "At batch 32" in report
    # alembert evaluate --embeddings scores the saved student the same way
    code = main(["evaluate", str(student_dir), "--embeddings", "--data", str(glue), "--output", str(tmp_path / "ev")])
    assert code == 0
    scored = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(scored["metrics"]) == expected and scored["pooling"] == "mean+normalize"
    assert scored["metrics"]["stsb_spearman"] == pytest.approx(metrics["student_metrics"]["stsb_spearman"], abs=1e-3)
