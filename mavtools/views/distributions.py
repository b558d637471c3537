"""How long do versions run and wait to start, and how often do they fail or get canceled?

Distributions and shares of the selected versions: run-time histograms on a log axis, queue-wait
percentiles per group or over time, and the failed and canceled shares of finished versions. Pure
functions from an :mod:`mavtools.analysis` result to a plotly figure; colours, words, axes and
duration units come from :mod:`mavtools.views.style`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import polars as pl

from mavtools.views.style import (
    EMPTY_MESSAGE,
    QUANTILE_COLORS,
    Figure,
    Spec,
    _duration_axis,
    _empty,
    _groups,
    _label,
    _layout,
    _pname,
    _times,
    _top,
    _zone,
    color_of,
    duration_unit,
    empty_spec,
    human_hours,
    words,
)

__all__ = ["durations_figure", "durations_spec", "failure_rate_figure", "queue_wait_figure"]

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
    return Figure(durations_spec(*histograms))


def durations_spec(
    *histograms: pl.DataFrame,
    colors: Mapping[str, str] | None = None,
    empty: str = EMPTY_MESSAGE,
) -> Spec:
    """:func:`durations_figure` as plain data (no validation: what the dashboard sends)."""
    title = "Run time of finished versions"
    if not histograms or all(h.is_empty() for h in histograms):
        return empty_spec(title, empty)
    n = len(histograms)
    gap = 0.12 if n > 1 else 0.0
    height = (1 - gap * (n - 1)) / n
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "title": {"text": title}, "barmode": "stack", "bargap": 0.05, "height": 350 * n + 100,
        "hovermode": "closest", "legend": {"title": {"text": ""}},
    }  # fmt: skip
    edges: list[float] = []
    for row, hist in enumerate(histograms, start=1):
        keys = _groups(hist)
        y_name = "y" if row == 1 else f"y{row}"
        # Bars sit on log10(hours) on a linear axis: plotly sizes bars in data units, so on a
        # log axis equal log-spaced bins would draw ever thinner bars.
        data = hist.select(
            "lo_hours", "hi_hours", "versions",
            _label=_label(keys),
            _x=(pl.col("lo_hours") * pl.col("hi_hours")).sqrt().log10().round(3),
            _w=((pl.col("hi_hours") / pl.col("lo_hours")).log10() * 0.92).round(3),
        )  # fmt: skip
        edges += data["lo_hours"].to_list() + data["hi_hours"].to_list()
        for (name,), part in data.partition_by("_label", as_dict=True, maintain_order=True).items():
            text = [
                f"{human_hours(lo)} - {human_hours(hi)}"
                for lo, hi in zip(part["lo_hours"], part["hi_hours"], strict=True)
            ]
            traces.append(
                {
                    "type": "bar",
                    "x": part["_x"].to_list(),
                    "width": part["_w"].to_list(),
                    "y": part["versions"].to_list(),
                    "customdata": text,
                    "name": str(name),
                    "legendgroup": f"{row}:{name}",
                    "showlegend": True,
                    "marker": {"color": color_of(name, colors)},
                    "hovertemplate": "%{fullData.name}<br>run time %{customdata}<br>%{y} versions"
                    "<extra></extra>",
                    "xaxis": "x" if row == 1 else f"x{row}",
                    "yaxis": y_name,
                }
            )
        top = 1 - (row - 1) * (height + gap)
        layout["yaxis" if row == 1 else f"yaxis{row}"] = {
            "domain": [round(max(top - height, 0), 4), round(top, 4)],
            "anchor": "x" if row == 1 else f"x{row}",
            "title": {"text": "versions"},
        }
        if n > 1:
            layout.setdefault("annotations", []).append(
                {
                    "text": "by " + (words(keys) or "all versions"), "showarrow": False,
                    "xref": "paper", "yref": "paper", "x": 0.5, "y": round(top, 4),
                    "xanchor": "center", "yanchor": "bottom", "font": {"size": 16},
                }
            )  # fmt: skip
    log_axis = _duration_axis(edges)
    for row in range(1, n + 1):
        layout["xaxis" if row == 1 else f"xaxis{row}"] = {
            "type": "linear",
            "tickvals": [round(math.log10(v), 4) for v in log_axis["tickvals"]],
            "ticktext": log_axis["ticktext"],
            "anchor": "y" if row == 1 else f"y{row}",
            **({"showticklabels": False} if row < n else {}),
            **({"matches": "x"} if row > 1 else {}),
            **({"title": {"text": "run time (log scale)"}} if row == n else {}),
        }
    return {"data": traces, "layout": layout}


# -------------------------------------------------------------------------------- queue wait


def _units_label(keys: list[str]) -> pl.Expr:
    """Group labels; GPUs (NPUs) per version read "CPU only", "1 GPU", "8 GPUs"."""
    if keys in (["gpu_num"], ["npu_num"]):
        unit = "GPU" if keys == ["gpu_num"] else "NPU"
        n = pl.col(keys[0])
        return (
            pl.when(n == 0)
            .then(pl.lit("CPU only"))
            .when(n == 1)
            .then(pl.lit(f"1 {unit}"))
            .otherwise(pl.format(f"{{}} {unit}s", n))
        )
    return _label(keys)


def queue_wait_figure(
    waits: pl.DataFrame,
    *,
    max_groups: int | None = None,
    scale: str = "linear",
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Queue-wait percentiles per group (bars), or over time with one panel per group.

    Args:
        waits: the result of :func:`mavtools.analysis.queue_wait` (or
            :func:`mavtools.queue_wait_by_units`), with or without ``every``.
        max_groups: how many groups to show, those with the longest wait (the highest
            percentile) first: 30 bars by default, 6 panels over time; the title says how many
            more there are.
        scale: ``"linear"`` (default: one unit for the whole axis, minutes, hours or days,
            chosen from the data; every bar carries its value as text, so a 2-minute median
            next to a 2-day p99 still reads) or ``"log"``.
        colors: accepted for symmetry with the other figures: percentiles have their own
            colours (:data:`QUANTILE_COLORS`), never a pool's or an outcome's.

    With ``by="gpu_num"`` (``"npu_num"``) the groups read "CPU only", "1 GPU", "8 GPUs".

    Example:
        >>> queue_wait_figure(queue_wait(df, by="pool_id", every="1w"))
    """
    keys = _groups(waits)
    quantiles = [c for c in waits.columns if c.startswith("wait_p")]
    title = "Queue wait" + (" by " + words(keys) if keys else "")
    data = waits.with_columns(_label=_units_label(keys)).drop_nulls(quantiles[:1])
    if data.is_empty() or not quantiles:
        return _empty(title)
    periodic = "time" in data.columns
    limit = max_groups if max_groups is not None else (6 if periodic else 30)
    worst = quantiles[-1]
    ranked = (
        data.group_by("_label")
        .agg(pl.col(worst).max())
        .sort([worst, "_label"], descending=[True, False])
    )
    top = ranked["_label"].head(limit).to_list()
    if ranked.height > limit:
        title += f" ({limit} with the longest {_pname(worst)} wait; {ranked.height - limit} more)"
    data = data.filter(pl.col("_label").is_in(top))
    values = [v for q in quantiles for v in data[q].drop_nulls().to_list()]
    unit, per_hour = duration_unit(max(values, default=0.0))
    if scale == "log":
        unit, per_hour = "hours", 1.0
    fig = Figure()
    if periodic:
        title += " over time"
        order = top  # longest wait first
        n = len(order)
        gap = 0.08 if n > 1 else 0.0
        height = (1 - gap * (n - 1)) / n
        for row, name in enumerate(order, start=1):
            part = data.filter(pl.col("_label") == name).sort("time")
            axis = "" if row == 1 else str(row)
            for i, q in enumerate(quantiles):
                pname = _pname(q)
                fig.add_trace(
                    go.Scatter(
                        x=_times(part),
                        y=(part[q] * per_hour).round(3).to_list(),
                        customdata=[
                            [human_hours(v), c]
                            for v, c in zip(part[q], part["versions"], strict=True)
                        ],
                        name=pname,
                        legendgroup=pname,
                        showlegend=row == 1,
                        mode="lines+markers",
                        line={"color": QUANTILE_COLORS[i % len(QUANTILE_COLORS)]},
                        hovertemplate=f"{name}<br>week of %{{x}}<br>{pname} %{{customdata[0]}}"
                        "<br>%{customdata[1]} versions started<extra></extra>",
                        xaxis=f"x{axis}",
                        yaxis=f"y{axis}",
                    )
                )
            top_edge = 1 - (row - 1) * (height + gap)
            fig.update_layout(
                {
                    f"yaxis{axis}": {
                        "domain": [round(max(top_edge - height, 0), 4), round(top_edge, 4)],
                        "rangemode": "tozero",
                        "title": {"text": unit},
                        **({"type": "log"} if scale == "log" else {}),
                    },
                    f"xaxis{axis}": {
                        "anchor": f"y{axis}",
                        **({"matches": "x"} if row > 1 else {}),
                        **({"showticklabels": False} if row < n else {}),
                    },
                }
            )
            fig.add_annotation(
                text=str(name), showarrow=False, xref="paper", yref="paper", x=0,
                y=round(top_edge, 4), xanchor="left", yanchor="bottom", font={"size": 13},
            )  # fmt: skip
        fig.update_layout(height=max(320, 90 + 150 * n))
        x_title = f"period start ({_zone(data)}); wait from creation to start in {unit}"
        _layout(fig, title, "" if n > 1 else x_title, unit, legend_title="percentile")
        if n > 1:
            fig.update_layout({f"xaxis{n}": {"title": {"text": x_title}}})
        return fig
    if keys in (["gpu_num"], ["npu_num"]):
        data = data.sort(keys)
    for i, q in enumerate(quantiles):
        pname = _pname(q)
        fig.add_trace(
            go.Bar(
                x=data["_label"].to_list(),
                y=(data[q] * per_hour).round(3).to_list(),
                text=[_in_unit(v, unit, per_hour) for v in data[q].to_list()],
                textposition="outside",
                textfont={"size": 10},
                cliponaxis=False,
                customdata=data["versions"].to_list(),
                name=pname,
                showlegend=True,
                marker={"color": QUANTILE_COLORS[i % len(QUANTILE_COLORS)]},
                hovertemplate=f"%{{x}}<br>{pname} %{{text}}<br>"
                "%{customdata} versions started<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    if scale == "log":
        positive = [v for v in values if v > 0] or [1 / 60]
        fig.update_yaxes(**_duration_axis(positive))
        y_title = "wait from creation to start (log scale)"
    else:
        fig.update_yaxes(rangemode="tozero")
        y_title = f"wait from creation to start ({unit})"
    return _layout(fig, title, words(keys), y_title, legend_title="percentile")


def _in_unit(hours: float | None, unit: str, per_hour: float) -> str:
    """A bar's value in its axis' unit ("51.4 h" on an hours axis); a value under one unit
    in the words that read best ("3 min"), so a short bar still says what it is."""
    if hours is None:
        return ""
    if hours * per_hour < 1:
        return human_hours(hours)
    if unit == "minutes":
        return f"{hours * 60:.0f} min"
    return f"{hours * per_hour:.1f} {unit[0]}"  # "h" or "d"


# ------------------------------------------------------------------------------ failure rate


def failure_rate_figure(
    rates: pl.DataFrame, *, max_groups: int = 30, colors: Mapping[str, str] | None = None
) -> go.Figure:
    """Failed share and canceled share of finished versions, per group or over time.

    The two shares are drawn apart and never added up (see :mod:`mavtools.analysis.failures`):
    solid bars (lines) for the failed share, hatched bars (dotted lines) for the canceled share.
    With two ``by`` columns (for example flavor and pool) the first is the x axis and the second
    the colour.

    Example:
        >>> failure_rate_figure(failure_rate(df, by=["flavor_code", "pool_id"]))
    """
    keys = _groups(rates)
    title = "Failed and canceled shares of finished versions" + (
        " by " + words(keys) if keys else ""
    )
    data = rates.filter(pl.col("finished") > 0).with_columns(
        _failed=(pl.col("failed") / pl.col("finished") * 100).round(3),
        _canceled=(pl.col("canceled") / pl.col("finished") * 100).round(3),
    )
    if data.is_empty():
        return _empty(title)
    measures = (("_failed", "failed", "", "solid"), ("_canceled", "canceled", "/", "dot"))
    fig = Figure()
    if "time" in data.columns:
        title += " over time"
        data = data.with_columns(_label=_label(keys))
        top = _top(data, "_label", "finished", max_groups)
        for (name,), part in (
            data.filter(pl.col("_label").is_in(top))
            .sort("time")
            .group_by("_label", maintain_order=True)
        ):
            for column, what, _, dash in measures:
                fig.add_trace(
                    go.Scatter(
                        x=_times(part),
                        y=part[column].to_list(),
                        name=f"{name} {what}",
                        legendgroup=str(name),
                        customdata=part.select("finished", "failed", "canceled").rows(),
                        mode="lines+markers",
                        line={"color": color_of(name, colors), "dash": dash},
                        hovertemplate=f"%{{fullData.name}}<br>%{{x}}<br>{what} %{{y:.1f}}%<br>"
                        "%{customdata[1]} failed, %{customdata[2]} canceled of "
                        "%{customdata[0]} finished<extra></extra>",
                    )
                )
        x_title = f"period start ({_zone(data)})"
    else:
        x_keys, colour_keys = keys[:1], keys[1:]
        data = data.with_columns(_x=_label(x_keys), _label=_label(colour_keys))
        top = _top(data, "_x", "finished", max_groups)
        data = data.filter(pl.col("_x").is_in(top))
        for (name,), part in data.group_by("_label", maintain_order=True):
            for column, what, pattern, _ in measures:
                colour = color_of(name, colors) if colour_keys else color_of(what)
                fig.add_trace(
                    go.Bar(
                        x=part["_x"].to_list(),
                        y=part[column].to_list(),
                        name=f"{name} {what}" if colour_keys else what,
                        legendgroup=str(name),
                        customdata=part.select("finished", "failed", "canceled").rows(),
                        marker={"color": colour, "pattern": {"shape": pattern}},
                        hovertemplate=f"%{{fullData.name}}<br>%{{x}}<br>{what} %{{y:.1f}}%<br>"
                        "%{customdata[1]} failed, %{customdata[2]} canceled of "
                        "%{customdata[0]} finished<extra></extra>",
                    )
                )
        fig.update_layout(barmode="group")
        fig.update_xaxes(type="category")
        x_title = words(x_keys)
    return _layout(
        fig, title, x_title, "% of finished versions",
        legend_title=words(keys[1:] if "time" not in data.columns else keys),
    )  # fmt: skip
