"""What a dashboard sends to the page per filter click: each changed figure once, as JSON.

The page redraws a figure once per message (``Plotly.react`` in ``views/plot.py``), so a click
that sent a figure twice would draw it twice; the browser test (tests/test_browser.py) counts the
draws themselves, this one counts the messages without a browser.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import polars as pl
import pytest

import mavtools as mt
from mavtools.views.plot import PlotView
from mavtools.views.widgets import Dashboard


@pytest.fixture(scope="module")
def dash() -> Dashboard:
    df: pl.DataFrame = mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)
    return Dashboard(df)


def _clicks(dash: Dashboard) -> list[tuple[str, Callable[[], None]]]:
    panel = dash.panel
    box = panel.pools.boxes[0]
    return [
        ("pool box", lambda: setattr(box, "value", False)),
        ("pool box back", lambda: setattr(box, "value", True)),
        ("workspaces None", panel.workspaces.select_none),
        ("workspaces All", panel.workspaces.select_all),
        ("NPUs", lambda: setattr(panel.resource, "value", "npu")),
        ("GPUs", lambda: setattr(panel.resource, "value", "gpu")),
        ("outcome box", lambda: setattr(panel.outcomes.boxes[0], "value", False)),
        ("Reset all filters", panel.reset),
    ]


def test_each_click_sends_each_changed_figure_once(dash: Dashboard) -> None:
    views = {**dash.outputs, "queue": dash.queue.output}
    sent: Counter[str] = Counter()
    for name, view in views.items():
        view.observe(lambda _c, name=name: sent.update([name]), names="_json")
    for click, act in _clicks(dash):
        sent.clear()
        before = {name: view.figure for name, view in views.items()}
        act()
        changed = {name for name, view in views.items() if view.figure != before[name]}
        assert dict(sent) == dict.fromkeys(changed, 1), click
        # What travels is the figure itself, as JSON.
        for name, view in views.items():
            assert json.loads(view._json) == view.figure, (click, name)


def test_workspaces_none_empties_every_figure_in_one_message_each(dash: Dashboard) -> None:
    dash.panel.reset()
    views = {**dash.outputs, "queue": dash.queue.output}
    sent: Counter[str] = Counter()
    for name, view in views.items():
        view.observe(lambda _c, name=name: sent.update([name]), names="_json")
    dash.panel.workspaces.select_none()
    assert sent == Counter(dict.fromkeys(views, 1))
    for view in views.values():
        assert view.figure["data"] == []
    dash.panel.reset()


def test_downloads_are_named_after_the_figure(dash: Dashboard) -> None:
    assert {v.filename for v in dash.outputs.values()} == {
        f"mavtools-{name}" for name in dash.outputs
    }
    assert dash.queue.output.filename == "mavtools-queue"


def test_a_figure_without_a_json_form_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON"):
        PlotView(figure={"data": [{"type": "bar", "y": [float("nan")]}], "layout": {}})
