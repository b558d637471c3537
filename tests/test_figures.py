"""Figures hold the numbers the analyses produced, stay small, and survive empty or tiny frames."""

from __future__ import annotations

import math
from collections.abc import Callable

import plotly.graph_objects as go
import polars as pl
import pytest

import mavtools as mt
from mavtools import analysis as A
from mavtools.frame import empty_frame, typed
from mavtools.local.synth import POOLS, bulk, simulate
from mavtools.views import distributions as D
from mavtools.views import style as S
from mavtools.views import timeseries as T

CAPACITY = {p.pool_id: p.capacity for p in POOLS}
BUILDERS: dict[str, Callable[[pl.DataFrame], go.Figure]] = {
    "allocation": lambda d: T.allocation_figure(A.allocation(d, by="pool_id"), CAPACITY),
    "durations": lambda d: D.durations_figure(
        A.duration_histogram(d, by="outcome"), A.duration_histogram(d, by="pool_id")
    ),
    "versions": lambda d: T.versions_figure(A.version_counts(d, every="1w", by="outcome")),
    "usage_pool": lambda d: T.usage_figure(A.usage(d, by="pool_id")),
    "usage_flavor": lambda d: T.usage_figure(A.usage(d, by="flavor_code")),
    "usage_workspace": lambda d: T.usage_figure(A.usage(d, by="workspace_id")),
    "queue_wait": lambda d: D.queue_wait_figure(A.queue_wait(d, by="gpu_num")),
    "queue_wait_weekly": lambda d: D.queue_wait_figure(A.queue_wait(d, by="gpu_num", every="1w")),
    "failure_rate": lambda d: D.failure_rate_figure(
        A.failure_rate(d, by=["flavor_code", "pool_id"])
    ),
    "failure_rate_weekly": lambda d: D.failure_rate_figure(
        A.failure_rate(d, by="pool_id", every="1w")
    ),
    "heatmap": lambda d: T.heatmap_figure(A.weekly_profile(d)),
}


@pytest.fixture(scope="module")
def sample() -> pl.DataFrame:
    return typed(pl.DataFrame(simulate(1500, days=30)))


@pytest.fixture(scope="module")
def fetched() -> pl.DataFrame:
    """The bundled samples as a fetch returns them (with their snapshot time)."""
    return mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)


def trace(fig: go.Figure, name: str) -> go.Scatter | go.Bar:
    return next(t for t in fig.data if t.name == name)


def is_empty_figure(fig: go.Figure) -> bool:
    return not fig.data and fig.layout.annotations[0].text == S.EMPTY_MESSAGE


# ------------------------------------------------------------------------------ numbers inside


def test_allocation_traces_hold_the_analysis_numbers(sample):
    alloc = A.allocation(sample, every="1d", by="pool_id")
    fig = T.allocation_figure(alloc, CAPACITY)
    part = alloc.filter(pl.col("pool_id") == "pool-a100-prod")
    t = trace(fig, "pool-a100-prod")
    assert list(t.y) == part["allocated_mean"].round(3).to_list()
    assert list(t.customdata) == part["allocated_peak"].to_list()
    assert list(t.x) == part["time"].dt.to_string("%Y-%m-%d %H:%M").to_list()
    names = {tr.name for tr in fig.data}
    assert "pool-cpu-public" not in names  # never holds a GPU: left out of the stack
    # Each pool that holds GPUs has its own panel with its own capacity line, in its colour.
    caps = {tr.legendgroup: tr for tr in fig.data if tr.name.startswith("capacity of")}
    assert set(caps) == {p for p in names if not p.startswith("capacity") and p in CAPACITY}
    for pool, cap in caps.items():
        assert list(cap.y) == [CAPACITY[pool]] * 2
        assert cap.line.color == trace(fig, pool).line.color
        assert cap.yaxis == trace(fig, pool).yaxis
    assert len({tr.yaxis for tr in fig.data}) == len(caps)
    assert "against each pool's capacity" in fig.layout.title.text


def test_time_figures_name_the_zone_of_the_analysis(sample):
    """tz= of the analysis reaches the axis titles and hover text (capacity.ipynb's TIMEZONE)."""
    alloc = A.allocation(sample, every="1d", by="pool_id", tz="Europe/Berlin")
    fig = T.allocation_figure(alloc, CAPACITY)
    assert fig.layout.xaxis.title.text == "time (Europe/Berlin)"
    assert "Europe/Berlin" in trace(fig, "pool-a100-prod").hovertemplate
    assert all(x.endswith("00:00") for x in trace(fig, "pool-a100-prod").x)  # local midnight
    weekly = A.queue_wait(sample, by="gpu_num", every="1w", tz="Europe/Berlin")
    layout = D.queue_wait_figure(weekly).layout
    x_titles = [
        layout[k].title.text for k in layout if k.startswith("xaxis") and layout[k].title.text
    ]
    assert x_titles and x_titles[0].startswith("period start (Europe/Berlin)")
    utc = T.allocation_figure(A.allocation(sample, every="1d", by="pool_id"), CAPACITY)
    assert utc.layout.xaxis.title.text == "time (UTC)"


