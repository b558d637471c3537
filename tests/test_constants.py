"""Each constant of the package is defined once: a second module imports it.

Two definitions of ``_MAX_EPOCH_MS`` (one per reader) can drift apart; one definition and imports
cannot. A private constant is a module-level ``_UPPER_CASE`` name bound by an assignment; a value
(a string, a pattern, a type) bound to two constants, under any names, is a copy too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mavtools"
PRIVATE_CONSTANT = re.compile(r"_[A-Z][A-Z0-9_]*")


def private_constants(source: str) -> list[str]:
    """The private constants a module's top level assigns (imports are not definitions)."""
    names = []
    for node in ast.parse(source).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign) and node.value is not None
            else []
        )
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and PRIVATE_CONSTANT.fullmatch(name.id):
                    names.append(name.id)
    return names


def test_no_private_constant_is_defined_in_two_modules():
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in private_constants(path.read_text(encoding="utf-8")):
            where.setdefault(name, []).append(str(path.relative_to(PACKAGE.parent)))
    twice = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not twice, twice
    assert "_MAX_EPOCH_MS" in where  # the walk does see the constants it judges


def test_what_counts_as_a_private_constant():
    source = (
        "from m import _IMPORTED\n"
        "_LIMIT = 5\n"
        "_TYPED: int = 6\n"
        "_A, _B = 1, 2\n"
        "_lower = 7\n"
        "PUBLIC = 8\n"
        "def f():\n    _LOCAL = 9\n"
    )
    assert private_constants(source) == ["_LIMIT", "_TYPED", "_A", "_B"]


def constant_values(source: str) -> list[tuple[str, str]]:
    """``(name, source text of the value)`` of each UPPER_CASE name a module's top level binds."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id.lstrip("_").isupper():
            found.append((target.id, ast.unparse(value)))
    return found


#: The stand-in server keeps its own reading of the API (paging modes, sort fields) on purpose:
#: were it to import the client's, a misreading would be shared and no test could catch it.
OWN_READING = "mavtools/local/fake/"


def test_no_value_is_bound_as_two_constants():
    """Strings, patterns and types, compared by their source text. Numbers coincide by accident
    (1000 is a page size and a millisecond count); empty containers are registries, not values."""
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = str(path.relative_to(PACKAGE.parent))
        if module.startswith(OWN_READING):
            continue
        for name, value in constant_values(path.read_text(encoding="utf-8")):
            if len(value) > 5 and not value.replace("_", "").replace(" * ", "").isdigit():
                where.setdefault(value, []).append(f"{module}:{name}")
    twice = {value: names for value, names in where.items() if len(names) > 1}
    assert not twice, twice
    assert "'application/vnd.plotly.v1+json'" in where  # the walk sees the values it judges


def test_what_counts_as_a_constant_value():
    source = (
        'MIME = "application/json"\n'
        '_PATTERN: Final = re.compile("[a-z]+")\n'
        "_A, _B = 1, 2\n"
        "lower = 3\n"
        "def f():\n    LOCAL = 4\n"
    )
    assert constant_values(source) == [
        ("MIME", "'application/json'"),
        ("_PATTERN", "re.compile('[a-z]+')"),
    ]
