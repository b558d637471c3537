"""The capacity decision, drawn: the forecast chart with today's size and the recommendation, and
a what-if widget that steps by whole nodes and prices each size.

Both only call the public analyses (:func:`~mavtools.analysis.what_if`,
:func:`~mavtools.analysis.sizing`, :func:`~mavtools.analysis.forecast`); nothing here computes a
number of its own except the monthly cost of a size (units x rate x
:data:`~mavtools.analysis.sizing.HOURS_PER_MONTH`, the cost :func:`sizing` uses).

Decisions:

* The chart is in unit-hours per day, so a pool's size is a level too: ``units x 24``. Today's
  size is a dashed step over the history and the horizon, the recommendation a solid step from
  the first forecast day. A pool whose forecast does not beat the naive ones
  (:func:`~mavtools.analysis.backtest_forecast`) shows its history only, and its title says why.
* The widget's slider is in nodes; units per node come from the pools table and can be typed.
  The pool, the units per node and the slider drive one redraw, which rewrites the sentence, the
  table (one row per size, smallest first) and the figure together: nothing printed outside the
  widget describes a pool, so nothing can go stale when another pool is picked.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from mavtools.analysis.sizing import HOURS_PER_MONTH, sizing
from mavtools.analysis.whatif import what_if
from mavtools.views.mime import PLOTLY_MIMETYPE
from mavtools.views.style import Figure, _empty, _layout, _pname, _rounded, _unit, human_hours
from mavtools.views.tables import table

__all__ = ["WhatIfNodes", "forecast_figure", "what_if_figure"]

_GREY = "#555555"


def forecast_figure(
    forecast: pl.DataFrame,
    backtest: pl.DataFrame,
    decision: pl.DataFrame,
    *,
    period_hours: float = 24.0,
) -> go.Figure:
    """One panel per pool: demand history, forecast with its interval, today's size and the
    recommendation as steps.

    Args:
        forecast: :func:`~mavtools.analysis.forecast` per ``pool_id`` (GPU and NPU pools may be
            concatenated).
        backtest: :func:`~mavtools.analysis.backtest_forecast` of the same series: a pool's
            forecast is drawn only where ``skill`` is true.
        decision: :func:`~mavtools.analysis.sizing` (``units_now``, ``units``, ``resource``).
        period_hours: hours per period of the forecast (24 for ``every="1d"``).

    Example:
        >>> forecast_figure(mt.forecast(df), mt.backtest_forecast(df), mt.sizing(df)).show()
    """
    pools = [p for p in decision["pool_id"].to_list() if p in set(forecast["pool_id"].to_list())]
    skill = {r["pool_id"]: r for r in backtest.iter_rows(named=True)}
    titles = []
    for pool in pools:
        bt = skill.get(pool)
        if bt is not None and bt["skill"]:
            titles.append(
                f"{pool}: forecast beats naive (MASE {bt['mase']:.2f}; its 80% interval held "
                f"{bt['coverage']:.0%} of backtest days)"
            )
        else:
            why = bt["reason"] if bt is not None else "no backtest"
            titles.append(f"{pool}: no forecast shown ({why})")
    if not pools:
        fig = go.Figure()
        fig.update_layout(title="Demand and forecast: no pool to show")
        return fig
    fig = make_subplots(
        rows=len(pools), cols=1, shared_xaxes=True, subplot_titles=titles, vertical_spacing=0.06
    )
    rows = {r["pool_id"]: r for r in decision.iter_rows(named=True)}
    legend: set[str] = set()  # each kind of line in the legend once, from its first panel

    def add(panel: int, kind: str, **trace: Any) -> None:
        fig.add_trace(
            go.Scatter(legendgroup=kind, showlegend=kind not in legend, **trace), row=panel, col=1
        )
        legend.add(kind)

    for i, pool in enumerate(pools, start=1):
        part = forecast.filter(pl.col("pool_id") == pool).sort("time")
        hist = part.filter(pl.col("unit_hours").is_not_null())
        ahead = part.filter(pl.col("forecast").is_not_null())
        unit = "GPU" if rows[pool]["resource"] == "gpu" else "NPU"
        add(
            i,
            "demand",
            x=hist["time"].to_list(),
            y=[round(v, 1) for v in hist["unit_hours"].to_list()],
            name="demand (incl. queued)",
            mode="lines",
            line={"color": "#1f77b4"},
            hovertemplate=f"%{{x|%Y-%m-%d}}: %{{y}} {unit}-hours<extra></extra>",
        )
        shown = pool in skill and skill[pool]["skill"] and ahead.height
        if shown:
            x = ahead["time"].to_list()
            add(
                i,
                "interval",
                x=x + x[::-1],
                y=[round(v, 1) for v in ahead["high"].to_list() + ahead["low"].to_list()[::-1]],
                fill="toself",
                fillcolor="rgba(255,127,14,0.2)",
                line={"width": 0},
                name="80% interval",
                hoverinfo="skip",
            )
            add(
                i,
                "forecast",
                x=x,
                y=[round(v, 1) for v in ahead["forecast"].to_list()],
                name="forecast",
                mode="lines",
                line={"color": "#ff7f0e"},
            )
        # The sizes run to the horizon's end whether or not the forecast is shown.
        end = part["time"].to_list()[-1]
        start = hist["time"].to_list()[0]
        today = rows[pool]["units_now"] * period_hours
        add(
            i,
            "today",
            x=[start, end],
            y=[today, today],
            name="today's size",
            mode="lines",
            line={"color": _GREY, "dash": "dash", "shape": "hv"},
            hovertemplate=f"today: {rows[pool]['units_now']} {unit}s<extra></extra>",
        )
        if rows[pool]["units"] is not None:
            rec = rows[pool]["units"] * period_hours
            since = hist["time"].to_list()[-1]
            add(
                i,
                "recommended",
                x=[since, end if end > since else since + timedelta(days=1)],
                y=[rec, rec],
                name="recommended size",
                mode="lines",
                line={"color": "#2ca02c", "shape": "hv"},
                hovertemplate=f"recommended: {rows[pool]['units']} {unit}s<extra></extra>",
            )
        fig.update_yaxes(title_text=f"{unit}-hours/day", row=i, col=1)
    fig.update_layout(
        title="Demand per day (allocated + queued), forecast, today's size and the recommendation",
        height=260 * len(pools) + 120,
        hovermode="x unified",
    )
    fig.update_annotations(font_size=12)
    return fig


def _monthly(units: int, rate: float | None) -> float | None:
    return None if rate is None else units * rate * HOURS_PER_MONTH


class WhatIfNodes:
    """Pick a pool and a number of whole nodes: replayed waits, utilization and monthly cost.

    Args:
        history: every version loaded (the replay needs every job before a window).
        pools: the pools table (``client.pools()``: ``pool_id``, ``units``, ``units_per_node``,
            ``accelerator``); pools without GPUs or NPUs are not offered.
        pool: the pool shown first (default the first one).
        rates: pool id -> price per unit-hour (a pool without a rate shows no cost).
        currency: the label of the prices.
        wait, quantile: the target the recommendation (the slider's first value) meets.

    Example:
        >>> w = WhatIfNodes(history, client.pools(), rates={"pool-a100-research": 2.9})
        >>> w.widget                      # shows it; w.pool.value = "pool-a100-prod" switches
    """

    def __init__(
        self,
        history: pl.DataFrame,
        pools: pl.DataFrame,
        *,
        pool: str | None = None,
        rates: Mapping[str, float] | None = None,
        currency: str = "EUR",
        wait: str = "2h",
        quantile: float = 0.9,
    ) -> None:
        self.history, self.rates, self.currency = history, dict(rates or {}), currency
        self.wait, self.quantile = wait, quantile
        offered = pools.filter(pl.col("accelerator").is_in(["gpu", "npu"]) & (pl.col("units") > 0))
        used = set(history["pool_id"].cast(pl.String).unique().to_list())
        offered = offered.filter(pl.col("pool_id").is_in(used))
        self.pools = {r["pool_id"]: r for r in offered.iter_rows(named=True)}
        names = sorted(self.pools)
        self.pool = widgets.Dropdown(options=names, value=pool or names[0], description="pool")
        self.units_per_node = widgets.BoundedIntText(min=1, max=64, description="units/node")
        self.nodes = widgets.IntSlider(description="nodes", continuous_update=False, step=1)
        self.text = widgets.HTML()  # a Label would cut the sentence at the widget's width
        self.table_out = widgets.Output()
        self.figure_out = widgets.Output()
        self._quiet = False
        self._on_pool()
        self.pool.observe(lambda _: self._on_pool(), names="value")
        self.units_per_node.observe(lambda _: self._on_units_per_node(), names="value")
        self.nodes.observe(lambda _: self.redraw(), names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.pool, self.units_per_node, self.nodes]),
                self.text,
                self.table_out,
                self.figure_out,
            ]
        )
        # Class names a page (and a browser test) can find the parts by.
        for part, name in (
            (self.widget, "what-if-nodes"),
            (self.pool, "what-if-pool"),
            (self.units_per_node, "what-if-units-per-node"),
            (self.nodes, "what-if-slider"),
            (self.text, "what-if-text"),
            (self.table_out, "what-if-table"),
            (self.figure_out, "what-if-figure"),
        ):
            part.add_class(f"mavtools-{name}")

    # ------------------------------------------------------------------------------ state
    @property
    def resource(self) -> str:
        return str(self.pools[self.pool.value]["accelerator"])

    @property
    def units_now(self) -> int:
        return int(self.pools[self.pool.value]["units"])

    def _on_pool(self) -> None:
        per_node = self.pools[self.pool.value]["units_per_node"] or 1
        self._quiet = True
        self.units_per_node.value = int(per_node)
        self._quiet = False
        self._on_units_per_node()

    def _on_units_per_node(self) -> None:
        if self._quiet:
            return
        upn = self.units_per_node.value
        asked = self.history.filter(pl.col("pool_id").cast(pl.String) == self.pool.value)
        biggest = int(asked[f"{self.resource}_num"].max() or 1)  # type: ignore[arg-type]
        lo = -(-biggest // upn)
        now = -(-self.units_now // upn)
        best = sizing(
            self.history,
            pool_id=self.pool.value,
            wait=self.wait,
            quantile=self.quantile,
            units_per_node=upn,
            pools={self.pool.value: now * upn},
        )["nodes"].item()
        top = max(3 * now, (best or now) + 2, lo + 4)
        self._quiet = True
        self.nodes.min, self.nodes.max = 1, top  # min first, so no bound is ever crossed
        self.nodes.min = lo
        self.nodes.value = best if best is not None else now
        self._quiet = False
        self.sizes = self._table(lo, top)
        self.redraw()

    def _table(self, lo: int, top: int) -> pl.DataFrame:
        upn = self.units_per_node.value
        replayed = what_if(
            self.history,
            pool_id=self.pool.value,
            sizes=[n * upn for n in range(lo, top + 1)],
            units_per_node=upn,
            resource=self.resource,  # type: ignore[arg-type]
        )
        rate = self.rates.get(self.pool.value)
        return (
            replayed.select(
                nodes=pl.col("units") // upn,
                units="units",
                wait_p50_hours="wait_p50_hours",
                wait_p90_hours="wait_p90_hours",
                wait_p99_hours="wait_p99_hours",
                share_waited_over_1h="share_waited_over_1h",
                utilization="utilization_mean",
                cost_month=pl.col("units") * rate * HOURS_PER_MONTH
                if rate is not None
                else pl.lit(None, pl.Float64),
            )
            .sort("nodes")
            .with_columns(pl.col("nodes").cast(pl.Int64))
        )

    # ----------------------------------------------------------------------------- output
    def sentence(self) -> str:
        """Today and the picked size of the picked pool, in one line."""
        upn, unit = self.units_per_node.value, self.resource.upper() + "s"
        now_nodes = -(-self.units_now // upn)
        rows = {r["nodes"]: r for r in self.sizes.iter_rows(named=True)}

        def part(nodes: int) -> str:
            r = rows.get(nodes)
            if r is None:
                return f"{nodes} nodes ({nodes * upn} {unit}): too small for its largest jobs"
            cost = (
                "" if r["cost_month"] is None else f", {self.currency} {r['cost_month']:,.0f}/month"
            )
            return (
                f"{nodes} node{'s' if nodes != 1 else ''} ({r['units']} {unit}): "
                + ", ".join(f"p{q} wait {human_hours(r[f'wait_p{q}_hours'])}" for q in (50, 90, 99))
                + f", utilization {r['utilization']:.0%}{cost}"
            )

        text = f"{self.pool.value}: today {part(now_nodes)}"
        if self.nodes.value != now_nodes:
            text += f"; with {part(self.nodes.value)}"
        return text

    def redraw(self) -> None:
        if self._quiet:
            return
        self.text.value = html.escape(self.sentence())
        shown = self.sizes.with_columns(
            pl.col("cost_month").round(0).cast(pl.Int64),
            pl.when(pl.col("nodes") == self.nodes.value)
            .then(pl.lit("picked"))
            .when(pl.col("units") == self.units_now)
            .then(pl.lit("today"))
            .otherwise(pl.lit(""))
            .alias("size"),
        )
        tbl = table(
            shown,
            table_id="what-if-nodes",
            title=f"{self.pool.value} replayed at whole-node sizes",
            subtitle=f"{self.units_per_node.value} {self.resource.upper()}s per node, FIFO",
        )
        self.table_out.outputs = (_display(tbl._repr_mimebundle_()),)
        upn = self.units_per_node.value
        replay = self.sizes.select(
            pl.lit(self.pool.value).alias("pool_id"),
            "units",
            "wait_p50_hours",
            "wait_p90_hours",
            "wait_p99_hours",
        )
        now_units = -(-self.units_now // upn) * upn
        fig = what_if_figure(
            replay, current=now_units, selected=self.nodes.value * upn, resource=self.resource
        )
        # Outside a kernel plotly's default renderer builds nothing: show the same mimetype.
        bundle = fig._repr_mimebundle_() or {PLOTLY_MIMETYPE: fig.to_plotly_json()}
        self.figure_out.outputs = (_display(bundle),)


def _display(bundle: Any) -> dict[str, Any]:
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    return {"output_type": "display_data", "data": data, "metadata": {}}


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
        pname = _pname(q)
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
