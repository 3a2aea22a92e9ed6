"""A student cut from its teacher starts its TinyBERT projections as the inverse of the cut (kept channels)."""

from __future__ import annotations

import torch

from alembert.config import StudentConfig
from alembert.config.recipes import load_recipe
from alembert.features.extract import forward_features
from alembert.models.prune import prune_teacher
from alembert.objective.terms import DistillationObjective, resolve_matches
from alembert.run.students import kept_hidden_channels
from tests.unit.test_prune import _batches, _model


def _intermediate_terms(teacher, student, channels=None) -> dict[str, torch.Tensor]:
    stage = load_recipe("tinybert-task").stages[0]
    torch.manual_seed(0)
    objective = DistillationObjective(resolve_matches(stage, teacher.config, student.config), 0.0,
                                      teacher.config, student.config)  # fmt: skip
    if channels is not None:
        assert sorted(objective.init_projections_from_kept_channels(channels)) == ["embd", "hidn"]
    batch = _batches(1, seed=3)[0]
    with torch.no_grad():
        features = [forward_features(m, batch, objective.requested(side)) for m, side in
                    ((student, "student"), (teacher, "teacher"))]  # fmt: skip
        return objective(features[0], features[1], batch)[1]


def test_the_report_names_the_kept_hidden_channels_in_order():
    teacher = _model(heads=4)
    _, report = prune_teacher(teacher, (2, 24, 4, 48), _batches())
    channels = report.hidden_channels
    assert len(channels) == 24 and list(channels) == sorted(set(channels)) and max(channels) < 32
    assert report.to_dict()["hidden_channels"] == list(channels)
    _, whole = prune_teacher(teacher, (4, 32, 4, 64), _batches())
    assert whole.hidden_channels == tuple(range(32))


def test_projections_start_as_the_selection_of_the_kept_channels():
    teacher = _model(heads=4)
    student, report = prune_teacher(teacher, (2, 24, 4, 48), _batches())
    stage = load_recipe("tinybert-task").stages[0]
    objective = DistillationObjective(resolve_matches(stage, teacher.config, student.config), 0.0,
                                      teacher.config, student.config)  # fmt: skip
    objective.init_projections_from_kept_channels(report.hidden_channels)
    x = torch.randn(3, 24)
    for key in ("embd", "hidn"):
        projected = objective.projections[key](x)
        assert torch.equal(projected[:, list(report.hidden_channels)], x)  # kept channels pass through
        dropped = sorted(set(range(32)) - set(report.hidden_channels))
        assert torch.equal(projected[:, dropped], torch.zeros(3, len(dropped)))


def test_cut_to_the_teachers_width_the_embedding_term_starts_at_zero():
    teacher = _model(heads=4)
    student, report = prune_teacher(teacher, (2, 32, 4, 64), _batches())  # fewer layers, every channel kept
    kept = _intermediate_terms(teacher, student, report.hidden_channels)
    random = _intermediate_terms(teacher, student)
    assert kept["embd"].item() < 1e-10 < random["embd"].item()  # the student's embeddings are the teacher's
    narrow, narrow_report = prune_teacher(teacher, (2, 24, 4, 48), _batches())
    kept, random = (
        _intermediate_terms(teacher, narrow, narrow_report.hidden_channels),
        _intermediate_terms(teacher, narrow),
    )
    assert kept["embd"] < random["embd"] and kept["hidn/t4-s2"] < random["hidn/t4-s2"]


def test_kept_channels_come_from_the_run_or_from_the_folders_prune_json(tmp_path):
    teacher = _model(heads=4)
    _, report = prune_teacher(teacher, (2, 24, 4, 48), _batches())
    pruned = StudentConfig(init="pruned", num_layers=2, hidden_size=24)
    assert kept_hidden_channels(pruned, report) == report.hidden_channels
    off = StudentConfig(init="pruned", num_layers=2, hidden_size=24, pruning={"projections": "random"})
    assert kept_hidden_channels(off, report) == ()
    (tmp_path / "prune.json").write_text('{"hidden_channels": [4, 7, 9]}')
    assert kept_hidden_channels(StudentConfig(path=str(tmp_path)), None) == (4, 7, 9)
    assert kept_hidden_channels(StudentConfig(path=str(tmp_path / "elsewhere")), None) == ()
    assert kept_hidden_channels(StudentConfig(init="random"), None) == ()
