"""The report is for a team lead who has no notebook open (issue 25): none of the notebook's
instructions to its user (the configuration cell, ``help(...)``, re-running cells, widgets that
need a kernel) reaches it; they live in cells tagged ``kernel-only``, which the report leaves out.

The committed notebooks are executed already (their outputs are what the report shows), so the
report's HTML is made from them directly, without a kernel."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from mavtools.views.report import KERNEL_ONLY_TAG, WIDGET_NOTE, report_html

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("capacity.ipynb", "explore.ipynb")
#: Words that only mean something to someone running the notebook.
INSTRUCTIONS = re.compile(
    r"help\(|configuration cell|configuration's|marked (?:cell|dictionary)|run (?:all|its|the) cells?"
    r"|re-run|Run All|kernel|widget below|type (?:your|its)|client=|restart"
    r"|(?-i:_OVERRIDE|WHAT_IF_POOL|WAIT_TARGET|WAIT_QUANTILE|HORIZON|TIMEZONE|TOP_POOLS|RATES|POOL_SIZES)\b",
    re.IGNORECASE,
)


class _Text(HTMLParser):
    """The text a reader sees: no script, style or hidden template."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _report_text(name: str) -> str:
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    body, _, _ = report_html(notebook, name=name)
    parser = _Text()
    parser.feed(body)
    # The report's own note where a widget stood says what the reader is missing; it is no
    # instruction to a notebook user.
    return " ".join(" ".join(parser.parts).replace(WIDGET_NOTE, "").split())


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_report_carries_no_instruction_for_the_notebook_user(name: str) -> None:
    text = _report_text(name)
    found = sorted({m.group(0) for m in INSTRUCTIONS.finditer(text)})
    assert not found, f"{name}'s report tells its reader {found}: tag that text kernel-only"
    assert len(text) > 5_000  # the report still says something (its tables and explanations)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebook_user_still_has_the_instructions(name: str) -> None:
    """Leaving them out of the report must not lose them: the notebook keeps them, tagged."""
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    tagged = "".join(
        c.source for c in notebook.cells if KERNEL_ONLY_TAG in c.metadata.get("tags", ())
    )
    assert "configuration cell" in tagged
    if name == "capacity.ipynb":
        assert "help(mt.allocation)" in tagged and "help(mt.simulate)" in tagged
    else:
        assert "re-run the cells below" in tagged
