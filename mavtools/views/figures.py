"""Plotly figures of analysis results: pure functions, no I/O, no widgets.

Each builder takes the frame an :mod:`mavtools.analysis` function returned and gives back a
``plotly.graph_objects.Figure`` (``plotly.express`` is not used: it needs numpy).

Decisions:

* Figures carry aggregated numbers only, never a point per version, so their JSON stays small
  (well under 300 KB) at any frame size: time series longer than ``max_points`` bins are merged into
  coarser bins (mean of the means, max of the peaks) by :func:`allocation_figure`, and categorical
  charts keep the ``max_groups`` largest groups and fold the rest into one "others" bar.
* One colour per pool (or any group value) and per outcome across all figures: :func:`color_of`.
  Outcomes have fixed colours; every other value is hashed (CRC-32 of its text) into a 20-colour
  palette, so a pool keeps its colour whatever else is in the frame. Two values can share a
  colour (about a 5 % chance for a pair); the legend and hover text still name them.
* Times are shown in the zone of the result's ``time`` dtype (the analysis' ``tz=``); numbers are
  rounded to 3 decimals in the figure, hover text gives them.
* An empty result gives a figure that says "No versions match the current selection".
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

__all__ = [
    "OUTCOME_COLORS",
    "allocation_figure",
    "color_of",
    "durations_figure",
    "failure_rate_figure",
    "heatmap_figure",
    "queue_wait_figure",
    "usage_figure",
    "versions_figure",
    "what_if_figure",
]

EMPTY_MESSAGE: Final = "No versions match the current selection"

#: Fixed colours of the outcomes (see :mod:`mavtools.statuses`).
OUTCOME_COLORS: Final[dict[str, str]] = {
    "pending": "#b0b0b0",
    "running": "#1f77b4",
    "succeeded": "#2ca02c",
    "failed": "#d62728",
    "canceled": "#ff7f0e",
    "unknown": "#7f7f7f",
}
_PALETTE: Final = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
    "#a6761d", "#17becf", "#bcbd22", "#8c564b",
)  # fmt: skip
_NICE_FACTORS: Final = (1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 168, 336, 720, 1440, 2880, 8760)
_DURATION_TICKS: Final = (
    (1 / 60, "1 min"), (5 / 60, "5 min"), (15 / 60, "15 min"), (0.5, "30 min"), (1, "1 h"),
    (3, "3 h"), (6, "6 h"), (12, "12 h"), (24, "1 d"), (72, "3 d"), (168, "1 w"), (720, "30 d"),
)  # fmt: skip
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_KNOWN: Final = frozenset(
    {
        "time", "allocated_mean", "allocated_peak", "capacity", "utilization", "peak_utilization",
        "versions", "versions_using", "gpu_hours", "npu_hours", "share", "finished", "succeeded",
        "failed", "canceled", "failure_rate", "lo_hours", "hi_hours",
        "coverage", "failed_share", "canceled_share",
    }
)  # fmt: skip


def color_of(value: Any) -> str:
    """The colour of an outcome, pool or any other group value, the same in every figure.

    Example:
        >>> color_of("failed"), color_of("pool-a100-prod") == color_of("pool-a100-prod")
        ('#d62728', True)
    """
    text = "(none)" if value is None else str(value)
    if text in OUTCOME_COLORS:
        return OUTCOME_COLORS[text]
    return _PALETTE[zlib.crc32(text.encode()) % len(_PALETTE)]


# --------------------------------------------------------------------------------------- helpers


def _empty(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title=title,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": EMPTY_MESSAGE,
                "showarrow": False,
                "font": {"size": 16},
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
            }
        ],
    )
    return fig


def _groups(frame: pl.DataFrame) -> list[str]:
    """The grouping columns of an analysis result: those that are not measures or time."""
    return [c for c in frame.columns if c not in _KNOWN and not c.startswith("wait_p")]


def _label(keys: list[str]) -> pl.Expr:
    if not keys:
        return pl.lit("all versions")
    parts = [pl.col(k).cast(pl.String).fill_null("(none)") for k in keys]
    return pl.concat_str(parts, separator=" / ")


def _times(frame: pl.DataFrame, column: str = "time") -> list[str]:
    return frame[column].dt.to_string("%Y-%m-%d %H:%M").to_list()


def _zone(frame: pl.DataFrame, column: str = "time") -> str:
    """The time zone of a result's times, from their dtype (``tz=`` of the analysis)."""
    return getattr(frame.schema.get(column), "time_zone", None) or "UTC"


