"""The loop's lagged loss read-back (CPU path), the divergence message built from read-back values, and the
checkpoint clock."""

from __future__ import annotations

import math

import pytest
import torch

from alembert.train.control import CheckpointClock, LaggedLoss, TrainingDiverged, check_finite


def test_swap_returns_the_previous_step_and_pop_the_last():
    lagged = LaggedLoss()
    assert lagged.pop() is None
    assert lagged.swap(1, torch.tensor(3.0), {"kd": torch.tensor(1.5), "ce": torch.tensor(0.25)}) is None
    assert lagged.swap(2, torch.tensor(2.0), {"kd": torch.tensor(1.0), "ce": torch.tensor(0.5)}) == (
        1,
        3.0,
        {"kd": 1.5, "ce": 0.25},
    )
    assert lagged.pop() == (2, 2.0, {"kd": 1.0, "ce": 0.5})
    assert lagged.pop() is None


def test_values_are_detached_copies():
    weight = torch.tensor(2.0, requires_grad=True)
    lagged = LaggedLoss()
    lagged.swap(1, weight * 3, {"term": weight * 1})
    with torch.no_grad():
        weight.mul_(10)
    assert lagged.pop() == (1, 6.0, {"term": 2.0})


def test_check_finite_names_step_and_terms(tmp_path):
    check_finite(4, 1.0, {"a": 1.0}, tmp_path, "distill")  # finite: nothing happens
    with pytest.raises(TrainingDiverged, match=r"not finite at step 7 \(term b\); last good checkpoint: none"):
        check_finite(7, math.nan, {"a": 1.0, "b": math.inf}, tmp_path, "distill")


def test_the_checkpoint_clock_is_due_after_its_minutes_and_counts_again_from_a_save():
    now = [100.0]
    clock = CheckpointClock(2.0, now=lambda: now[0])
    now[0] += 119.0
    assert not clock.due()
    now[0] += 1.0
    assert clock.due()
    clock.saved()
    assert not clock.due()
    now[0] += 120.0
    assert clock.due()
    assert not CheckpointClock(None, now=lambda: now[0] + 1e9).due()
