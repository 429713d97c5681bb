"""The package's layers: imports only point down (no cycles), and every subpackage imports on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "alignrec"

# Bottom to top; a package may import packages of lower layers only (docs/architecture.md).
LAYERS = [
    {"errors", "io", "openmp", "progress", "tables"},
    {"config"},
    {"data"},
    {"evaluation"},
    {"models"},
    {"training"},
    {"content"},
    {"runs"},
    {"serving", "reporting"},
    {"cli"},
]
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}


def package_of(module: str) -> str:
    """``alignrec.runs.train`` -> ``runs``; the top-level ``alignrec`` (public API) and ``__main__`` are ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__main__" else ""


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every ``alignrec`` module imported anywhere in the file (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("alignrec"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("alignrec"))
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        source = package_of(module_name(path))
        targets = {package_of(m) for m in imports_of(path)} - {"", source}
        graph.setdefault(source, set()).update(t for t in targets if t in LAYER_OF)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a list of nodes, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_every_package_has_a_layer() -> None:
    packages = {package_of(module_name(p)) for p in SRC.rglob("*.py")} - {""}
    assert packages <= set(LAYER_OF), f"add {sorted(packages - set(LAYER_OF))} to LAYERS and docs/architecture.md"


def test_imports_only_point_down() -> None:
    wrong = [f"{source} -> {target}" for source, targets in package_graph().items() if source
             for target in targets if LAYER_OF[target] >= LAYER_OF[source]]
    assert not wrong, f"imports that do not point down a layer: {wrong}"


def test_no_import_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    for name, path in modules.items():
        graph[name] = {m for m in imports_of(path) if m in modules and m != name}
    # a package's __init__ re-exports its modules; only cycles through other modules count
    for name in graph:
        graph[name] = {m for m in graph[name] if not (modules[m].name == "__init__.py" and name.startswith(m + "."))}
    assert find_cycle(graph) is None, f"import cycle: {find_cycle(graph)}"


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_each_subpackage_imports_alone() -> None:
    names = sorted({module_name(p) for p in SRC.glob("*/__init__.py")} | {"alignrec.config", "alignrec.io"})
    procs = {name: subprocess.Popen([sys.executable, "-c", f"import {name}"], stderr=subprocess.PIPE, text=True)
             for name in names}
    failed = {name: proc.communicate()[1].strip().splitlines()[-1:] for name, proc in procs.items()
              if proc.wait() != 0}
    assert not failed, failed


def test_the_worked_example_in_docs_trains(tiny_folder: Path) -> None:
    """docs/architecture.md's "Adding a model" example is real code: it registers, trains and scores."""
    from alignrec import DataConfig, RunConfig, RuntimeOptions, TrainConfig, train
    from alignrec.models import REGISTRY

    doc = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    module = types.ModuleType("popbpr_example")
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    try:
        exec(compile(code, "docs/architecture.md", "exec"), module.__dict__)
        config = RunConfig(data=DataConfig(path=str(tiny_folder)), model="popbpr", params={"reg_weight": 0.001},
                           train=TrainConfig(epochs=2))
        result = train(config, runtime=RuntimeOptions(progress=False))
        assert len(result.history) == 2 and 0.0 <= result.test["recall@20"] <= 1.0
    finally:
        REGISTRY.pop("popbpr", None)
        sys.modules.pop(module.__name__, None)
