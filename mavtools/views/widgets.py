"""A filter panel and a dashboard of figures that follow it, for Jupyter notebooks.

:class:`FilterPanel` selects versions by outcome, pool, workspace, flavor (multi-selects, all
selected at first) and creation day (a range slider on ``create_time``, UTC), and keeps a summary
line (versions, GPU-hours, share of finished versions that failed) in step with the selection.
:class:`Dashboard` adds figures that are rebuilt whenever a filter changes::

    >>> import mavtools as mt
    >>> df = mt.load_versions(workspace_id=mt.ALL_WORKSPACES)
    >>> dashboard = mt.widgets.Dashboard(df)
    >>> dashboard                                   # shows the panel and the figures
    >>> dashboard.panel.pools.value = ("pool-a100-prod",)   # the same as clicking it
    >>> mt.durations(dashboard.selection, by="outcome")   # continue in the next cell

Decisions:

* Filters observe the ``value`` trait of their widgets, which is what both a click in the browser
  and an assignment in Python change, so the two behave identically.
* Deselecting every option of a multi-select selects no version (it is not "no filter"); the
  figures then say "No versions match the current selection".
* Filtering and aggregation are polars work; the figures only receive aggregated rows (see
  :mod:`mavtools.views.figures`). Allocation bins grow with the selected time range (1 h up to 14 days,
  6 h up to 120 days, else 1 day) so an update stays cheap on long ranges.
* Each figure is a plain ``plotly.graph_objects.Figure`` put into an ``ipywidgets.Output`` as the
  display data plotly's default renderer produces (``application/vnd.plotly.v1+json`` inside a
  kernel, which JupyterLab renders). The output is replaced in one assignment of
  ``Output.outputs`` (no flicker, no dependence on which cell is executing), and no
  ``FigureWidget`` is used (it needs anywidget and stores megabytes of JavaScript per figure).
* Running versions hold their units until ``now``: the fetch time of the frame's
  :func:`~mavtools.provenance.provenance`, since filtered frames carry none.

Stable CSS classes, for browser tests and custom styling:

=============================  ====================================================
``mavtools-dashboard``         the dashboard (a ``VBox``)
``mavtools-filter-panel``      the filter panel (a ``VBox``)
``mavtools-outcome-filter``    outcome multi-select (``SelectMultiple``)
``mavtools-pool-filter``       pool multi-select (``SelectMultiple``; a ``<select multiple>``
                               inside the element with the class)
``mavtools-workspace-filter``  workspace multi-select
``mavtools-flavor-filter``     flavor multi-select
``mavtools-time-filter``       creation-day range slider (``SelectionRangeSlider``)
``mavtools-summary``           the summary line (a ``Label``; its text is ``str(summary)``)
``mavtools-figure-<name>``     the ``Output`` of each figure: ``durations``, ``versions``,
                               ``allocation``
=============================  ====================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import ipywidgets as w
import plotly.graph_objects as go
import polars as pl

from mavtools import analysis
from mavtools.provenance import provenance
from mavtools.statuses import OUTCOMES
from mavtools.views import figures

__all__ = ["FIGURE_NAMES", "Dashboard", "FilterPanel", "Summary", "summarize"]

#: The figures a :class:`Dashboard` shows, in order (also the suffix of their CSS class).
FIGURE_NAMES: Final = ("durations", "versions", "allocation")
_NONE_LABEL: Final = "(none)"
#: Allocation bin by the length of the selected time range (the last one covers the rest).
_ALLOCATION_BINS: Final = ((timedelta(days=14), "1h"), (timedelta(days=120), "6h"))
_LONG_BIN: Final = "1d"
_WIDE: Final = {"description_width": "initial"}


# ----------------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class Summary:
    """What the current selection holds.

    Attributes:
        versions: versions selected.
        total: versions in the whole frame.
        gpu_hours: GPU-hours of the selected versions (``gpu_hours`` column).
        finished: selected versions that succeeded, failed or were canceled.
        failed: selected versions whose outcome is ``failed``.
    """

    versions: int
    total: int
    gpu_hours: float
    finished: int
    failed: int

    @property
    def failed_share(self) -> float | None:
        """``failed / finished``; None when nothing finished."""
        return self.failed / self.finished if self.finished else None

    def __str__(self) -> str:
        if not self.versions:
            return f"No versions match the current selection (0 of {self.total:,})"
        share = self.failed_share
        failed = (
            "no finished versions"
            if share is None
            else f"{share:.1%} of {self.finished:,} finished failed"
        )
        return (
            f"{self.versions:,} of {self.total:,} versions | {self.gpu_hours:,.1f} GPU-hours | "
            f"{failed}"
        )


def summarize(df: pl.DataFrame, total: int | None = None) -> Summary:
    """The :class:`Summary` of a frame of versions (``total`` defaults to its own height).

    Example:
        >>> print(summarize(df.filter(pl.col("pool_id") == "pool-a100-prod"), df.height))
    """
    row = df.select(
        versions=pl.len(),
        gpu_hours=pl.col("gpu_hours").sum(),
        finished=pl.col("outcome").is_in(["succeeded", "failed", "canceled"]).sum(),
        failed=(pl.col("outcome") == "failed").sum(),
    ).row(0, named=True)
    return Summary(
        versions=int(row["versions"]),
        total=df.height if total is None else total,
        gpu_hours=float(row["gpu_hours"] or 0.0),
        finished=int(row["finished"] or 0),
        failed=int(row["failed"] or 0),
    )


# ------------------------------------------------------------------------------- filter panel


def _options(df: pl.DataFrame, column: str) -> list[tuple[str, str | None]]:
    """(label, value) of the distinct values of a column, sorted, null last as "(none)"."""
    values = df.get_column(column).cast(pl.String).unique().sort(nulls_last=True).to_list()
    return [(_NONE_LABEL if v is None else v, v) for v in values]


def _member(column: str, chosen: Sequence[str | None]) -> pl.Expr:
    named = [v for v in chosen if v is not None]
    expr = pl.col(column).cast(pl.String).is_in(named) if named else pl.lit(False)
    return expr | pl.col(column).is_null() if None in chosen else expr


def _multi(description: str, options: list[tuple[str, Any]], css: str) -> w.SelectMultiple:
    widget = w.SelectMultiple(
        options=options,
        value=tuple(v for _, v in options),
        rows=min(max(len(options), 2), 6),
        description=description,
        style=_WIDE,
        layout=w.Layout(width="auto"),
    )
    widget.add_class(css)
    return widget


def _day(value: datetime) -> date:
    return value.astimezone(UTC).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


class FilterPanel:
    """Multi-selects and a creation-day range over a frame of versions, with a summary line.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.

    Attributes:
        outcomes, pools, workspaces, flavors: ``ipywidgets.SelectMultiple``; every option is
            selected at first.
        days: ``ipywidgets.SelectionRangeSlider`` over the creation days (UTC), both ends
            included.
        summary_label: ``ipywidgets.Label`` showing :attr:`summary`.
        widget: the panel to display.

    Example:
        >>> panel = FilterPanel(df)
        >>> panel.on_change(lambda selection: print(selection.height))
        >>> panel.pools.value = ("pool-a100-prod",)
    """

    def __init__(self, df: pl.DataFrame) -> None:
        self.frame = df
        present = set(df.get_column("outcome").cast(pl.String).unique().to_list())
        self.outcomes = _multi(
            "Outcome", [(o, o) for o in OUTCOMES if o in present], "mavtools-outcome-filter"
        )
        self.pools = _multi("Pool", _options(df, "pool_id"), "mavtools-pool-filter")
        self.workspaces = _multi(
            "Workspace", _options(df, "workspace_id"), "mavtools-workspace-filter"
        )
        self.flavors = _multi("Flavor", _options(df, "flavor_code"), "mavtools-flavor-filter")
        self.days = self._day_slider(df)
        # The slider's own readout cuts "2026-07-03-2026-10-01" short; a label shows it whole.
        self.days_label = w.Label(value=self._days_text())
        self.days.observe(lambda _change: self._show_days(), names="value")
        self._listeners: list[Callable[[pl.DataFrame], None]] = []
        self._selection = df
        self._summary = summarize(df)
        self.summary_label = w.Label(value=str(self._summary))
        self.summary_label.add_class("mavtools-summary")
        self.widget = w.VBox(
            [
                w.HBox([self.outcomes, self.pools, self.workspaces, self.flavors]),
                w.HBox([self.days, self.days_label]),
                self.summary_label,
            ]
        )
        self.widget.add_class("mavtools-filter-panel")
        for control in self.controls:
            control.observe(self._changed, names="value")

    @staticmethod
    def _day_slider(df: pl.DataFrame) -> w.SelectionRangeSlider:
        lo, hi = df.select(lo=pl.col("create_time").min(), hi=pl.col("create_time").max()).row(0)
        first = _day(lo) if lo is not None else date(1970, 1, 1)
        last = _day(hi) if hi is not None else first
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        slider = w.SelectionRangeSlider(
            options=[(d.isoformat(), d) for d in days],
            index=(0, len(days) - 1),
            description="Created (UTC)",
            readout=False,
            style=_WIDE,
            layout=w.Layout(width="70%"),
        )
        slider.add_class("mavtools-time-filter")
        return slider

    @property
    def controls(self) -> tuple[w.ValueWidget, ...]:
        """The filter widgets, in display order."""
        return (self.outcomes, self.pools, self.workspaces, self.flavors, self.days)

    @property
    def selection(self) -> pl.DataFrame:
        """The versions the filters select (a new frame; it carries no provenance)."""
        return self._selection

    @property
    def summary(self) -> Summary:
        """The :class:`Summary` of :attr:`selection`."""
        return self._summary

    def predicate(self) -> pl.Expr:
        """The polars expression of the current filters (filters selecting everything omitted)."""
        parts: list[pl.Expr] = []
        for column, control in (
            ("outcome", self.outcomes),
            ("pool_id", self.pools),
            ("workspace_id", self.workspaces),
            ("flavor_code", self.flavors),
        ):
            if len(control.value) < len(control.options):
                parts.append(_member(column, control.value))
        first, last = self.days.value
        n_days = len(self.days.options)
        if n_days and self.days.index != (0, n_days - 1):
            start, end = _midnight(first), _midnight(last + timedelta(days=1))
            parts.append(pl.col("create_time").is_between(start, end, closed="left"))
        return pl.all_horizontal(parts) if parts else pl.lit(True)

    def on_change(self, callback: Callable[[pl.DataFrame], None]) -> None:
        """Call ``callback(selection)`` after every change of a filter."""
        self._listeners.append(callback)

    def refresh(self) -> None:
        """Apply the filters again and notify the listeners."""
        self._selection = self.frame.filter(self.predicate())
        self._summary = summarize(self._selection, self.frame.height)
        self.summary_label.value = str(self._summary)
        for callback in self._listeners:
            callback(self._selection)

    def _changed(self, change: Mapping[str, Any]) -> None:
        self.refresh()

    def _days_text(self) -> str:
        if not self.days.options:
            return ""
        first, last = self.days.value
        return f"{first.isoformat()} to {last.isoformat()}"

    def _show_days(self) -> None:
        self.days_label.value = self._days_text()


# ----------------------------------------------------------------------------------- dashboard


def _figure_output(name: str) -> w.Output:
    out = w.Output(layout=w.Layout(width="100%"))
    out.add_class(f"mavtools-figure-{name}")
    return out


def _display_data(fig: go.Figure) -> tuple[dict[str, Any], ...]:
    """The display data of a figure as IPython would show it, with plotly's default renderer."""
    bundle = fig._repr_mimebundle_()  # the IPython display protocol, public by convention
    return ({"output_type": "display_data", "data": bundle or {}, "metadata": {}},)


