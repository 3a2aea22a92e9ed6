"""The bad-input sweep: every case goes through the CLI and must give exit code 2 and one ``error:`` line (never a
traceback), leave an earlier run folder byte-for-byte unchanged, leave no half-made run folder, and never open a
network connection (``HF_HUB_OFFLINE=1``)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from alembert import DistillConfig, parse_config
from alembert.cli import main
from alembert.config.io import dump_config
from tests.conftest import save_tiny_model, write_sst2


REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Ctx:
    """Shared, read-only inputs of the sweep (built once)."""

    teacher: Path
    mlm_teacher: Path
    sst2: Path
    old_run: Path
    corpus: Path


def _base(ctx: Ctx, tmp: Path) -> dict:
    return {
        "task": "sst2",
        "teacher": {"path": str(ctx.teacher)},
        "data": {"train": str(ctx.sst2), "max_length": 32},
        "train": {"max_steps": 2, "batch_size": 8},
        "stages": [
            {
                "name": "distill",
                "task_loss_weight": 1.0,
                "matches": [
                    {"name": "ce", "representation": "logits", "loss": "kl_div", "params": {"temperature": 2.0}},
                    {"name": "cos", "representation": "hidden", "layers": "final", "loss": "cosine"},
                ],
            }
        ],
        "output_dir": str(tmp / "run"),
        "bench_latency": False,
    }


def _distill(ctx: Ctx, tmp: Path, *sets: str, config: dict | None = None, text: str | None = None) -> list[str]:
    """``alembert distill c.yaml --set ...`` on the base config (or on ``config``/raw ``text``)."""
    path = tmp / "c.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(config or _base(ctx, tmp)))
    return ["distill", str(path), *[arg for item in sets for arg in ("--set", item)]]


def _data_file(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _teacher_copy(ctx: Ctx, tmp: Path, damage: Callable[[Path], object]) -> Path:
    folder = tmp / "teacher"
    folder.mkdir()
    for item in ctx.teacher.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    damage(folder)
    return folder


def _mlm(ctx: Ctx, tmp: Path, *sets: str) -> list[str]:
    base = _base(ctx, tmp)
    base.update(task="mlm", teacher={"path": str(ctx.mlm_teacher)}, data={"train": str(ctx.corpus), "max_length": 24})
    base["stages"][0]["matches"] = [
        {"name": "cos", "representation": "hidden", "layers": "final", "loss": "cosine", "mask": "attention_mask"}
    ]
    return _distill(ctx, tmp, *sets, config=base)


def _drop_tokenizer(folder: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (folder / name).unlink()


def _three_way_teacher(tmp: Path) -> Path:
    return save_tiny_model(tmp / "teacher-3", num_labels=3)


def _other_vocab_student(tmp: Path) -> Path:
    from transformers import AutoModelForSequenceClassification

    from tests.conftest import tiny_config

    config = tiny_config("bert", layers=2)
    config.vocab_size -= 5
    AutoModelForSequenceClassification.from_config(config).save_pretrained(tmp / "student")
    return tmp / "student"


_HELD: list[object] = []


def _locked_folder(tmp: Path) -> Path:
    """A folder another command holds (its claim stays open for the rest of the session)."""
    from alembert.files import FolderClaim

    claim = FolderClaim.acquire(tmp / "busy", what="output_dir", must_be_empty=True)
    _HELD.append(claim)
    return claim.path


Build = Callable[[Ctx, Path], list[str]]
Case = tuple[str, Build, str]


def _data(name: str, content: str | bytes, *sets: str, mlm: bool = False) -> Build:
    """A case whose training file ``name`` holds ``content``."""

    def build(ctx: Ctx, tmp: Path) -> list[str]:
        path = _data_file(tmp, name, content)
        return (_mlm if mlm else _distill)(ctx, tmp, f"data.train={path}", *sets)

    return build


def _damaged_teacher(damage: Callable[[Path], object]) -> Build:
    """A case whose teacher is a copy of the good one, damaged by ``damage(folder)``."""
    return lambda ctx, tmp: _distill(ctx, tmp, f"teacher.path={_teacher_copy(ctx, tmp, damage)}")


CASES: list[Case] = [
    # config files and YAML
    ("config-missing", lambda c, t: ["distill", str(t / "nope.yaml")], "nope.yaml: config file not found"),
    ("config-is-a-folder", lambda c, t: ["distill", str(t)], "is a folder, not a YAML config"),
    ("recipe-typo", lambda c, t: ["distill", "distilbert-tsk"], "did you mean 'distilbert-task'"),
    ("yaml-syntax", lambda c, t: _distill(c, t, text="task: [unclosed\n"), r"c.yaml:\d+: invalid YAML"),
    ("yaml-empty", lambda c, t: _distill(c, t, text=""), "c.yaml: config file is empty"),
    ("yaml-list", lambda c, t: _distill(c, t, text="- task\n- sst2\n"), "expected a mapping at the top level"),
    (
        "yaml-python-tag",
        lambda c, t: _distill(c, t, text="task: !!python/object/apply:os.system [ls]\n"),
        "invalid YAML",
    ),
    (
        "yaml-duplicate-key",
        lambda c, t: _distill(c, t, text=yaml.safe_dump(_base(c, t)) + "task: cola\n"),
        r"c.yaml:\d+: invalid YAML \(key 'task' appears twice",
    ),
    ("yaml-not-utf8", lambda c, t: ["distill", str(_data_file(t, "c.yaml", b"task: \xff\n"))], "cannot read config"),
    # keys, types and values
    ("unknown-key", lambda c, t: _distill(c, t, "tarin.epochs=1"), "unknown key 'tarin'.*did you mean 'train'"),
    ("unknown-nested-key", lambda c, t: _distill(c, t, "train.learning_rat=0.1"), "did you mean 'learning_rate'"),
    ("wrong-type", lambda c, t: _distill(c, t, "train.batch_size=eight"), "train.batch_size: .*'eight'"),
    ("negative-value", lambda c, t: _distill(c, t, "train.learning_rate=-1"), "train.learning_rate: .*greater"),
    (
        "missing-key",
        lambda c, t: _distill(c, t, text=yaml.safe_dump({k: v for k, v in _base(c, t).items() if k != "teacher"})),
        "missing required key 'teacher'",
    ),
    ("no-stages", lambda c, t: _distill(c, t, "stages=[]"), "at least one stage"),
    ("unknown-task", lambda c, t: _distill(c, t, "task=sst3"), "unknown task 'sst3'.*did you mean 'sst2'"),
    ("set-without-equals", lambda c, t: _distill(c, t, "train.epochs"), "expected key.path=value"),
    (
        "set-unknown-element",
        lambda c, t: _distill(c, t, "stages.distil.task_loss_weight=1"),
        "no list element named 'distil'.*did you mean 'distill'",
    ),
    ("set-into-a-value", lambda c, t: _distill(c, t, "task.name=x"), "'task' is a value, not a section"),
    # distillation spec and layer maps
    ("unknown-loss", lambda c, t: _distill(c, t, "stages.0.matches.cos.loss=cosin"), "unknown loss 'cosin'"),
    (
        "unknown-representation",
        lambda c, t: _distill(c, t, "stages.0.matches.cos.representation=hiddn"),
        "representation",
    ),
    (
        "logits-with-layers",
        lambda c, t: _distill(c, t, "stages.0.matches.ce.layers=final"),
        "a logits match takes no layers",
    ),
    (
        "layer-out-of-range",
        lambda c, t: _distill(c, t, "stages.0.matches.cos.layers=[[9, 1]]"),
        "teacher layer 9 out of range",
    ),
    ("layer-map-name", lambda c, t: _distill(c, t, "stages.0.matches.cos.layers=every_third"), "layers"),
    (
        "width-mismatch",
        lambda c, t: _distill(
            c,
            t,
            "student.init=random",
            "student.hidden_size=16",
            "student.num_heads=2",
            "student.intermediate_size=32",
        ),
        "add `projection: linear`",
    ),
    (
        "loss-parameter-typo",
        lambda c, t: _distill(c, t, "stages.0.matches.ce.params={temprature: 2}"),
        "takes no parameter 'temprature'.*did you mean 'temperature'",
    ),
    (
        "init-vs-num-layers",
        lambda c, t: _distill(c, t, "student.init=[0, 2]", "student.num_layers=3"),
        "init lists 2 teacher layers but num_layers is 3",
    ),
    (
        "heads-do-not-divide",
        lambda c, t: _distill(c, t, "student.hidden_size=30", "student.num_heads=4"),
        "not divisible",
    ),
    # models and tokenizers
    ("teacher-missing", lambda c, t: _distill(c, t, f"teacher.path={t / 'nothing'}"), "teacher: .*nothing"),
    ("teacher-no-config", lambda c, t: _distill(c, t, f"teacher.path={t}"), "has no config.json"),
    (
        "teacher-config-not-json",
        _damaged_teacher(lambda f: (f / "config.json").write_text("{")),
        "teacher: cannot load",
    ),
    (
        "teacher-weights-corrupt",
        _damaged_teacher(lambda f: (f / "model.safetensors").write_bytes(b"junk")),
        "cannot load the weights",
    ),
    ("teacher-no-tokenizer", _damaged_teacher(_drop_tokenizer), "holds no tokenizer files"),
    (
        "tokenizer-json-corrupt",
        _damaged_teacher(lambda f: (f / "tokenizer.json").write_text("{")),
        "tokenizer: cannot load",
    ),
    ("teacher-hub-name-offline", lambda c, t: _distill(c, t, "teacher.path=bert-base-uncased"), "HF_HUB_OFFLINE=1"),
    (
        "teacher-head-size",
        lambda c, t: _distill(c, t, f"teacher.path={_three_way_teacher(t)}"),
        "3-way head but task sst2 needs 2",
    ),
    ("student-path-is-a-file", lambda c, t: _distill(c, t, f"student.path={c.sst2 / 'train.tsv'}"), "not a folder"),
    (
        "student-vocab-mismatch",
        lambda c, t: _distill(c, t, f"student.path={_other_vocab_student(t)}"),
        "vocabularies differ",
    ),
    # data files and rows
    ("data-missing", lambda c, t: _distill(c, t, f"data.train={t / 'none.tsv'}"), "none.tsv' not found"),
    ("data-folder-without-train", lambda c, t: _distill(c, t, f"data.train={t}"), "no train file for task sst2"),
    (
        "label-not-in-set",
        _data("a.tsv", "sentence\tlabel\ngood\t1\nbad\tno\n"),
        r"a.tsv:3: label 'no' is not in the label set",
    ),
    (
        "row-field-count",
        _data("a.tsv", "sentence\tlabel\ngood\t1\t9\n"),
        r"a.tsv:2: expected 2 fields like the header, got 3",
    ),
    ("data-not-utf8", _data("a.tsv", b"sentence\tlabel\ncaf\xe9\t1\n"), "a.tsv: not UTF-8 text"),
    ("data-header-only", _data("a.tsv", "sentence\tlabel\n"), "a.tsv: no examples"),
    ("data-zero-bytes", _data("a.tsv", ""), "a.tsv: no examples"),
    ("data-jsonl-bad-line", _data("a.jsonl", '{"sentence": "a", "label": 1}\n{oops\n'), r"a.jsonl:2: invalid JSON"),
    ("data-json-not-a-list", _data("a.json", '{"sentence": 1}'), "expected a JSON list of objects"),
    ("data-csv-no-text-column", _data("a.csv", "review,label\nok,1\n"), "cannot find text column 1 of task sst2"),
    (
        "data-regression-label",
        _data("a.tsv", "sentence1\tsentence2\tscore\na\tb\thigh\n", "task=stsb", "stages.0.matches.ce.weight=0"),
        "label 'high' is not a number",
    ),
    (
        "config-kl-on-regression",
        _data("a.tsv", "sentence1\tsentence2\tscore\na\tb\t3.2\n", "task=stsb"),
        r"stages.distill.matches.ce.loss: kl_div compares class distributions, but stsb is a regression task",
    ),
    ("data-parquet-corrupt", _data("a.parquet", b"PAR1junk"), "a.parquet: cannot read parquet"),
    ("corpus-empty", _data("c.txt", "\n\n\n", mlm=True), "corpus is empty"),
    (
        "corpus-stream-not-utf8",
        _data("c.txt", b"ok words\n\xff\xfe\n", "data.streaming=true", mlm=True),
        r"c.txt at byte 9: not UTF-8",
    ),
    (
        "stream-max-length-too-small",
        lambda c, t: _mlm(c, t, "data.streaming=true", "data.max_length=2"),
        r"data.max_length: .*2 cannot hold a token",
    ),
    ("max-length-1", lambda c, t: _distill(c, t, "data.max_length=1"), r"data.max_length: .*1 cannot hold a token"),
    ("max-length-2", lambda c, t: _distill(c, t, "data.max_length=2"), r"data.max_length: .*2 cannot hold a token"),
    (
        "set-keeps-file-line-numbers",
        lambda c, t: _distill(
            c, t, "train.max_steps=3", text=yaml.safe_dump(_base(c, t)).replace("batch_size: 8", "batch_size: eight")
        ),
        r"c.yaml:\d+: train.batch_size: .*'eight'",
    ),
    # precision, teachers without a trained head
    (
        "fp16-on-cpu",
        lambda c, t: _distill(c, t, "train.mixed_precision=fp16"),
        "train.mixed_precision: fp16 needs a GPU",
    ),
    (
        "teacher-without-task-head",
        lambda c, t: _distill(c, t, f"teacher.path={c.mlm_teacher}"),
        r"teacher .* has no trained task head: classifier.bias, classifier.weight.*alembert finetune",
    ),
    # output folders and files
    ("output-exists", lambda c, t: _distill(c, t, f"output_dir={c.old_run}"), "already holds files; pass --resume"),
    (
        "output-is-a-file",
        lambda c, t: _distill(c, t, f"output_dir={c.sst2 / 'train.tsv'}"),
        "train.tsv is a file, not a folder",
    ),
    (
        "output-cannot-be-created",
        lambda c, t: _distill(c, t, f"output_dir={c.sst2 / 'train.tsv' / 'run'}"),
        "cannot create the folder",
    ),
    (
        "output-in-use",
        lambda c, t: _distill(c, t, f"output_dir={_locked_folder(t)}"),
        "is in use by another alembert command",
    ),
    (
        "allow-changes-without-resume",
        lambda c, t: [*_distill(c, t), "--allow-changes", "train.learning_rate"],
        "--allow-changes applies to --resume only",
    ),  # fmt: skip
    (
        "allow-changes-of-a-model-key",
        lambda c, t: _distill(c, t, f"output_dir={c.old_run}") + ["--resume", "--allow-changes", "student.init"],
        "only optimiser settings may change",
    ),
    (
        "report-into-a-run-folder",
        lambda c, t: ["report", str(c.old_run), "--output", str(c.old_run)],
        "report: --output .*old-run already holds files",
    ),
    (
        "evaluate-output-exists",
        lambda c, t: ["evaluate", str(c.teacher), "--task", "sst2", "--data", str(c.sst2), "--output", str(c.old_run)],
        "--output .*old-run already holds files",
    ),
    (
        "evaluate-batch-size-0",
        lambda c, t: ["evaluate", str(c.teacher), "--task", "sst2", "--data", str(c.sst2), "--batch-size", "0"],
        "--batch-size 0: the batch size must be at least 1",
    ),
    (
        "evaluate-missing-folder",
        lambda c, t: ["evaluate", "runs/none/student", "--task", "sst2", "--data", str(c.sst2)],
        "'runs/none/student' not found",
    ),
    (
        "evaluate-head-less-model",
        lambda c, t: ["evaluate", str(c.mlm_teacher), "--task", "sst2", "--data", str(c.sst2)],
        "has no trained task head",
    ),
    ("bench-missing-folder", lambda c, t: ["bench", str(t / "none")], "none' not found"),
    ("bench-output-is-a-folder", lambda c, t: ["bench", str(c.teacher), "--output", str(t)], "is a folder; give a"),
    (
        "augment-missing-model",
        lambda c, t: ["augment", "--task", "sst2", "--data", str(c.sst2), "--model", str(t / "none")],
        "none' not found",
    ),
    (
        "export-output-is-a-file",
        lambda c, t: ["export", str(c.teacher), "--onnx", "--output", str(c.sst2 / "train.tsv")],
        "export: --output .*train.tsv is a file",
    ),
    (
        "export-output-cannot-be-created",
        lambda c, t: ["export", str(c.teacher), "--onnx", "--output", str(c.sst2 / "train.tsv" / "onnx")],
        "export: --output .*cannot create the folder",
    ),
    (
        "recipes-copy-into-missing-folder",
        lambda c, t: ["recipes", "copy", "distilbert-task", f"{t / 'none'}/"],
        "folder .*none does not exist",
    ),
    # options that conflict
    ("resume-without-run", lambda c, t: [*_distill(c, t), "--resume"], "holds no earlier run"),
    (
        "resume-changed-config",
        lambda c, t: _distill(c, t, f"output_dir={c.old_run}", "train.max_steps=5") + ["--resume"],
        "config differs .* in train.max_steps",
    ),
    ("cache-with-mlm", lambda c, t: _mlm(c, t, "teacher.cache=true"), "cannot be cached"),
    (
        "cache-with-unmasked-tokens",
        lambda c, t: _distill(c, t, "teacher.cache=true"),
        "matches.cos.mask: teacher.cache keeps real tokens only",
    ),
    ("streaming-for-a-task", lambda c, t: _distill(c, t, "data.streaming=true"), "streams raw text for task: mlm"),
    (
        "streaming-without-max-steps",
        lambda c, t: _mlm(c, t, "data.streaming=true", "train.max_steps=null"),
        "needs train.max_steps",
    ),
    (
        "augment-with-mlm",
        lambda c, t: _mlm(c, t, f"data.augment={{model: {c.teacher}}}"),
        "augmentation applies to a task",
    ),
    (
        "max-length-beyond-positions",
        lambda c, t: _distill(c, t, "data.max_length=512"),
        "data.max_length 512 exceeds the teacher's 64 position embeddings",
    ),
    (
        "evaluate-unknown-task",
        lambda c, t: ["evaluate", str(c.teacher), "--task", "sst9", "--data", str(c.sst2)],
        "unknown task 'sst9'",
    ),
]


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Ctx:
    root = tmp_path_factory.mktemp("sweep")
    corpus = root / "corpus.txt"
    corpus.write_text("the film was good\nthe plot was bad\n" * 20)
    ctx = Ctx(
        teacher=save_tiny_model(root / "teacher"),
        mlm_teacher=save_tiny_model(root / "mlm-teacher", mlm=True),
        sst2=write_sst2(root / "SST-2"),
        old_run=root / "old-run",
        corpus=corpus,
    )
    # an earlier, finished run: what a bad command must never touch
    (ctx.old_run / "student").mkdir(parents=True)
    dump_config(
        parse_config(DistillConfig, {**_base(ctx, root), "output_dir": str(ctx.old_run)}), ctx.old_run / "config.yaml"
    )
    (ctx.old_run / "student" / "model.safetensors").write_bytes(os.urandom(4096))
    (ctx.old_run / "metrics.json").write_text('{"student_metrics": {"accuracy": 91.0}}\n')
    return ctx


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a connection is recorded and refused."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted in the bad-input sweep")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    assert not attempts, f"network connections attempted: {attempts}"


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line_and_exit_code_2(ctx, tmp_path, capsys, build, expected):
    before = _digest(ctx.old_run)
    args = build(ctx, tmp_path)
    started = time.perf_counter()
    code = main(args)
    seconds = time.perf_counter() - started
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    assert re.search(expected, lines[0]), lines[0]
    assert seconds < 30, f"took {seconds:.0f}s: bad input must fail fast"
    assert _digest(ctx.old_run) == before, "an earlier run folder was modified"
    run = tmp_path / "run"
    assert not run.exists() or not any(run.iterdir()), f"left a half-made run folder: {list(run.iterdir())}"


def test_finetune_without_inputs_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune"])
    assert exit_info.value.code == 2
    assert "finetune needs --config, or --model, --task and --data" in capsys.readouterr().err


def test_the_sweep_is_large_enough():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


def test_unreadable_data_file(ctx, tmp_path, capsys):
    """chmod 000 only stops a process without CAP_DAC_OVERRIDE: as root, the CLI runs in a subprocess whose
    capability bounding set drops it (``setpriv``), so the file is really unreadable to it."""
    data = _data_file(tmp_path, "a.tsv", "sentence\tlabel\ngood\t1\n")
    data.chmod(0)
    args = _distill(ctx, tmp_path, f"data.train={data}")
    if os.access(data, os.R_OK):
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: chmod 000 does not stop reads here")
        drop = "-dac_override,-dac_read_search"
        command = [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", sys.executable, "-m", "alembert.cli"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
        done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300)
        code, err = done.returncode, done.stderr
    else:
        code, err = main(args), capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err[-2000:]
    assert re.search(r"error: .*a.tsv: permission denied", lines[0]), lines[0]