def _rounded(series: pl.Series) -> list[Any]:
    return series.cast(pl.Float64).round(3).to_list()


def _unit(resource: str) -> str:
    return {"gpu": "GPU", "npu": "NPU"}[resource]


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, **extra: Any) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title=y_title,
        hovermode="closest",
        legend={"title": {"text": extra.pop("legend_title", "")}},
        **extra,
    )
    return fig


def _top(frame: pl.DataFrame, label: str, weight: str, max_groups: int) -> list[str]:
    """The ``max_groups`` labels with the largest total ``weight``, largest first."""
    totals = (
        frame.group_by(label)
        .agg(pl.col(weight).sum())
        .sort([weight, label], descending=[True, False])
    )
    return totals[label].head(max_groups).to_list()


def _duration_axis(values_hours: Sequence[float]) -> dict[str, Any]:
    lo, hi = min(values_hours, default=1 / 60), max(values_hours, default=1)
    ticks = [(v, t) for v, t in _DURATION_TICKS if lo / 3 <= v <= hi * 3] or list(_DURATION_TICKS)
    return {
        "type": "log",
        "tickvals": [v for v, _ in ticks],
        "ticktext": [t for _, t in ticks],
    }


def _human_hours(hours: float | None) -> str:
    if hours is None:
        return "n/a"
    if hours < 1 / 60:
        return f"{hours * 3600:.0f} s"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"


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
) -> go.Figure:
    """Units allocated over time, stacked by group, with the summed capacity line when known.

    Args:
        alloc: the result of :func:`mavtools.analysis.allocation` (any ``by``).
        capacity: pool id -> units; draws the total capacity of the pools shown.
        resource: ``"gpu"`` or ``"npu"``, for the titles.
        max_points: longer series are merged into coarser bins (mean of means, max of peaks).

    Groups that never hold a unit are left out of the stack.

    Example:
        >>> allocation_figure(allocation(df, by="pool_id"), {"pool-a100-prod": 16})
    """
    unit = _unit(resource)
    title = f"{unit} allocation"
    keys = [k for k in _groups(alloc)]
    if keys:
        title += " by " + ", ".join(keys)
    held = alloc.filter((pl.col("allocated_peak").max() > 0).over(keys)) if keys else alloc
    if held.is_empty() or held["allocated_peak"].max() == 0:
        return _empty(title)
    data, factor = _coarsen(held, keys, max_points)
    if factor > 1:
        title += f" (each point merges {factor} bins: mean of means, max of peaks)"
    data, zone = data.with_columns(_label=_label(keys)), _zone(alloc)
    fig = go.Figure()
    for (name,), part in data.group_by("_label", maintain_order=True):
        fig.add_trace(
            go.Scatter(
                x=_times(part),
                y=_rounded(part["allocated_mean"]),
                customdata=part["allocated_peak"].to_list(),
                name=str(name),
                stackgroup="allocation",
                mode="lines",
                line={"width": 0.5, "color": color_of(name)},
                hovertemplate=f"%{{fullData.name}}<br>%{{x}} {zone}<br>mean %{{y:.2f}} {unit}s"
                f"<br>peak %{{customdata}} {unit}s<extra></extra>",
            )
        )
    if capacity:
        shown = set(data["pool_id"].cast(pl.String).to_list()) if "pool_id" in keys else set()
        pools = sorted(p for p in capacity if p in shown) if shown else sorted(capacity)
        total = sum(capacity[p] for p in pools)
        ends = _times(data.select(pl.col("time").min().append(pl.col("time").max())))
        fig.add_trace(
            go.Scatter(
                x=ends,
                y=[total, total],
                name=f"capacity ({total} {unit}s in {len(pools)} pools)",
                mode="lines",
                line={"dash": "dash", "color": "black"},
                hovertemplate=f"capacity {total} {unit}s: {', '.join(pools)}<extra></extra>",
            )
        )
    return _layout(fig, title, f"time ({zone})", f"{unit}s allocated (time-weighted mean)")


# ---------------------------------------------------------------------------------- durations


