"""Plotly figures of analysis results: pure functions, no I/O, no widgets.

Each builder takes the frame an :mod:`mavtools.analysis` function returned and gives back a
``plotly.graph_objects.Figure`` (``plotly.express`` is not used: it needs numpy).

Decisions:

* Figures carry aggregated numbers only, never a point per version, so their JSON stays small
  (well under 300 KB) at any frame size: time series longer than ``max_points`` bins are merged into
  coarser bins (mean of the means, max of the peaks) by :func:`allocation_figure`, and categorical
  charts keep the ``max_groups`` largest groups and fold the rest into one "others" bar.
* Colours: outcomes have fixed colours; pools (or any other group values) take the colours of a
  fixed qualitative palette (Tableau 10, then Dark 2) in sorted order of the values: pass the same
  :func:`palette` of *all* pools of a frame to every figure so a pool keeps its colour under any
  filter. Without one, a figure assigns colours to the values it shows, in sorted order.
* Titles and axes speak words ("pool", "GPUs per version"), not column names (:data:`WORDS`),
  and name the time zone. Legends are always shown, also for a single group.
* Numbers are rounded to 3 decimals in the figure, hover text gives them.
* An empty result gives a figure that says "No versions match the current selection".
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import plotly.graph_objects as go
import polars as pl

__all__ = [
    "CONFIG",
    "KIND_COLORS",
    "OUTCOME_COLORS",
    "QUANTILE_COLORS",
    "WORDS",
    "Figure",
    "Spec",
    "allocation_figure",
    "allocation_spec",
    "color_of",
    "duration_unit",
    "durations_figure",
    "durations_spec",
    "empty_spec",
    "failure_rate_figure",
    "heatmap_figure",
    "palette",
    "queue_wait_figure",
    "usage_figure",
    "usage_spec",
    "utilization_figure",
    "versions_figure",
    "versions_spec",
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
#: Colours of group values (pools first): no blue, green, red, orange or grey, which mean
#: outcomes (running, succeeded, failed, canceled, pending) wherever they appear in one view.
_PALETTE: Final = (
    "#76b7b2", "#edc948", "#b07aa1", "#9c755f", "#17becf", "#bcbd22", "#7570b3", "#e7298a",
    "#a6761d", "#ff9da7", "#6a3d9a", "#8dd3c7", "#bc80bd", "#d8b365", "#5ab4ac", "#c51b7d",
)  # fmt: skip
#: One colour for every bar of a kind that is named on its axis (workspaces, users, flavors):
#: outside the palette and the outcome colours, so a colour never means two kinds in one view.
KIND_COLORS: Final[dict[str, str]] = {
    "workspace_id": "#4a5a78", "user_name": "#8c6d46", "flavor_code": "#5e7d6a",
    "region": "#6b5b7b", "project_id": "#7b6b5b", "gpu_num": "#5b6b7b", "npu_num": "#5b6b7b",
}  # fmt: skip
#: Colours of percentiles (p50, p90, p99 ...): one dark-to-light ramp, no outcome hue.
QUANTILE_COLORS: Final = ("#54278f", "#807dba", "#bcbddc", "#dadaeb")
#: plotly.js config of every figure mavtools shows: no "Share chart" (it uploads the chart to
#: Plotly's cloud; plotly.js 4 shows it unless told not to), no logo, PNG export at 2x.
CONFIG: Final[dict[str, Any]] = {
    "showSendToCloud": False,
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
#: Column names in words, for titles, axes and legends.
WORDS: Final[dict[str, str]] = {
    "pool_id": "pool", "workspace_id": "workspace", "flavor_code": "flavor",
    "outcome": "outcome", "gpu_num": "GPUs per version", "npu_num": "NPUs per version",
    "user_name": "user", "status_name": "status",
}  # fmt: skip
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


class Figure(go.Figure):
    """A ``plotly.graph_objects.Figure`` shown with :data:`CONFIG` (no cloud link in its modebar).

    plotly keeps the config outside the figure: ``fig.show()`` and the notebook display of this
    class pass :data:`CONFIG` unless ``config=`` is given, so a notebook, its saved outputs and a
    report made from them offer PNG export but no upload.
    """

    def show(self, *args: Any, **kwargs: Any) -> None:
        """As ``go.Figure.show``, with ``config=CONFIG`` unless given."""
        from mavtools.views.modebar import svg_post_script  # SVG button (HTML renderers)

        kwargs.setdefault("config", CONFIG)
        kwargs.setdefault("post_script", svg_post_script(kwargs["config"]))
        super().show(*args, **kwargs)

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, validate: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        from mavtools.views.modebar import svg_post_script  # SVG button (HTML renderers)

        kwargs.setdefault("config", CONFIG)
        kwargs.setdefault("post_script", svg_post_script(kwargs["config"]))
        return super()._repr_mimebundle_(include, exclude, validate, **kwargs)  # type: ignore[no-any-return]

    def _ipython_display_(self) -> None:
        import plotly.io as pio

        if pio.renderers.render_on_display and pio.renderers.default:
            self.show()
        else:
            print(repr(self))


def palette(values: Sequence[Any]) -> dict[str, str]:
    """Colours for group values: the fixed palette in sorted order of the values' text.

    Values beyond the palette's 16 colours cycle (the legend and hover still name them).

    Example:
        >>> palette(["pool-b", "pool-a"])
        {'pool-a': '#4e79a7', 'pool-b': '#f28e2b'}
    """
    texts = sorted({"(none)" if v is None else str(v) for v in values})
    return {t: _PALETTE[i % len(_PALETTE)] for i, t in enumerate(texts)}


def color_of(value: Any, colors: Mapping[str, str] | None = None) -> str:
    """The colour of an outcome, pool or any other group value.

    Outcomes have fixed colours; other values take theirs from ``colors`` (see :func:`palette`),
    else a stable hash of their text into the palette.

    Example:
        >>> color_of("failed"), color_of("pool-a", palette(["pool-a", "pool-b"]))
        ('#d62728', '#4e79a7')
    """
    text = "(none)" if value is None else str(value)
    if text in OUTCOME_COLORS:
        return OUTCOME_COLORS[text]
    if colors and text in colors:
        return colors[text]
    return _PALETTE[zlib.crc32(text.encode()) % len(_PALETTE)]


def _kind_colors(keys: Sequence[str], ids: Sequence[str], colors: Mapping[str, str] | None) -> Any:
    """Bar colours: a pool's own colour; one colour for every bar of any other kind."""
    if len(keys) == 1 and keys[0] in KIND_COLORS:
        return KIND_COLORS[keys[0]]
    return [color_of(i, colors) for i in ids]


