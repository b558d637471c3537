"""mavtools.views.mime builds the display data plotly's own figure would show, without its privates."""

from __future__ import annotations

import copy

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from mavtools.views.mime import mime_bundle

SPEC = {
    "data": [
        {"type": "bar", "x": ["a", "b"], "y": [3, 4], "name": "gpu hours"},
        {"type": "scatter", "x": ["a", "b"], "y": [1.5, 2.5], "mode": "lines"},
    ],
    "layout": {"title": {"text": "Usage"}, "yaxis": {"title": {"text": "hours"}}},
}


@pytest.mark.parametrize(
    "renderers", ["plotly_mimetype", "json", "plotly_mimetype+json", "browser", "json+browser"]
)
def test_the_bundle_is_the_one_go_figure_shows(renderers, monkeypatch):
    monkeypatch.setattr(pio.renderers, "default", renderers)
    figure = go.Figure(copy.deepcopy(SPEC))
    # go.Figure applies the default template itself; the dict path gets it as the widgets give it
    fig_dict = figure.to_dict()
    expected = figure._repr_mimebundle_()
    assert mime_bundle(fig_dict) == expected
    assert mime_bundle(fig_dict, renderers) == expected


def test_the_plotly_mimetype_is_what_a_notebook_stores(monkeypatch):
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    bundle = mime_bundle(copy.deepcopy(SPEC))
    shown = bundle["application/vnd.plotly.v1+json"]
    assert shown["data"][0]["y"] == [3, 4] and shown["layout"]["title"]["text"] == "Usage"
    assert set(bundle) == {"application/vnd.plotly.v1+json"}


def test_no_mimetype_renderer_gives_an_empty_bundle(monkeypatch):
    monkeypatch.setattr(pio.renderers, "default", "")
    assert mime_bundle(copy.deepcopy(SPEC)) == {}
    assert mime_bundle(copy.deepcopy(SPEC), "browser") == {}