def durations_figure(*histograms: pl.DataFrame) -> go.Figure:
    """Run-time distributions, one panel per histogram, on a log time axis.

    Args:
        histograms: results of :func:`mavtools.analysis.duration_histogram`, for example one
            ``by="outcome"`` and one ``by="pool_id"``; each panel stacks the counts of its groups.

    Example:
        >>> by_outcome = duration_histogram(df, by="outcome")
        >>> durations_figure(by_outcome, duration_histogram(df, by="pool_id"))
    """
    title = "Run time of finished versions"
    if not histograms or all(h.is_empty() for h in histograms):
        return _empty(title)
    names = ["by " + (", ".join(_groups(h)) or "all versions") for h in histograms]
    fig = make_subplots(
        rows=len(histograms), cols=1, shared_xaxes=True, subplot_titles=names,
        vertical_spacing=0.12,
    )  # fmt: skip
    edges: list[float] = []
    for row, hist in enumerate(histograms, start=1):
        keys = _groups(hist)
        # Bars sit on log10(hours) on a linear axis: plotly sizes bars in data units, so on a
        # log axis equal log-spaced bins would draw ever thinner bars.
        data = hist.with_columns(
            _label=_label(keys),
            _x=(pl.col("lo_hours") * pl.col("hi_hours")).sqrt().log10(),
            _w=(pl.col("hi_hours") / pl.col("lo_hours")).log10() * 0.92,
        )
        edges += data["lo_hours"].to_list() + data["hi_hours"].to_list()
        for (name,), part in data.group_by("_label", maintain_order=True):
            text = [
                f"{_human_hours(lo)} - {_human_hours(hi)}"
                for lo, hi in part.select("lo_hours", "hi_hours").iter_rows()
            ]
            fig.add_trace(
                go.Bar(
                    x=_rounded(part["_x"]),
                    width=_rounded(part["_w"]),
                    y=part["versions"].to_list(),
                    customdata=text,
                    name=str(name),
                    legendgroup=f"{row}:{name}",
                    marker={"color": color_of(name)},
                    hovertemplate="%{fullData.name}<br>run time %{customdata}<br>%{y} versions"
                    "<extra></extra>",
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(title_text="versions", row=row, col=1)
    log_axis = _duration_axis(edges)
    fig.update_xaxes(
        type="linear",
        tickvals=[round(math.log10(v), 4) for v in log_axis["tickvals"]],
        ticktext=log_axis["ticktext"],
    )
    fig.update_xaxes(title_text="run time (log scale)", row=len(histograms), col=1)
    fig.update_layout(title=title, barmode="stack", bargap=0.05, height=350 * len(histograms) + 100)
    return fig


# ------------------------------------------------------------------------------ versions per week


def versions_figure(counts: pl.DataFrame) -> go.Figure:
    """Versions created per period, stacked by outcome (or any group).

    Args:
        counts: the result of :func:`mavtools.analysis.version_counts`.

    Example:
        >>> versions_figure(version_counts(df, every="1w", by="outcome"))
    """
    keys = _groups(counts)
    title = "Versions created per period" + (" by " + ", ".join(keys) if keys else "")
    if counts.is_empty():
        return _empty(title)
    data = counts.with_columns(_label=_label(keys))
    fig = go.Figure()
    for (name,), part in data.group_by("_label", maintain_order=True):
        fig.add_trace(
            go.Bar(
                x=_times(part),
                y=part["versions"].to_list(),
                name=str(name),
                marker={"color": color_of(name)},
                hovertemplate="%{fullData.name}<br>period from %{x} UTC<br>%{y} versions"
                "<extra></extra>",
            )
        )
    return _layout(fig, title, "period start (UTC)", "versions created", barmode="stack")


# ------------------------------------------------------------------------------------ usage


def usage_figure(used: pl.DataFrame, *, max_groups: int = 30) -> go.Figure:
    """Unit-hours per group as horizontal bars, largest on top.

    Args:
        used: the result of :func:`mavtools.analysis.usage` (by pool, flavor, workspace ...).
        max_groups: the rest are folded into one "others" bar.

    Example:
        >>> usage_figure(usage(df, by="flavor_code"))
    """
    hours = "npu_hours" if "npu_hours" in used.columns else "gpu_hours"
    unit = "NPU" if hours == "npu_hours" else "GPU"
    keys = _groups(used)
    title = f"{unit}-hours" + (" by " + ", ".join(keys) if keys else "")
    if used.is_empty() or not (used[hours].sum() > 0):
        return _empty(title)
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
    fig = go.Figure(
        go.Bar(
            x=_rounded(shown[hours]),
            y=shown["_label"].to_list(),
            orientation="h",
            customdata=shown.select("versions", (pl.col("share") * 100).round(1)).rows(),
            marker={"color": [color_of(n) for n in shown["_label"].to_list()]},
            hovertemplate=f"%{{y}}<br>%{{x:,.1f}} {unit}-hours (%{{customdata[1]}}%)"
            "<br>%{customdata[0]} versions<extra></extra>",
        )
    )
    return _layout(fig, title, f"{unit}-hours", ", ".join(keys) or "", showlegend=False)


# -------------------------------------------------------------------------------- queue wait


def queue_wait_figure(waits: pl.DataFrame, *, max_groups: int = 30) -> go.Figure:
    """Queue-wait percentiles per group (bars), or over time per group (lines) when periodic.

    Args:
        waits: the result of :func:`mavtools.analysis.queue_wait`, with or without ``every``.

    Example:
        >>> queue_wait_figure(queue_wait(df, by="gpu_num", every="1w"))
    """
    keys = _groups(waits)
    quantiles = [c for c in waits.columns if c.startswith("wait_p")]
    title = "Queue wait" + (" by " + ", ".join(keys) if keys else "")
    data = waits.with_columns(_label=_label(keys)).drop_nulls(quantiles[:1])
    if data.is_empty() or not quantiles:
        return _empty(title)
    top = _top(data, "_label", "versions", max_groups)
    data = data.filter(pl.col("_label").is_in(top))
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")
    fig = go.Figure()
    values: list[float] = []
    if "time" in data.columns:
        title += " over time"
        for (name,), part in data.sort("time").group_by("_label", maintain_order=True):
            for i, q in enumerate(quantiles):
                pname = q.removeprefix("wait_").removesuffix("_hours")
                values += part[q].drop_nulls().to_list()
                fig.add_trace(
                    go.Scatter(
                        x=_times(part),
                        y=_rounded(part[q]),
                        customdata=part["versions"].to_list(),
                        name=f"{name} {pname}",
                        legendgroup=str(name),
                        mode="lines+markers",
                        line={"color": color_of(name), "dash": dashes[i % len(dashes)]},
                        hovertemplate=f"%{{fullData.name}}<br>week of %{{x}}<br>{pname} "
                        "%{y:.3f} h<br>%{customdata} versions started<extra></extra>",
                    )
                )
        x_title = f"period start ({_zone(data)})"
    else:
        for q in quantiles:
            pname = q.removeprefix("wait_").removesuffix("_hours")
            values += data[q].drop_nulls().to_list()
            fig.add_trace(
                go.Bar(
                    x=data["_label"].to_list(),
                    y=_rounded(data[q]),
                    customdata=data["versions"].to_list(),
                    name=pname,
                    hovertemplate=f"%{{x}}<br>{pname} %{{y:.3f}} h<br>"
                    "%{customdata} versions started<extra></extra>",
                )
            )
        fig.update_layout(barmode="group")
        fig.update_xaxes(type="category")
        x_title = ", ".join(keys)
    positive = [v for v in values if v > 0] or [1 / 60]
    fig.update_yaxes(**_duration_axis(positive))
    return _layout(fig, title, x_title, "wait from creation to start (log scale)")


# ------------------------------------------------------------------------------ failure rate


def failure_rate_figure(rates: pl.DataFrame, *, max_groups: int = 30) -> go.Figure:
    """Failure rate (failed or canceled / finished) per group, or over time per group.

    With two ``by`` columns (for example flavor and pool) the first is the x axis and the second
    the colour.

    Example:
        >>> failure_rate_figure(failure_rate(df, by=["flavor_code", "pool_id"]))
    """
    keys = _groups(rates)
    title = "Failure rate" + (" by " + ", ".join(keys) if keys else "")
    data = rates.filter(pl.col("finished") > 0)
    if data.is_empty():
        return _empty(title)
    hover = (
        "%{fullData.name}<br>%{x}<br>failure rate %{y:.1f}%<br>%{customdata[1]} failed, "
        "%{customdata[2]} canceled of %{customdata[0]} finished<extra></extra>"
    )
    pct = pl.col("failure_rate") * 100
    fig = go.Figure()
    if "time" in data.columns:
        title += " over time"
        data = data.with_columns(_label=_label(keys))
        top = _top(data, "_label", "finished", max_groups)
        for (name,), part in (
            data.filter(pl.col("_label").is_in(top))
            .sort("time")
            .group_by("_label", maintain_order=True)
        ):
            fig.add_trace(
                go.Scatter(
                    x=_times(part),
                    y=_rounded(part.select(pct).to_series()),
                    name=str(name),
                    customdata=part.select("finished", "failed", "canceled").rows(),
                    mode="lines+markers",
                    line={"color": color_of(name)},
                    hovertemplate=hover,
                )
            )
        x_title = "period end (UTC)"
    else:
        x_keys, colour_keys = keys[:1], keys[1:]
        data = data.with_columns(_x=_label(x_keys), _label=_label(colour_keys))
        top = _top(data, "_x", "finished", max_groups)
        data = data.filter(pl.col("_x").is_in(top))
        for (name,), part in data.group_by("_label", maintain_order=True):
            fig.add_trace(
                go.Bar(
                    x=part["_x"].to_list(),
                    y=_rounded(part.select(pct).to_series()),
                    name=str(name),
                    customdata=part.select("finished", "failed", "canceled").rows(),
                    marker={"color": color_of(name if colour_keys else "failed")},
                    hovertemplate=hover,
                )
            )
        fig.update_layout(barmode="group", showlegend=bool(colour_keys))
        fig.update_xaxes(type="category")
        x_title = ", ".join(x_keys)
    return _layout(
        fig, title, x_title, "failed or canceled (% of finished)",
        legend_title=", ".join(keys[1:] if "time" not in data.columns else keys),
    )  # fmt: skip


# ---------------------------------------------------------------------------------- heatmap


def heatmap_figure(profile: pl.DataFrame, *, resource: str = "gpu") -> go.Figure:
    """Mean allocation by hour of day x day of week (UTC).

    Args:
        profile: the result of :func:`mavtools.analysis.weekly_profile`.

    Example:
        >>> heatmap_figure(weekly_profile(df))
    """
    unit = _unit(resource)
    title = f"{unit}s allocated by hour of day and day of week (UTC)"
    if profile.is_empty():
        return _empty(title)
    grid = pl.DataFrame(
        {"weekday": [d for d in range(1, 8) for _ in range(24)], "hour": list(range(24)) * 7},
        schema={"weekday": pl.Int8, "hour": pl.Int8},
    ).join(profile, on=["weekday", "hour"], how="left", maintain_order="left")
    z = [_rounded(grid["allocated_mean"].slice(d * 24, 24)) for d in range(7)]
    peaks = [grid["allocated_peak"].slice(d * 24, 24).to_list() for d in range(7)]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(24)),
            y=list(_WEEKDAYS),
            customdata=peaks,
            colorscale="Blues",
            colorbar={"title": {"text": f"mean {unit}s"}},
            hovertemplate=f"%{{y}} %{{x}}:00 UTC<br>mean %{{z:.2f}} {unit}s"
            f"<br>peak %{{customdata}} {unit}s<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, "hour of day (UTC)", "day of week")


# ----------------------------------------------------------------------------------- what if


def what_if_figure(
    table: pl.DataFrame,
    *,
    current: int | None = None,
    selected: int | None = None,
    resource: str = "gpu",
) -> go.Figure:
    """Replayed wait quantiles against pool size, with today's size (and a chosen one) marked.

    Args:
        table: the result of :func:`mavtools.analysis.what_if` for one pool.
        current: the pool's size today: a dashed vertical line.
        selected: a size to compare with (for example a slider's value): a dotted line.
        resource: ``"gpu"`` or ``"npu"``, for the axis title.

    Example:
        >>> what_if_figure(what_if(df, pool_id="p", sizes=range(8, 49, 4)), current=16)
    """
    unit = _unit(resource)
    pools = table["pool_id"].unique().to_list() if "pool_id" in table.columns else []
    title = f"Queue wait if {pools[0] if len(pools) == 1 else 'the pool'} had another size"
    quantiles = [c for c in table.columns if c.startswith("wait_p")]
    data = table.sort("units").drop_nulls(quantiles[:1]) if quantiles else table.clear()
    if data.is_empty():
        return _empty(title)
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")
    fig = go.Figure()
    for i, q in enumerate(quantiles):
        pname = q.removeprefix("wait_").removesuffix("_hours")
        fig.add_trace(
            go.Scatter(
                x=data["units"].to_list(),
                y=_rounded(data[q]),
                customdata=[_human_hours(v) for v in data[q].to_list()],
                name=pname,
                mode="lines+markers",
                line={"dash": dashes[i % len(dashes)]},
                hovertemplate=f"%{{x}} {unit}s<br>{pname} wait %{{customdata}}<extra></extra>",
            )
        )
    for size, dash, text in ((current, "dash", "today"), (selected, "dot", "chosen")):
        if size is not None:
            fig.add_vline(
                x=size,
                line={"dash": dash, "color": "#555555"},
                annotation_text=f"{text}: {size}",
                annotation_position="top",
            )
    return _layout(
        fig,
        title,
        f"{unit}s in the pool (replayed history, FIFO)",
        "wait from creation to start (hours)",
        legend_title="quantile",
    )
