"""The sandbox's modules import each other without a cycle.

A cycle (state.py and webhooks.py used to import each other) makes import order matter and hides
which module owns what; deliveries live in their own module so both sides depend on it instead.
`TYPE_CHECKING` imports count too: a cycle that only type checkers see is still a tangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_scrapingpros.sandbox as sandbox_package

PACKAGE = "airflow_provider_scrapingpros.sandbox"
SANDBOX_DIR = Path(sandbox_package.__file__).parent


def _sandbox_imports(source: str) -> set[str]:
    """Names of the sandbox modules that `source` imports (relative or absolute)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                base = node.module
            elif node.level == 0 and node.module is not None and node.module.startswith(PACKAGE):
                base = node.module[len(PACKAGE) + 1 :] or None
            else:
                continue
            if base is None:  # `from . import urls`: each name is a module
                found.update(alias.name for alias in node.names)
            else:
                found.add(base.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name[len(PACKAGE) + 1 :].split(".")[0])
    return found


def import_graph(folder: Path) -> dict[str, set[str]]:
    modules = {path.stem: path for path in folder.glob("*.py")}
    return {
        name: {target for target in _sandbox_imports(path.read_text()) if target in modules}
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            cycle = visit(target, [*path, node])
            if cycle is not None:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle is not None:
            return cycle
    return None


def test_no_sandbox_module_imports_in_a_cycle() -> None:
    graph = import_graph(SANDBOX_DIR)
    assert {"state", "webhooks", "deliveries"} <= graph.keys()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in sandbox/: " + " -> ".join(cycle or [])


def test_the_engine_and_the_webhook_pump_meet_only_in_deliveries() -> None:
    graph = import_graph(SANDBOX_DIR)
    assert "webhooks" not in graph["state"]
    assert "deliveries" in graph["state"] and "deliveries" in graph["webhooks"]


def test_the_cycle_finder_sees_a_cycle_through_type_checking_imports(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import y\n"
    )
    (tmp_path / "c.py").write_text("from . import a\n")
    (tmp_path / "d.py").write_text(f"from {PACKAGE}.a import z\n")
    graph = import_graph(tmp_path)
    assert graph["d"] == {"a"}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    (tmp_path / "c.py").write_text("import json\n")
    assert find_cycle(import_graph(tmp_path)) is None
