"""Each figure on screen is drawn once per filter click, in JupyterLab (headless chromium).

The dashboard of 3,000 synthetic versions (``mavtools.local.synth.bulk``, unnamed workspaces, as
benchmarks/bench_browser.py shows) once drew every figure six times on the workspace filter's
*None*: the figures' column took its flex basis from the plots' own width, so each resize made
the plots a few pixels narrower, which resized them again. The draws are counted per figure with
plotly's ``plotly_afterplot`` (the hook of tests/test_browser.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from mavtools.frame import build_frame
from mavtools.local.synth import bulk
from mavtools.views.lab import LabCommand
from tests.browser_util import UI_TIMEOUT_MS, chromium, lab_page, require_chromium, serve_lab
from tests.test_browser import _AFTERPLOT_HOOK, SCREEN, _draws_since, run_notebook

pytestmark = pytest.mark.browser

SOURCE = """\
import polars as pl

import mavtools as mt

dashboard = mt.widgets.Dashboard(pl.read_parquet("versions.parquet"))
dashboard"""


@pytest.fixture
def synthetic_lab(tmp_path: Path) -> Iterator[LabCommand]:
    """JupyterLab on a one-cell notebook showing the dashboard of 3,000 synthetic versions."""
    require_chromium()
    root = tmp_path / "root"
    root.mkdir()
    build_frame([bulk(3_000, days=365)], "0").write_parquet(root / "versions.parquet")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(SOURCE)]
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3",
    }  # fmt: skip
    nbformat.write(notebook, root / "draws.ipynb")
    yield from serve_lab(root / "draws.ipynb", tmp_path, "jupyterlab-draws.log")


def test_each_figure_on_screen_is_drawn_once_per_click(synthetic_lab: LabCommand) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with chromium(allow_hosts=("127.0.0.1",), viewport=SCREEN) as (context, blocked):
        context.add_init_script(_AFTERPLOT_HOOK)
        page, errors = lab_page(context)
        run_notebook(page, synthetic_lab, synthetic_lab.notebook)
        dashboard = page.locator(".mavtools-dashboard")
        for name in ("allocation", "queue"):  # the two figures on screen are drawn
            plot = dashboard.locator(f".mavtools-figure-{name} .js-plotly-plot .main-svg")
            expect(plot.first).to_be_attached()
        dashboard.evaluate("e => e.scrollIntoView({block: 'start'})")
        summary = dashboard.locator(".mavtools-summary")
        workspaces = dashboard.locator(".mavtools-workspace-filter")
        for button, shown in (("none", "No versions match"), ("all", "3,000")):
            page.wait_for_timeout(1500)  # the previous draws are over
            t0 = page.evaluate("() => performance.now()")
            workspaces.locator(f".mavtools-filter-{button}").click()
            expect(summary).to_contain_text(shown)
            draws = _draws_since(page, t0)
            assert draws and set(draws.values()) == {1}, f"{button}: {dict(draws)}"
        assert blocked == [], f"the page tried to reach the network: {blocked}"
        assert errors == [], errors
