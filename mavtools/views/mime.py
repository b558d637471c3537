"""A figure's display data as plotly's renderers build it, from plotly's public renderer API.

``go.Figure._repr_mimebundle_`` hands the figure to ``pio.renderers._build_mime_bundle``, a
private method any plotly release may change. :func:`mime_bundle` does the same with public
names only: the renderer names of ``pio.renderers.default`` (joined by ``+``), the renderer
objects ``pio.renderers[name]``, and ``MimetypeRenderer.activate``/``to_mimebundle``. Renderers
that are not mimetype renderers (``browser``) add nothing, as in plotly.
``tests/test_mime.py`` checks the result equals ``go.Figure``'s own for several renderers.
"""

from __future__ import annotations

from typing import Any, Final

import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

__all__ = ["PLOTLY_MIMETYPE", "mime_bundle"]

#: The mimetype of a plotly figure's JSON in display data (notebooks, the report, the dashboard).
PLOTLY_MIMETYPE: Final = "application/vnd.plotly.v1+json"


def mime_bundle(fig_dict: dict[str, Any], renderers: str | None = None) -> dict[str, Any]:
    """The mimetype -> data of a figure dict for ``renderers`` (default: ``pio.renderers.default``).

    Args:
        fig_dict: ``{"data": [...], "layout": {...}}``, the template already applied; the
            ``plotly_mimetype`` renderer adds its ``config`` to it, as plotly does.
        renderers: renderer names joined by ``+``, such as ``"plotly_mimetype+notebook"``.

    Returns:
        One entry per mimetype renderer, ``{}`` when none is selected.

    Example:
        >>> mime_bundle({"data": [], "layout": {}}, "json")
        {'application/json': {'data': [], 'layout': {}}}
    """
    names = renderers if renderers is not None else pio.renderers.default
    bundle: dict[str, Any] = {}
    for name in (names or "").split("+"):
        renderer = pio.renderers[name] if name else None
        if isinstance(renderer, MimetypeRenderer):
            renderer.activate()  # what plotly does before each bundle it builds
            bundle.update(renderer.to_mimebundle(fig_dict))
    return bundle
