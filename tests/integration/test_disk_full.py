"""A full disk (``OSError(ENOSPC)``) while writing the 2nd checkpoint or the 2nd saved model: one clear line, exit
code 2, the 1st copy intact byte for byte, no half-written folder left, and ``--resume`` finishes the run."""

from __future__ import annotations

import errno
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from accelerate import Accelerator
from transformers import PreTrainedModel

from alembert.cli import main
from alembert.train.checkpoint import latest_checkpoint


def _config(teacher: Path, data: Path, output: Path) -> dict:
    return {
        "task": "sst2",
        "teacher": {"path": str(teacher)},
        "data": {"train": str(data), "max_length": 32},
        "train": {
            "max_steps": 4,
            "batch_size": 16,
            "save_every": 2,
            "eval_every": 2,
            "keep_checkpoints": 5,
            "seed": 0,
        },
        "stages": [
            {
                "name": "distill",
                "task_loss_weight": 1.0,
                "matches": [
                    {"name": "kd", "representation": "logits", "loss": "kl_div", "params": {"temperature": 2.0}},
                ],
            }
        ],
        "output_dir": str(output),
        "bench_latency": False,
    }


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _enospc() -> Exception:
    return OSError(errno.ENOSPC, "No space left on device")


def _safetensors_full() -> Exception:
    from safetensors import SafetensorError

    return SafetensorError(
        'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
    )


def _torch_save_full() -> Exception:
    return RuntimeError("[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file data/0")


def _full_disk_on_second_call(
    monkeypatch, owner: type, name: str, snapshot: dict, error: Callable[[], Exception] = _enospc
) -> None:
    """Make ``owner.name`` write a partial file and raise ENOSPC on its 2nd call, after recording what the
    1st call wrote (``snapshot["folder"]``: its digest)."""
    original = getattr(owner, name)
    calls = []

    def fake(self, folder, *args, **kwargs):
        calls.append(Path(folder))
        if len(calls) < 2:
            return original(self, folder, *args, **kwargs)
        first = calls[0] if name == "save_pretrained" else calls[0].with_name("step-2")
        snapshot.update(first=first if first.exists() else _published(first), digest=None)
        snapshot["digest"] = _digest(snapshot["first"])
        (Path(folder) / "model.safetensors").write_bytes(b"half a file")
        raise error()

    monkeypatch.setattr(owner, name, fake)


def _published(temporary: Path) -> Path:
    """Where an atomically written temporary folder (``.best.tmp-PID``) ended up (``best``)."""
    return temporary.with_name(temporary.name[1:].split(".tmp")[0])


def _run(args: list[str], capsys) -> tuple[int, str]:
    """Exit code and the ``error:`` lines (the progress bar also writes to stderr)."""
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, "\n".join(line for line in err.splitlines() if line.startswith("error:"))


@pytest.mark.parametrize(
    ("owner", "name", "expected"),
    [
        (
            Accelerator,
            "save_state",
            r"could not write checkpoint .*step-4 \(No space left on device\); earlier "
            r"checkpoints are intact \(latest: .*step-2\); free space and continue with --resume",
        ),
        (
            PreTrainedModel,
            "save_pretrained",
            r"could not write .* \(No space left on device\); the previous copy is intact",
        ),
    ],
    ids=["checkpoint", "saved-model"],
)
@pytest.mark.parametrize("error", [_enospc, _safetensors_full], ids=["oserror", "safetensors"])
def test_full_disk_keeps_the_last_good_copy(
    tmp_path, sst2_dir, bert_teacher, monkeypatch, capsys, owner, name, expected, error
):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_config(bert_teacher, sst2_dir, tmp_path / "run")))
    snapshot: dict = {}
    with monkeypatch.context() as patch:
        _full_disk_on_second_call(patch, owner, name, snapshot, error)
        code, err = _run(["distill", str(path)], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and re.search(expected, err), err
    assert _digest(snapshot["first"]) == snapshot["digest"]  # the 1st copy, byte for byte
    leftovers = [p.name for p in (tmp_path / "run").rglob("*") if ".tmp" in p.name]
    assert not leftovers, leftovers
    checkpoints = tmp_path / "run" / "checkpoints" / "distill"
    assert latest_checkpoint(checkpoints).name in ("step-2", "step-4")
    code, err = _run(["distill", str(path), "--resume"], capsys)  # space freed: the run finishes
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["stages"]["distill"]["global_step"] == 4


def test_torch_save_write_failure_is_one_line_too(tmp_path, sst2_dir, bert_teacher, monkeypatch, capsys):
    """``torch.save`` (optimizer state) reports a full disk as a RuntimeError from its stream writer."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_config(bert_teacher, sst2_dir, tmp_path / "run")))
    with monkeypatch.context() as patch:
        _full_disk_on_second_call(patch, Accelerator, "save_state", {}, _torch_save_full)
        code, err = _run(["distill", str(path)], capsys)
    assert code == 2 and re.search(r"could not write checkpoint .*PytorchStreamWriter failed writing", err), err
    assert not [p.name for p in (tmp_path / "run").rglob("*") if ".tmp" in p.name]
