"""The package's import structure: no cycles, no import deferred to dodge one, and a light command line.

The graph is read from the source with :mod:`ast`, never by importing: an edge ``a -> b`` for every
``import b`` / ``from b import x`` (``b.x`` when that is a module) in ``a``. Imports at module level (outside
``if TYPE_CHECKING:``) form the graph that must be acyclic. An import inside a function is allowed (the command
line imports its heavy commands that way) unless its target already reaches the importing module through
module-level imports: that import only works because it is deferred, i.e. it hides a cycle.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("torch", "transformers", "onnxruntime", "matplotlib", "datasets", "accelerate")


@dataclass(frozen=True)
class Edge:
    """One import statement of ``source`` that loads ``target`` (``line`` in ``source``'s file)."""

    source: str
    target: str
    line: int
    deferred: bool


def module_name(path: Path, root: Path = SRC) -> str:
    """``src/alembert/run/distill.py`` -> ``alembert.run.distill``; a package's ``__init__`` -> the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path = SRC, package: str = "alembert") -> dict[str, Path]:
    """Every module of ``package`` under ``root``, by dotted name."""
    return {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_edges(module: str, path: Path, known: set[str]) -> list[Edge]:
    """The imports of ``module`` that load modules in ``known``, each marked deferred or module level."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    edges: list[Edge] = []

    def add(target: str, node: ast.stmt, deferred: bool) -> None:
        if target in known and target != module:
            edges.append(Edge(module, target, node.lineno, deferred))

    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue  # never executed at run time
            inner = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, inner)
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(child, module, path.name == "__init__.py")
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    add(sub if sub in known else target, child, inner)
            visit(child, inner)

    visit(tree, False)
    return edges


def all_edges(root: Path = SRC) -> list[Edge]:
    """The import edges of every module of the package."""
    modules = package_modules(root)
    return [edge for name, path in modules.items() for edge in import_edges(name, path, set(modules))]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None when it is acyclic (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph.get(start, ())))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    """Whether ``goal`` is reachable from ``start`` in ``graph``."""
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def module_graph(edges: list[Edge]) -> dict[str, set[str]]:
    """The graph of module-level imports."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if not edge.deferred:
            graph.setdefault(edge.source, set()).add(edge.target)
    return graph


def dodging_imports(edges: list[Edge]) -> list[Edge]:
    """Deferred imports whose target reaches the importing module through module-level imports."""
    graph = module_graph(edges)
    return [e for e in edges if e.deferred and (e.target == e.source or reaches(graph, e.target, e.source))]


def test_the_graph_sees_the_package():
    edges = all_edges()
    assert len(package_modules()) > 50
    assert Edge("alembert.run.distill", "alembert.run.context", 0, False) in {
        Edge(e.source, e.target, 0, e.deferred) for e in edges
    }
    assert any(e.deferred and e.source.startswith("alembert.cli") for e in edges)


def test_no_import_cycle_among_module_level_imports():
    cycle = find_cycle(module_graph(all_edges()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_deferred_to_dodge_a_cycle():
    found = [
        f"{e.source}:{e.line} imports {e.target} inside a function, which imports it back"
        for e in dodging_imports(all_edges())
    ]
    assert not found, "\n".join(found)


def _write(root: Path, name: str, text: str) -> None:
    path = root / Path(*name.split("."))
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in [root / "alembert", *path.parents]:
        if parent != root and parent.is_relative_to(root / "alembert") and not (parent / "__init__.py").exists():
            (parent / "__init__.py").write_text("", encoding="utf-8")
    path.with_suffix(".py").write_text(text, encoding="utf-8")


def test_the_checks_catch_a_cycle_and_a_dodging_import(tmp_path):
    _write(tmp_path, "alembert.a", "from alembert.b import f\n")
    _write(tmp_path, "alembert.b", "from . import c\ndef f():\n    pass\n")
    _write(tmp_path, "alembert.c", "def g():\n    from alembert.a import f\n")
    _write(
        tmp_path, "alembert.d", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from alembert.a import f\n"
    )
    edges = all_edges(tmp_path)
    assert find_cycle(module_graph(edges)) is None
    assert [(e.source, e.target) for e in dodging_imports(edges)] == [("alembert.c", "alembert.a")]
    _write(tmp_path, "alembert.c", "from .a import f\n")
    assert find_cycle(module_graph(all_edges(tmp_path))) == ["alembert.a", "alembert.b", "alembert.c", "alembert.a"]


def _loaded_after(code: str) -> list[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cli(*argv: str) -> str:
    return (
        "import contextlib, io\nfrom alembert.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    try:\n        main({list(argv)!r})\n"
        "    except SystemExit as exit:\n        assert not exit.code, exit.code"
    )


@pytest.mark.parametrize(
    "code",
    [
        "import alembert.cli",
        "import alembert; alembert.__version__",
        _cli("--help"),
        _cli("distill", "--help"),
        _cli("glue", "--help"),
        _cli("recipes", "list"),
        _cli("recipes", "show", "distilbert-task"),
    ],
    ids=["import-cli", "import-alembert", "help", "distill-help", "glue-help", "recipes-list", "recipes-show"],
)
def test_the_command_line_starts_without_heavy_libraries(code):
    assert _loaded_after(code) == []


def test_training_does_not_load_the_benchmarking_backends():
    loaded = _loaded_after("from alembert.run.distill import distill\nfrom alembert.run.finetune import finetune")
    assert "onnxruntime" not in loaded and "matplotlib" not in loaded and "torch" in loaded


def test_training_does_not_load_the_augmenter():
    code = (
        "import sys\nfrom alembert.run.distill import distill\nfrom alembert.run.finetune import finetune\n"
        "assert 'alembert.augment.core' not in sys.modules, 'the augmenter is loaded by a run that does not augment'"
    )
    assert "torch" in _loaded_after(code)


def test_the_probe_sees_a_heavy_import():
    assert _loaded_after("import alembert.bench.flops\nimport torch") == ["torch"]
