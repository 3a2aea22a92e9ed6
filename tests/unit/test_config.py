"""Config validation: unknown keys with suggestions and line numbers, overrides, stage merging, layer maps."""

from __future__ import annotations

import pytest

from alembert import ConfigError, DistillConfig, apply_overrides, load_config, parse_config
from alembert.objective.layer_maps import expand_layer_map, last_map, skip_map, uniform_map
from alembert.run.stages import check_task_losses
from alembert.tasks import get_task


BASE = {
    "task": "sst2",
    "teacher": {"path": "t"},
    "stages": [
        {
            "name": "distill",
            "task_loss_weight": 1.0,
            "matches": [{"name": "ce", "representation": "logits", "loss": "kl_div"}],
        }
    ],
}


def test_unknown_key_names_line_and_suggests(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "task: sst2\nteacher:\n  path: t\ntrain:\n  learning_rat: 1.0e-4\nstages:\n  - name: a\n"
        "    task_loss_weight: 1\n"
    )
    with pytest.raises(
        ConfigError, match=r"c.yaml:5: unknown key 'train.learning_rat' \(did you mean 'learning_rate'"
    ):
        load_config(DistillConfig, path)


def test_bad_value_names_key():
    data = {**BASE, "train": {"batch_size": -3}}
    with pytest.raises(ConfigError, match="train.batch_size"):
        parse_config(DistillConfig, data)


def test_distribution_kd_on_a_regression_task_is_rejected():
    # STS-B has one output: a softmax over it is constant, so KL/soft CE would silently be 0.
    def check(overrides: list[str]) -> None:
        config = parse_config(DistillConfig, apply_overrides(BASE, overrides))
        check_task_losses(config.stages, get_task(config.task))

    for loss in ("kl_div", "soft_ce"):
        with pytest.raises(ConfigError, match=f"^stages.distill.matches.ce.loss: {loss} .*logits_mse"):
            check(["task=stsb", f"stages.0.matches.ce.loss={loss}"])
    check(["task=stsb", "stages.0.matches.ce.loss=logits_mse"])
    check(["task=stsb", "stages.0.matches.ce.weight=0"])  # a removed term is not an error


def test_nested_unknown_key_in_match_suggests():
    data = apply_overrides(BASE, ["stages.0.matches.0.wieght=2"])
    with pytest.raises(ConfigError, match="did you mean 'weight'"):
        parse_config(DistillConfig, data)


def test_invalid_yaml_and_empty_and_missing(tmp_path):
    (tmp_path / "bad.yaml").write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml:.*invalid YAML"):
        load_config(DistillConfig, tmp_path / "bad.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_config(DistillConfig, tmp_path / "empty.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(DistillConfig, tmp_path / "missing.yaml")


def test_yaml_tags_that_execute_code_are_rejected(tmp_path):
    (tmp_path / "evil.yaml").write_text("task: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(DistillConfig, tmp_path / "evil.yaml")


def test_overrides_by_index_and_by_name_and_types():
    data = apply_overrides(
        BASE, ["stages.distill.matches.ce.weight=0", "train.learning_rate=3e-5", "student.init=[0, 2]"]
    )
    config = parse_config(DistillConfig, data)
    assert config.stages[0].matches[0].weight == 0.0
    assert config.train.learning_rate == pytest.approx(3e-5)
    assert config.student.init == [0, 2]
    assert BASE["stages"][0]["matches"][0].get("weight") is None  # the input was not mutated
    with pytest.raises(ConfigError, match="no list element named 'cee'.*did you mean 'ce'"):
        apply_overrides(BASE, ["stages.distill.matches.cee.weight=0"])
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides(BASE, ["oops"])


def test_config_is_frozen():
    config = parse_config(DistillConfig, BASE)
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        config.task = "cola"


def test_yaml_no_is_the_string_no_for_mixed_precision():
    """YAML reads a bare ``no`` as false; ``mixed_precision: no`` must still mean no mixed precision."""
    config = parse_config(DistillConfig, apply_overrides(BASE, ["train.mixed_precision=no"]))
    assert config.train.mixed_precision == "no"
    assert (
        parse_config(DistillConfig, apply_overrides(BASE, ["train.mixed_precision=bf16"])).train.mixed_precision
        == "bf16"
    )
    with pytest.raises(ConfigError, match="mixed_precision"):
        parse_config(DistillConfig, apply_overrides(BASE, ["train.mixed_precision=yes"]))


def test_stage_train_overrides_merge_and_validate():
    data = apply_overrides(BASE, ["stages.0.train.epochs=1", "train.batch_size=8"])
    config = parse_config(DistillConfig, data)
    merged = config.stages[0].train_config(config.train)
    assert merged.epochs == 1 and merged.batch_size == 8
    with pytest.raises(ConfigError, match="stages.0.train"):
        parse_config(DistillConfig, apply_overrides(BASE, ["stages.0.train.epoch=1"]))


def test_stage_with_nothing_to_train_is_rejected():
    data = apply_overrides(BASE, ["stages.0.task_loss_weight=0", "stages.0.matches=[]"])
    with pytest.raises(ConfigError, match="nothing to train"):
        parse_config(DistillConfig, data)


def test_layer_maps():
    assert uniform_map(12, 4) == [(3, 1), (6, 2), (9, 3), (12, 4)]
    assert uniform_map(6, 3) == [(2, 1), (4, 2), (6, 3)]
    assert skip_map(12, 5) == [(2, 1), (4, 2), (6, 3), (8, 4), (10, 5)]
    assert last_map(12, 3) == [(10, 1), (11, 2), (12, 3)]
    assert expand_layer_map("final", 12, 4) == [(12, 4)]
    assert expand_layer_map([(0, 0), (6, 2)], 6, 2) == [(0, 0), (6, 2)]
    with pytest.raises(ConfigError, match="teacher layer 7 out of range"):
        expand_layer_map([(7, 1)], 6, 2)
    with pytest.raises(ConfigError, match="at most as many"):
        uniform_map(3, 4)
