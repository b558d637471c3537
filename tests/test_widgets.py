"""The filter panel selects what a polars filter selects, and the dashboard's pre-aggregated
numbers equal the analysis functions on the selected versions."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import mavtools as mt
from mavtools import analysis as A
from mavtools.local.samples import sample_manifest
from mavtools.views.aggregates import SHOWN_WHEN_SEVERAL, Aggregates, Selection
from mavtools.views.filters import FILTER_LABELS, FilterPanel
from mavtools.views.style import EMPTY_MESSAGE
from mavtools.views.widgets import FIGURE_NAMES, Dashboard, Summary, summarize

NAMES = {"0": "default", "7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b": "vision-team"}

#: Every sample row, v1 versions and v2 jobs, as the manifest counts them.
SAMPLE_ROWS = sample_manifest()["versions"] + sample_manifest()["jobs_v2"]


@pytest.fixture(scope="module")
def df() -> pl.DataFrame:
    """The bundled samples: 3,000 versions in three workspaces, with a provenance."""
    return mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)


@pytest.fixture
def dash(df: pl.DataFrame) -> Dashboard:
    return Dashboard(df, names=NAMES)


def values(widget: Any) -> list[Any]:
    return [v for _, v in widget.options]


def y_total(fig: go.Figure) -> float:
    return sum(sum(y for y in trace.y if y is not None) for trace in fig.data if trace.y)


def window_of(dash: Dashboard) -> tuple[datetime, datetime]:
    """The dashboard's window: the chosen days, else the whole frame's span (to the snapshot)."""
    state = dash.panel.state()
    if state.start is None or state.end is None:
        return dash.panel.aggregates.span
    return state.start, state.end


def assert_numbers_equal_direct_analysis(dash: Dashboard, expected: pl.DataFrame) -> None:
    """Every figure's rows and the summary equal the analysis functions on ``expected``."""
    resource = dash.panel.resource.value
    start, end = window_of(dash)
    data = dash.figure_data()
    direct = A.allocation(
        expected, every=dash.allocation_bin(), by="pool_id", start=start, end=end,
        resource=resource,
    ).filter((pl.col("allocated_mean").max() > 0).over("pool_id"))  # fmt: skip
    # Every bin of the window for every pool that held a unit: zeros where it held none.
    got = data["allocation"].select("time", pl.col("pool_id").cast(pl.String), "allocated_mean")
    want = direct.select("time", pl.col("pool_id").cast(pl.String), "allocated_mean")
    assert_frame_equal(got, want, check_row_order=False, abs_tol=1e-9)
    by = dash.usage_by.value
    used = A.usage(expected, by=by, resource=resource).filter(pl.col("versions") > 0)
    assert_frame_equal(
        data["usage"].with_columns(pl.col(by).cast(pl.String)),
        used.with_columns(pl.col(by).cast(pl.String)),
        check_row_order=False,
        check_dtypes=False,
    )
    hist = A.duration_histogram(expected, by="outcome")
    assert_frame_equal(data["durations"], hist, check_row_order=False, check_dtypes=False)
    created = expected.filter(pl.col("create_time") >= start)
    weekly = A.version_counts(created, every="1w", by="outcome")
    assert_frame_equal(data["versions"], weekly, check_row_order=False, check_dtypes=False)
    assert dash.summary.versions == expected.height
    for r, hours in summarize(expected, start=start, end=end).unit_hours.items():
        assert dash.summary.unit_hours[r] == pytest.approx(hours, rel=1e-9, abs=1e-6)


def test_starts_with_everything_selected(df: pl.DataFrame, dash: Dashboard) -> None:
    assert_frame_equal(dash.selection, df)
    direct = summarize(df)
    assert (dash.summary.finished, dash.summary.failed, dash.summary.canceled) == (
        direct.finished, direct.failed, direct.canceled,
    )  # fmt: skip
    assert dash.summary.versions == dash.summary.total == df.height
    assert_numbers_equal_direct_analysis(dash, df)
    assert dash.now == mt.provenance(df).fetched_at
    assert set(dash.figures) == set(FIGURE_NAMES)


