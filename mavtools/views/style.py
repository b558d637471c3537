"""How every figure looks: colours, words, axes, duration units, the empty figure, the layout.

The figure modules (:mod:`~mavtools.views.timeseries`, :mod:`~mavtools.views.distributions`,
:mod:`~mavtools.views.decision`) draw with these, so a pool, an outcome or a unit reads the same in
every figure. Names with a leading underscore are shared by those modules only, not public API.

Decisions:

* Colours: outcomes have fixed colours; pools (or any other group values) take the colours of a
  fixed qualitative palette in sorted order of the values: pass the same :func:`palette` of *all*
  pools of a frame to every figure so a pool keeps its colour under any filter. Without one, a
  figure assigns colours to the values it shows, in sorted order.
* Titles and axes speak words ("pool", "GPUs per version"), not column names (:data:`WORDS`),
  and name the time zone. Legends are always shown, also for a single group.
* Numbers are rounded to 3 decimals in the figure, hover text gives them.
* An empty result gives a figure that says "No versions match the current selection".
* Every figure is a :class:`Figure`: plotly's, shown with :data:`CONFIG` (no cloud link).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
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
    "color_of",
    "duration_unit",
    "empty_spec",
    "palette",
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
_DURATION_TICKS: Final = (
    (1 / 60, "1 min"), (5 / 60, "5 min"), (15 / 60, "15 min"), (0.5, "30 min"), (1, "1 h"),
    (3, "3 h"), (6, "6 h"), (12, "12 h"), (24, "1 d"), (72, "3 d"), (168, "1 w"), (720, "30 d"),
)  # fmt: skip
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
        {'pool-a': '#76b7b2', 'pool-b': '#edc948'}
    """
    texts = sorted({"(none)" if v is None else str(v) for v in values})
    return {t: _PALETTE[i % len(_PALETTE)] for i, t in enumerate(texts)}


def color_of(value: Any, colors: Mapping[str, str] | None = None) -> str:
    """The colour of an outcome, pool or any other group value.

    Outcomes have fixed colours; other values take theirs from ``colors`` (see :func:`palette`),
    else a stable hash of their text into the palette.

    Example:
        >>> color_of("failed"), color_of("pool-a", palette(["pool-a", "pool-b"]))
        ('#d62728', '#76b7b2')
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
    """:func:`empty_spec` as a :class:`Figure`."""
    return Figure(empty_spec(title, message))


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
    """``fig`` with the layout of :func:`_layout_spec` merged in."""
    fig.update_layout(_layout_spec(title, x_title, y_title, **extra))
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


def _pname(quantile_column: str) -> str:
    """A quantile column's percentile: ``wait_p90_hours`` -> ``p90``."""
    return quantile_column.removeprefix("wait_").removesuffix("_hours")
