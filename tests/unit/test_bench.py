"""alembert bench: parameter split, interleaved side-by-side measurements, failures recorded, memory, dev pass."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from transformers import AutoModelForSequenceClassification, BertConfig

from alembert.bench.compare import BenchConfig, bench_models
from alembert.bench.devpass import time_dev_pass
from alembert.bench.latency import count_parameters
from alembert.bench.memory import peak_rss_delta_mb
from alembert.errors import ConfigError
from alembert.report.plots import pareto_front
from tests.conftest import save_tiny_model, tiny_config


def test_parameter_split_hand_count():
    v, p, t, d, f, layers = 100, 64, 2, 32, 64, 2
    config = BertConfig(
        vocab_size=v,
        max_position_embeddings=p,
        type_vocab_size=t,
        hidden_size=d,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=f,
        num_labels=3,
    )
    counts = count_parameters(AutoModelForSequenceClassification.from_config(config))
    embeddings = (v + p + t) * d + 2 * d  # word, position, token-type tables + LayerNorm
    per_layer = 4 * (d * d + d) + 2 * d + (d * f + f) + (f * d + d) + 2 * d  # QKVO, LN, FFN, LN
    assert counts["embeddings"] == embeddings
    assert counts["transformer"] == layers * per_layer
    assert counts["other"] == (d * d + d) + (d * 3 + 3)  # pooler + classifier
    assert counts["total"] == counts["embeddings"] + counts["transformer"] + counts["other"]


def test_pareto_front():
    points = [(10.0, 80.0), (5.0, 70.0), (20.0, 79.0), (5.0, 60.0), (30.0, 85.0)]
    assert pareto_front(points) == [1, 0, 4]


def test_bad_config_is_a_user_error():
    with pytest.raises(ConfigError, match="unknown backend"):
        BenchConfig(backends=("sdpa", "tensorrt"))
    with pytest.raises(ConfigError, match="rounds"):
        BenchConfig(rounds=0)


def test_bench_models_side_by_side(tmp_path):
    teacher = save_tiny_model(tmp_path / "teacher", "bert", layers=4)
    student = save_tiny_model(tmp_path / "student", "bert", layers=2)
    config = BenchConfig(
        backends=("sdpa", "eager", "ort", "ort-int8"),
        batch_sizes=(1, 2),
        seq_len=8,
        rounds=2,
        runs=2,
        exporter="torchscript",
        matmul_peak=False,
        threads=1,  # a loaded 2-core machine stalls 2-thread OpenMP on tiny models
    )
    from alembert.models.load import load_model

    models = {"teacher": str(teacher), "student": load_model(str(student), head="sequence_classification")}
    result = bench_models(models, baseline="teacher", config=config)
    assert len(result.measurements) == 2 * 4 * 2
    cell = result.find("student", "ort-int8", 2)
    assert cell.error is None and cell.runs == 4 and cell.median_ms > 0
    assert cell.p10_ms <= cell.median_ms <= cell.p90_ms
    assert cell.throughput == pytest.approx(2 / (cell.median_ms / 1000))
    assert cell.speedup_min <= cell.speedup_max and cell.speedup > 0
    assert cell.gflops_per_s > 0 and cell.weights_mb > 0
    assert result.find("teacher", "sdpa", 1).speedup == pytest.approx(1.0)
    assert result.find("teacher", "sdpa", 1).speedup_vs_reference == pytest.approx(1.0)
    assert result.models["student"]["shape"]["layers"] == 2
    assert result.models["teacher"]["flops"]["total"] > result.models["student"]["flops"]["total"]
    env = json.loads(json.dumps(result.to_dict()))["environment"]
    assert {"torch", "onnxruntime", "threads", "cpu_flags", "load_average_start"} <= set(env)


def test_backend_failure_is_recorded(tmp_path):
    mpnet = AutoModelForSequenceClassification.from_config(tiny_config("mpnet"), attn_implementation="eager")
    config = BenchConfig(
        backends=("sdpa", "eager"), batch_sizes=(1,), seq_len=4, rounds=1, runs=1, memory=False, threads=1
    )
    result = bench_models({"mpnet": mpnet}, config=replace(config, matmul_peak=False))
    assert "no sdpa attention" in result.find("mpnet", "sdpa", 1).error  # MPNet has no sdpa kernel
    assert result.find("mpnet", "eager", 1).error is None


def test_bench_baseline_must_be_a_model(tmp_path):
    model = save_tiny_model(tmp_path / "m", "bert", layers=1)
    with pytest.raises(ConfigError, match="baseline"):
        bench_models([str(model)], baseline="nope", config=BenchConfig(backends=("sdpa",), matmul_peak=False))


def test_peak_memory_sees_native_allocations():
    delta = peak_rss_delta_mb(lambda: np.ones((64, 2**20 // 8)).sum())  # 64 MiB of float64
    if delta is None:
        pytest.skip("/proc/self/clear_refs is not available here")
    assert 48 <= delta <= 200


def test_dev_pass_batch_one(tmp_path, sst2_dir):
    big = save_tiny_model(tmp_path / "big", "bert", layers=4)
    small = save_tiny_model(tmp_path / "small", "distilbert", layers=1)
    result = time_dev_pass([str(big), str(small)], "sst2", str(sst2_dir), max_examples=6, chunk_size=4)
    assert result.examples == 6 and result.split == "dev" and result.baseline == "big"
    assert set(result.seconds) == {"big", "small"} and all(s > 0 for s in result.seconds.values())
    assert result.speedup["big"] == pytest.approx(1.0)


def test_bench_cli_writes_json(tmp_path):
    from alembert.cli import main

    big = save_tiny_model(tmp_path / "big", "bert", layers=2)
    small = save_tiny_model(tmp_path / "small", "bert", layers=1)
    out = tmp_path / "bench.json"
    argv = ["bench", str(small), "--baseline", str(big), "--backend", "sdpa", "--batch-size", "1", "--seq-len", "8"]
    assert main([*argv, "--rounds", "1", "--runs", "1", "--threads", "1", "--output", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["baseline"] == "big" and {m["model"] for m in saved["measurements"]} == {"big", "small"}
    assert main(["bench", str(small), "--backend", "tpu"]) == 2
