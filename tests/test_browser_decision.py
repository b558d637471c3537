"""The capacity notebook's what-if widget in JupyterLab (headless chromium): Run All, then pick
another pool and another number of nodes, and read that every line the widget shows follows.

Uses the JupyterLab harness of tests/test_browser.py (127.0.0.1 only, temporary Jupyter folders,
a copy of the notebook with its outputs cleared).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mavtools.views.lab import LabCommand
from tests.browser_util import (
    UI_TIMEOUT_MS,
    artifact,
    chromium,
    cleared_copy,
    lab_page,
    require_chromium,
    serve_lab,
)
from tests.test_browser import SCREEN, run_notebook

pytestmark = pytest.mark.browser

CAPACITY = Path(__file__).resolve().parents[1] / "notebooks" / "capacity.ipynb"


@pytest.fixture
def capacity_lab(tmp_path: Path) -> Iterator[LabCommand]:
    """JupyterLab on a fresh copy of capacity.ipynb (outputs cleared), always stopped."""
    require_chromium()
    root = tmp_path / "root"
    root.mkdir()
    yield from serve_lab(cleared_copy(CAPACITY, root), tmp_path, "jupyterlab-capacity.log")


def test_what_if_widget_follows_the_picked_pool(capacity_lab: LabCommand) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with chromium(allow_hosts=("127.0.0.1",), viewport=SCREEN) as (context, blocked):
        page, errors = lab_page(context)
        run_notebook(page, capacity_lab, capacity_lab.notebook)
        error = page.locator(".jp-OutputArea-output[data-mime-type*='error']")
        assert not error.count(), error.first.inner_text()

        widget = page.locator(".mavtools-what-if-nodes")
        expect(widget).to_have_count(1)
        widget.scroll_into_view_if_needed()
        text = widget.locator(".mavtools-what-if-text")
        table = widget.locator(".mavtools-what-if-table")
        figure = widget.locator(".mavtools-what-if-figure .js-plotly-plot")
        expect(text).to_have_text(re.compile(r"^pool-a100-research: today 2 nodes \(16 GPUs\)"))
        expect(text).to_contain_text("with 4 nodes (32 GPUs)")
        expect(table).to_contain_text("pool-a100-research replayed at whole-node sizes")
        expect(widget.locator(".mavtools-what-if-slider .widget-readout")).to_have_text("4")

        widget.locator(".mavtools-what-if-pool select").select_option("pool-ascend-910")
        expect(text).to_have_text(re.compile(r"^pool-ascend-910: today 3 nodes \(12 NPUs\)"))
        expect(table).to_contain_text("pool-ascend-910 replayed at whole-node sizes")
        expect(table).not_to_contain_text("pool-a100-research")
        page.wait_for_function(
            "p => p.layout && p.layout.title.text.includes('pool-ascend-910')",
            arg=figure.element_handle(),
        )
        # One step of the slider is one node of 4 NPUs.
        readout = widget.locator(".mavtools-what-if-slider .widget-readout")
        start = int(readout.inner_text())
        widget.locator(".mavtools-what-if-slider .noUi-handle").press("ArrowRight")
        expect(readout).to_have_text(str(start + 1))
        expect(text).to_contain_text(f"with {start + 1} nodes ({4 * (start + 1)} NPUs)")
        widget.scroll_into_view_if_needed()
        page.screenshot(path=artifact("capacity-what-if-nodes.png"))
        assert blocked == [], f"the page tried to reach the network: {blocked}"
        assert errors == [], errors
