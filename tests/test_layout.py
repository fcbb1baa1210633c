"""The package's layout holds: no import cycle (any import counts: at the top, inside a
function, or for type checking only), dependencies between subpackages point one way, no
module is long, and the public API is where the README says."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "benchmarks")
#: What each subpackage of ``sim`` may import (besides itself), as its docstring says.
ALLOWED = {
    "core": set(),
    "network": {"core"},
    "engines": {"core"},
    "model": {"core", "network", "engines"},
    "io": {"core"},
    "analysis": {"core", "io"},
    "viz": {"core"},
    "app": {"core", "network", "engines", "model", "io", "analysis", "viz"},
}
#: ``sim/__init__.py`` and ``sim/__main__.py`` expose the app and the model.
TOP = {"app", "model", "core"}
MAX_LINES = 320  # "about 300"


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Modules of this repository that ``path`` (module ``name``) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` imports the module; else the names are in `base`.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]  # fmt: skip
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    found = modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(found)
    for name, path in found.items():
        graph.add_edges_from((name, target) for target in imports_of(path, name, set(found)))
    return graph


def test_the_import_graph_sees_the_known_dependencies(graph):
    assert graph.has_edge("sim.model.ecosystem", "sim.model.metrics")
    assert graph.has_edge("sim.app.runner", "sim.model.ecosystem")
    assert graph.has_edge("benchmarks.reference", "sim.core.params")
    assert graph.number_of_edges() > 80


def test_no_import_cycle(graph):
    cycles = list(nx.simple_cycles(graph))
    assert cycles == [], f"import cycles: {cycles}"


def subpackage(module: str) -> str | None:
    """``core`` for ``sim.core.params``; None for ``sim`` and ``sim.__main__`` (the top)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


def test_dependencies_between_subpackages_point_one_way(graph):
    wrong = []
    for source, target in graph.edges:
        if not (source.startswith("sim.") and target.startswith("sim.")):
            continue
        mine, theirs = subpackage(source), subpackage(target)
        allowed = ALLOWED.get(mine, TOP) | {mine}
        if theirs is not None and theirs not in allowed:
            wrong.append(f"{source} -> {target}")
    assert wrong == []


def test_sim_is_not_flat():
    flat = sorted(p.name for p in (ROOT / "sim").glob("*.py"))
    assert flat == ["__init__.py", "__main__.py"]
    for name in ALLOWED:
        docstring = ast.get_docstring(ast.parse((ROOT / "sim" / name / "__init__.py").read_text()))
        assert docstring and "import" in docstring  # says what it owns and may import


def test_no_module_is_long():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}  # fmt: skip
    assert long == {}


def test_the_public_api_is_unchanged():
    code = "from sim import ConfigError, Ecosystem, ProfileError, run; print(Ecosystem.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Ecosystem"
