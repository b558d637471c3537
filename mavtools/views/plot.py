"""A plotly figure that a dashboard updates in place: one ``Plotly.react`` per change.

JupyterLab's plotly renderer builds a new plot for every new output and draws it about four
times (a first draw, an off-screen copy for a PNG snapshot, a second draw, a resize redraw), so a
dashboard that replaces an ``Output``'s figure on each filter change pays four draws per figure
(see ``/work/shared/reference/stack-notes.md``, "Felt dashboard latency"). :class:`PlotView`
keeps one plot per figure and hands each new figure to ``Plotly.react``, which diffs it against
the plot on screen and draws once.

Decisions:

* An ``anywidget.AnyWidget`` of our own rather than plotly's ``go.FigureWidget``: the
  FigureWidget's front end applies changes as ``addTraces`` / ``deleteTraces`` / ``update``
  messages (one draw each when the number of traces changes, as it does here when a filter
  narrows the pools), and it validates every property in Python on each change. Here one trait,
  :attr:`PlotView.figure`, holds the whole figure as plotly's JSON (the same dict plotly's
  ``plotly_mimetype`` renderer shows), and one assignment is one message and one redraw.
* plotly.js comes from the plotly wheel (``plotly/package_data/plotly.min.js``, the version the
  Python package was built against), inlined in the widget's module: nothing is loaded from a
  CDN, so the dashboard works offline. The module is about 5 MB per figure when the dashboard is
  first shown (as with ``go.FigureWidget``); filter changes send only the figure's JSON.
* The modebar downloads the figure as PNG (plotly's own button, at the scale the figure's
  config asks) and as SVG (:mod:`mavtools.views.modebar`'s button, the report's: plotly.js has
  none by name, and a button with a ``click`` function cannot travel in the figure's JSON). Both
  files are named after the figure.
* The figure travels as JSON text in one binary buffer (:attr:`PlotView._json`), not as a
  synced dict: ipywidgets walks a synced dict element by element looking for binary values
  (two ``isinstance`` calls per number) and the kernel's message encoder walks it again;
  ``json.dumps`` once is about a millisecond per figure.
* A changed figure out of sight is redrawn when it comes into view (an
  ``IntersectionObserver``; 200 px ahead where the window itself scrolls, at the edge where a
  panel scrolls, as JupyterLab's notebook does), not at once: a filter click waits only for
  the figures on screen (on a 1280x800 screen, the allocation figure and the top of the
  queue's), and a figure below is brought up to date, in one draw, as the page scrolls to it.
* The plot is created when the view has a width (JupyterLab attaches the view after
  ``render``), and follows the width of its box afterwards.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import anywidget
import traitlets

from mavtools.views.modebar import SVG_BUTTON_JS

__all__ = ["PlotView"]

# plotly.min.js, evaluated in the page's global scope, sets window.Plotly (its UMD wrapper finds
# no CommonJS or AMD loader there). ``Plotly.react`` diffs the new figure against the one shown.
_RENDER = """
function plotly() {
  // One evaluation per page, whichever figure comes first: a 5 MB string literal parses much
  // faster than 5 MB of code, so the other figures' modules load quickly.
  if (!window.Plotly) (0, eval)(PLOTLY_JS);
  return window.Plotly;
}

function render({ model, el }) {
  const Plotly = plotly();
  const div = document.createElement("div");
  div.style.width = "100%";
  el.appendChild(div);
  let drawn = false;
  // One button object for the view's life: Plotly.react compares the config by reference and
  // would build a new plot for a new button on every change. It reads the camera's options of
  // the figure drawn last.
  let image = {};
  const svg = window.mavtoolsSvgButton(Plotly, () => image);
  const draw = () => {
    const bytes = model.get("_json");
    const fig = bytes && bytes.byteLength ? JSON.parse(new TextDecoder().decode(bytes)) : {};
    const given = fig.config || {};
    // The PNG button (plotly's own "toImage") and the SVG one, both named after the figure.
    image = { ...(given.toImageButtonOptions || {}), filename: model.get("filename") };
    const config = {
      ...given,
      responsive: false,
      toImageButtonOptions: image,
      modeBarButtonsToAdd: [
        ...(given.modeBarButtonsToAdd || []).filter(b => b.name !== svg.name), svg,
      ],
    };
    const call = drawn ? Plotly.react : Plotly.newPlot;
    drawn = true;
    return call(div, fig.data || [], fig.layout || {}, config);
  };
  // A plot out of sight is brought up to date when it comes near the window, not on every
  // change: a click then waits for the figures a person sees, not for all of them.
  let near = false, staleData = false, staleSize = false;
  const refresh = () => {
    if (!drawn || !near) return;
    if (staleData) { staleData = false; draw(); }
    if (staleSize) { staleSize = false; Plotly.Plots.resize(div); }
  };
  const seen = new IntersectionObserver(entries => {
    near = entries[entries.length - 1].isIntersecting;
    refresh();
  }, { rootMargin: "200px" });
  seen.observe(el);
  let width = 0;
  const resized = new ResizeObserver(entries => {
    const w = Math.round(entries[entries.length - 1].contentRect.width);
    if (!w || w === width) return;  // hidden, or a height change only
    const first = width === 0;
    width = w;
    if (first && !drawn) draw();
    else if (drawn) { staleSize = true; refresh(); }
  });
  resized.observe(el);
  const changed = () => { staleData = true; refresh(); };
  model.on("change:_json", changed);
  return () => {
    seen.disconnect();
    resized.disconnect();
    model.off("change:_json", changed);
    Plotly.purge(div);
  };
}

export default { render };
"""


@functools.cache
def _module() -> str:
    plotly_js = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_text()
    return f"const PLOTLY_JS = {json.dumps(plotly_js)};\n{SVG_BUTTON_JS}\n{_RENDER}"


class PlotView(anywidget.AnyWidget):  # type: ignore[misc]
    """One plotly figure on the page, redrawn in place when :attr:`figure` is assigned.

    Attributes:
        figure: the figure as plotly's JSON (``{"data": [...], "layout": {...}, "config": {...}}``,
            what plotly's ``plotly_mimetype`` renderer shows); assign a new dict to redraw.
        filename: the name (without extension) of the PNG and SVG files its modebar downloads.

    Example:
        >>> view = PlotView(figure={"data": [{"type": "bar", "y": [1, 2]}], "layout": {}})
        >>> view.figure = {"data": [{"type": "bar", "y": [2, 1]}], "layout": {}}  # one redraw
    """

    figure = traitlets.Dict()
    filename = traitlets.Unicode("figure").tag(sync=True)
    #: :attr:`figure` as JSON text, what travels to the page (one binary buffer).
    _json = traitlets.Bytes(b"").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(_esm=_module(), **kwargs)
        self._encode()

    @traitlets.observe("figure")
    def _encode(self, _change: Any = None) -> None:
        # Plain JSON (NaN has no JSON form: plotly's own encoder writes null for it upstream).
        self._json = json.dumps(self.figure, separators=(",", ":"), allow_nan=False).encode()
