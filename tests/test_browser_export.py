"""Every figure saves a PNG and an SVG from its modebar, one click each (issue 25), offline.

In headless Debian chromium: the report's HTML file opened directly, and a figure as plotly's
``notebook`` renderer shows it (``mt.style.Figure``'s display, plotly.js inlined beside it).
Each modebar offers the camera (PNG) and the SVG button; clicking each downloads that file, made
in the page: no request leaves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from plotly.offline import get_plotlyjs

import mavtools as mt
from mavtools.views.modebar import SVG_TITLE
from mavtools.views.report import report_html
from tests.browser_util import artifact, offline_page

ROOT = Path(__file__).resolve().parents[1]
PNG_TITLE = "Download plot as a PNG"  # plotly.js's camera, format png


def _downloads(page: Any, plot: Any) -> dict[str, tuple[str, bytes]]:
    """Click the PNG and the SVG button of one plot: format -> (file name, content)."""
    found: dict[str, tuple[str, bytes]] = {}
    for name, title in (("png", PNG_TITLE), ("svg", SVG_TITLE)):
        plot.scroll_into_view_if_needed()
        plot.hover()  # the modebar shows on hover
        button = plot.locator(f'.modebar-btn[data-title="{title}"]')
        assert button.count() == 1, f"no '{title}' button in the modebar"
        with page.expect_download(timeout=30_000) as info:
            button.click()
        download = info.value
        found[name] = (download.suggested_filename, Path(download.path()).read_bytes())
    return found


def _check(found: dict[str, tuple[str, bytes]]) -> None:
    png_name, png = found["png"]
    svg_name, svg = found["svg"]
    assert png_name.endswith(".png") and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert svg_name.endswith(".svg") and svg.lstrip().startswith(b"<svg")
    assert b"main-svg" in svg or b"<g" in svg  # a drawing, not an empty file


def test_report_figures_save_png_and_svg_from_the_modebar() -> None:
    notebook = nbformat.read(ROOT / "notebooks" / "capacity.ipynb", as_version=4)
    body, plots, _ = report_html(notebook, name="capacity.ipynb")
    assert plots > 0
    path = artifact("export-report.html")
    path.write_text(body, encoding="utf-8")
    with offline_page(path) as (page, blocked):
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot .modebar-container').length === n",
            arg=plots,
            timeout=60_000,
        )
        # Every figure offers both, and none the cloud upload.
        assert page.locator(f'.modebar-btn[data-title="{SVG_TITLE}"]').count() == plots
        assert page.locator(f'.modebar-btn[data-title="{PNG_TITLE}"]').count() == plots
        assert page.locator('.modebar-btn[data-title="Share chart..."]').count() == 0
        _check(_downloads(page, page.locator(".js-plotly-plot").first))
        assert blocked == [], f"the report tried to load {blocked}"


def test_notebook_renderer_figures_save_png_and_svg_from_the_modebar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fig = mt.style.Figure(go.Bar(x=["pool-a", "pool-b"], y=[3, 5]))
    fig.update_layout(title="GPU-hours by pool")
    monkeypatch.setattr(pio.renderers, "default", "notebook")
    # What the notebook shows: the figure's display with plotly's notebook renderer (plotly.js
    # itself comes from the renderer's one-time init, inlined here as in a notebook page).
    html = fig._repr_mimebundle_()["text/html"]
    path = artifact("export-notebook.html")
    path.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><script>{get_plotlyjs()}</script>"
        f"</head><body>{html}</body></html>",
        encoding="utf-8",
    )
    with offline_page(path) as (page, blocked):
        plot = page.locator(".js-plotly-plot")
        page.wait_for_selector(f'.modebar-btn[data-title="{SVG_TITLE}"]', state="attached")
        assert page.locator('.modebar-btn[data-title="Share chart..."]').count() == 0
        _check(_downloads(page, plot.first))
    # plotly's notebook renderer asks for MathJax from a CDN (its own choice, not mavtools'):
    # the page works without it; the figure itself loads nothing.
    assert all("mathjax" in url.lower() for url in blocked), blocked
