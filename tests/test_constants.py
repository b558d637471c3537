"""Each private constant of the package is defined once: a second module imports it.

Two definitions of ``_MAX_EPOCH_MS`` (one per reader) can drift apart; one definition and imports
cannot. A private constant is a module-level ``_UPPER_CASE`` name bound by an assignment.
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
