"""The HTML report: executed notebook -> one offline file with interactive figures.

The explore report is opened in headless chromium with every request other than ``file:`` aborted
and counted; the CLI tests run ``python -m mavtools report`` on small notebooks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from plotly.offline import get_plotlyjs

from mavtools.errors import MavtoolsError
from mavtools.views.mime import PLOTLY_MIMETYPE
from mavtools.views.report import (
    KERNEL_ONLY_TAG,
    WIDGET_NOTE,
    WIDGET_STATE_MIMETYPE,
    external_resources,
    report_html,
)
from mavtools.views.report_run import execute_notebook
from tests.browser_util import artifact, offline_page

ROOT = Path(__file__).resolve().parents[1]
EXPLORE = ROOT / "notebooks" / "explore.ipynb"


def _figures(outputs: Any) -> list[str]:
    return [
        json.dumps(o["data"][PLOTLY_MIMETYPE], sort_keys=True)
        for o in outputs or ()
        if PLOTLY_MIMETYPE in o.get("data", {})
    ]


def expected_plots(notebook: nbformat.NotebookNode) -> tuple[int, int]:
    """(plain plotly outputs, figures in widgets that are not also a plain output)."""
    plain = [f for cell in notebook.cells for f in _figures(cell.get("outputs"))]
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE_MIMETYPE, {}).get("state", {})
    nested = [
        f
        for model in state.values()
        if model["model_name"] == "OutputModel"
        for f in _figures(model["state"].get("outputs"))
    ] + [  # the dashboard's figures, redrawn in place (mavtools.views.plot.PlotView)
        json.dumps(model["state"]["figure"], sort_keys=True)
        for model in state.values()
        if model["state"].get("_anywidget_id") == "mavtools.views.plot.PlotView"
        and model["state"].get("figure")
    ]
    return len(plain), len([f for f in nested if f not in set(plain)])


@pytest.fixture(scope="module")
def explore() -> Iterator[nbformat.NotebookNode]:
    """explore.ipynb executed once over the bundled samples (module scope: ~10 s)."""
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith(("MODELARTS_", "OS_", "MAVTOOLS_")):
                env.delenv(name)
        yield execute_notebook(EXPLORE, timeout=300)


@pytest.mark.browser
def test_explore_report_is_interactive_offline_and_self_contained(
    explore: nbformat.NotebookNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    page_html, plots, origin = report_html(explore, name=EXPLORE.name)
    plain, nested = expected_plots(explore)
    assert plain >= 3 and plots == plain + nested
    assert origin.startswith("bundled sample data (synthetic, not your account)")
    assert report_html(explore, name=EXPLORE.name)[0] == page_html, "not deterministic"

    # One self-contained file: plotly.js inlined once, nothing from a network, stable ids.
    assert page_html.count(get_plotlyjs()[:300]) == 1
    assert 4_000_000 < len(page_html.encode()) < 4_000_000 + len(get_plotlyjs()) // 2
    assert external_resources(page_html) == []
    assert not re.search(r"<script[^>]+src=", page_html)
    assert "require.js" not in page_html and "MathJax.js" not in page_html
    ids = re.findall(r'\bid="(mavtools-plot-\d+)"', page_html)
    assert ids == [f"mavtools-plot-{n}" for n in range(1, plots + 1)]
    assert PLOTLY_MIMETYPE not in page_html.replace(get_plotlyjs(), "")
    path = artifact("report.html")
    path.write_text(page_html, encoding="utf-8")

    started = time.monotonic()
    with offline_page(path) as (page, blocked):
        drawn = page.locator(".js-plotly-plot:has(.main-svg)")
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0"
            " && document.querySelectorAll('.js-plotly-plot').length === n",
            arg=plots,
            timeout=30_000,
        )
        assert drawn.count() == plots
        assert page.evaluate("typeof window.Plotly.newPlot") == "function"
        header = page.locator(".mavtools-report-header")
        assert "explore" in header.inner_text()
        # Provenance in a compact footer: workspace names, not the query's ids.
        footer = page.locator(".mavtools-report-footer").inner_text()
        assert origin.split(" | ")[0] in footer and "vision-team" in footer
        assert "7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b" not in footer
        assert page.get_by_text(WIDGET_NOTE).count() >= 1
        assert page.locator(".jupyter-widgets, .widget-select").count() == 0

        # Interactive: a modebar (zoom) on each plot, hover text over a bar, legend toggles.
        assert page.locator(".js-plotly-plot .modebar-container").count() == plots
        versions = page.locator(".js-plotly-plot", has_text="Versions created per").first
        versions.scroll_into_view_if_needed()
        versions.locator(".point path").first.hover(force=True)
        page.wait_for_selector(".hoverlayer .hovertext", timeout=10_000)
        versions.locator(".legend .traces").first.click()
        page.wait_for_function(
            "el => el.data.some(t => t.visible === 'legendonly')",
            arg=versions.element_handle(),
            timeout=10_000,
        )
        page.mouse.move(0, 0)
        page.screenshot(path=artifact("report.png"), full_page=True)
        assert blocked == [], f"the report tried to load {blocked}"
    print(
        f"{plots} plots ({plain} plain, {nested} in widgets), browser {time.monotonic() - started:.1f} s"
    )


def _notebook(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


def _mavtools(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mavtools", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


_SMALL = (
    "import mavtools as mt\nimport plotly.graph_objects as go\nimport ipywidgets as w\n"
    "from IPython.display import display\n"
    "print(mt.provenance(mt.load_versions()))",
    "shown = go.Figure(go.Bar(x=['a', 'b'], y=[1, 2], name='</script><b>x'))\n"
    "only_in_widget = go.Figure(go.Scatter(x=[1, 2], y=[3, 1]))\n"
    "out = w.Output()\nwith out:\n    display(shown)\n    display(only_in_widget)\n"
    "label = w.Label('3 versions')\nw.VBox([w.SelectMultiple(options=['p1', 'p2']), label, out])",
    "shown",
)


def test_cli_report_is_deterministic_and_keeps_widget_figures(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path / "small.ipynb", *_SMALL)
    env = {"SOURCE_DATE_EPOCH": "1790000000"}
    first = _mavtools(
        "report", "--timeout", "60", str(notebook), "-o", str(tmp_path / "a.html"), env=env
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"Wrote {tmp_path / 'a.html'} (2 interactive figures")
    second = _mavtools(
        "report", "--timeout", "60", str(notebook), "-o", str(tmp_path / "b.html"), env=env
    )
    assert second.returncode == 0, second.stderr
    page_html = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert (tmp_path / "b.html").read_text(encoding="utf-8") == page_html

    assert "Generated 2026-09-21 " in page_html and "bundled sample data" in page_html
    # The widget view: the note, the label's text, the figure only the widget showed; the
    # figure that is also a plain output is drawn once; the select is left out.
    assert page_html.count(WIDGET_NOTE) == 1 and 'widget-text">3 versions</p>' in page_html
    assert page_html.count('class="mavtools-plot"') == 2
    assert "</script><b>" not in page_html and "<\\/script><b>x" in page_html
    assert "<select" not in page_html
    assert not list(tmp_path.glob(".*.tmp"))
    # For readers: no code by default, and nothing on stderr (no kernel transport warning).
    assert "only_in_widget = go.Figure" not in page_html
    assert first.stderr == second.stderr == ""


def test_cli_report_names_the_failing_cell_error(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path / "bad.ipynb", "x = 1", "1 / 0")
    result = _mavtools("report", str(notebook), "-o", str(tmp_path / "bad.html"))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "mavtools: error: Cell 2 of bad.ipynb failed: ZeroDivisionError: division by zero"
        )
    )
    assert not (tmp_path / "bad.html").exists()


def test_code_is_shown_on_request_and_kernel_only_cells_never(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    kernel_only = nbformat.v4.new_markdown_cell("Enter your pool sizes in the marked cell.")
    kernel_only.metadata["tags"] = [KERNEL_ONLY_TAG]
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Usage by workspace"),
        kernel_only,
        nbformat.v4.new_code_cell("usage_by_workspace = 1"),
    ]
    hidden, _, _ = report_html(notebook, name="n.ipynb")
    shown, _, _ = report_html(notebook, name="n.ipynb", show_code=True)
    for page in (hidden, shown):
        assert "Usage by workspace" in page and "pool sizes" not in page
    assert "usage_by_workspace" not in hidden and "usage_by_workspace" in shown


def test_missing_notebook_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(MavtoolsError, match="Cannot read the notebook"):
        execute_notebook(tmp_path / "nope.ipynb")


def test_external_resources_finds_what_a_browser_would_fetch() -> None:
    page = (
        '<script src="https://cdn.example/require.js"></script>'
        "<link rel=stylesheet href=//fonts.example/x.css>"
        '<img src="data:image/png;base64,AAAA"><a href="https://plotly.com">plotly</a>'
        '<script>var u = "https://cdn.example/in-a-string.js";</script>'
    )
    assert external_resources(page) == ["https://cdn.example/require.js", "//fonts.example/x.css"]
