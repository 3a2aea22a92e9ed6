"""MobileBERT end to end on tiny shapes: BERT → IB-BERT teacher (ibbert-teacher) → MobileBERT (mobilebert-task,
progressive), and task-agnostic progressive transfer + pre-training distillation from an IB-BERT with an MLM head."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, BertTokenizerFast, MobileBertForMaskedLM, MobileBertForSequenceClassification

from alembert import distill, load_recipe
from alembert.models.mobilebert import mobilebert_config
from tests.conftest import (
    FILLER,
    NEGATIVE,
    POSITIVE,
    make_tokenizer,
    save_tiny_model,
    tiny_config,
    tiny_mobilebert_student,
    write_sst2,
)


COMMON = ["data.max_length=24", "train.batch_size=8", "train.log_every=1", "train.max_steps=2", "bench_latency=false"]
IBBERT = ["student.num_layers=3", "student.hidden_size=32", "student.num_heads=4", "student.intermediate_size=128"]
IBBERT += ["student.mobilebert.bottleneck_size=64", "student.mobilebert.embedding_size=16"]
MOBILEBERT = ["student.num_layers=3", "student.hidden_size=32", "student.num_heads=4", "student.intermediate_size=32"]
MOBILEBERT += ["student.mobilebert.bottleneck_size=16", "student.mobilebert.embedding_size=16"]


def events(run: Path, kind: str) -> list[dict]:
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [e for e in log if e["event"] == kind]


def trained_terms(run: Path) -> dict[str, set[str]]:
    """Stage → names of the loss terms logged in its training steps (all finite)."""
    terms: dict[str, set[str]] = {}
    for event in events(run, "train"):
        assert math.isfinite(event["loss"])
        names = set(event) - {"event", "stage", "step", "loss", "lr", "time", "tokens", "tokens_per_s"}
        terms.setdefault(event["stage"], set()).update(names)
    return terms


def block_state(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Weights of a saved stage grouped by part: ``embeddings``, ``block-<l>`` (1-based) and ``rest``."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in load_file(str(folder / "model.safetensors")).items():
        if ".layer." in key:
            group = f"block-{int(key.split('.layer.')[1].split('.')[0]) + 1}"
        else:
            group = "embeddings" if "embeddings." in key else "rest"
        groups.setdefault(group, {})[key] = value
    return groups


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bert_to_ibbert_to_progressive_mobilebert(tmp_path):
    bert = save_tiny_model(tmp_path / "bert", "bert", layers=2, hidden=32, heads=2)
    BertTokenizerFast(vocab=str(bert / "vocab.txt"), do_lower_case=True).save_pretrained(bert)
    sst2 = write_sst2(tmp_path / "SST-2", train=24, dev=8)
    data = [f"data.train={sst2}", *COMMON]

    # 1. the IB-BERT-shaped teacher, distilled from the BERT teacher (logits KD + task loss)
    ibbert = distill(
        load_recipe("ibbert-teacher", [f"teacher.path={bert}", f"output_dir={tmp_path / 'ib'}"] + data + IBBERT)
    )
    ib_config = AutoConfig.from_pretrained(ibbert.student_dir)
    assert ib_config.architectures == ["MobileBertForSequenceClassification"]
    assert (ib_config.true_hidden_size, ib_config.hidden_size, ib_config.normalization_type) == (64, 32, "layer_norm")
    assert trained_terms(ibbert.output_dir) == {"distill": {"kd", "task"}}

    # 2. MobileBERT from it: progressive transfer of blocks 1..3, then prediction-layer distillation
    run = distill(
        load_recipe(
            "mobilebert-task",
            [f"teacher.path={ibbert.student_dir}", f"output_dir={tmp_path / 'mb'}"] + data + MOBILEBERT,
        )
    )
    stages = ["layer-1", "layer-2", "layer-3", "prediction"]
    assert [e["stage"] for e in events(run.output_dir, "stage_end")] == stages
    assert trained_terms(run.output_dir) == {**{s: {"fmt", "at"} for s in stages[:3]}, "prediction": {"kd", "task"}}

    # progressive: stage l changes block l and nothing else (the blocks below, and above, stay as they were)
    finals = {s: block_state(run.output_dir / "checkpoints" / s / "final") for s in stages}
    for previous, stage, layer in (("layer-1", "layer-2", 2), ("layer-2", "layer-3", 3)):
        before, after = finals[previous], finals[stage]
        assert not same(before[f"block-{layer}"], after[f"block-{layer}"]), f"{stage} did not train block {layer}"
        frozen = [g for g in before if g != f"block-{layer}"]
        assert frozen and all(same(before[g], after[g]) for g in frozen), f"{stage} changed a frozen part"
    assert not same(finals["layer-3"]["rest"], finals["prediction"]["rest"])  # the last stage trains everything

    # the student is a plain transformers MobileBERT: reloaded, it holds the trained weights and nothing else
    config = AutoConfig.from_pretrained(run.student_dir)
    assert config.architectures == ["MobileBertForSequenceClassification"]
    assert (config.true_hidden_size, config.normalization_type, config.hidden_act) == (16, "no_norm", "relu")
    reloaded = MobileBertForSequenceClassification.from_pretrained(run.student_dir).eval()
    trained = load_file(str(run.output_dir / "checkpoints" / "prediction" / "final" / "model.safetensors"))
    assert trained.keys() == reloaded.state_dict().keys()
    assert all(torch.equal(reloaded.state_dict()[k], trained[k]) for k in trained)
    inputs = {"input_ids": torch.tensor([[2, 10, 11, 12, 3]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    assert reloaded(**inputs).logits.shape == (1, 2)


def test_task_agnostic_progressive_then_pre_training_distillation(tmp_path):
    torch.manual_seed(0)
    ibbert_shape = tiny_mobilebert_student(
        128, {"preset": "ibbert-large", "bottleneck_size": 64, "embedding_size": 16}
    )
    teacher_dir = tmp_path / "ibbert-mlm"
    MobileBertForMaskedLM(mobilebert_config(tiny_config("bert"), ibbert_shape)).save_pretrained(teacher_dir)
    make_tokenizer(teacher_dir)
    BertTokenizerFast(vocab=str(teacher_dir / "vocab.txt"), do_lower_case=True).save_pretrained(teacher_dir)
    rng = random.Random(0)
    words = FILLER + POSITIVE + NEGATIVE
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) for _ in range(32)))
    shrink = [s.replace("num_layers=3", "num_layers=2") for s in MOBILEBERT]
    run = distill(
        load_recipe(
            "mobilebert-progressive",
            [f"teacher.path={teacher_dir}", f"data.train={corpus}", f"output_dir={tmp_path / 'run'}", *COMMON, *shrink]
            + ["stages.layer.train.max_steps=2", "stages.pd.train.max_steps=2"],  # the recipe's stage step counts
        )
    )
    assert trained_terms(run.output_dir) == {"layer-1": {"fmt", "at"}, "layer-2": {"fmt", "at"}, "pd": {"kd", "task"}}
    # the student keeps the MLM head the pd stage trained, and reloads as MobileBertForMaskedLM
    assert AutoConfig.from_pretrained(run.student_dir).architectures == ["MobileBertForMaskedLM"]
    student = MobileBertForMaskedLM.from_pretrained(run.student_dir)
    assert type(student.mobilebert.embeddings.LayerNorm).__name__ == "NoNorm"
    assert student.get_input_embeddings().weight.shape == (tiny_config("bert").vocab_size, 16)
