"""The queue in the dashboard: queue length beside allocation, and a "Now" panel.

:class:`QueueView` plugs into a :class:`~mavtools.views.widgets.Dashboard`: a figure of the units
waited for per bin and pool (:func:`mavtools.queue_length` of the dashboard's selection, so it
follows every filter, the window and the GPU/NPU toggle) right after the allocation figure, and,
when a live source is given, a :class:`NowPanel` at the top of the figures.

:class:`NowPanel` shows :func:`mavtools.queue_now`: per pool units in use, free and waited for, the
waiting versions oldest first, the time it was read and which source answered, and a refresh
button. Reading runs in a background thread when the source is a client, so a slow or refusing API
never holds up the dashboard; a refusal is one sentence in the panel.
"""

from __future__ import annotations

import html
import threading
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import polars as pl

from mavtools.analysis.queue import queue_length
from mavtools.api.workloads import QueueNow
from mavtools.errors import MavtoolsError
from mavtools.views.aggregates import FILTER_COLUMNS
from mavtools.views.style import empty_spec

if TYPE_CHECKING:
    from mavtools.views.widgets import Dashboard

__all__ = ["NowPanel", "QueueView", "queue_spec"]

Spec = dict[str, Any]


def queue_spec(
    q: pl.DataFrame, *, resource: str = "gpu", colors: dict[str, str] | None = None
) -> Spec:
    """Units waited for (mean per bin) by pool, as plain plotly data; peaks in the hover."""
    unit = "GPU" if resource == "gpu" else "NPU"
    title = f"{unit}s waited for (queue length) by pool"
    data = q.filter((pl.col("units_waiting_mean").max() > 0).over("pool_id"))
    peaks = "units_waiting_peak" in q.columns
    if data.is_empty():
        return empty_spec(title, "Nobody waited in this selection")
    zone = str(getattr(q.schema["time"], "time_zone", None) or "UTC")
    traces = []
    # Every column the traces need, computed once for all pools, then split by pool.
    data = data.sort("pool_id", "time").with_columns(
        _x=pl.col("time").dt.to_string("%Y-%m-%d %H:%M"),
        _y=pl.col("units_waiting_mean").fill_null(0).round(3),
    )
    for (pool,), part in data.group_by("pool_id", maintain_order=True):
        name = str(pool)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": (colors or {}).get(name)},
                "name": name,
                "x": part["_x"].to_list(),
                "y": part["_y"].to_list(),
                "customdata": list(
                    zip(
                        part["units_waiting_peak" if peaks else "units_waiting_mean"].to_list(),
                        part["waiting_peak" if peaks else "waiting_mean"]
                        .cast(pl.Float64)
                        .round(2)
                        .to_list(),
                        strict=True,
                    )
                ),
                "hovertemplate": f"{html.escape(name)}<br>%{{x}}<br>%{{y}} {unit}s waited for "
                + (
                    f"(mean)<br>peak %{{customdata[0]}} {unit}s, %{{customdata[1]}} versions"
                    if peaks
                    else "(mean), by %{customdata[1]} versions (mean)"
                )
                + "<extra></extra>",
            }
        )
    return {
        "data": traces,
        "layout": {
            "title": {"text": title},
            "xaxis": {"title": {"text": f"time ({zone})"}},
            "yaxis": {"title": {"text": f"{unit}s waited for (mean per bin)"}},
            "legend": {"title": {"text": "pool"}},
            "hovermode": "closest",
        },
    }


def _wait(d: timedelta | None) -> str:
    if d is None:
        return ""
    minutes = d.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def now_line(now: QueueNow) -> str:
    """One line: the read time, and per busy pool units in use / size and who waits."""
    read = now.read_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = []
    for r in now.pools.iter_rows(named=True):
        if not (r["units_in_use"] or r["waiting"]):
            continue
        size = "?" if r["units"] is None else r["units"]
        text = f"{html.escape(r['pool_id'])} {r['units_in_use']}/{size} in use"
        if r["waiting"]:
            text += (
                f", <b>{r['waiting']} waiting</b> for {r['units_waiting']} "
                f"(oldest {_wait(r['oldest_wait'])})"
            )
        parts.append(text)
    busy = "; ".join(parts) or "every pool idle, nobody waiting"
    return f"<b>Now</b> (read {read}): {busy}"


