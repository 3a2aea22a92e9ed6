"""Progress on a terminal and in log files: plain periodic lines when the output is not a terminal, a live bar
whose step and ETA stay visible with the loss terms on their own line, and timed phases."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from alembert.terminal import Phase, format_seconds, progress_interval, warn_once
from alembert.train.progress import StageProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def log_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=80), buffer


def test_plain_lines_every_interval_with_step_terms_rate_and_eta(monkeypatch):
    monkeypatch.setenv("ALEMBERT_PROGRESS_SECONDS", "10")
    console, buffer = log_console()
    clock = Clock()
    progress = StageProgress("distill", 100, enabled=True, target=console, clock=clock)
    progress.start(0)
    for step in range(1, 101):
        clock.now = 2.0 * step
        progress.update(step, 1.0 / step, {"kd": 0.5 / step, "cos": 0.25, "attention_scores_layer_4": 0.125})
        if step == 50:
            progress.note("accuracy 81.00 (best 81.00)")
    progress.stop()
    lines = buffer.getvalue().splitlines()
    steps = [line for line in lines if "] step " in line and "/100" in line]
    assert lines[0].endswith("[distill] training for 100 steps")
    assert len(steps) == 20  # every 10 s of a 200 s stage (5 steps), the last at step 100
    assert all(len(line) > 80 for line in steps)  # never cut at the log file's 80 columns
    line = steps[1]
    assert "[distill] step 10/100 (10%) · loss 0.1000 · kd 0.0500 · cos 0.2500 · attention_scores_layer_4" in line
    assert "2.0 s/step · elapsed 0:20 · ETA 3:00" in line
    assert any("[distill] step 50: accuracy 81.00 (best 81.00)" in line for line in lines)
    assert "step 100/100 (100%)" in steps[-1] and "ETA 0:00" in steps[-1]


def test_resumed_stage_counts_its_rate_from_the_resume(monkeypatch):
    monkeypatch.setenv("ALEMBERT_PROGRESS_SECONDS", "0")
    console, buffer = log_console()
    clock = Clock()
    progress = StageProgress("finetune", 10, enabled=True, target=console, clock=clock)
    progress.start(6)
    clock.now = 4.0
    progress.update(8, 0.5, {})
    assert "resumed at step 6" in buffer.getvalue()
    assert "step 8/10 (80%) · loss 0.5000 · 2.0 s/step · elapsed 0:04 · ETA 0:04" in buffer.getvalue()


def test_live_bar_keeps_step_and_eta_and_puts_terms_below(monkeypatch):
    monkeypatch.delenv("ALEMBERT_PLAIN_PROGRESS", raising=False)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100, color_system=None)
    clock = Clock()
    progress = StageProgress("intermediate", 40, enabled=True, target=console, clock=clock, refresh_seconds=0)
    assert progress.live
    progress.start(0)
    terms = {f"hidden_layer_{i}_mse": 0.1 * i for i in range(8)}  # many terms: too long for one line
    for step in range(1, 41):
        clock.now = float(step)
        progress.update(step, 1.0, terms)
    progress.stop()
    out = buffer.getvalue()
    bar_lines = [line for line in out.splitlines() if "40/40" in line]
    assert bar_lines and all("ETA" in line and "steps/s" in line for line in bar_lines)
    assert "hidden_layer_7_mse 0.7000" in out  # the terms line wraps instead of being cut


def test_phase_prints_start_progress_and_end_lines(monkeypatch):
    monkeypatch.setenv("ALEMBERT_PROGRESS_SECONDS", "5")
    console, buffer = log_console()
    clock = Clock()
    with Phase("evaluating on dev", total=1000, target=console, clock=clock) as phase:
        for _ in range(10):
            clock.now += 3.0
            phase.advance(100)
    lines = buffer.getvalue().splitlines()
    assert lines[0].endswith("evaluating on dev (1,000) ...")
    assert any(line.endswith("evaluating on dev: 200/1,000 after 0:06") for line in lines)
    assert lines[-1].endswith("evaluating on dev: done in 30.0 s") and len(lines) == 7


def test_a_short_phase_is_quiet_in_a_log(monkeypatch):
    """A bad input must end with its one error line, not with progress of the phases before it."""
    monkeypatch.delenv("ALEMBERT_PROGRESS_SECONDS", raising=False)
    console, buffer = log_console()
    clock = Clock()
    with Phase("reading data", target=console, clock=clock) as phase:
        clock.now += 0.5
        phase.advance()
    with pytest.raises(ValueError), Phase("loading the teacher", target=console, clock=clock):
        raise ValueError("corrupt weights")
    assert buffer.getvalue() == ""
    with Phase("evaluating", total=4, target=console, clock=clock) as phase:
        clock.now += 2.5
        phase.advance()
    lines = buffer.getvalue().splitlines()
    assert lines[0].endswith("evaluating (4) ...") and lines[-1].endswith("evaluating: done in 2.5 s")


def test_warning_once_and_time_format():
    console, buffer = log_console()
    warn_once("test-key", "no dev set", console)
    warn_once("test-key", "no dev set", console)
    assert buffer.getvalue().count("warning: no dev set") == 1
    assert [format_seconds(s) for s in (42, 725, 7390)] == ["0:42", "12:05", "2:03:10"]


@pytest.mark.parametrize("value", ["", "abc"])
def test_bad_interval_falls_back(monkeypatch, value):
    monkeypatch.setenv("ALEMBERT_PROGRESS_SECONDS", value)
    assert progress_interval() == 30.0
