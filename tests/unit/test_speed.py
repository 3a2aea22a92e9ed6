"""The one timing routine: length sampling, side-by-side ratios with their spread, the reliability verdict, a
run's pair measurement (its record, not its speed: no timing assertions here), and models named by run folder."""

from __future__ import annotations

import json
import time

import pytest

from alembert.bench.compare import model_names
from alembert.bench.pair import length_sample, measure_pair_speed
from alembert.bench.timing import interleave, judge, ratio_stats, sample_times
from alembert.cli import main
from alembert.models.load import load_model
from tests.conftest import save_tiny_model


def test_length_sample_follows_the_distribution():
    assert length_sample(range(1, 101), 4) == [13, 38, 63, 88]
    assert length_sample([7], 3) == [7, 7, 7] and length_sample([], 8) == []


def test_ratio_stats_use_per_round_medians():
    teacher = [[10.0, 12.0, 11.0], [20.0, 20.0, 20.0], [9.0, 9.0, 9.0]]
    student = [[5.0, 6.0, 5.5], [8.0, 8.0, 8.0], [5.0, 5.0, 5.0]]
    stats = ratio_stats(teacher, student)
    assert stats["speedup"] == pytest.approx(2.0) and stats["speedup_min"] == pytest.approx(1.8)
    assert stats["speedup_max"] == pytest.approx(2.5) and stats["spread"] == pytest.approx(0.175)


def test_verdict_names_spread_and_load():
    assert judge(0.04, [[0.5, 0.5, 0.5], [0.9, 0.6, 0.5]], cores=2).reliable
    verdict = judge(0.2, [[3.1, 2.0, 1.0], None], cores=2)
    assert not verdict.reliable
    assert verdict.reasons == ("rounds spread ±20% (> ±10%)", "machine busy (load average 3.1 on 2 cores)")
    assert verdict.note().startswith("unreliable: rounds spread")


def test_interleave_rotates_and_times_every_call_each_round():
    order: list[str] = []
    calls = {name: (lambda name=name: order.append(name)) for name in ("a", "b", "c")}
    times = interleave(calls, rounds=3, block_seconds=0.0)
    assert {name: len(rounds) for name, rounds in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(t > 0 for rounds in times.values() for block in rounds for t in block)
    assert sample_times(lambda: None, seconds=0.0)


def test_interleave_fits_slow_calls_into_the_budget_with_fewer_rounds():
    """Calls too slow for 5 rounds in the budget: 3 rounds (the least a spread is computed over), each call timed
    once per round with no block-sizing call (a busy machine made a 15 s budget take 33 s before)."""
    counts = dict.fromkeys("abc", 0)

    def slow(name):
        counts[name] += 1
        time.sleep(0.05)

    times = interleave({n: (lambda n=n: slow(n)) for n in counts}, rounds=5, budget_seconds=0.5)
    assert {name: [len(block) for block in rounds] for name, rounds in times.items()} == dict.fromkeys("abc", [1] * 3)
    assert counts == dict.fromkeys("abc", 1 + 3)  # one warm-up call, then one timed call per round


def test_pair_measurement_record(tmp_path):
    teacher = load_model(str(save_tiny_model(tmp_path / "t", "bert", layers=4)), head="sequence_classification")
    student = load_model(str(save_tiny_model(tmp_path / "s", "bert", layers=1)), head="sequence_classification")
    teacher.train().set_attn_implementation("eager")  # as distillation may leave it
    said: list[str] = []
    result = measure_pair_speed(
        teacher, student, lengths=[5, 9, 12, 20, 31], budget_seconds=1.0, rounds=3, say=said.append
    )
    assert [s["name"] for s in result["settings"]] == ["task lengths", "seq 62"]  # capped by 64 positions
    task = result["settings"][0]
    assert task["lengths"] == [5, 5, 9, 12, 12, 20, 31, 31] and task["mean_tokens"] == pytest.approx(15.625)
    for setting in result["settings"]:
        assert setting["speedup_min"] <= setting["speedup"] <= setting["speedup_max"]
        assert isinstance(setting["reliable"], bool) and isinstance(setting["reasons"], list)
    assert result["speedup"] == task["speedup"] and result["rounds"] == 3 and result["seconds"] > 0
    assert result["load_average"]["cores"] >= 1 and "torch" in result["environment"]
    assert said == [f"measuring teacher and student speed: round {i}/3" for i in (1, 2, 3)]
    assert teacher.training and teacher.config._attn_implementation == "eager"  # handed back as they came


def test_models_are_named_by_their_run_folder():
    assert model_names(["runs/a/student", "runs/b/student"]) == {"runs/a/student": "a", "runs/b/student": "b"}
    assert model_names(["x/a/student", "y/a/student"]) == {"x/a/student": "x/a", "y/a/student": "y/a"}
    assert model_names(["a/model", "b/a/model", "student"]) == {
        "a/model": "a",
        "b/a/model": "b/a",
        "student": "student",
    }


def test_bench_of_two_student_folders_reports_both(tmp_path):
    first = save_tiny_model(tmp_path / "runs" / "distil" / "student", "bert", layers=2)
    second = save_tiny_model(tmp_path / "runs" / "tiny" / "student", "bert", layers=1)
    out = tmp_path / "bench.json"
    argv = ["bench", str(first), str(second), "--backend", "sdpa", "--batch-size", "1", "--seq-len", "8"]
    assert main([*argv, "--rounds", "1", "--runs", "1", "--threads", "1", "--output", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert set(saved["models"]) == {"distil", "tiny"} and saved["baseline"] == "distil"
    assert {m["model"] for m in saved["measurements"]} == {"distil", "tiny"}
    assert saved["command"].startswith("alembert ") and all("reliable" in m for m in saved["measurements"])