def now_html(now: QueueNow, *, waiting_rows: int = 12) -> str:
    """The panel's text: read time, per pool table, the waiting versions, notes."""
    read = now.read_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for r in now.pools.iter_rows(named=True):
        size = "?" if r["units"] is None else r["units"]
        free = "?" if r["units_free"] is None else r["units_free"]
        rows.append(
            f"<tr><td>{html.escape(r['pool_id'])}</td><td>{r['units_in_use']} / {size}</td>"
            f"<td>{free}</td><td>{r['waiting']} ({r['units_waiting']} units)</td>"
            f"<td>{_wait(r['oldest_wait'])}</td><td>{html.escape(r['source'])}</td></tr>"
        )
    waiting = []
    for r in now.waiting.head(waiting_rows).iter_rows(named=True):
        units = r["gpu"] or r["npu"]
        waiting.append(
            f"<tr><td>{html.escape(r['pool_id'])}</td><td>{r['position']}</td>"
            f"<td>{html.escape(str(r['name']))}</td><td>{units}</td><td>{_wait(r['waited'])}</td></tr>"
        )
    more = now.waiting.height - waiting_rows
    notes = "".join(f"<div><i>{html.escape(n)}</i></div>" for n in now.notes)
    return (
        f"<b>Now</b> (read {read})"
        "<table><tr><th>pool</th><th>in use / size</th><th>free</th><th>waiting</th>"
        f"<th>oldest wait</th><th>source</th></tr>{''.join(rows)}</table>"
        + (
            "<table><tr><th>pool</th><th>position</th><th>job</th><th>units</th><th>waited</th>"
            f"</tr>{''.join(waiting)}</table>"
            if waiting
            else "<div>Nobody is waiting.</div>"
        )
        + (f"<div>... and {more} more waiting</div>" if more > 0 else "")
        + notes
    )


