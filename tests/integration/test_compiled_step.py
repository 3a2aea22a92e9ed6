"""The compiled training step (``train.compile``) on a tiny BERT pair: the same losses and weights as the eager
step, one graph without breaks, bounded recompiles, and ``auto``'s CPU probe.

Compiling is slow on a CPU (tens of seconds), so the compiled runs are made once per module and shared.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import AutoModelForSequenceClassification

from alembert.config import StageConfig, TrainConfig
from alembert.data.batches import build_train_loader, tokenize_examples
from alembert.data.readers import read_examples
from alembert.features.extract import Features, forward_features, model_inputs
from alembert.features.teacher_cache import CachedOutputs
from alembert.objective.terms import DistillationObjective, resolve_matches
from alembert.tasks.glue import get_task
from alembert.train import step_choice as compiled_module
from alembert.train.buckets import pad_to_buckets
from alembert.train.compiled import CompiledStep
from alembert.train.loop import StageInputs, StageSpec, run_stage
from alembert.train.runlog import RunLog
from alembert.train.setup import prepare_stage
from tests.conftest import make_tokenizer, tiny_config, write_sst2


STEPS = 4
MATCHES = [  # TinyBERT's intermediate terms (attention scores are hooked) and a logit term
    {"name": "embd", "representation": "embeddings", "loss": "mse", "mask": "attention_mask"},
    {"name": "hid", "representation": "hidden", "layers": "uniform", "loss": "mse", "mask": "attention_mask"},
    {"name": "attn", "representation": "attention_scores", "layers": "uniform", "loss": "attention_mse",
     "mask": "attention_mask"},
    {"name": "kd", "representation": "logits", "loss": "kl_div", "params": {"temperature": 2.0}},
]  # fmt: skip


def _model(layers: int, seed: int) -> AutoModelForSequenceClassification:
    torch.manual_seed(seed)
    config = tiny_config("bert", layers=layers)
    config.num_labels = 2
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0  # compiled dropout draws other masks
    return AutoModelForSequenceClassification.from_config(config)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Teacher, student, tokenised data (48 rows: batches of 16, of 13 and 12 tokens) and the stage's matches."""
    root = tmp_path_factory.mktemp("compiled")
    tokenizer = make_tokenizer(root / "tokenizer")
    data = write_sst2(root / "SST-2", train=48, seed=1)
    examples = read_examples(data / "train.tsv", get_task("sst2"))
    dataset = tokenize_examples(examples, tokenizer, max_length=32)
    teacher, student = _model(4, 0), _model(2, 1)
    stage = StageConfig.model_validate({"name": "s", "task_loss_weight": 1.0, "matches": MATCHES})
    return {"root": root, "tokenizer": tokenizer, "dataset": dataset, "teacher": teacher, "student": student,
            "matches": resolve_matches(stage, teacher.config, student.config)}  # fmt: skip


def _inputs(pair, name: str, *, cpu: bool = True, max_length: int = 32, **train) -> tuple[StageInputs, StageSpec]:
    set_seed(0)
    teacher, student = pair["teacher"], copy.deepcopy(pair["student"])
    accelerator = Accelerator(cpu=cpu)
    objective = DistillationObjective(pair["matches"], 1.0, teacher.config, student.config)
    loader = build_train_loader(pair["dataset"], pair["tokenizer"], batch_size=16, seed=0)
    folder = pair["root"] / name
    folder.mkdir()
    log = RunLog(folder / "log.jsonl", accelerator)
    cfg = TrainConfig(max_steps=STEPS, learning_rate=1e-3, log_every=1, warmup_ratio=0.0, **train)
    spec = StageSpec("s", cfg, folder / "stage", max_length=max_length)
    return StageInputs(accelerator, student, teacher, objective, loader, log), spec


def _run(pair, name: str, *, cpu: bool = True, **train) -> dict:
    inputs, spec = _inputs(pair, name, cpu=cpu, **train)
    run_stage(inputs, spec)
    events = [json.loads(line) for line in (spec.stage_dir.parent / "log.jsonl").read_text().splitlines()]
    return {"student": inputs.student, "events": events}


@pytest.fixture(scope="module")
def runs(pair):
    """The stage trained eagerly and compiled (the compiled one padded to the 32-token bucket)."""
    return {"never": _run(pair, "never", compile="never"), "always": _run(pair, "always", compile="always")}


def _losses(run: dict) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in ("event", "time", "tokens_per_s", "stage")}
            for e in run["events"] if e["event"] == "train"]  # fmt: skip


def _event(run: dict, kind: str) -> dict:
    return next(e for e in run["events"] if e["event"] == kind)


