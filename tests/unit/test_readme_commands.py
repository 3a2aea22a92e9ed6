"""The READMEs' commands run as written: every ``alembert ...`` line of their shell blocks parses against the
command line's argparse (nothing is executed), every ``make`` target exists, every ``python -m benchmarks.x``
module and ``benchmarks/...`` file exists, and the Python blocks compile and import only public names."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

import alembert
from alembert.cli import build_parser


REPO = Path(__file__).resolve().parents[2]
READMES = [REPO / "README.md", REPO / "benchmarks" / "README.md"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def code_blocks(text: str, languages: tuple[str, ...]) -> list[str]:
    """The fenced blocks of ``text`` whose language is one of ``languages``."""
    return [body for lang, body in FENCE.findall(text) if lang in languages]


def shell_commands(block: str) -> list[list[str]]:
    """A shell block's commands as argument lists: continuation lines joined, comments dropped."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(words)
    return commands


def alembert_argv(words: list[str]) -> list[str] | None:
    """The arguments given to alembert by a command line (``alembert ...``, ``... -m alembert.cli ...``)."""
    for i, word in enumerate(words):
        if word == "alembert" or word.endswith("/alembert"):
            return words[i + 1 :]
        if word == "alembert.cli" and i and words[i - 1] == "-m":
            return words[i + 1 :]
    return None


def readme_commands(path: Path) -> list[list[str]]:
    """Every command of the shell blocks of one README."""
    text = path.read_text(encoding="utf-8")
    return [words for block in code_blocks(text, ("bash", "sh", "console")) for words in shell_commands(block)]


def parse_error(argv: list[str]) -> str | None:
    """None when ``alembert argv`` parses (or asks for help); else what argparse printed."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exit:
        return None if exit.code == 0 else stderr.getvalue().strip().splitlines()[-1]
    return None


@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_alembert_command_parses(readme):
    commands = [argv for words in readme_commands(readme) if (argv := alembert_argv(words)) is not None]
    if readme.name == "README.md" and readme.parent == REPO:
        assert len(commands) >= 10, "the README should show its commands in ```bash blocks"
    errors = [f"alembert {shlex.join(argv)}: {err}" for argv in commands if (err := parse_error(argv))]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_make_targets_modules_and_files_exist(readme):
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(encoding="utf-8"), re.M))
    missing = []
    for words in readme_commands(readme):
        if words[0] == "make":
            missing += [f"make target {t}" for t in words[1:] if not t.startswith("-") and t not in targets]
        for i, word in enumerate(words):
            if word == "-m" and i + 1 < len(words) and words[i + 1].startswith("benchmarks."):
                module = REPO / Path(*words[i + 1].split("."))
                if not (module.with_suffix(".py").is_file() or (module / "__main__.py").is_file()):
                    missing.append(f"module {words[i + 1]}")
            elif re.fullmatch(r"benchmarks/[\w./-]+\.(py|sh|yaml)", word) and not (REPO / word).is_file():
                missing.append(f"file {word}")
    assert not missing, "\n".join(missing)


def test_python_blocks_compile_and_use_public_names():
    text = READMES[0].read_text(encoding="utf-8")
    blocks = code_blocks(text, ("python",))
    assert blocks
    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "alembert":
                assert {a.name for a in node.names} <= set(alembert.__all__)


def test_the_parser_check_can_fail():
    assert parse_error(["distill", "x.yaml", "--no-such-flag"])
    assert parse_error(["nonsense"])
    assert parse_error(["distill", "x.yaml", "--set", "a=1"]) is None
    assert alembert_argv(shlex.split("accelerate launch -m alembert.cli distill my.yaml")) == ["distill", "my.yaml"]
