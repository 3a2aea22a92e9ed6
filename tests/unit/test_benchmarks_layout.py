"""benchmarks/: packages run with ``python -m``, every result records its command, and the README is generated."""

from __future__ import annotations

import ast
import json
import re

import pytest

from benchmarks import readme, tables
from benchmarks.common import BENCHMARKS, RESULTS


SCRIPTS = sorted(p for p in BENCHMARKS.rglob("*.py") if p.name != "__init__.py")


def test_the_committed_readme_is_what_the_results_give():
    assert readme.README.read_text(encoding="utf-8") == readme.render(), "run: python -m benchmarks.readme"


def test_the_top_readme_results_table_is_generated_and_links_to_sections():
    top = readme.TOP_README.read_text(encoding="utf-8")
    assert top == readme.render_top_readme(top), "run: python -m benchmarks.readme"
    table = readme.results_table()
    headings = {
        readme.anchor(line.lstrip("#").strip()) for line in readme.render().splitlines() if line.startswith("#")
    }
    links = re.findall(r"\(benchmarks/README\.md#([\w-]+)\)", table)
    assert len(links) >= 8 and set(links) <= headings


@pytest.mark.parametrize("path", sorted(RESULTS.rglob("*.json")), ids=lambda p: p.relative_to(RESULTS).as_posix())
def test_every_result_records_its_command(path):
    result = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(result.get("command"), str) and result["command"].strip()


def test_no_superseded_snapshots():
    names = [p.name for p in RESULTS.rglob("*")]
    assert not [n for n in names if any(k in n for k in ("before_", "other_core_busy", "_quick."))]


def test_the_layout():
    for group in ("speed", "compare", "experiments"):
        assert (BENCHMARKS / group / "__init__.py").is_file()
    assert {p.parent.name for p in SCRIPTS} <= {"benchmarks", "speed", "compare", "experiments", "sst2_8k",
                                                 "sst2_full", "small_tasks", "embeddings", "imdb",
                                                 "own_vocabulary"}  # fmt: skip


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(BENCHMARKS).as_posix())
def test_scripts_import_as_packages_without_path_edits(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local = {p.stem for p in SCRIPTS}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys":
            pytest.fail(f"{path.name} edits sys.path")
        if isinstance(node, ast.ImportFrom) and not node.level:
            assert (node.module or "").split(".")[0] not in local, f"{path.name}: import benchmarks.… instead"
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & local, f"{path.name}: import benchmarks.…"


def test_a_missing_result_is_said_not_invented(monkeypatch, tmp_path):
    monkeypatch.setattr(readme, "RESULTS", tmp_path)
    text = readme._section("X", "intro", ["nothing.json"], tables.teacher_cache)
    assert "Not measured yet" in text