def test_allocation_figure_merges_long_series_into_coarser_bins(sample):
    alloc = A.allocation(sample, every="1h", by=None)
    fig = T.allocation_figure(alloc, max_points=100)
    assert alloc.height == 720  # 30 days of hours: merged by 8 into 90 points
    daily_means = (
        alloc.group_by(((pl.col("time").rank("dense") - 1) // 8).alias("i"))
        .agg(pl.col("allocated_mean").mean(), pl.col("allocated_peak").max())
        .sort("i")
    )
    (t,) = fig.data
    assert len(t.y) == daily_means.height <= 100
    assert list(t.y) == daily_means["allocated_mean"].round(3).to_list()
    assert list(t.customdata) == daily_means["allocated_peak"].to_list()
    assert "merges 8 bins" in fig.layout.title.text


def test_usage_figure_bars_and_others(sample):
    used = A.usage(sample, by="flavor_code")
    fig = T.usage_figure(used, max_groups=3)
    (bar,) = fig.data
    top = used.filter(pl.col("gpu_hours") > 0).head(3)
    assert list(bar.y[1:]) == top["flavor_code"].cast(pl.String).reverse().to_list()
    assert list(bar.x[1:]) == top["gpu_hours"].round(3).reverse().to_list()
    rest = used.filter(pl.col("gpu_hours") > 0).slice(3)
    assert bar.y[0] == f"{rest.height} others"
    assert bar.x[0] == pytest.approx(rest["gpu_hours"].sum(), abs=1e-3)
    assert fig.layout.xaxis.title.text == "GPU-hours (units x run time)"


def test_a_partly_covered_bin_says_so(fetched):
    alloc = A.allocation(fetched, every="1d", by="pool_id")
    last = alloc.filter(pl.col("time") == pl.col("time").max())
    assert (last["coverage"] < 1).all()  # the snapshot falls inside the last day
    fig = T.allocation_figure(alloc)
    for t in fig.data:
        assert t.text[-1].startswith("<br>partial bin: ") and not any(t.text[:-1])
        assert "%{text}" in t.hovertemplate


def test_palette_is_fixed_in_sorted_order_and_distinct():
    colours = S.palette(["pool-c", "pool-a", "pool-b"])
    assert list(colours) == ["pool-a", "pool-b", "pool-c"]
    assert S.palette(["pool-a", "pool-b"]) == dict(list(colours.items())[:2])
    assert len(set(S.palette([f"p{i:02}" for i in range(16)]).values())) == 16


def test_partial_weeks_are_hatched(sample):
    counts = A.version_counts(sample, every="1w", by="outcome")
    lo, hi = sample["create_time"].min(), sample["create_time"].max()
    fig = T.versions_figure(counts, covered=(lo, hi))
    shapes = [s for t in fig.data for s in t.marker.pattern.shape]
    first, last = counts["time"].min(), counts["time"].max()
    partial = counts.filter(pl.col("time").is_in([first, last]))  # weeks cut by the data's ends
    assert shapes.count("/") == partial.height > 0
    assert "hatched: partial week" in fig.layout.title.text
    assert fig.layout.xaxis.title.text == "week start (UTC)"


def test_queue_wait_figure_holds_percentiles(sample):
    waits = A.queue_wait(sample, by="gpu_num")
    fig = D.queue_wait_figure(waits)
    assert [t.name for t in fig.data] == ["p50", "p90", "p99"]
    # One unit for the whole axis, chosen from the data; every bar says its value in words.
    unit, per_hour = S.duration_unit(waits["wait_p99_hours"].max())
    assert fig.layout.yaxis.title.text == f"wait from creation to start ({unit})"
    assert list(fig.data[1].y) == (waits["wait_p90_hours"] * per_hour).round(3).to_list()
    # Text in the axis' unit; a value under one unit in minutes, so a short bar still reads.
    suffix = {"minutes": " min", "hours": " h", "days": " d"}[unit]
    for v, text in zip(waits["wait_p90_hours"], fig.data[1].text, strict=True):
        assert text == (f"{v * per_hour:.1f}{suffix}" if v * per_hour >= 1 else S.human_hours(v))
    assert list(fig.data[1].x) == [
        "CPU only" if n == 0 else f"{n} GPU" + ("s" if n > 1 else "") for n in waits["gpu_num"]
    ]
    assert fig.layout.yaxis.type in (None, "linear") and fig.layout.yaxis.ticktext is None
    assert D.queue_wait_figure(waits, scale="log").layout.yaxis.type == "log"
    assert fig.layout.xaxis.title.text == "GPUs per version"
    weekly = A.queue_wait(sample, by="gpu_num", every="1w")
    fig = D.queue_wait_figure(weekly, max_groups=20)
    eights = weekly.filter(pl.col("gpu_num") == 8)
    unit, per_hour = S.duration_unit(
        weekly.select(pl.col("^wait_p.*$").max()).max_horizontal().item()
    )
    panel = [a.text for a in fig.layout.annotations].index("8 GPUs") + 1
    axis = "y" if panel == 1 else f"y{panel}"
    p50 = next(t for t in fig.data if t.name == "p50" and t.yaxis == axis)
    assert list(p50.y) == (eights["wait_p50_hours"] * per_hour).round(3).to_list()


def test_failure_rate_figure_holds_rates(sample):
    rates = A.failure_rate(sample, by=["flavor_code", "pool_id"])
    fig = D.failure_rate_figure(rates)
    part = rates.filter(pl.col("pool_id") == "pool-v100-batch")
    failed, canceled = trace(fig, "pool-v100-batch failed"), trace(fig, "pool-v100-batch canceled")
    # The two shares are drawn apart, never added up (issue 9's one vocabulary).
    assert list(failed.y) == (part["failed_share"] * 100).round(3).to_list()
    assert list(canceled.y) == (part["canceled_share"] * 100).round(3).to_list()
    assert [tuple(c) for c in failed.customdata] == part.select(
        "finished", "failed", "canceled"
    ).rows()
    assert failed.marker.color == canceled.marker.color == S.color_of("pool-v100-batch")
    assert canceled.marker.pattern.shape == "/" and not failed.marker.pattern.shape
    assert fig.layout.yaxis.title.text == "% of finished versions"


def test_durations_versions_and_heatmap_hold_counts(sample):
    hist = A.duration_histogram(sample, by="outcome")
    fig = D.durations_figure(hist)
    failed = hist.filter(pl.col("outcome") == "failed")
    assert list(trace(fig, "failed").y) == failed["versions"].to_list()
    assert "1 h" in fig.layout.xaxis.ticktext
    one_hour = fig.layout.xaxis.tickvals[fig.layout.xaxis.ticktext.index("1 h")]
    assert one_hour == 0.0, "bars sit on log10(hours): 1 h at 0"
    bar = trace(fig, "failed")
    widths = set(bar.width)
    assert len(widths) == 1, "equal log-spaced bins draw equally wide bars"
    lo, hi = failed.row(0, named=True)["lo_hours"], failed.row(0, named=True)["hi_hours"]
    assert bar.x[0] == pytest.approx(math.log10((lo * hi) ** 0.5), abs=1e-3)
    counts = A.version_counts(sample)
    fig = T.versions_figure(counts)
    assert sum(sum(t.y) for t in fig.data) == sample.height
    assert trace(fig, "succeeded").marker.color == S.OUTCOME_COLORS["succeeded"]
    profile = A.weekly_profile(sample)
    (heat,) = T.heatmap_figure(profile).data
    monday_9 = profile.filter((pl.col("weekday") == 1) & (pl.col("hour") == 9)).row(0, named=True)
    assert heat.z[0][9] == round(monday_9["allocated_mean"], 3)
    assert heat.customdata[0][9] == monday_9["allocated_peak"]
    berlin = T.heatmap_figure(A.weekly_profile(sample, tz="Europe/Berlin"), tz="Europe/Berlin")
    assert "(Europe/Berlin)" in berlin.layout.title.text
    assert berlin.layout.xaxis.title.text == "hour of day (Europe/Berlin)"


def test_colours_are_consistent_across_figures(sample):
    alloc = T.allocation_figure(A.allocation(sample, every="1d", by="pool_id"))
    rates = D.failure_rate_figure(A.failure_rate(sample, by=["flavor_code", "pool_id"]))
    for name in ("pool-a100-prod", "pool-v100-shared"):
        failed = trace(rates, f"{name} failed")
        assert trace(alloc, name).line.color == failed.marker.color == S.color_of(name)
    assert S.color_of("failed") == "#d62728"
    assert S.color_of(None) == S.color_of("(none)")


# ------------------------------------------------------------------------ empty, one version


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_empty_frame_gives_a_message(name):
    fig = BUILDERS[name](empty_frame())
    assert is_empty_figure(fig)
    assert fig.layout.title.text


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_single_version(name, sample):
    one = sample.filter(pl.col("gpu_num") == 8, pl.col("outcome") == "failed").head(1)
    fig = BUILDERS[name](one)
    assert isinstance(fig, go.Figure)
    assert fig.data, f"{name} shows nothing for one 8-GPU failed version"
    fig.to_json()


# -------------------------------------------------------------------------------- size bound


@pytest.fixture(scope="module")
def million() -> pl.DataFrame:
    return typed(bulk(1_000_000).with_columns(workspace_id=pl.lit("0")))


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_json_stays_under_300_kb_at_a_million_versions(name, million):
    fig = BUILDERS[name](million)
    assert fig.data
    assert len(fig.to_json().encode()) < 300 * 1024
