"""When were units held, how many versions were created, who used how much, how full were pools?

Time series and totals of the selected versions: units allocated over time (one panel per pool
against its size), versions created per period, unit-hours per group, utilization per pool and the
hour-of-week heatmap. Pure functions from an :mod:`mavtools.analysis` result to a plotly figure (or
its plain-data spec, which the dashboard sends); colours, words and axes come from
:mod:`mavtools.views.style`.

Decisions:

* Figures carry aggregated numbers only, never a point per version, so their JSON stays small
  (well under 300 KB) at any frame size: time series longer than ``max_points`` bins are merged into
  coarser bins (mean of the means, max of the peaks) by :func:`allocation_figure`, and categorical
  charts keep the ``max_groups`` largest groups and fold the rest into one "others" bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import plotly.graph_objects as go
import polars as pl

from mavtools.views.style import (
    EMPTY_MESSAGE,
    Figure,
    Spec,
    _empty,
    _groups,
    _kind_colors,
    _label,
    _layout,
    _layout_spec,
    _rounded,
    _times,
    _top,
    _unit,
    _zone,
    color_of,
    empty_spec,
    words,
)

__all__ = [
    "allocation_figure",
    "allocation_spec",
    "heatmap_figure",
    "usage_figure",
    "usage_spec",
    "utilization_figure",
    "versions_figure",
    "versions_spec",
]

_NICE_FACTORS: Final = (1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 168, 336, 720, 1440, 2880, 8760)
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --------------------------------------------------------------------------------- allocation


def _coarsen(alloc: pl.DataFrame, keys: list[str], max_points: int) -> tuple[pl.DataFrame, int]:
    n_bins = alloc["time"].n_unique()
    factor = next((f for f in _NICE_FACTORS if n_bins / f <= max_points), -(-n_bins // max_points))
    if factor == 1:
        return alloc, 1
    index = (pl.col("time").rank("dense") - 1) // factor
    merged = (
        alloc.with_columns(_i=index)
        .group_by("_i", *keys)
        .agg(
            pl.col("time").min(),
            pl.col("allocated_mean").mean(),
            pl.col("allocated_peak").max(),
            *([pl.col("coverage").min()] if "coverage" in alloc.columns else []),
        )
        .sort([*keys, "_i"], nulls_last=True)
        .drop("_i")
    )
    return merged, factor


def allocation_figure(
    alloc: pl.DataFrame,
    capacity: Mapping[str, int] | None = None,
    *,
    resource: str = "gpu",
    max_points: int = 500,
    colors: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """Units allocated over time by group; one panel per pool with its capacity when known.

    Args:
        alloc: the result of :func:`mavtools.analysis.allocation` (any ``by``); the
            ``allocated_peak`` column is optional (hover shows it when present).
        capacity: pool id -> units. With ``by="pool_id"`` each pool gets its own panel with its
            own capacity drawn as a dashed line (a pool's size against its own use); pools without
            a known size get a panel without a line. Without it the groups are stacked.
        resource: ``"gpu"`` or ``"npu"``, for the titles.
        max_points: longer series are merged into coarser bins (mean of means, max of peaks).
        colors: group value -> colour (see :func:`palette`).
        names: group value -> the name to show (ids stay in the hover text).

    Groups that never hold a unit are left out.

    Example:
        >>> allocation_figure(allocation(df, by="pool_id"), {"pool-a100-prod": 16})
    """
    return Figure(
        allocation_spec(
            alloc, capacity, resource=resource, max_points=max_points, colors=colors, names=names
        )
    )


def allocation_spec(
    alloc: pl.DataFrame,
    capacity: Mapping[str, int] | None = None,
    *,
    resource: str = "gpu",
    max_points: int = 500,
    colors: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    empty: str = EMPTY_MESSAGE,
) -> Spec:
    """:func:`allocation_figure` as plain data (no validation: what the dashboard sends).

    ``empty`` is the message shown when no group holds a unit (a dashboard says why).
    """
    unit = _unit(resource)
    keys = list(_groups(alloc))
    title = f"{unit}s allocated" + (" by " + words(keys) if keys else "")
    peak = "allocated_peak" if "allocated_peak" in alloc.columns else "allocated_mean"
    held = alloc.filter((pl.col(peak).max() > 0).over(keys)) if keys else alloc
    if held.is_empty() or not held.select((pl.col(peak) > 0).any()).item():
        return empty_spec(title, empty)
    if peak == "allocated_mean":
        held = held.with_columns(allocated_peak=pl.lit(None, dtype=pl.Int64))
    data, factor = _coarsen(held, keys, max_points)
    zone = _zone(alloc)
    if factor > 1:
        title += f" (each point merges {factor} bins)"
    # Every column the traces need, computed once for all groups, then split by group.
    data = data.select(
        _label=_label(keys),
        _time=pl.col("time").dt.to_string("%Y-%m-%d %H:%M"),
        _mean=pl.col("allocated_mean").cast(pl.Float64).round(3),
        _peak="allocated_peak",
        # A bin the data covers only in part (the snapshot falls inside it) is said so in hover.
        _note=pl.when(pl.col("coverage") < 1)
        .then(
            pl.format(
                "<br>partial bin: {}% of it covered (mean over that part)",
                (pl.col("coverage") * 100).round(0).cast(pl.Int64),
            )
        )
        .otherwise(pl.lit(""))
        if "coverage" in data.columns
        else pl.lit(""),
    )
    facets = bool(capacity) and keys == ["pool_id"]
    parts = data.partition_by("_label", as_dict=True, maintain_order=True)
    groups = sorted(parts, key=lambda k: str(k[0]))
    if facets:
        title += " against each pool's capacity"
    peak_text = f"<br>peak %{{customdata}} {unit}s" if peak == "allocated_peak" else ""
    traces: list[dict[str, Any]] = []
    n = len(groups)
    gap = 0.04 if n > 1 else 0.0
    height = (1 - gap * (n - 1)) / n
    layout = _layout_spec(
        title, f"time ({zone})", f"{unit}s allocated (mean per bin)",
        legend_title="pool" if facets else words(keys),
    )  # fmt: skip
    for row, key in enumerate(groups, start=1):
        part, name = parts[key], str(key[0])
        shown = (names or {}).get(name, name)
        axis = {"xaxis": "x", "yaxis": "y" if row == 1 else f"y{row}"} if facets else {}
        trace: dict[str, Any] = {
            "type": "scatter",
            "x": part["_time"].to_list(),
            "y": part["_mean"].to_list(),
            "customdata": part["_peak"].to_list(),
            "text": part["_note"].to_list(),
            "name": shown,
            "legendgroup": name,
            "showlegend": True,
            "mode": "lines",
            # A bin the data does not cover (null) is a gap, never a slope across it.
            "connectgaps": False,
            "line": {"width": 0.8, "color": color_of(name, colors)},
            "hovertemplate": f"{shown} ({name})<br>%{{x}} {zone}<br>mean %{{y:.2f}} {unit}s"
            f"{peak_text}%{{text}}<extra></extra>",
            **axis,
        }
        trace |= {"fill": "tozeroy"} if facets else {"stackgroup": "allocation"}
        traces.append(trace)
        size = (capacity or {}).get(name) if facets else None
        if size is not None:
            times = part["_time"].to_list()
            ends = [times[0], times[-1]]
            traces.append(
                {
                    "type": "scatter", "x": ends, "y": [size, size],
                    "name": f"capacity of {shown}: {size} {unit}s", "legendgroup": name,
                    "mode": "lines", "showlegend": True,
                    "line": {"dash": "dash", "color": color_of(name, colors), "width": 1.5},
                    "hovertemplate": f"capacity of {shown}: {size} {unit}s<extra></extra>",
                    **axis,
                }
            )  # fmt: skip
        if facets:
            top = 1 - (row - 1) * (height + gap)
            layout["yaxis" if row == 1 else f"yaxis{row}"] = {
                "domain": [round(max(top - height, 0), 4), round(top, 4)],
                "rangemode": "tozero",
                "anchor": "x",
            }
    if facets:
        layout["xaxis"] |= {"anchor": f"y{n}" if n > 1 else "y"}
        layout["height"] = max(320, 70 + 110 * n)
        layout["annotations"] = [
            {
                "text": f"{unit}s allocated (mean per bin)", "textangle": -90,
                "showarrow": False, "xref": "paper", "yref": "paper", "x": -0.07, "y": 0.5,
            }
        ]  # fmt: skip
    return {"data": traces, "layout": layout}


# ------------------------------------------------------------------------------ versions per week


_PERIOD_WORDS: Final = {"1d": "day", "1w": "week", "1mo": "month"}


def versions_figure(
    counts: pl.DataFrame,
    *,
    every: str = "1w",
    covered: tuple[datetime, datetime] | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Versions created per period, stacked by outcome (or any group); partial periods hatched.

    Args:
        counts: the result of :func:`mavtools.analysis.version_counts`.
        every: the period of ``counts`` (for the title and to find partial periods).
        covered: the time the data covers, ``(start, end)``; a period that is not wholly inside
            it is partial (its count is not comparable with whole periods) and is drawn hatched.
        colors: group value -> colour (see :func:`palette`).

    Example:
        >>> versions_figure(version_counts(df, every="1w", by="outcome"))
    """
    return Figure(versions_spec(counts, every=every, covered=covered, colors=colors))


def versions_spec(
    counts: pl.DataFrame,
    *,
    every: str = "1w",
    covered: tuple[datetime, datetime] | None = None,
    colors: Mapping[str, str] | None = None,
    empty: str = EMPTY_MESSAGE,
) -> Spec:
    """:func:`versions_figure` as plain data (no validation: what the dashboard sends)."""
    keys = _groups(counts)
    period = _PERIOD_WORDS.get(every, "period")
    title = f"Versions created per {period}" + (" by " + words(keys) if keys else "")
    if counts.is_empty():
        return empty_spec(title, empty)
    data, zone = counts.with_columns(_label=_label(keys)), _zone(counts)
    if covered is not None:
        ends = pl.col("time").dt.offset_by(every)
        lo, hi = (pl.lit(t).cast(counts.schema["time"]) for t in covered)
        data = data.with_columns(_partial=(pl.col("time") < lo) | (ends > hi))
    else:
        data = data.with_columns(_partial=pl.lit(False))
    any_partial = data.get_column("_partial").any()
    data = data.select(
        "_label", "_partial", "versions", _time=pl.col("time").dt.to_string("%Y-%m-%d %H:%M")
    )
    traces = []
    for (name,), part in data.partition_by("_label", as_dict=True, maintain_order=True).items():
        partial = part["_partial"].to_list()
        traces.append(
            {
                "type": "bar",
                "x": part["_time"].to_list(),
                "y": part["versions"].to_list(),
                "name": str(name),
                "showlegend": True,
                "customdata": [
                    f"partial {period}: the data covers only part of it" if p else ""
                    for p in partial
                ],
                "marker": {
                    "color": color_of(name, colors),
                    "pattern": {"shape": ["/" if p else "" for p in partial]},
                },
                "hovertemplate": f"%{{fullData.name}}<br>{period} from %{{x}} {zone}<br>"
                "%{y} versions<br>%{customdata}<extra></extra>",
            }
        )
    if any_partial:
        title += f" (hatched: partial {period})"
    layout = _layout_spec(
        title, f"{period} start ({zone})", "versions created", barmode="stack",
        legend_title=words(keys),
    )  # fmt: skip
    return {"data": traces, "layout": layout}


# ------------------------------------------------------------------------------------ usage


def usage_figure(
    used: pl.DataFrame,
    *,
    max_groups: int = 30,
    names: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Unit-hours per group as horizontal bars, largest on top, with versions and share in hover.

    Args:
        used: the result of :func:`mavtools.analysis.usage` (by pool, flavor, workspace ...).
        max_groups: the rest are folded into one "others" bar.
        names: group value -> the name to show (for example workspace names); the id stays in
            the hover text.
        colors: group value -> colour (see :func:`palette`).

    Example:
        >>> usage_figure(usage(df, by="workspace_id"), names=client.workspace_names())
    """
    return Figure(usage_spec(used, max_groups=max_groups, names=names, colors=colors))


def usage_spec(
    used: pl.DataFrame,
    *,
    max_groups: int = 30,
    names: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    empty: str = EMPTY_MESSAGE,
) -> Spec:
    """:func:`usage_figure` as plain data (no validation: what the dashboard sends).

    Bars of pools take their colours from ``colors``; bars of another kind (workspaces, users,
    flavors: named on the axis) all take that kind's one colour, :data:`KIND_COLORS`.
    """
    hours = "npu_hours" if "npu_hours" in used.columns else "gpu_hours"
    unit = "NPU" if hours == "npu_hours" else "GPU"
    keys = _groups(used)
    if "versions_using" in keys:
        keys.remove("versions_using")
    title = f"{unit}-hours" + (" by " + words(keys) if keys else "")
    if used.is_empty() or not (used[hours].sum() > 0):
        return empty_spec(title, empty)
    data = used.with_columns(_label=_label(keys)).filter(pl.col(hours) > 0)
    top = _top(data, "_label", hours, max_groups)
    shown = data.filter(pl.col("_label").is_in(top)).sort(hours)
    rest = data.filter(~pl.col("_label").is_in(top))
    if rest.height:
        others = rest.select(
            _label=pl.lit(f"{rest.height} others"), versions=pl.col("versions").sum(),
            **{hours: pl.col(hours).sum()}, share=pl.col("share").sum(),
        )  # fmt: skip
        shown = pl.concat([others, shown.select(others.columns)])
    ids = shown["_label"].to_list()
    labels = [(names or {}).get(i, i) for i in ids]
    shares = shown.select("versions", (pl.col("share") * 100).round(1)).rows()
    bars = {
        "type": "bar",
        "x": _rounded(shown[hours]),
        "y": labels,
        "orientation": "h",
        "name": f"{unit}-hours",
        "customdata": [[v, share, i] for (v, share), i in zip(shares, ids, strict=True)],
        "marker": {"color": _kind_colors(keys, ids, colors)},
        "hovertemplate": f"%{{y}} (%{{customdata[2]}})<br>%{{x:,.1f}} {unit}-hours "
        "(%{customdata[1]}% of the total)<br>%{customdata[0]:,} versions<extra></extra>",
    }
    layout = _layout_spec(
        title, f"{unit}-hours (units x run time)", words(keys), showlegend=False,
        height=max(300, 80 + 26 * len(ids)),
    )  # fmt: skip
    layout["yaxis"]["type"] = "category"  # a workspace id "0" is a name, not a number
    return {"data": [bars], "layout": layout}


# ------------------------------------------------------------------------------- utilization


def utilization_figure(
    util: pl.DataFrame,
    *,
    colors: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """Utilization (allocated / size) over time, one small panel per pool on one % scale.

    Overlapping lines of five pools hide each other; small multiples with a shared time axis and
    a shared 0-100 % scale (a dotted line at the full size) read at a glance.

    Args:
        util: the result of :func:`mavtools.analysis.utilization` (one or several resources
            concatenated: each pool is sized in its own units).
        colors: pool -> colour (see :func:`palette`).
        names: pool -> the name to show.

    Example:
        >>> utilization_figure(utilization(df, capacity={"pool-a100-prod": 16}, every="1d"))
    """
    title = "Utilization per pool (time-weighted mean per bin, % of the pool's size)"
    data = util.drop_nulls("utilization") if "utilization" in util.columns else util.clear()
    if data.is_empty():
        return _empty(title)
    data = data.with_columns(
        _label=pl.col("pool_id").cast(pl.String), _pct=pl.col("utilization") * 100
    )
    pools = sorted(data["_label"].unique().to_list())
    top_value = max(100.0, *data["_pct"].drop_nulls().to_list())
    n = len(pools)
    gap = 0.06 if n > 1 else 0.0
    height = (1 - gap * (n - 1)) / n
    fig = Figure()
    zone = _zone(data)
    for row, pool in enumerate(pools, start=1):
        part = data.filter(pl.col("_label") == pool).sort("time")
        axis = "" if row == 1 else str(row)
        shown = (names or {}).get(pool, pool)
        times = _times(part)
        fig.add_trace(
            go.Scatter(
                x=times,
                y=part["_pct"].round(1).to_list(),
                customdata=part["capacity"].to_list(),
                name=shown,
                mode="lines",
                fill="tozeroy",
                connectgaps=False,
                line={"color": color_of(pool, colors), "width": 1.2},
                hovertemplate=f"{shown}<br>%{{x}} {zone}<br>%{{y:.1f}}% of %{{customdata}} units"
                "<extra></extra>",
                xaxis=f"x{axis}",
                yaxis=f"y{axis}",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[times[0], times[-1]], y=[100, 100], mode="lines", showlegend=False,
                line={"dash": "dot", "color": "#555555", "width": 1}, hoverinfo="skip",
                xaxis=f"x{axis}", yaxis=f"y{axis}",
            )
        )  # fmt: skip
        top_edge = 1 - (row - 1) * (height + gap)
        fig.update_layout(
            {
                f"yaxis{axis}": {
                    "domain": [round(max(top_edge - height, 0), 4), round(top_edge, 4)],
                    "range": [0, round(top_value * 1.05, 1)],
                    "tickvals": [0, 50, 100],
                    "ticksuffix": "%",
                },
                f"xaxis{axis}": {
                    "anchor": f"y{axis}",
                    **({"matches": "x"} if row > 1 else {}),
                    **({"showticklabels": False} if row < n else {}),
                },
            }
        )
        fig.add_annotation(
            text=shown, showarrow=False, xref="paper", yref="paper", x=0, y=round(top_edge, 4),
            xanchor="left", yanchor="bottom", font={"size": 12},
        )  # fmt: skip
    fig.update_layout(
        title=title, height=max(300, 90 + 110 * n), hovermode="closest", showlegend=False
    )
    fig.update_layout({f"xaxis{n if n > 1 else ''}": {"title": {"text": f"time ({zone})"}}})
    return fig


# ---------------------------------------------------------------------------------- heatmap


def heatmap_figure(profile: pl.DataFrame, *, resource: str = "gpu", tz: str = "UTC") -> go.Figure:
    """Mean allocation by hour of day x day of week, in the zone the profile was made in.

    Args:
        profile: the result of :func:`mavtools.analysis.weekly_profile`.
        resource: ``"gpu"`` or ``"npu"``.
        tz: the ``tz=`` the profile was computed with (its rows do not carry it); named in
            the title, axis and hover text.

    Example:
        >>> heatmap_figure(weekly_profile(df))
    """
    unit = _unit(resource)
    title = f"{unit}s allocated by hour of day and day of week ({tz})"
    if profile.is_empty():
        return _empty(title)
    grid = pl.DataFrame(
        {"weekday": [d for d in range(1, 8) for _ in range(24)], "hour": list(range(24)) * 7},
        schema={"weekday": pl.Int8, "hour": pl.Int8},
    ).join(profile, on=["weekday", "hour"], how="left", maintain_order="left")
    z = [_rounded(grid["allocated_mean"].slice(d * 24, 24)) for d in range(7)]
    peaks = [grid["allocated_peak"].slice(d * 24, 24).to_list() for d in range(7)]
    fig = Figure(
        go.Heatmap(
            z=z,
            x=list(range(24)),
            y=list(_WEEKDAYS),
            customdata=peaks,
            colorscale="Blues",
            colorbar={"title": {"text": f"mean {unit}s"}},
            hovertemplate=f"%{{y}} %{{x}}:00 {tz}<br>mean %{{z:.2f}} {unit}s"
            f"<br>peak %{{customdata}} {unit}s<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, f"hour of day ({tz})", "day of week")
