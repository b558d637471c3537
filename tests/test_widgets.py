"""The filter panel selects what a polars filter selects, and the dashboard's figures follow it."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import mavtools as mt
from mavtools import analysis as A
from mavtools.local.samples import sample_manifest
from mavtools.views.figures import EMPTY_MESSAGE
from mavtools.views.widgets import FIGURE_NAMES, Dashboard, FilterPanel, Summary, summarize

#: Every sample row, v1 versions and v2 jobs, as the manifest counts them.
SAMPLE_ROWS = sample_manifest()["versions"] + sample_manifest()["jobs_v2"]


@pytest.fixture(scope="module")
def df() -> pl.DataFrame:
    """The bundled samples: 3,000 versions in three workspaces, with a provenance."""
    return mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)


@pytest.fixture
def dash(df: pl.DataFrame) -> Dashboard:
    return Dashboard(df)


def values(widget: Any) -> list[Any]:
    return [v for _, v in widget.options]


def y_total(fig: go.Figure) -> float:
    return sum(sum(y for y in trace.y if y is not None) for trace in fig.data)


def assert_figures_follow(dash: Dashboard, expected: pl.DataFrame) -> None:
    """Figure trace totals equal the analyses of the expected selection."""
    figs = dash.figures
    assert set(figs) == set(FIGURE_NAMES)
    assert y_total(figs["versions"]) == expected.height
    ran = A.duration_histogram(expected, by="outcome")["versions"].sum()
    assert y_total(figs["durations"]) == ran
    alloc = A.allocation(expected, every=dash.allocation_bin(), by="pool_id", now=dash.now)
    # The figure rounds each point to 3 decimals.
    assert y_total(figs["allocation"]) == pytest.approx(
        alloc["allocated_mean"].sum(), abs=0.001 * max(alloc.height, 1)
    )
    shown = {t.name for t in figs["allocation"].data}
    held = (
        alloc.group_by("pool_id")
        .agg(pl.col("allocated_peak").max())
        .filter(pl.col("allocated_peak") > 0)
    )
    assert shown == set(held["pool_id"].cast(pl.String).to_list())


def test_starts_with_everything_selected(df: pl.DataFrame, dash: Dashboard) -> None:
    assert_frame_equal(dash.selection, df)
    assert dash.summary == summarize(df)
    assert dash.summary.versions == dash.summary.total == df.height
    assert_figures_follow(dash, df)
    assert dash.now == mt.provenance(df).fetched_at


FILTERS: dict[str, tuple[str, Callable[[list[Any]], tuple[Any, ...]], Callable[..., pl.Expr]]] = {
    # control -> (column, the values chosen from the options, the polars filter written out)
    "outcomes": (
        "outcome",
        lambda opts: ("failed", "canceled"),
        lambda chosen: pl.col("outcome").is_in(list(chosen)),
    ),
    "pools": (
        "pool_id",
        lambda opts: (opts[0], opts[2]),
        lambda chosen: pl.col("pool_id").cast(pl.String).is_in(list(chosen)),
    ),
    "workspaces": (
        "workspace_id",
        lambda opts: (opts[1],),
        lambda chosen: pl.col("workspace_id") == chosen[0],
    ),
    "flavors": (
        "flavor_code",
        lambda opts: tuple(o for o in opts if "a100" in o),
        lambda chosen: pl.col("flavor_code").cast(pl.String).str.contains("a100"),
    ),
}


@pytest.mark.parametrize("control", list(FILTERS))
def test_each_filter_selects_what_polars_selects(
    df: pl.DataFrame, dash: Dashboard, control: str
) -> None:
    _, choose, expr = FILTERS[control]
    widget = getattr(dash.panel, control)
    before = {name: fig.to_plotly_json() for name, fig in dash.figures.items()}
    chosen = choose(values(widget))
    widget.value = chosen
    expected = df.filter(expr(chosen))
    assert 0 < expected.height < df.height
    assert_frame_equal(dash.selection, expected)
    assert dash.summary == summarize(expected, df.height)
    assert dash.panel.summary_label.value == str(dash.summary)
    assert_figures_follow(dash, expected)
    assert all(dash.figures[n].to_plotly_json() != before[n] for n in ("versions", "allocation"))


def test_time_range_selects_creation_days(df: pl.DataFrame, dash: Dashboard) -> None:
    days = values(dash.panel.days)
    dash.panel.days.index = (10, 20)
    start = datetime.combine(days[10], datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(days[20], datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    expected = df.filter((pl.col("create_time") >= start) & (pl.col("create_time") < end))
    assert_frame_equal(dash.selection, expected)
    assert dash.allocation_bin() == "1h"  # 11 days
    assert_figures_follow(dash, expected)
    dash.panel.days.index = (0, len(days) - 1)
    assert_frame_equal(dash.selection, df)
    assert dash.allocation_bin() == "6h"  # the samples span 91 days


def test_filters_combine(df: pl.DataFrame, dash: Dashboard) -> None:
    pool = values(dash.panel.pools)[1]
    dash.panel.pools.value = (pool,)
    dash.panel.outcomes.value = ("succeeded",)
    expected = df.filter((pl.col("pool_id") == pool) & (pl.col("outcome") == "succeeded"))
    assert_frame_equal(dash.selection, expected)
    assert_figures_follow(dash, expected)
    assert dash.summary.failed == 0 and dash.summary.failed_share == 0.0


@pytest.mark.parametrize("control", ["outcomes", "pools", "workspaces", "flavors"])
def test_deselecting_everything_shows_no_versions(dash: Dashboard, control: str) -> None:
    getattr(dash.panel, control).value = ()
    assert dash.selection.is_empty()
    assert dash.summary == Summary(0, SAMPLE_ROWS, 0.0, 0, 0)
    assert str(dash.summary).startswith("No versions match")
    assert dash.panel.summary_label.value == str(dash.summary)
    for fig in dash.figures.values():
        assert not fig.data
        assert [a.text for a in fig.layout.annotations] == [EMPTY_MESSAGE]
    widget = getattr(dash.panel, control)
    widget.value = tuple(values(widget))
    assert dash.selection.height == SAMPLE_ROWS


def test_programmatic_change_equals_a_click(df: pl.DataFrame) -> None:
    """A click arrives as a state update of the synced ``index`` (what the comm message sets)."""
    typed, clicked = Dashboard(df), Dashboard(df)
    pools = values(typed.panel.pools)
    typed.panel.pools.value = (pools[0], pools[3])
    clicked.panel.pools.set_state({"index": [0, 3]})
    typed.panel.days.value = (values(typed.panel.days)[5], values(typed.panel.days)[40])
    clicked.panel.days.set_state({"index": [5, 40]})
    assert_frame_equal(typed.selection, clicked.selection)
    assert typed.selection.height < df.height
    assert typed.summary == clicked.summary
    for name in FIGURE_NAMES:
        assert typed.figures[name].to_plotly_json() == clicked.figures[name].to_plotly_json()


def test_outputs_carry_the_plotly_mimetype(
    dash: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a kernel plotly's default renderer is ``plotly_mimetype``: that is what is shown."""
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    dash.panel.outcomes.value = ("failed",)
    for name, out in dash.outputs.items():
        (output,) = out.outputs
        assert output["output_type"] == "display_data"
        shown = output["data"]["application/vnd.plotly.v1+json"]
        assert shown["layout"]["title"] == dash.figures[name].to_plotly_json()["layout"]["title"]
        assert len(shown["data"]) == len(dash.figures[name].data)