def words(keys: Sequence[str]) -> str:
    """Grouping columns in words: ``["pool_id", "gpu_num"]`` -> ``"pool, GPUs per version"``."""
    return ", ".join(WORDS.get(k, k.replace("_", " ")) for k in keys)


# --------------------------------------------------------------------------------------- helpers


Spec = dict[str, Any]
"""A figure as plain data: ``{"data": [trace dicts], "layout": {...}}`` (plotly's JSON schema)."""


def empty_spec(title: str, message: str = EMPTY_MESSAGE) -> Spec:
    """A figure with no data that says why, in its middle (no axes)."""
    return {
        "data": [],
        "layout": {
            "title": {"text": title},
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "annotations": [
                {
                    "text": message, "showarrow": False, "font": {"size": 16},
                    "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                }
            ],
        },
    }  # fmt: skip


def _layout_spec(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        "hovermode": "closest",
        "legend": {"title": {"text": extra.pop("legend_title", "")}},
        **extra,
    }


def _empty(title: str, message: str = EMPTY_MESSAGE) -> go.Figure:
    fig = Figure()
    fig.update_layout(
        title=title,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
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


_LINEAR_STEPS: Final = (
    1 / 60, 2 / 60, 5 / 60, 10 / 60, 0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720,
)  # fmt: skip


def _linear_duration_axis(max_hours: float) -> dict[str, Any]:
    """A linear axis in hours whose ticks read as durations (0, 30 min, 1 h, ...)."""
    step = next((s for s in _LINEAR_STEPS if max_hours / s <= 6), _LINEAR_STEPS[-1])
    ticks = [k * step for k in range(int(max_hours / step) + 2)]
    return {
        "type": "linear",
        "rangemode": "tozero",
        "tickvals": [round(t, 6) for t in ticks],
        "ticktext": ["0" if t == 0 else human_hours(t) for t in ticks],
    }


def human_hours(hours: float | None, *, missing: str = "n/a") -> str:
    """Hours as people read them: ``3 min``, ``4.8 h``, ``2.5 d`` (``missing`` for None)."""
    if hours is None:
        return missing
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


# -------------------------------------------------------------------------------- queue wait


def duration_unit(max_hours: float) -> tuple[str, float]:
    """The one unit of a duration axis, chosen from its largest value: ``(name, per hour)``.

    Minutes below 2 hours, hours below 3 days, else days: every tick of the axis reads in that
    unit (no "12.0 h" next to "2.0 d").

    Example:
        >>> duration_unit(0.5), duration_unit(30), duration_unit(100)
        (('minutes', 60.0), ('hours', 1.0), ('days', 0.041666666666666664))
    """
    if max_hours < 2:
        return "minutes", 60.0
    if max_hours < 72:
        return "hours", 1.0
    return "days", 1 / 24


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


def _pname(quantile_column: str) -> str:
    return quantile_column.removeprefix("wait_").removesuffix("_hours")


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
    fig = Figure()
    for i, q in enumerate(quantiles):
        pname = q.removeprefix("wait_").removesuffix("_hours")
        fig.add_trace(
            go.Scatter(
                x=data["units"].to_list(),
                y=_rounded(data[q]),
                customdata=[human_hours(v) for v in data[q].to_list()],
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
