"""End to end: a cached teacher trains the same student as the live teacher; a streamed corpus resumes where the
checkpoint's reader positions say, and ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from alembert import ConfigError, distill, parse_config
from alembert.config import DistillConfig
from alembert.data.streaming import TextBlockStream
from tests.conftest import FILLER, POSITIVE, save_tiny_model


def _cache_config(teacher: Path, data: Path, output: Path, cache: bool | str, dtype: str = "float32") -> dict:
    token_match = {"mask": "attention_mask", "loss": "mse"}
    return {
        "task": "sst2",
        "teacher": {
            "path": str(teacher),
            "cache": cache,
            "cache_dtype": dtype,
            "cache_dir": str(output.parent / "tc"),
        },
        "data": {"train": str(data), "max_length": 32},
        "train": {"epochs": 2, "batch_size": 16, "seed": 0, "learning_rate": 1e-3, "select": "last", "log_every": 1},
        "stages": [
            {
                "name": "intermediate",
                "matches": [
                    {"name": "hidn", "representation": "hidden", "layers": "uniform", **token_match},
                    {
                        "name": "attn",
                        "representation": "attention_scores",
                        "layers": "final",
                        **token_match,
                        "loss": "attention_mse",
                    },
                ],
            },
            {
                "name": "prediction",
                "task_loss_weight": 0.5,
                "train": {"epochs": 1},
                "matches": [
                    {"name": "kd", "representation": "logits", "loss": "kl_div", "params": {"temperature": 2.0}},
                ],
            },
        ],
        "output_dir": str(output),
        "bench_latency": False,
    }


def _events(run: Path, kind: str) -> list[dict]:
    return [e for e in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if e["event"] == kind]


def _assert_same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    first, second = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], atol=atol, rtol=1e-4)


def test_cached_teacher_trains_the_same_student_and_is_reused(tmp_path, sst2_dir):
    teacher = save_tiny_model(tmp_path / "teacher", "bert")
    live = distill(parse_config(DistillConfig, _cache_config(teacher, sst2_dir, tmp_path / "live", cache=False)))
    # the defaults (auto, auto): the 2-epoch stage reads a float32 cache, the 1-epoch stage runs its teacher live
    config = _cache_config(teacher, sst2_dir, tmp_path / "cached", cache="auto", dtype="auto")
    cached = distill(parse_config(DistillConfig, config))
    _assert_same_weights(live.student_dir, cached.student_dir)
    intermediate, prediction = _events(tmp_path / "cached", "teacher_cache")
    assert intermediate["used"] and intermediate["dtype"] == "float32" and intermediate["passes"] == 2
    assert sorted(intermediate["built"]) == ["attention_scores-4-float32", "hidden-2-float32", "hidden-4-float32"]
    assert intermediate["for_later_stages"] == []
    assert not prediction["used"] and "reads each example 1 time(s)" in prediction["reason"]
    again = distill(parse_config(DistillConfig, _cache_config(teacher, sst2_dir, tmp_path / "again", cache=True)))
    intermediate, prediction = _events(tmp_path / "again", "teacher_cache")
    # one teacher pass for both stages: the intermediate stage also computes the logits the prediction stage reads
    assert len(intermediate["reused"]) == 3 and list(intermediate["built"]) == ["logits-na-float32"]
    assert intermediate["for_later_stages"] == ["logits-na-float32"]
    assert not prediction["built"] and prediction["reused"] == ["logits-na-float32"]
    assert prediction["folder"] == intermediate["folder"]
    _assert_same_weights(cached.student_dir, again.student_dir)


def test_a_finished_run_deletes_its_own_cache_and_keeps_a_named_one(tmp_path, sst2_dir):
    teacher = save_tiny_model(tmp_path / "teacher", "bert")
    config = _cache_config(teacher, sst2_dir, tmp_path / "own", cache=True)
    del config["teacher"]["cache_dir"]  # the default: <output_dir>/teacher-cache
    distill(parse_config(DistillConfig, config))
    run = tmp_path / "own"
    intermediate, prediction = _events(run, "teacher_cache")
    assert Path(intermediate["folder"]).parent == run / "teacher-cache"
    assert prediction["used"] and prediction["reused"] == ["logits-na-float32"]  # still there for the last stage
    (removed,) = _events(run, "teacher_cache_removed")
    assert removed["folder"] == str(run / "teacher-cache") and removed["bytes"] > 0
    assert not (run / "teacher-cache").exists() and (run / "metrics.json").is_file()
    distill(parse_config(DistillConfig, _cache_config(teacher, sst2_dir, tmp_path / "shared", cache=True)))
    assert any((tmp_path / "tc").iterdir()) and not _events(tmp_path / "shared", "teacher_cache_removed")


def _stream_config(teacher: Path, corpus: Path, output: Path) -> dict:
    return {
        "task": "mlm",
        "teacher": {"path": str(teacher)},
        "data": {"train": str(corpus), "max_length": 24, "streaming": True},
        "train": {"max_steps": 8, "batch_size": 4, "seed": 0, "save_every": 3, "keep_checkpoints": 5, "log_every": 1},
        "stages": [
            {
                "name": "general",
                "task_loss_weight": 1.0,
                "matches": [
                    {
                        "name": "ce",
                        "representation": "logits",
                        "loss": "kl_div",
                        "params": {"temperature": 2.0},
                        "mask": "mlm_positions",
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
    }


def test_streamed_run_resumes_at_the_saved_reader_position(tmp_path, monkeypatch):
    teacher = save_tiny_model(tmp_path / "teacher", "bert", mlm=True)
    corpus = tmp_path / "corpus.txt"
    words = FILLER + POSITIVE + [f"w{i}" for i in range(60)]
    corpus.write_text(
        "\n".join(" ".join(words[(i * 5 + k) % len(words)] for k in range(3 + i % 8)) for i in range(90))
    )
    reference = distill(parse_config(DistillConfig, _stream_config(teacher, corpus, tmp_path / "reference")))
    checkpoints = tmp_path / "reference" / "checkpoints" / "general"
    saved = {
        int(p.name.split("-")[1]): json.loads((p / "trainer_state.json").read_text())
        for p in checkpoints.glob("step-*")
    }
    assert sorted(saved) == [3, 6, 8]
    positions = [saved[step]["stream_positions"][0] for step in (3, 6, 8)]
    assert positions[0] < positions[1] < positions[2]  # (pass, file, byte offset, token): the reader moved on
    assert positions[2][0] == 1  # and wrapped into a second pass over the small corpus

    # a run interrupted after step 6 (what SIGTERM/kill -9 leave: no step-8, no student), then --resume
    shutil.copytree(tmp_path / "reference", tmp_path / "run")
    for leftover in ("checkpoints/general/step-8", "checkpoints/general/final", "student"):
        shutil.rmtree(tmp_path / "run" / leftover)
    for leftover in ("checkpoints/general/done.json", "metrics.json"):
        (tmp_path / "run" / leftover).unlink()
    saved_config = tmp_path / "run" / "config.yaml"
    saved_config.write_text(saved_config.read_text().replace(str(tmp_path / "reference"), str(tmp_path / "run")))
    seeks = []
    original = TextBlockStream.shard

    def spy(self, process_index, num_processes, positions=None):
        seeks.append(positions)
        original(self, process_index, num_processes, positions)

    monkeypatch.setattr(TextBlockStream, "shard", spy)
    resumed = distill(parse_config(DistillConfig, _stream_config(teacher, corpus, tmp_path / "run")), resume=True)
    assert seeks == [[positions[1]]]  # seeked to step 6's position; nothing re-read
    assert resumed.metrics["stages"]["general"]["global_step"] == 8
    _assert_same_weights(reference.student_dir, resumed.student_dir, atol=1e-6)


def test_a_cache_that_does_not_fit_is_refused_or_skipped(tmp_path, sst2_dir, monkeypatch):
    import alembert.run.cache_policy as policy

    monkeypatch.setattr(policy, "free_bytes", lambda folder: 2 << 30)  # 2 GB free: 1 GB usable with the headroom
    monkeypatch.setattr(policy, "HEADROOM_BYTES", (2 << 30) - 1000)  # leaves 1,000 bytes: less than the cache
    teacher = save_tiny_model(tmp_path / "teacher", "bert")
    config = parse_config(DistillConfig, _cache_config(teacher, sst2_dir, tmp_path / "refused", cache=True))
    with pytest.raises(ConfigError, match=r"teacher.cache: .*stage 'intermediate'.* set teacher.cache_dir to a"):
        distill(config)
    assert not (tmp_path / "tc").exists() and not (tmp_path / "refused" / "student").exists()
    config = _cache_config(teacher, sst2_dir, tmp_path / "skipped", cache="auto")
    distill(parse_config(DistillConfig, config))
    intermediate, prediction = _events(tmp_path / "skipped", "teacher_cache")
    assert not intermediate["used"] and "more than half of the free space" in intermediate["reason"]
    assert any("the teacher runs live instead" in e["message"] for e in _events(tmp_path / "skipped", "note"))
    assert not (tmp_path / "tc").exists()