def test_compiled_losses_match_eager_step_by_step(runs):
    eager, compiled = _losses(runs["never"]), _losses(runs["always"])
    assert [e["step"] for e in eager] == list(range(1, STEPS + 1)) == [e["step"] for e in compiled]
    for a, b in zip(eager, compiled):
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-7), (a["step"], key)
    first, last = runs["never"]["student"].state_dict(), runs["always"]["student"].state_dict()
    for name, value in first.items():
        torch.testing.assert_close(last[name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_compile_choice_buckets_and_recompiles_are_logged(pair, runs):
    assert _event(runs["never"], "compile") == {**_event(runs["never"], "compile"), "compiled": False}
    assert not [e for e in runs["never"]["events"] if e["event"] == "compile_end"]
    chosen, end = _event(runs["always"], "compile"), _event(runs["always"], "compile_end")
    assert chosen["compiled"] and chosen["buckets"] == [32] and chosen["mode"] == "default"
    set_seed(0)
    loader = build_train_loader(pair["dataset"], pair["tokenizer"], batch_size=16, seed=0)
    assert len({batch["input_ids"].shape for batch in loader}) > 1  # the batches' own lengths differ...
    # ...but all of them run at the one bucket length: one shape, compiled once, no recompile
    assert end["shapes"] == [[[16, 32]]] and end["graphs"] == 1 and end["recompiles"] == 0 < end["recompile_limit"]


def test_auto_on_cpu_skips_a_stage_too_short_to_repay_a_compile_and_trains_as_never(pair, runs):
    auto = _run(pair, "auto-short", compile="auto")
    chosen = _event(auto, "compile")
    assert not chosen["compiled"] and "too few to repay a compile" in chosen["reason"] and chosen["eager_step_ms"] > 0
    for name, value in runs["never"]["student"].state_dict().items():
        assert torch.equal(auto["student"].state_dict()[name], value), name  # the probe changed nothing


def test_auto_probe_times_both_steps_and_keeps_the_training_exact(pair, runs, monkeypatch):
    monkeypatch.setattr(compiled_module, "MIN_EAGER_SECONDS", 0.0)
    auto = _run(pair, "auto-probe", compile="auto")
    chosen = _event(auto, "compile")
    assert chosen["eager_step_ms"] > 0 and chosen["compiled_step_ms"] > 0 and chosen["compile_seconds"] > 0
    assert "CPU probe" in chosen["reason"]
    if chosen["compiled"]:  # compiled anew for this stage, not counted against the earlier stages' versions
        assert _event(auto, "compile_end")["graphs"] == 1
    reference = runs["always"] if chosen["compiled"] else runs["never"]
    assert _losses(auto) == _losses(reference) or chosen["compiled"]
    for name, value in reference["student"].state_dict().items():
        torch.testing.assert_close(auto["student"].state_dict()[name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_the_compiled_step_is_one_graph_with_hooked_attention(pair):
    inputs, spec = _inputs(pair, "explain", compile="always")
    stage = prepare_stage(inputs, spec)
    objective = inputs.objective
    step = CompiledStep(stage, objective.requested("student") | {("logits", None)}, objective.requested("teacher"))
    assert set(step.captures) == {"teacher", "student"}  # attention scores are captured by hooks on both
    batch = next(iter(stage.loader))
    teacher_inputs, student_inputs = model_inputs(inputs.teacher, batch), model_inputs(stage.student, batch)
    explained = torch._dynamo.explain(step._forward)(teacher_inputs, student_inputs, None, batch, batch)
    step.close()
    assert explained.graph_count == 1 and explained.graph_break_count == 0, explained.break_reasons


def test_cached_teacher_features_enter_the_compiled_step_without_breaks_or_recompiles(pair):
    inputs, spec = _inputs(pair, "cached", compile="always")
    stage = prepare_stage(inputs, spec)
    objective = inputs.objective
    step = CompiledStep(stage, objective.requested("student") | {("logits", None)}, set())
    batches = list(stage.loader)[:2]
    graphs = []

    def count(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    traced = torch.compile(step._forward, backend=count, dynamic=False)
    for batch in batches:  # a new Features object of the same layout each step, as a cache gives
        batch = pad_to_buckets(batch, step.buckets, 0)
        with torch.no_grad():
            cached = forward_features(inputs.teacher, batch, objective.requested("teacher"))
        cached = Features(CachedOutputs(cached.logits, cached.outputs.hidden_states), cached.captured)
        loss, _ = traced(None, model_inputs(stage.student, batch), cached, batch, batch)
        assert torch.isfinite(loss)
    step.close()
    assert len(graphs) == 1  # one graph, reused for the second batch's features


@pytest.mark.parametrize("bucketed", [True, False])
def test_recompiles_are_bounded_whatever_the_batch_lengths(pair, monkeypatch, bucketed):
    def trace_only(self, graph, example_inputs):  # count compilations without running the compiler
        self.graphs += 1
        return graph.forward

    monkeypatch.setattr(CompiledStep, "_backend", trace_only)
    matches = pair["matches"]
    if not bucketed:  # a term that reads padding: no buckets, dynamic shapes
        matches = [dataclasses.replace(matches[0], mask="none"), *matches[1:]]
    inputs, spec = _inputs({**pair, "matches": matches}, f"bounded-{bucketed}", max_length=64, compile="always")
    stage = prepare_stage(inputs, spec)
    objective = inputs.objective
    step = CompiledStep(stage, objective.requested("student") | {("logits", None)}, objective.requested("teacher"))
    batch = next(iter(stage.loader))
    for length in (13, 20, 31, 33, 50, 64):
        extra = length - batch["input_ids"].shape[1]
        longer = {k: torch.nn.functional.pad(v, (0, extra)) if v.ndim == 2 else v for k, v in batch.items()}
        loss, _ = step(longer)
        assert torch.isfinite(loss)
    step.close()
    if bucketed:
        assert step.buckets == (32, 64) and sorted(step.shapes) == [((16, 32),), ((16, 64),)] and step.graphs == 2
    else:
        assert step.buckets == () and len(step.shapes) == 6 and step.graphs <= 2  # one static, then one dynamic
