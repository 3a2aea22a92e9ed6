"""Students with a tokenizer of their own, end to end on tiny models: trained vocabulary, word-aligned hidden
states, sequence-level terms, and the refusal of token-by-token matches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoConfig, AutoModel

from alembert import ConfigError, distill, load_recipe
from alembert.models.load import load_tokenizer
from alembert.models.sentence import encode, read_pooling
from tests.conftest import save_tiny_model, write_sst2
from tests.integration.test_embedding_students import save_sentence_teacher, sentences


SHRINK = ["data.max_length=24", "train.batch_size=8", "train.log_every=1", "bench_latency=false", "train.max_steps=3"]


def events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_glue_student_with_its_own_trained_vocabulary(tmp_path):
    save_tiny_model(tmp_path / "teacher", "bert", layers=4, hidden=32, heads=4)
    data = write_sst2(tmp_path / "SST-2", train=48, dev=16)
    overrides = [
        f"teacher.path={tmp_path / 'teacher'}", f"data.train={data}", f"output_dir={tmp_path / 'run'}", *SHRINK,
        "student.tokenizer=100",  # a WordPiece vocabulary trained on the training sentences
        "stages.distill.matches.cos.representation=hidden@words",
    ]  # fmt: skip
    result = distill(load_recipe("distilbert-task", overrides))
    teacher_vocab = load_tokenizer(str(tmp_path / "teacher")).get_vocab()
    student_tokenizer = load_tokenizer(str(result.student_dir))
    assert student_tokenizer.get_vocab() != teacher_vocab
    assert AutoConfig.from_pretrained(result.student_dir).vocab_size == len(student_tokenizer)
    log = events(tmp_path / "run")
    vocab_event = next(e for e in log if e["event"] == "student_vocabulary")
    assert vocab_event["size"] == len(student_tokenizer) and vocab_event["embedding_rows_from_teacher"] > 0
    train = [e for e in log if e["event"] == "train"]
    assert len(train) == 3 and all(np.isfinite(e["cos"]) and np.isfinite(e["ce"]) for e in train)
    assert "accuracy" in result.metrics["student_metrics"] and "accuracy" in result.metrics["teacher_metrics"]
    # the student reads its own tokens at evaluation too: the saved folder scores the same
    from alembert.run.evaluate import evaluate

    scored = evaluate(str(result.student_dir), "sst2", str(data))
    assert scored["dev"]["accuracy"] == pytest.approx(result.metrics["student_metrics"]["accuracy"])


@pytest.mark.parametrize(
    ("attention", "loss"), [("attention_scores@words", "attention_mse"), ("attention_probs@words", "attention_kl")]
)
def test_tinybert_with_its_own_vocabulary_matches_attention_word_by_word(tmp_path, attention, loss):
    save_tiny_model(tmp_path / "teacher", "bert", layers=4, hidden=32, heads=4)
    data = write_sst2(tmp_path / "SST-2", train=48, dev=16)
    words = {"embd": "embeddings@words", "hidn": "hidden@words", "attn": attention}
    overrides = [
        f"teacher.path={tmp_path / 'teacher'}", f"data.train={data}", f"output_dir={tmp_path / 'run'}", *SHRINK,
        "data.augment=null", "student.tokenizer=100", "student.num_layers=2", "student.hidden_size=24",
        "student.num_heads=4", "student.intermediate_size=48", "stages.prediction.train.max_steps=2",
        *(f"stages.intermediate.matches.{name}.representation={rep}" for name, rep in words.items()),
        f"stages.intermediate.matches.attn.loss={loss}",
    ]  # fmt: skip
    distill(load_recipe("tinybert-task", overrides))
    train = [e for e in events(tmp_path / "run") if e["event"] == "train" and e["stage"] == "intermediate"]
    attention = [key for key in train[0] if key.startswith("attn/")]
    assert attention == ["attn/t2-s1", "attn/t4-s2"]
    assert all(np.isfinite(e[key]) and e[key] > 0 for e in train for key in attention)


def test_embedding_student_with_an_existing_tokenizer_folder(tmp_path):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    teacher = save_sentence_teacher(tmp_path / "teacher")
    corpus = tmp_path / "sentences.txt"
    corpus.write_text("\n".join(sentences(40)))
    own = load_tokenizer(str(teacher)).train_new_from_iterator([sentences(200, seed=5)], vocab_size=100)
    own.save_pretrained(tmp_path / "own-tokenizer")
    overrides = [
        f"teacher.path={teacher}", f"data.train={corpus}", f"output_dir={tmp_path / 'run'}", *SHRINK,
        f"student.tokenizer={tmp_path / 'own-tokenizer'}", "student.init=random", "student.num_layers=2",
    ]  # fmt: skip
    result = distill(load_recipe("embedding-distil", overrides))
    assert load_tokenizer(str(result.student_dir)).get_vocab() == own.get_vocab()
    texts = sentences(8, seed=9)
    ours = encode(AutoModel.from_pretrained(result.student_dir), own, texts, read_pooling(result.student_dir))
    theirs = sentence_transformers.SentenceTransformer(str(result.student_dir), device="cpu").encode(texts)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)


@pytest.mark.parametrize(
    ("recipe", "extra", "message"),
    [
        ("distilbert-task", [], "cos: hidden compares the teacher's and the student's tokens one by one, but "
                                "student.tokenizer gives the student tokens of its own; use hidden@words"),
        ("minilmv2-task", [], "qkv: qkv_relation compares the teacher's and the student's tokens one by one"),
        ("tinybert-general", [], "student.tokenizer: task mlm masks one tokenizer's pieces"),
    ],
)  # fmt: skip
def test_alignment_the_config_cannot_give_is_refused_in_one_line(recipe, extra, message):
    with pytest.raises(ConfigError) as error:
        load_recipe(recipe, ["student.tokenizer=8000", *extra])
    assert message in str(error.value) and "\n" not in str(error.value).strip()


def test_dry_run_counts_the_students_own_vocabulary(tmp_path):
    from alembert.run.dry_run import describe_run

    save_tiny_model(tmp_path / "teacher", "bert", layers=4, hidden=32, heads=4)
    data = write_sst2(tmp_path / "SST-2", train=16, dev=8)
    base = [
        f"teacher.path={tmp_path / 'teacher'}",
        f"data.train={data}",
        "stages.distill.matches.cos.weight=0",
        *SHRINK,
    ]
    shared = describe_run(load_recipe("distilbert-task", base))["student"]["parameters"]
    own = describe_run(load_recipe("distilbert-task", [*base, "student.tokenizer=300"]))["student"]["parameters"]
    assert own - shared == (300 - 95) * 32  # 300 embedding rows of width 32 instead of the teacher's 95
