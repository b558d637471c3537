"""The dashboard's queue figure follows the filters; the Now panel never blocks on a refusal."""

from __future__ import annotations

import polars as pl
import pytest

import mavtools as mt
from mavtools.views.queue import NowPanel, queue_spec
from mavtools.views.widgets import Dashboard


@pytest.fixture(scope="module")
def samples() -> tuple[mt.Client, pl.DataFrame]:
    client = mt.samples_client()
    return client, client.list_versions(workspace_id=mt.ALL_WORKSPACES)


def test_queue_figure_follows_the_filters(samples):
    client, df = samples
    dash = Dashboard(df, live=client.queue_now())
    shown = {t["name"] for t in dash.queue.spec["data"]}
    assert "pool-a100-research" in shown and len(shown) > 1
    dash.panel.filters["pool_id"].value = ("pool-a100-research",)
    assert [t["name"] for t in dash.queue.spec["data"]] == ["pool-a100-research"]
    # the figure shows queue_length of exactly the selected versions (bins where someone waited)
    start, end = dash.panel.aggregates.span
    expected = mt.queue_length(
        df.filter(pl.col("pool_id") == "pool-a100-research"),
        every=dash.allocation_bin(),
        start=start,
        end=end,
        now=dash.panel.aggregates.now,
    )
    trace = dash.queue.spec["data"][0]
    shown = dict(zip(trace["x"], trace["y"], strict=True))
    direct = {
        t.strftime("%Y-%m-%d %H:%M"): round(v, 3)
        for t, v in expected.select("time", "units_waiting_mean").iter_rows()
        if v
    }
    assert direct and set(direct) <= set(shown)
    assert {t: shown[t] for t in direct} == pytest.approx(direct, abs=1e-3)
    assert all(v == 0 for t, v in shown.items() if t not in direct)
    # the Now panel sits on top of the figures, the queue right after allocation
    right = dash.widget.children[1].children
    assert right[0] is dash.queue.now.widget
    assert right[right.index(dash.outputs["allocation"]) + 1] is dash.queue.output


def test_queue_figure_follows_the_resource_toggle(samples):
    _, df = samples
    dash = Dashboard(df)
    dash.panel.resource.value = "npu"
    assert {t["name"] for t in dash.queue.spec["data"]} <= {"pool-ascend-910"}
    assert "NPUs waited for" in dash.queue.spec["layout"]["title"]["text"]


class Refusing:
    """A client whose every read is refused, as for a least-privilege user."""

    def queue_now(self) -> mt.QueueNow:
        raise mt.AuthError(403, "ModelArts.0108", "Not authorized.", "https://x/v2/p/pools")


def test_now_panel_says_a_refusal_and_the_dashboard_still_works(samples):
    _, df = samples
    dash = Dashboard(df, live=Refusing())
    dash.queue.now.wait(10)
    assert "could not be read now" in dash.queue.now.html.value
    assert "403" in dash.queue.now.html.value
    assert not dash.queue.now.button.disabled  # the user can try again
    assert dash.summary.versions == df.height  # the rest of the dashboard is there
    assert dash.specs["allocation"]["data"]


def test_now_panel_shows_read_time_sources_and_refreshes(samples):
    client, _ = samples
    panel = NowPanel(client)
    panel.wait(10)
    line = panel.html.value
    assert "read 2026-10-01 15:00 UTC" in line
    assert "pool-a100-research 9/16 in use, <b>4 waiting</b> for 40 (oldest 2.3 h)" in line
    text = panel.details.value
    assert "pool-a100-research" in text and "workloads" in text and "search" in text
    assert "resnet50-imagenet" in text  # the head of the a100 queue
    calls = []
    panel.source = lambda: calls.append(1) or client.queue_now()
    panel.refresh()
    panel.wait(10)
    assert calls == [1] and panel.error is None


def test_queue_spec_of_an_empty_queue_says_so():
    empty = mt.queue_length(pl.DataFrame(schema=mt.VERSION_SCHEMA), by="pool_id")
    spec = queue_spec(empty)
    assert spec["data"] == [] and "Nobody waited" in spec["layout"]["annotations"][0]["text"]