FILTERS: dict[str, tuple[Callable[[list[Any]], tuple[Any, ...]], Callable[..., pl.Expr]]] = {
    # control -> (the values chosen from the options, the polars filter written out)
    "outcomes": (
        lambda opts: ("failed", "canceled"),
        lambda chosen: pl.col("outcome").is_in(list(chosen)),
    ),
    "pools": (
        lambda opts: (opts[0], opts[2]),
        lambda chosen: pl.col("pool_id").cast(pl.String).is_in(list(chosen)),
    ),
    "workspaces": (
        lambda opts: (opts[1],),
        lambda chosen: pl.col("workspace_id") == chosen[0],
    ),
    "flavors": (
        lambda opts: tuple(o for o in opts if "a100" in o),
        lambda chosen: pl.col("flavor_code").cast(pl.String).str.contains("a100"),
    ),
    # Two v2 users and the v1 versions, which have no user (one option, value None).
    "users": (
        lambda opts: ("anna.keller", "emil.berg", None),
        lambda chosen: (
            pl.col("user_name").is_in(["anna.keller", "emil.berg"]) | pl.col("user_name").is_null()
        ),
    ),
}
#: The filters the samples show (one project in one region: no region or project filter).
SHOWN = [c for c in FILTER_LABELS if c not in SHOWN_WHEN_SEVERAL]


@pytest.mark.parametrize("control", list(FILTERS))
def test_each_filter_selects_what_polars_selects(
    df: pl.DataFrame, dash: Dashboard, control: str
) -> None:
    choose, expr = FILTERS[control]
    widget = getattr(dash.panel, control)
    before = {name: fig.to_plotly_json() for name, fig in dash.figures.items()}
    chosen = choose(values(widget))
    widget.value = chosen
    expected = df.filter(expr(chosen))
    assert 0 < expected.height < df.height
    assert_frame_equal(dash.selection, expected)
    assert dash.panel.summary_label.value == str(dash.summary)
    assert_numbers_equal_direct_analysis(dash, expected)
    assert dash.figures["allocation"].to_plotly_json() != before["allocation"]


def test_an_npu_pool_has_the_same_figures(df: pl.DataFrame, dash: Dashboard) -> None:
    dash.panel.pools.value = ("pool-ascend-910",)
    dash.panel.resource.value = "npu"
    expected = df.filter(pl.col("pool_id") == "pool-ascend-910")
    assert_numbers_equal_direct_analysis(dash, expected)
    npu_hours = A.usage(expected, by=None, resource="npu")["npu_hours"].item()
    assert dash.summary.unit_hours["npu"] > 0.9 * npu_hours > 0
    fig = dash.figures["allocation"]
    assert fig.layout.title.text.startswith("NPUs allocated by pool")
    assert [t.name for t in fig.data] == ["pool-ascend-910"]
    assert y_total(fig) > 0
    assert "NPU-hours" in dash.figures["usage"].layout.title.text


