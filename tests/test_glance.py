"""What a team lead reads at a glance (issue 25): no ramps where nothing ran, a toggle and empty
messages that follow the selection, waits by units of one accelerator, colours that mean one
thing, one duration unit per axis, filters that narrow with counts, one redraw per Reset, and no
"Share chart" link to Plotly's cloud."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import plotly.io as pio
import polars as pl
import pytest

import mavtools as mt
from mavtools import analysis as A
from mavtools.views import distributions as D
from mavtools.views import report
from mavtools.views import style as S
from mavtools.views import timeseries as T
from mavtools.views.mime import PLOTLY_MIMETYPE
from mavtools.views.widgets import Dashboard

ASCEND = "pool-ascend-910"


@pytest.fixture(scope="module")
def df() -> pl.DataFrame:
    """The bundled samples: 3,000 versions, one Ascend (NPU) pool and one CPU-only pool."""
    return mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)


@pytest.fixture
def dash(df: pl.DataFrame) -> Dashboard:
    return Dashboard(df)


def one_ascend_user(df: pl.DataFrame) -> str:
    """A user whose Ascend jobs leave days without any job running (the issue's case)."""
    users = df.filter(pl.col("pool_id") == ASCEND)["user_name"].drop_nulls().unique().sort()
    return str(users[0])


# ------------------------------------------------------------------------------ 1: no ramps


def test_allocation_has_a_point_for_every_bin_zero_where_nothing_ran(
    df: pl.DataFrame, dash: Dashboard
) -> None:
    user = one_ascend_user(df)
    dash.panel.pools.value = (ASCEND,)
    dash.panel.users.value = (user,)
    assert dash.panel.resource.value == "npu"
    (area,) = [t for t in dash.figures["allocation"].data if t.name == ASCEND]
    step = timedelta(hours=6)  # the samples span 90 days: 6-hour bins
    times = [pl.Series([x]).str.to_datetime("%Y-%m-%d %H:%M").item() for x in area.x]
    assert all(b - a == step for a, b in pairwise(times)), "a bin is missing"
    assert area.connectgaps is False
    # Reference: the analysis on the selected versions gives the same bins, zeros included.
    chosen = df.filter(pl.col("pool_id") == ASCEND, pl.col("user_name") == user)
    start, end = dash.panel.aggregates.span
    direct = A.allocation(chosen, every="6h", start=start, end=end, resource="npu")
    assert list(area.y) == direct["allocated_mean"].round(3).to_list()
    assert 0 in area.y and max(area.y) > 0  # days without a job are drawn at 0, not a slope


def test_uncovered_bins_are_gaps_not_zeros() -> None:
    alloc = pl.DataFrame(
        {
            "time": pl.datetime_range(
                pl.datetime(2026, 1, 1, time_zone="UTC"),
                pl.datetime(2026, 1, 1, 3, time_zone="UTC"),
                "1h",
                time_unit="ms",
                eager=True,
            ),
            "pool_id": ["p"] * 4,
            "allocated_mean": [2.0, 0.0, None, 1.0],
            "coverage": [1.0, 1.0, 0.0, 1.0],
        }
    )
    (trace,) = T.allocation_figure(alloc).data
    assert list(trace.y) == [2.0, 0.0, None, 1.0] and trace.connectgaps is False


# ------------------------------------------------------------------ 2: toggle, empty messages


def test_the_toggle_follows_the_selection_and_figures_are_not_empty(dash: Dashboard) -> None:
    assert dash.panel.resource.value == "gpu"
    dash.panel.pools.value = (ASCEND,)
    assert dash.panel.resource.value == "npu"
    for name in ("allocation", "usage", "versions", "durations"):
        assert dash.figures[name].data, f"{name} is empty with 464 Ascend versions selected"
    assert "NPU" in dash.figures["allocation"].layout.title.text


def test_empty_messages_say_why(dash: Dashboard, df: pl.DataFrame) -> None:
    dash.panel.pools.value = ("pool-cpu-public",)
    message = dash.figures["allocation"].layout.annotations[0].text
    cpu = df.filter(pl.col("pool_id") == "pool-cpu-public").height
    assert message == f"The {cpu} selected versions held no GPUs in the window (CPU only)"
    assert dash.figures["durations"].data  # CPU jobs ran: their run times are shown
    dash.panel.pools.value = (ASCEND,)
    assert dash.panel.resource.value == "npu"
    dash.panel.resource.value = "gpu"  # a reader may still ask for GPUs: the figure says why
    assert dash.panel.resource.value == "gpu"
    message = dash.figures["usage"].layout.annotations[0].text
    assert message.startswith("The 464 selected versions held no GPUs")
    assert "choose NPUs above" in message
    dash.panel.pools.value = ()
    assert dash.figures["usage"].layout.annotations[0].text == S.EMPTY_MESSAGE


# ------------------------------------------------------------------------ 3: waits by units


def test_waits_by_units_keep_cpu_and_other_accelerator_apart(df: pl.DataFrame) -> None:
    gpu = mt.queue_wait_by_units(df, resource="gpu")
    started = df.filter(pl.col("queue_wait").is_not_null())
    cpu_only = started.filter(pl.col("gpu_num") == 0, pl.col("npu_num") == 0)
    assert gpu.filter(pl.col("gpu_num") == 0)["versions"].item() == cpu_only.height
    assert gpu["versions"].sum() == started.filter(pl.col("npu_num") == 0).height
    npu = mt.queue_wait_by_units(df.filter(pl.col("pool_id") == ASCEND), resource="npu")
    assert 0 not in npu["npu_num"].to_list()  # every Ascend job asks for NPUs
    fig = D.queue_wait_figure(npu)
    labels = list(fig.data[0].x)
    assert labels and all(x.endswith(("NPU", "NPUs")) for x in labels)
    assert "CPU only" in D.queue_wait_figure(gpu).data[0].x
    # The naive grouping is what the issue saw: CPU and NPU jobs as "0 GPUs".
    naive = A.queue_wait(df, by="gpu_num").filter(pl.col("gpu_num") == 0)["versions"].item()
    assert naive > cpu_only.height


# ------------------------------------------------------------------------------ 4: colours


def colours_of(fig: Any) -> set[str]:
    found: set[str] = set()
    for trace in fig.data:
        for part in (getattr(trace, "marker", None), getattr(trace, "line", None)):
            colour = getattr(part, "color", None) if part is not None else None
            if isinstance(colour, str):
                found.add(colour.lower())
            elif colour is not None:
                found |= {c.lower() for c in colour}
    return found


def test_a_colour_means_one_kind_in_a_view(dash: Dashboard) -> None:
    kinds: dict[str, set[str]] = {
        "pool": colours_of(dash.figures["allocation"]),
        "outcome": colours_of(dash.figures["versions"]) | colours_of(dash.figures["durations"]),
    }
    for by in ("workspace_id", "user_name", "flavor_code"):
        dash.usage_by.value = by
        kinds[by] = colours_of(dash.figures["usage"])
        assert len(kinds[by]) == 1  # bars named on the axis: one colour for the kind
    for a in kinds:
        for b in kinds:
            if a < b:
                assert not kinds[a] & kinds[b], f"{a} and {b} share {kinds[a] & kinds[b]}"
    assert kinds["outcome"] <= {c.lower() for c in S.OUTCOME_COLORS.values()}


def test_the_palette_leaves_outcome_colours_alone() -> None:
    reserved = {c.lower() for c in S.OUTCOME_COLORS.values()}
    pools = S.palette([f"pool-{i:02}" for i in range(16)])
    assert not reserved & {c.lower() for c in pools.values()}
    assert not reserved & {c.lower() for c in S.KIND_COLORS.values()}
    assert not set(pools.values()) & set(S.KIND_COLORS.values())


# --------------------------------------------------------------------------- 5: axes and text


@pytest.mark.parametrize(
    ("max_hours", "unit"), [(0.05, "minutes"), (1.9, "minutes"), (12, "hours"), (60, "hours"),
                            (80, "days")],
)  # fmt: skip
def test_one_duration_unit_per_axis(max_hours: float, unit: str) -> None:
    waits = pl.DataFrame(
        {"pool_id": ["a", "b"], "versions": [3, 4], "wait_p50_hours": [0.04, max_hours / 3],
         "wait_p90_hours": [0.05, max_hours]},
    )  # fmt: skip
    fig = D.queue_wait_figure(waits)
    assert fig.layout.yaxis.title.text == f"wait from creation to start ({unit})"
    assert fig.layout.yaxis.ticktext is None  # plotly's own ticks, all in that one unit
    per_hour = {"minutes": 60, "hours": 1, "days": 1 / 24}[unit]
    assert list(fig.data[1].y) == [round(0.05 * per_hour, 3), round(max_hours * per_hour, 3)]
    # A 2-minute median next to a long p90 is still read: each bar carries its value.
    assert fig.data[0].text[0] == "2 min" and fig.data[0].textposition == "outside"


def test_weekly_waits_are_small_multiples_of_the_longest_waits(df: pl.DataFrame) -> None:
    weekly = A.queue_wait(df, by="pool_id", every="1w", quantiles=(0.5, 0.9))
    fig = D.queue_wait_figure(weekly, max_groups=3)
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == ["p50", "p90"]  # percentiles in the legend, not "pool p50" x pools
    panels = [a.text for a in fig.layout.annotations]
    worst = (
        weekly.group_by(pl.col("pool_id").cast(pl.String))
        .agg(pl.col("wait_p90_hours").max())
        .sort("wait_p90_hours", descending=True)["pool_id"]
        .head(3)
        .to_list()
    )
    assert panels == worst  # chosen by wait, not by job count
    more = weekly["pool_id"].n_unique() - 3  # every pool, the job without a pool id as one more
    assert f"{more} more" in fig.layout.title.text


def test_daily_utilization_is_one_panel_per_pool(df: pl.DataFrame) -> None:
    daily = A.utilization(df, capacity={"pool-a100-prod": 16, "pool-v100-batch": 16}, every="1d")
    fig = T.utilization_figure(daily)
    areas = [t for t in fig.data if t.fill == "tozeroy"]
    assert [t.name for t in areas] == ["pool-a100-prod", "pool-v100-batch"]
    assert areas[0].yaxis != areas[1].yaxis
    a100 = daily.filter(pl.col("pool_id") == "pool-a100-prod")
    assert list(areas[0].y) == (a100["utilization"] * 100).round(1).to_list()


# ---------------------------------------------------------------------------------- 6: filters


def test_options_narrow_with_counts(df: pl.DataFrame, dash: Dashboard) -> None:
    dash.panel.pools.value = (ASCEND,)
    dash.panel.workspaces.value = ("0",)
    chosen = df.filter(pl.col("pool_id") == ASCEND, pl.col("workspace_id") == "0")
    shown = {
        value: box.description
        for (_, value), box in zip(
            dash.panel.flavors.options, dash.panel.flavors.boxes, strict=True
        )
        if box.layout.display != "none"
    }
    want = chosen.group_by(pl.col("flavor_code").cast(pl.String)).len()
    assert shown == {f: f"{f} ({n:,})" for f, n in want.iter_rows()}
    users = {
        v for (_, v), box in zip(dash.panel.users.options, dash.panel.users.boxes, strict=True)
        if box.layout.display != "none"
    }  # fmt: skip
    assert users == set(chosen["user_name"].unique().to_list())
    # A filter's own options are counted under the other filters only (so they can be re-added).
    pools = dict(zip(dash.panel.pools.options, dash.panel.pools.boxes, strict=True))
    n_a100 = df.filter(pl.col("pool_id") == "pool-a100-prod", pl.col("workspace_id") == "0").height
    assert pools[("pool-a100-prod", "pool-a100-prod")].description == f"pool-a100-prod ({n_a100:,})"


def test_reset_redraws_each_figure_once(dash: Dashboard) -> None:
    dash.panel.pools.value = (ASCEND,)
    dash.panel.outcomes.value = ("failed",)
    dash.panel.users.select_none()
    days = dash.panel.days
    days.index = (1, len(days.options) - 2)
    calls: list[int] = []
    dash.panel.on_state(lambda: calls.append(1))
    before = dash.redraws
    dash.panel.reset()
    assert len(calls) == 1
    assert dash.redraws - before <= 4
    assert dash.panel.resource.value == "gpu" and dash.summary.versions == 3000


def test_an_unchanged_figure_is_not_sent_again(dash: Dashboard) -> None:
    before = dash.redraws
    dash.panel.workspaces.value = tuple(v for _, v in dash.panel.workspaces.options)
    assert dash.redraws == before  # everything was selected already: nothing to redraw
    dash.usage_by.value = "pool_id"
    assert dash.redraws == before + 1  # only the usage figure


# ------------------------------------------------------------------------------ 8: no cloud


def test_no_share_chart_link_anywhere(df: pl.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")  # as inside a kernel
    dash = Dashboard(df)
    assert S.CONFIG["showSendToCloud"] is False
    for out in dash.outputs.values():
        assert out.figure["config"]["showSendToCloud"] is False
    fig = T.usage_figure(A.usage(dash.selection, by="pool_id"))
    bundle = fig._repr_mimebundle_()
    assert bundle[PLOTLY_MIMETYPE]["config"]["showSendToCloud"] is False
    html = S.Figure(fig).to_html(include_plotlyjs=False, config=S.CONFIG)
    assert '"showSendToCloud": false' in html
    assert report._figure_html({"data": [], "layout": {}}, "x").count('"showSendToCloud":false')


# --------------------------------------------------------------------------- 11: take-aways


def test_every_table_downloads_as_csv(df: pl.DataFrame) -> None:
    used = mt.usage(df, by="pool_id")
    html = mt.tables.table(used, table_id="usage-pool", title="Usage")._repr_mimebundle_()[
        "text/html"
    ]
    link = re.search(r'<a download="usage-pool.csv" href="data:text/csv;[^,]*,([^"]+)"', html)
    assert link is not None
    back = pl.read_csv(io.BytesIO(base64.b64decode(link.group(1))))
    assert back["pool_id"].to_list() == used["pool_id"].cast(pl.String).to_list()
    assert back["gpu_hours"].to_list() == pytest.approx(used["gpu_hours"].to_list())


@pytest.mark.parametrize("name", ["capacity.ipynb", "explore.ipynb"])
def test_committed_notebooks_carry_a_png_beside_each_figure(name: str) -> None:
    nb = json.loads((Path(__file__).parent.parent / "notebooks" / name).read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", []) if "data" in o]
    plots = [o["data"] for o in outputs if PLOTLY_MIMETYPE in o["data"]]
    assert plots
    for data in plots:
        png = base64.b64decode(data["image/png"])
        assert png.startswith(b"\x89PNG") and len(png) > 5_000
