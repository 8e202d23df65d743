"""The package's structure: acyclic module-level imports, backend code in backends/, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cleora_tensor"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Package modules imported at module level (not inside functions) by ``name``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    if name == "":
        package = []
    found = set()
    for node in ast.parse(path.read_text()).body:
        if not (isinstance(node, ast.ImportFrom) and node.level):
            continue
        base = package[: len(package) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
        for alias in node.names:
            submodule = f"{target}.{alias.name}".lstrip(".")
            found.add(submodule if submodule in modules else target)
    return {m for m in found if m in modules and m != name}


def test_module_level_imports_have_no_cycle():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if other == "":  # the package itself re-exports; importing it is not a module edge
                continue
            if state.get(other) == 1:
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(other):] + [other]))
            if other not in state:
                visit(other, trail + [other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_array_library_dispatch_lives_in_backends():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "backends" not in path.parts and ("host_views" in path.read_text() or "is_numpy" in path.read_text())
    ]
    assert offenders == []


def test_modules_stay_small():
    long = {
        name: len(path.read_text().splitlines())
        for name, path in _modules().items()
        if len(path.read_text().splitlines()) > 420
    }
    assert long == {}


def _closure(name: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for other in graph[todo.pop()] - seen - {""}:
            seen.add(other)
            todo.append(other)
    return seen


@pytest.mark.parametrize(
    ("stage", "later"),
    [
        ("io", {"hypergraph", "markov", "propagation", "pipeline", "embedding"}),
        ("hypergraph", {"io", "init", "markov", "propagation", "pipeline", "embedding"}),
        ("markov", {"io", "hypergraph", "propagation", "pipeline", "embedding"}),
        ("propagation", {"io", "hypergraph", "markov", "pipeline", "embedding"}),
    ],
)
def test_data_flows_one_way(stage, later):
    # input -> hypergraph -> transition matrix -> backend -> loop -> Embedding:
    # a stage never imports another stage (only pipeline composes them).
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _closure(stage, graph) & later == set()