class Dashboard:
    """The filter panel with figures that update in place when a filter changes.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`, usually from
            :func:`mavtools.load_versions`.
        now: when the data was fetched (running versions hold until then); default: the fetch
            time of ``df``'s :func:`~mavtools.provenance.provenance`, else its latest timestamp.
        capacity: pool id -> GPUs, drawn as a capacity line on the allocation figure.

    Attributes:
        panel: the :class:`FilterPanel`.
        figures: figure name (:data:`FIGURE_NAMES`) -> the ``go.Figure`` currently shown.
        outputs: figure name -> the ``ipywidgets.Output`` showing it.
        widget: the whole dashboard (a ``VBox``).

    Example:
        >>> dashboard = Dashboard(df)
        >>> dashboard.panel.outcomes.value = ("failed",)
        >>> dashboard.summary.versions, dashboard.figures["durations"]
    """

    def __init__(
        self,
        df: pl.DataFrame,
        *,
        now: datetime | None = None,
        capacity: Mapping[str, int] | None = None,
    ) -> None:
        info = provenance(df)
        if now is None and info is not None:
            now = info.fetched_at
        if now is None:
            latest = df.select(
                pl.max_horizontal(
                    pl.col("create_time").max(),
                    pl.col("start_time").max(),
                    pl.col("end_time").max(),
                )
            ).item()
            now = latest if latest is not None else datetime(1970, 1, 1, tzinfo=UTC)
        self.now: datetime = now
        self.capacity = dict(capacity) if capacity else None
        self.panel = FilterPanel(df)
        self.figures: dict[str, go.Figure] = {}
        self.outputs = {name: _figure_output(name) for name in FIGURE_NAMES}
        self.widget = w.VBox([self.panel.widget, *self.outputs.values()])
        self.widget.add_class("mavtools-dashboard")
        self.panel.on_change(self._update)
        self._update(self.panel.selection)

    @property
    def selection(self) -> pl.DataFrame:
        """The versions the filters select; continue with it in the next cell."""
        return self.panel.selection

    @property
    def summary(self) -> Summary:
        """The :class:`Summary` of the selection (also shown under the filters)."""
        return self.panel.summary

    def allocation_bin(self) -> str:
        """The allocation bin for the selected time range (see the module docstring)."""
        first, last = self.panel.days.value if self.panel.days.options else (None, None)
        span = (last - first + timedelta(days=1)) if first is not None else timedelta(0)
        return next((every for limit, every in _ALLOCATION_BINS if span <= limit), _LONG_BIN)

    def build_figures(self, selection: pl.DataFrame) -> dict[str, go.Figure]:
        """The dashboard's figures for a selection (aggregated in polars, then plotted)."""
        alloc = analysis.allocation(
            selection, every=self.allocation_bin(), by="pool_id", now=self.now
        )
        return {
            "durations": figures.durations_figure(
                analysis.duration_histogram(selection, by="outcome")
            ),
            "versions": figures.versions_figure(
                analysis.version_counts(selection, every="1w", by="outcome")
            ),
            "allocation": figures.allocation_figure(alloc, self.capacity),
        }

    def _update(self, selection: pl.DataFrame) -> None:
        self.figures = self.build_figures(selection)
        for name, fig in self.figures.items():
            self.outputs[name].outputs = _display_data(fig)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # The plain-text fallback (kept in saved notebooks, compared by nbval) says what is shown.
        bundle["text/plain"] = f"Dashboard: {self.summary}"
        return bundle
