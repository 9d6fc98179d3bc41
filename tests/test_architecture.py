"""The shape of the code: dependencies run one way (schema <- model <- outputs), no import circles
between sim/ modules or between sim/ and analysis/, the schema imports no runtime, sim imports analysis
only in the command line (which draws the figures it passes to the folders), and no module is large.
Imports are read with ``ast`` from the sources, every import counted (inside functions and
TYPE_CHECKING blocks too)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

from .helpers import ROOT

PACKAGES = ("sim", "analysis")
SCHEMA_MAY_IMPORT = {"sim.catalog", "sim.topology", "sim.traces", "sim.units"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _graph() -> nx.DiGraph:
    sources = _sources()
    graph = nx.DiGraph()
    graph.add_nodes_from(sources)
    for name, path in sources.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            for target in targets:
                if target in sources and target != name:
                    graph.add_edge(name, target)
    return graph


def test_no_import_circles() -> None:
    graph = _graph()
    # the reader sees the imports there are (relative, from a package, inside functions)
    assert {("sim.runner", "sim.engine.world"), ("sim.engine.world", "sim.schema"), ("sim.cli", "sim.runner"),
            ("analysis.memo", "sim.folders")} <= set(graph.edges)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, cycles[:5]


def test_the_schema_imports_no_runtime() -> None:
    graph = _graph()
    for name in graph:
        if name.startswith("sim.schema"):
            outside = {t for t in graph.successors(name) if not t.startswith("sim.schema")}
            assert outside <= SCHEMA_MAY_IMPORT, (name, outside - SCHEMA_MAY_IMPORT)


def test_sim_imports_analysis_only_in_the_command_line() -> None:
    graph = _graph()
    importers = {a for a, b in graph.edges if a.startswith("sim") and b.startswith("analysis")}
    assert importers <= {"sim.cli"}, importers


def test_no_module_is_large_and_the_world_is_small() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in _sources().items()}
    large = {name: n for name, n in sizes.items() if n > 500}
    assert not large, large
    tree = ast.parse((ROOT / "sim" / "engine" / "world.py").read_text(encoding="utf-8"))
    (world,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "World"]
    assert world.end_lineno - world.lineno + 1 <= 250
