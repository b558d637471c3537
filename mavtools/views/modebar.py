"""PNG and SVG export, each one click away in a figure's modebar, offline.

plotly.js's camera button exports one format (``toImageButtonOptions.format``: PNG in
:data:`mavtools.views.style.CONFIG`). A second button needs a JavaScript ``click`` function in
``modeBarButtonsToAdd`` (plotly.js's config reference), which the JSON config that plotly.py
sends cannot carry. So the SVG button is JavaScript, added wherever mavtools writes the page's
script:

* the report (:mod:`mavtools.views.report`): :data:`SVG_BUTTON_JS` in its ``<head>``, each figure
  drawn with ``mavtoolsModebar(Plotly, config)``;
* plotly.py's HTML renderers (``notebook``, ``iframe``, ``browser``): :func:`svg_post_script`,
  which :class:`mavtools.views.style.Figure` passes as ``post_script``;
* the dashboard's ``PlotView`` (:mod:`mavtools.views.plot`): :data:`SVG_BUTTON_JS` in its module,
  one ``mavtoolsSvgButton`` per view.

JupyterLab's own plotly renderer (the ``plotly_mimetype`` output the committed notebooks hold)
draws the figure from JSON only and runs no script of ours: there the camera saves the PNG, and
the SVG is saved from the report or the dashboard. Both downloads are made in the page by
plotly.js (``Plotly.downloadImage``): nothing is uploaded and nothing is loaded from a network.
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = ["SVG_BUTTON_JS", "SVG_TITLE", "svg_post_script"]

#: The SVG button's tooltip (plotly.js names the camera "Download plot as a PNG").
SVG_TITLE: Final = "Download plot as an SVG"
#: Defines, once per page (evaluating it again is harmless):
#:
#: * ``window.mavtoolsSvgButton(Plotly, image)``: the SVG button; ``image()`` gives the camera's
#:   ``toImageButtonOptions`` when clicked, so the SVG keeps the camera's file name and size. A
#:   view that redraws with ``Plotly.react`` makes one button for its life (react compares the
#:   config by reference and would build a new plot for a new button);
#: * ``window.mavtoolsModebar(Plotly, config)``: ``config`` plus that button, for a page drawn once.
SVG_BUTTON_JS: Final = """(function () {
  if (window.mavtoolsModebar) return;
  window.mavtoolsSvgButton = function (Plotly, image) {
    return {
      name: "downloadSvg",
      title: __TITLE__,
      icon: Plotly.Icons["camera-retro"],
      click: function (gd) {
        var given = image() || {};
        var options = {format: "svg", filename: given.filename || "newplot"};
        if (given.width) options.width = given.width;
        if (given.height) options.height = given.height;
        return Plotly.downloadImage(gd, options);
      }
    };
  };
  window.mavtoolsModebar = function (Plotly, config) {
    config = config || {};
    var image = config.toImageButtonOptions || {};
    var svg = window.mavtoolsSvgButton(Plotly, function () { return image; });
    var added = (config.modeBarButtonsToAdd || []).filter(function (b) {
      return b.name !== svg.name;
    });
    return Object.assign({}, config, {modeBarButtonsToAdd: added.concat([svg])});
  };
})();""".replace("__TITLE__", json.dumps(SVG_TITLE))


def svg_post_script(config: dict[str, Any]) -> str:
    """A plotly.py ``post_script`` that redraws the figure with the SVG button in its modebar.

    Args:
        config: the plotly.js config the figure was drawn with (``post_script`` cannot read it).

    Returns:
        JavaScript for ``to_html(..., post_script=...)`` / a renderer's ``post_script``; plotly.py
        puts the figure's div id where it says ``{plot_id}``.

    Example:
        >>> "downloadSvg" in svg_post_script({"displaylogo": False})
        True
    """
    # The newPlot before has drawn the figure once; react with a new config redraws it once more.
    return (
        SVG_BUTTON_JS
        + "\nvar gd = document.getElementById('{plot_id}');\n"
        + f"return Plotly.react(gd, gd.data, gd.layout, window.mavtoolsModebar(Plotly, {json.dumps(config)}));"
    )