def test_time_window_selects_by_overlap(df: pl.DataFrame, dash: Dashboard) -> None:
    days = values(dash.panel.days)
    dash.panel.days.index = (10, 20)
    start = datetime.combine(days[10], datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(days[20], datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    expected = mt.overlapping(df, start=start, end=end)
    created_inside = df.filter(pl.col("create_time").is_between(start, end, closed="left"))
    assert expected.height > created_inside.height  # those running into the window count too
    assert_frame_equal(dash.selection, expected)
    assert_numbers_equal_direct_analysis(dash, expected)
    # The window's unit-hours are exactly mt.allocation(df, start=, end=)'s.
    whole = A.allocation(df, every="1h", by=None, start=start, end=end)
    held = (whole["allocated_mean"] * whole["coverage"]).sum()
    assert dash.summary.unit_hours["gpu"] == pytest.approx(held)
    dash.panel.days.index = (0, len(days) - 1)
    assert_frame_equal(dash.selection, df)


def test_filters_combine(df: pl.DataFrame, dash: Dashboard) -> None:
    pool = values(dash.panel.pools)[1]
    dash.panel.pools.value = (pool,)
    dash.panel.outcomes.value = ("succeeded",)
    dash.panel.days.index = (30, 60)
    state = dash.panel.state()
    expected = mt.overlapping(
        df.filter((pl.col("pool_id") == pool) & (pl.col("outcome") == "succeeded")),
        start=state.start,
        end=state.end,
    )
    assert_frame_equal(dash.selection, expected)
    assert_numbers_equal_direct_analysis(dash, expected)


def test_shares_stay_meaningful_under_an_outcome_filter(df: pl.DataFrame, dash: Dashboard) -> None:
    pool = "pool-a100-prod"
    dash.panel.pools.value = (pool,)
    before = dash.summary
    dash.panel.outcomes.value = ("failed",)
    after = dash.summary
    in_pool = df.filter(pl.col("pool_id") == pool)
    finished = in_pool.filter(pl.col("outcome").is_in(["succeeded", "failed", "canceled"]))
    failed = in_pool.filter(pl.col("outcome") == "failed").height
    canceled = in_pool.filter(pl.col("outcome") == "canceled").height
    assert after.versions == failed < after.finished == finished.height
    assert (after.failed, after.canceled) == (before.failed, before.canceled) == (failed, canceled)
    assert after.failed_share == pytest.approx(failed / finished.height)
    assert (after.failed_share or 1) < 1
    assert f"{failed / finished.height:.1%} failed" in str(after)
    assert f"{canceled / finished.height:.1%} canceled" in str(after)


@pytest.mark.parametrize("column", SHOWN)
def test_none_all_and_reset_buttons(dash: Dashboard, column: str) -> None:
    multi = dash.panel.filters[column]
    total = len(multi.options)
    plural = FILTER_LABELS[column][2]
    assert f"all {total} {plural}" in multi.count.value
    multi.select_none()
    assert multi.value == ()
    assert dash.selection.is_empty()
    assert str(dash.summary).startswith("No versions match")
    assert f"0 of {total} {plural}" in multi.count.value
    for fig in dash.figures.values():
        assert not fig.data
        assert [a.text for a in fig.layout.annotations] == [EMPTY_MESSAGE]
    multi.boxes[0].value = True  # one tick adds one option, it does not replace the selection
    multi.boxes[-1].value = True
    assert multi.value == (multi.options[0][1], multi.options[-1][1]) or total == 1
    assert f"{len(set(multi.value))} of {total} {plural}" in multi.count.value
    multi.select_all()
    assert dash.selection.height == SAMPLE_ROWS
    multi.select_none()
    dash.panel.reset()
    assert multi.value == tuple(values(multi)) and dash.selection.height == SAMPLE_ROWS


def test_a_tick_equals_an_assignment(df: pl.DataFrame) -> None:
    """A click arrives as a state update of the synced ``value`` (what the comm message sets)."""
    typed, clicked = Dashboard(df), Dashboard(df)
    pools = values(typed.panel.pools)
    typed.panel.pools.value = (pools[0], pools[3])
    for i, box in enumerate(clicked.panel.pools.boxes):
        if i not in (0, 3):
            box.set_state({"value": False})
    typed.panel.days.value = (values(typed.panel.days)[5], values(typed.panel.days)[40])
    clicked.panel.days.set_state({"index": [5, 40]})
    assert_frame_equal(typed.selection, clicked.selection)
    assert typed.selection.height < df.height
    assert typed.summary == clicked.summary
    for name in FIGURE_NAMES:
        assert typed.figures[name].to_plotly_json() == clicked.figures[name].to_plotly_json()


def test_v1_versions_are_one_user_option_and_one_usage_bar(
    df: pl.DataFrame, dash: Dashboard
) -> None:
    labels = dict(dash.panel.users.options)
    assert labels["(v1 job, no user)"] is None and labels["anna.keller"] == "anna.keller"
    assert list(dash.panel.filters) == SHOWN
    assert dash.panel.regions is None and dash.panel.projects is None
    assert [c for _, c in dash.usage_by.options] == ["pool_id", "workspace_id", "flavor_code",
                                                     "user_name"]  # fmt: skip
    dash.usage_by.value = "user_name"
    (bars,) = dash.figures["usage"].data
    v1_hours = df.filter(pl.col("api") == "v1")["gpu_hours"].sum()
    bar = dict(zip(bars.y, bars.x, strict=True))
    assert bar["(v1 job, no user)"] == pytest.approx(v1_hours, abs=1e-3)
    assert dash.figures["usage"].layout.title.text == "GPU-hours by user"
    assert_numbers_equal_direct_analysis(dash, df)


@pytest.fixture(scope="module")
def two_regions(df: pl.DataFrame) -> pl.DataFrame:
    """The samples twice: as read in eu-de and as another project in eu-nl (issue 11)."""
    other = df.with_columns(
        region=pl.lit("eu-nl"), project_id=pl.lit("1b2c3d4e5f60718293a4b5c6d7e8f90a"),
        job_id=pl.col("job_id") + "-nl",
        create_time=pl.col("create_time") + timedelta(hours=7),  # not a copy of the same numbers
        start_time=pl.col("start_time") + timedelta(hours=7),
        end_time=pl.col("end_time") + timedelta(hours=7),
    )  # fmt: skip
    return pl.concat([df, other.head(2000)])


@pytest.mark.parametrize(
    ("control", "column", "value"),
    [
        ("regions", "region", "eu-nl"),
        ("projects", "project_id", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
    ],
)
def test_region_and_project_filters_when_the_frame_holds_several(
    two_regions: pl.DataFrame, control: str, column: str, value: str
) -> None:
    dash = Dashboard(two_regions)
    assert list(dash.panel.filters)[-2:] == ["region", "project_id"]
    multi = getattr(dash.panel, control)
    assert "all 2 " in multi.count.value
    assert "mavtools-" + FILTER_LABELS[column][1] + "-filter" in multi.widget._dom_classes
    multi.value = (value,)
    expected = two_regions.filter(pl.col(column) == value)
    assert 0 < expected.height < two_regions.height
    assert_frame_equal(dash.selection, expected)
    assert_numbers_equal_direct_analysis(dash, expected)
    # With a day window and another filter on top, still the analysis of the filtered frame.
    dash.panel.pools.value = ("pool-a100-prod", "pool-ascend-910")
    dash.panel.days.index = (20, 40)
    state = dash.panel.state()
    expected = mt.overlapping(
        expected.filter(pl.col("pool_id").cast(pl.String).is_in(["pool-a100-prod",
                                                                  "pool-ascend-910"])),
        start=state.start, end=state.end,
    )  # fmt: skip
    assert_frame_equal(dash.selection, expected)
    assert_numbers_equal_direct_analysis(dash, expected)
    dash.usage_by.value = column
    assert_numbers_equal_direct_analysis(dash, expected)


def test_workspace_names_are_shown_with_ids_in_hover(dash: Dashboard) -> None:
    labels = dict(dash.panel.workspaces.options)
    assert labels["default"] == "0" and labels["vision-team"].startswith("7f3a8c")
    box = dash.panel.workspaces.boxes[values(dash.panel.workspaces).index("0")]
    assert box.tooltip == "default (id 0)"
    (bars,) = dash.figures["usage"].data
    assert "vision-team" in bars.y and "default" in bars.y
    assert any("7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b" in str(c) for c in bars.customdata)
    dash.usage_by.value = "pool_id"
    assert dash.figures["usage"].layout.title.text == "GPU-hours by pool"


def test_capacity_lines_per_pool(df: pl.DataFrame) -> None:
    dash = Dashboard(df, capacity={"pool-a100-prod": 16, "pool-v100-batch": 16})
    fig = dash.figures["allocation"]
    lines = {t.name: t.y for t in fig.data if t.name.startswith("capacity of")}
    assert lines == {
        "capacity of pool-a100-prod: 16 GPUs": (16, 16),
        "capacity of pool-v100-batch: 16 GPUs": (16, 16),
    }
    colours = {t.legendgroup: t.line.color for t in fig.data}
    assert colours["pool-a100-prod"] != colours["pool-v100-batch"]


def test_colours_follow_pools_in_sorted_order_under_any_filter(dash: Dashboard) -> None:
    # A public-pool job names no pool (None): sorted first, so the last is a named pool.
    pools = sorted(values(dash.panel.pools), key=lambda p: (p is not None, p or ""))
    before = {t.name: t.line.color for t in dash.figures["allocation"].data}
    assert len(set(before.values())) == len(before)
    dash.panel.pools.value = (pools[-1],)
    (trace,) = dash.figures["allocation"].data
    assert trace.line.color == dash.colors[pools[-1]] == before.get(pools[-1], trace.line.color)
    assert dash.figures["allocation"].layout.showlegend is not False


def test_outputs_carry_the_plotly_mimetype(
    dash: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each figure's view holds what plotly's ``plotly_mimetype`` renderer shows (the page
    hands it to ``Plotly.react``)."""
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    dash.panel.outcomes.value = ("failed",)
    for name, out in dash.outputs.items():
        shown = out.figure
        assert shown["layout"]["title"] == dash.figures[name].to_plotly_json()["layout"]["title"]
        assert len(shown["data"]) == len(dash.figures[name].data)


def test_css_classes_for_the_browser_test(dash: Dashboard) -> None:
    assert "mavtools-pool-filter" in dash.panel.pools.widget._dom_classes
    assert "mavtools-summary" in dash.panel.summary_label._dom_classes
    assert "mavtools-dashboard" in dash.widget._dom_classes
    assert "mavtools-resource" in dash.panel.resource._dom_classes
    for name, out in dash.outputs.items():
        assert out._dom_classes == (f"mavtools-figure-{name}",)


def test_plain_text_of_the_dashboard_is_its_summary(dash: Dashboard) -> None:
    bundle = dash._repr_mimebundle_()
    assert bundle["text/plain"] == f"Dashboard: {dash.summary}"
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_now_is_the_snapshot_time_of_the_rows(df: pl.DataFrame) -> None:
    derived = df.filter(pl.col("pool_id") == "pool-a100-prod")  # a filtered frame: no provenance
    assert Dashboard(derived).now == derived["observed_at"].max() == mt.provenance(df).fetched_at
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
    hours = {"gpu": 12.25, "npu": 0.0}
    assert str(Summary(10, 20, hours, 0, 0, 0)) == (
        "10 of 20 versions | 12.2 GPU-hours | 0.0 NPU-hours | no finished versions"
    )
    assert str(Summary(1234, 3000, {"gpu": 5678.91, "npu": 2.0}, 800, 100, 20)) == (
        "1,234 of 3,000 versions | 5,678.9 GPU-hours | 2.0 NPU-hours | "
        "of 800 finished: 12.5% failed, 2.5% canceled"
    )
    assert math.isclose(Summary(1, 1, hours, 8, 1, 0).failed_share or 0, 0.125)


def test_the_chosen_days_are_shown_whole(df: pl.DataFrame) -> None:
    panel = FilterPanel(df)
    first = df["create_time"].min().date().isoformat()
    last = df["create_time"].max().date().isoformat()
    assert panel.days_label.value.startswith(f"{first} to {last}")
    panel.days.index = (1, 2)
    assert panel.days_label.value.startswith(
        f"{panel.days.options[1][1].isoformat()} to {panel.days.options[2][1].isoformat()}"
    )


def test_aggregates_on_a_hand_worked_case() -> None:
    """Two versions on 4 GPUs in two pools; a day window cuts one of them in half."""
    t = lambda d, h: datetime(2026, 1, d, h, tzinfo=UTC)  # noqa: E731
    rows = [
        # pool, outcome, create, start, end, gpus
        ("p1", "succeeded", t(1, 0), t(1, 12), t(2, 12), 4),
        ("p2", "failed", t(2, 0), t(2, 6), t(2, 18), 2),
    ]
    frame = mt.frame.build_frame([], "0").clear()
    frame = pl.concat(
        [
            frame,
            pl.DataFrame(
                {
                    "pool_id": [r[0] for r in rows],
                    "outcome": [r[1] for r in rows],
                    "create_time": [r[2] for r in rows],
                    "start_time": [r[3] for r in rows],
                    "end_time": [r[4] for r in rows],
                    "gpu_num": [r[5] for r in rows],
                    "npu_num": [0, 0],
                    "gpu_hours": [96.0, 24.0],
                    "npu_hours": [0.0, 0.0],
                    "workspace_id": ["0", "0"],
                    "flavor_code": ["f", "f"],
                }
            ).cast({c: frame.schema[c] for c in ("pool_id", "outcome", "create_time", "start_time",
                     "end_time", "gpu_num", "npu_num", "workspace_id", "flavor_code")}),
        ],
        how="diagonal",
    )  # fmt: skip
    agg = Aggregates(frame, now=t(3, 0), every="1d")
    day2 = Selection({}, date(2026, 1, 2), date(2026, 1, 2))
    summary = agg.summary(day2)
    # Day 2: p1 holds 4 GPUs for 12 h (48), p2 holds 2 GPUs for 12 h (24).
    assert summary.versions == 2 and summary.unit_hours["gpu"] == pytest.approx(72.0)
    assert (summary.finished, summary.failed, summary.canceled) == (2, 1, 0)
    alloc = agg.allocation(day2)
    assert dict(zip(alloc["pool_id"].cast(pl.String), alloc["allocated_mean"], strict=True)) == {
        "p1": pytest.approx(2.0),
        "p2": pytest.approx(1.0),
    }
    day1 = agg.summary(Selection({"pool_id": ["p2"]}, date(2026, 1, 1), date(2026, 1, 1)))
    assert day1.versions == 0  # p2 was created on day 2


def test_display_data_equals_what_the_figure_object_shows(
    df: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Updates skip building plotly objects, yet send exactly what ``go.Figure`` would show."""
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    dash = Dashboard(df, capacity={"pool-a100-prod": 16}, names=NAMES)
    for name, out in dash.outputs.items():
        assert {"application/vnd.plotly.v1+json": out.figure} == dash.figures[
            name
        ]._repr_mimebundle_(), name
