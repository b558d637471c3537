"""The decision views: the what-if widget in whole nodes follows the picked pool in every line it
shows, and the forecast chart draws a forecast only where the backtest trusts it."""

from __future__ import annotations

import json

import polars as pl
import pytest

import mavtools as mt
from mavtools.analysis.sizing import HOURS_PER_MONTH
from mavtools.views.decision import WhatIfNodes, forecast_figure

RATES = {"pool-a100-research": 2.9, "pool-ascend-910": 2.0}


@pytest.fixture(scope="module")
def samples():
    client = mt.samples_client()
    return client.list_versions(workspace_id=mt.ALL_WORKSPACES), client.pools()


def shown(output) -> str:
    """Everything an Output displays, as text (the table's HTML, the figure's JSON)."""
    return json.dumps([o["data"] for o in output.outputs], default=str)


def test_widget_steps_in_whole_nodes_and_follows_the_picked_pool(samples):
    df, pools = samples
    w = WhatIfNodes(df, pools, pool="pool-a100-research", rates=RATES)
    assert w.units_per_node.value == 8  # from the pools table
    # The slider starts at sizing's answer: 4 nodes (32 GPUs), not 16 or 92.
    assert w.nodes.value == 4 and w.nodes.step == 1
    assert w.sizes["units"].to_list() == [8 * n for n in w.sizes["nodes"].to_list()]
    assert w.sizes["nodes"].is_sorted()
    assert w.sizes["cost_month"].to_list() == pytest.approx(
        [u * 2.9 * HOURS_PER_MONTH for u in w.sizes["units"].to_list()]
    )
    assert w.text.value.startswith("pool-a100-research: today 2 nodes (16 GPUs): p50 wait")
    assert "with 4 nodes (32 GPUs)" in w.text.value and "p99 wait" in w.text.value
    assert "EUR 67,744/month" in w.text.value

    w.pool.value = "pool-ascend-910"
    for line in (w.text.value, shown(w.table_out), shown(w.figure_out)):
        assert "pool-ascend-910" in line and "pool-a100-research" not in line
    assert w.units_per_node.value == 4 and w.text.value.startswith(
        "pool-ascend-910: today 3 nodes (12 NPUs)"
    )
    w.nodes.value = w.nodes.max
    assert f"with {w.nodes.max} nodes ({4 * w.nodes.max} NPUs)" in w.text.value

    w.units_per_node.value = 2  # typed by the user: the sizes re-step by 2 NPUs
    assert w.sizes["units"].to_list() == [2 * n for n in w.sizes["nodes"].to_list()]
    assert w.text.value.startswith("pool-ascend-910: today 6 nodes (12 NPUs)")
    # Sizes below the largest job (8 NPUs) are not offered.
    assert w.nodes.min == 4


def test_forecast_chart_shows_forecasts_only_where_they_beat_naive(samples):
    df, pools = samples
    decision = mt.sizing(df, pools=pools)
    gpu = decision.filter(pl.col("resource") == "gpu")
    fc, bt = mt.forecast(df), mt.backtest_forecast(df)
    fig = forecast_figure(fc, bt, gpu)
    titles = [a.text for a in fig.layout.annotations]
    assert len(titles) == gpu.height
    for title, row in zip(
        titles,
        bt.filter(pl.col("pool_id").is_in(gpu["pool_id"].to_list()))
        .sort("pool_id")
        .iter_rows(named=True),
        strict=True,
    ):
        assert title.startswith(row["pool_id"])
        assert ("forecast beats naive" in title) == row["skill"]
    forecasts = [t for t in fig.data if t.name == "forecast"]
    assert (
        len(forecasts)
        == bt.filter(pl.col("pool_id").is_in(gpu["pool_id"].to_list()))["skill"].sum()
    )
    steps = [t for t in fig.data if t.name == "recommended size"]
    assert sorted(s.y[0] for s in steps) == sorted(u * 24 for u in gpu["units"].to_list())
