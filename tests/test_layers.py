"""Data flows one way: the package's imports, read from its source, keep the layers apart.

Every ``import`` of every module counts, those inside functions too (a lazy import is still a
dependency). The units are the subpackages (``api``, ``store``, ``analysis``, ``views``,
``local``) and the top-level modules (``frame``, ``cli``, ...).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mavtools"

#: The layers below the views and the stand-in server: they serve both and import neither.
LOWER = ("api", "store", "analysis", "frame", "frame_v2", "statuses", "errors", "provenance")
#: What a lower layer must not import.
UPPER = ("local", "views")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """The mavtools modules ``path`` imports, with the line, relative imports resolved."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # "from mavtools import statuses" imports the module mavtools.statuses
                full = f"{base}.{alias.name}"
                yield (full if is_module(full) else base), node.lineno


def unit(dotted: str) -> str | None:
    """The subpackage or top-level module a mavtools module belongs to (None: not mavtools)."""
    parts = dotted.split(".")
    if parts[0] != "mavtools":
        return None
    return parts[1] if len(parts) > 1 else "mavtools"


def graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> where (``file:line``), over every module of the package."""
    edges: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = unit(module_name(path))
        assert source is not None
        edges.setdefault(source, {})
        for imported, line in imports_of(path):
            target = unit(imported)
            if target is not None and target != source:
                where = f"{path.relative_to(PACKAGE.parent)}:{line}"
                edges[source].setdefault(target, []).append(where)
    return edges


def cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (each reported once, from its first node)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for target in sorted(edges.get(node, {})):
            visit(target, [*path, node])
        done.add(node)

    for start in sorted(edges):
        visit(start, [])
    return found


def test_the_walk_sees_the_imports_it_must_judge():
    edges = graph()
    # If these were missing the checks below would pass on nothing.
    assert "api" in edges["store"] and "frame" in edges["store"]
    assert "local" in edges["load"] and "store" in edges["load"]
    assert "views" in edges["cli"]  # a lazy import inside a function counts
    assert {"api", "store", "analysis", "views", "local"} <= set(edges)


def test_lower_layers_import_neither_the_stand_in_nor_the_views():
    edges = graph()
    wrong = {
        f"{lower} -> {upper}": edges[lower][upper]
        for lower in LOWER
        for upper in UPPER
        if upper in edges.get(lower, {})
    }
    assert not wrong, wrong


def test_no_import_cycle_between_subpackages_and_modules():
    edges = graph()
    found = cycles(edges)
    described = [
        " -> ".join(cycle) + f" (first at {edges[cycle[0]][cycle[1]][0]})" for cycle in found
    ]
    assert not found, described


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b": ["x:1"]}, "b": {"c": ["x:2"]}, "c": {"a": ["x:3"]}, "d": {"a": ["x:4"]}}
    assert cycles(edges) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b": []}, "b": {}}) == []


#: A module a newcomer can read in one sitting (issue 21); split along a seam past it.
MAX_LINES = 600


def test_every_module_fits_in_one_sitting():
    too_long = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