def test_css_classes_for_the_browser_test(dash: Dashboard) -> None:
    assert "mavtools-pool-filter" in dash.panel.pools._dom_classes
    assert "mavtools-summary" in dash.panel.summary_label._dom_classes
    assert "mavtools-dashboard" in dash.widget._dom_classes
    for name, out in dash.outputs.items():
        assert out._dom_classes == (f"mavtools-figure-{name}",)


def test_plain_text_of_the_dashboard_is_its_summary(dash: Dashboard) -> None:
    bundle = dash._repr_mimebundle_()
    assert bundle["text/plain"] == f"Dashboard: {dash.summary}"
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_now_without_provenance(df: pl.DataFrame) -> None:
    derived = df.filter(pl.col("pool_id") == "pool-a100-prod")
    latest = derived.select(
        pl.max_horizontal(
            pl.col("create_time").max(), pl.col("start_time").max(), pl.col("end_time").max()
        )
    ).item()
    assert Dashboard(derived).now == latest
    fixed = datetime(2026, 10, 2, tzinfo=UTC)
    assert Dashboard(derived, now=fixed).now == fixed


def test_null_keys_are_an_option(df: pl.DataFrame) -> None:
    frame = df.head(50).with_columns(
        pool_id=pl.when(pl.int_range(pl.len()) < 5).then(None).otherwise(pl.col("pool_id"))
    )
    panel = FilterPanel(frame)
    assert panel.pools.options[-1] == ("(none)", None)
    panel.pools.value = (None,)
    assert_frame_equal(panel.selection, frame.filter(pl.col("pool_id").is_null()))


def test_empty_frame_builds(df: pl.DataFrame) -> None:
    dash = Dashboard(df.clear())
    assert str(dash.summary) == "No versions match the current selection (0 of 0)"
    assert all(not fig.data for fig in dash.figures.values())


def test_summary_text() -> None:
    assert str(Summary(10, 20, 12.25, 0, 0)) == (
        "10 of 20 versions | 12.2 GPU-hours | no finished versions"
    )
    assert str(Summary(1234, 3000, 5678.91, 800, 100)) == (
        "1,234 of 3,000 versions | 5,678.9 GPU-hours | 12.5% of 800 finished failed"
    )
    assert math.isclose(Summary(1, 1, 0.0, 8, 1).failed_share or 0, 0.125)


def test_the_chosen_creation_days_are_shown_whole():
    import mavtools as mt

    df = mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)
    panel = mt.widgets.FilterPanel(df)
    first = df["create_time"].min().date().isoformat()
    last = df["create_time"].max().date().isoformat()
    assert panel.days_label.value == f"{first} to {last}"
    panel.days.index = (1, 2)
    assert panel.days_label.value == (
        f"{panel.days.options[1][1].isoformat()} to {panel.days.options[2][1].isoformat()}"
    )