class NowPanel:
    """The queue now, with its read time and a refresh button.

    Args:
        source: a :class:`~mavtools.Client` or a list of them (read with :func:`mavtools.queue_now`
            in a background thread),
            a function returning a :class:`~mavtools.QueueNow`, or a ``QueueNow`` already read
            (shown as is; refresh then shows it again).
        background: read in a thread (default: when ``source`` is not a ``QueueNow``).

    Example:
        >>> panel = NowPanel(client)
        >>> panel.widget  # shows "reading..." until the API answers
    """

    def __init__(self, source: Any, *, background: bool | None = None) -> None:
        self.source = source
        self.background = not isinstance(source, QueueNow) if background is None else background
        self.now: QueueNow | None = None
        self.error: str | None = None
        self.html = w.HTML()  # one line, so the figures below stay on the first screen
        self.html.add_class("mavtools-now-text")
        self.details = w.HTML()
        self.details.add_class("mavtools-now-details")
        self.accordion = w.Accordion(children=[self.details], selected_index=None)
        self.accordion.set_title(0, "Pools and who is waiting")
        self.button = w.Button(
            description="Refresh", icon="refresh", layout=w.Layout(width="120px")
        )
        self.button.add_class("mavtools-now-refresh")
        self.button.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([w.HBox([self.button, self.html]), self.accordion])
        self.widget.add_class("mavtools-now")
        self._thread: threading.Thread | None = None
        self.refresh()

    def _read(self) -> QueueNow:
        if isinstance(self.source, QueueNow):
            return self.source
        if isinstance(self.source, list | tuple):  # several projects or regions
            from mavtools.api.workloads import queue_now

            return queue_now(list(self.source))
        if callable(self.source) and not hasattr(self.source, "queue_now"):
            return self.source()
        return self.source.queue_now()

    def _load(self) -> None:
        try:
            self.now, self.error = self._read(), None
            self.html.value = now_line(self.now)
            self.details.value = now_html(self.now)
        except MavtoolsError as exc:  # never let the API stop the dashboard: say it, keep going
            self.error = f"The queue could not be read now: {exc}"
            self.html.value = f"<b>Now</b>: {html.escape(self.error)}"
        finally:
            self.button.disabled = False

    def refresh(self) -> None:
        """Read the queue again (in the background unless ``background=False``)."""
        self.button.disabled = True
        if not self.background:
            self._load()
            return
        self.html.value = "<b>Now</b>: reading the queue..."
        self._thread = threading.Thread(target=self._load, name="mavtools-now", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background read to finish (tests, scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)


class QueueView:
    """Queue length beside allocation (following the filters), and the Now panel on top.

    Args:
        dashboard: the dashboard to extend.
        live: what the Now panel reads (see :class:`NowPanel`); None: no Now panel.
    """

    def __init__(self, dashboard: Dashboard, live: Any = None) -> None:
        self.dashboard = dashboard
        from mavtools.views.widgets import _figure_view

        self.output = _figure_view("queue")  # redrawn in place, as the others
        self.now = NowPanel(live) if live is not None else None
        right = dashboard.widget.children[1]
        children = list(right.children)
        children.insert(children.index(dashboard.outputs["allocation"]) + 1, self.output)
        if self.now is not None:
            children.insert(0, self.now.widget)
        right.children = tuple(children)
        self.spec: Spec = {}
        self._cells: dict[str, pl.DataFrame] = {}
        # The dashboard updates it with its own figures (after the allocation figure, the
        # other one on screen), on every filter and resource change.
        self.update()

    def _per_cell(self, resource: str) -> pl.DataFrame:
        """Queue length per filter cell (computed once per resource), as the allocation figure's
        aggregates are, so a filter change only filters and sums (the dashboard's latency)."""
        if resource not in self._cells:
            agg = self.dashboard.panel.aggregates
            framed = self.dashboard.panel.frame.join(
                agg.cells, on=list(FILTER_COLUMNS), how="left", nulls_equal=True
            )
            per_cell = queue_length(
                framed,
                every=agg.every,
                by="_cell",
                resource=resource,  # type: ignore[arg-type]
                start=agg.span[0],
                end=agg.span[1],
                now=agg.now,
            ).filter(pl.col("waiting_mean") > 0)
            self._cells[resource] = per_cell.join(
                agg.cells.select("_cell", "pool_id"), on="_cell", how="left"
            ).select(
                "_cell",
                "time",
                "pool_id",
                "coverage",
                _versions=pl.col("waiting_mean") * pl.col("coverage"),
                _units=pl.col("units_waiting_mean") * pl.col("coverage"),
            )
        return self._cells[resource]

    def data(self) -> pl.DataFrame:
        """:func:`mavtools.queue_length` of the selection by pool, over the dashboard's window
        and bins: ``time``, ``pool_id``, ``waiting_mean``, ``units_waiting_mean``, ``coverage``
        (bins where nobody waited are left out; peaks do not add up across cells: none)."""
        panel = self.dashboard.panel
        agg, state = panel.aggregates, panel.state()
        rows = self._per_cell(panel.resource.value)
        ids = agg.cell_ids(state)
        if ids.len() < agg.cells.height:
            rows = rows.filter(pl.col("_cell").is_in(ids.implode()))
        if state.start is not None and state.end is not None:
            rows = rows.filter(pl.col("time").is_between(state.start, state.end, "left"))
        # Means over a bin's covered part add up across cells (the same bins, one snapshot).
        summed = (
            rows.group_by("time", "pool_id")
            .agg(
                waiting_mean=pl.col("_versions").sum() / pl.col("coverage").max(),
                units_waiting_mean=pl.col("_units").sum() / pl.col("coverage").max(),
                coverage=pl.col("coverage").max(),
            )
            .sort("pool_id", "time")
        )
        if summed.is_empty():
            return summed
        # Bins where nobody waited are zeros, not gaps a step line would bridge.
        return summed.upsample("time", every=agg.every, group_by="pool_id").with_columns(
            pl.col("pool_id").forward_fill(),
            pl.col("waiting_mean", "units_waiting_mean").fill_null(0.0),
        )

    def update(self) -> None:
        from mavtools.views.widgets import _plotly_json

        spec = queue_spec(
            self.data(), resource=self.dashboard.panel.resource.value, colors=self.dashboard.colors
        )
        if spec != self.spec:  # an unchanged figure is not sent: nothing to redraw
            self.spec = spec
            self.output.figure = _plotly_json(spec)
