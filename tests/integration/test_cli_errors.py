"""Bad input gets one clear line and exit code 2 before any long work, and nothing already written is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alembert.cli import main
from tests.conftest import tiny_distill_config


def _write_config(path: Path, teacher: Path, data: Path, output: Path, **extra) -> Path:
    config = {**tiny_distill_config(teacher, data, output, max_steps=2, batch_size=8), **extra}
    path.write_text(yaml.safe_dump(config))
    return path


def _run(args, capsys) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err
    return code, " ".join(err.split())


def test_missing_model_folder(tmp_path, sst2_dir, capsys):
    config = _write_config(tmp_path / "c.yaml", tmp_path / "no-such-teacher", sst2_dir, tmp_path / "run")
    code, err = _run(["distill", str(config)], capsys)
    assert code == 2 and "teacher" in err and "no-such-teacher" in err
    assert not (tmp_path / "run").exists()


def test_unknown_key_with_suggestion(tmp_path, sst2_dir, bert_teacher, capsys):
    config = _write_config(tmp_path / "c.yaml", bert_teacher, sst2_dir, tmp_path / "run", tarin={"epochs": 1})
    code, err = _run(["distill", str(config)], capsys)
    assert code == 2 and "unknown key 'tarin'" in err and "did you mean 'train'" in err and "c.yaml:" in err


def test_layer_index_out_of_range(tmp_path, sst2_dir, bert_teacher, capsys):
    config = _write_config(tmp_path / "c.yaml", bert_teacher, sst2_dir, tmp_path / "run")
    code, err = _run(["distill", str(config), "--set", "stages.0.matches.cos.layers=[[9, 1]]"], capsys)
    assert code == 2 and "teacher layer 9 out of range" in err


def test_vocab_mismatch(tmp_path, sst2_dir, bert_teacher, capsys):
    from transformers import AutoModelForSequenceClassification

    from tests.conftest import tiny_config

    config = tiny_config("bert", layers=2)
    config.vocab_size -= 5
    AutoModelForSequenceClassification.from_config(config).save_pretrained(tmp_path / "student")
    path = _write_config(tmp_path / "c.yaml", bert_teacher, sst2_dir, tmp_path / "run")
    code, err = _run(["distill", str(path), "--set", f"student.path={tmp_path / 'student'}"], capsys)
    assert code == 2 and "vocabularies differ" in err


def test_label_not_in_label_set_names_file_and_line(tmp_path, sst2_dir, bert_teacher, capsys):
    lines = (sst2_dir / "train.tsv").read_text().splitlines()
    lines[5] = lines[5].rsplit("\t", 1)[0] + "\tneutral"  # SST-2 labels are 0/1 (or their names negative/positive)
    (sst2_dir / "train.tsv").write_text("\n".join(lines) + "\n")
    config = _write_config(tmp_path / "c.yaml", bert_teacher, sst2_dir, tmp_path / "run")
    code, err = _run(["distill", str(config)], capsys)
    assert code == 2 and "train.tsv:6: label 'neutral' is not in the label set" in err


def test_empty_dataset(tmp_path, bert_teacher, capsys):
    data = tmp_path / "SST-2"
    data.mkdir()
    (data / "train.tsv").write_text("sentence\tlabel\n")
    config = _write_config(tmp_path / "c.yaml", bert_teacher, data, tmp_path / "run")
    code, err = _run(["distill", str(config)], capsys)
    assert code == 2 and "no examples" in err


def test_existing_run_is_not_overwritten(tmp_path, sst2_dir, bert_teacher, capsys):
    output = tmp_path / "run"
    output.mkdir()
    (output / "precious.txt").write_text("keep me")
    config = _write_config(tmp_path / "c.yaml", bert_teacher, sst2_dir, output)
    code, err = _run(["distill", str(config)], capsys)
    assert code == 2 and "--resume" in err and (output / "precious.txt").read_text() == "keep me"


def test_cli_distill_end_to_end_and_recipes(tmp_path, sst2_dir, bert_teacher, capsys):
    config = _write_config(tmp_path / "c.yaml", bert_teacher, sst2_dir, tmp_path / "run")
    assert main(["distill", str(config)]) == 0
    out = capsys.readouterr().out
    assert "teacher" in out and "student" in out and (tmp_path / "run" / "student" / "config.json").is_file()
    assert main(["recipes", "list"]) == 0 and "distilbert-task" in capsys.readouterr().out
    assert main(["recipes", "copy", "distilbert-task", str(tmp_path)]) == 0
    assert (tmp_path / "distilbert-task.yaml").is_file()
    code, err = _run(["recipes", "show", "distilbert-tsk"], capsys)
    assert code == 2 and "did you mean 'distilbert-task'" in err


def test_ctrl_c_while_the_command_is_still_importing_is_one_line(monkeypatch, capsys):
    """The ``alembert`` script (``alembert.entry:run``) turns Ctrl-C during start-up into one line, exit code 130."""
    import builtins

    from alembert import entry

    real_import = builtins.__import__

    def interrupted_import(name, *args, **kwargs):
        if name == "alembert.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted_import)
    with pytest.raises(SystemExit) as exit_info:
        entry.run()
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "interrupted (nothing was written)\n"
