"""A filter panel and a dashboard of figures that follow it, for Jupyter notebooks.

:class:`FilterPanel` selects versions by outcome, pool, workspace, flavor and user, and by region
and project when the frame holds several (check-box lists, all checked at first, each with
All / None / Reset and a count such as "4 of 6 pools"), and by a window
of whole days (UTC) that selects every version whose life overlaps it. A summary line (versions,
GPU- and NPU-hours in the window, failed and canceled shares of finished versions) follows the
selection. :class:`Dashboard` adds figures that are rebuilt whenever a filter changes::

    >>> import mavtools as mt
    >>> df = mt.load_versions(workspace_id=mt.ALL_WORKSPACES)
    >>> dashboard = mt.widgets.Dashboard(df, names=client.workspace_names())
    >>> dashboard                                   # shows the panel and the figures
    >>> dashboard.panel.pools.value = ("pool-a100-prod",)   # the same as ticking only that box
    >>> mt.durations(dashboard.selection, by="outcome")   # continue in the next cell

Decisions:

* A change in the page (ticking a box, a button, the slider) and an assignment in Python
  (``panel.pools.value = ...``) run the same code, so the two behave identically. All / None /
  Reset change a whole filter at once and update the figures once.
* Unticking every option of a filter selects no version (it is not "no filter"); the figures then
  say "No versions match the current selection".
* The numbers come from :class:`~mavtools.views.aggregates.Aggregates`, built once per panel: a
  change sums pre-aggregated groups instead of re-analysing every version, and gives the same
  numbers as the analysis functions on :attr:`FilterPanel.selection` (see that module for the
  window and share semantics). :attr:`FilterPanel.selection` itself is computed only when read.
* The resource toggle (GPU / NPU) switches the allocation and usage figures; the summary shows
  both. It follows the selection: when a filter change leaves none of the shown accelerator's
  unit-hours and some of the other's, the other is shown (a click on the toggle is never undone).
  An empty figure says why, from the selection ("The 494 selected versions held no GPUs in the
  window (CPU only)"), not "No versions match" while versions are selected.
* Each option shows its count under the *other* filters ("pool-a (464)"), and options counted 0
  are hidden, so the lists narrow to what the rest of the selection leaves. *Reset all filters*
  changes every control under one refresh: each figure is redrawn once.
* Only figures whose data changed are sent to the page (:attr:`Dashboard.redraws` counts them),
  and a changed figure is redrawn in place (one ``Plotly.react``): an unchanged figure left alone
  is the cheapest redraw, and the next cheapest is a diff of the plot already on screen.
* v1 versions carry no user name: they are one option of the user filter, "(v1 job, no user)",
  and one bar of the usage by user. The region and project filters appear only when the frame
  holds more than one value (see :data:`~mavtools.views.aggregates.SHOWN_WHEN_SEVERAL`).
* Each figure is shown by a :class:`~mavtools.views.plot.PlotView` (an anywidget) holding the
  JSON plotly's ``plotly_mimetype`` renderer would show for its ``go.Figure``; an update assigns
  it once and the page calls ``Plotly.react``. Replacing an ``Output``'s figure instead made
  JupyterLab's plotly renderer build a new plot and draw it about four times per figure and
  click (benchmarks/bench_browser.py measures both). Not ``go.FigureWidget``: it applies a
  change of the number of traces as several messages and draws, and validates in Python.
* The filters sit in a column left of the figures and the allocation figure comes first, so it is
  visible without scrolling on a 1280x800 screen.
* Running versions hold their units until their row's snapshot time ``observed_at`` (``now=``
  overrides it), as in :mod:`mavtools.analysis`.

Stable CSS classes, for browser tests and custom styling:

=============================  ====================================================
``mavtools-dashboard``         the dashboard (an ``HBox``)
``mavtools-filter-panel``      the filter panel (a ``VBox``)
``mavtools-<name>-filter``     a filter (``outcome``, ``pool``, ``workspace``, ``flavor``,
                               ``user``; ``region``, ``project`` when shown): a
                               ``VBox`` with a ``mavtools-filter-count`` label, the buttons
                               ``mavtools-filter-all`` / ``-none`` / ``-reset`` and one
                               ``Checkbox`` per option
``mavtools-time-filter``       day range slider (``SelectionRangeSlider``)
``mavtools-resource``          GPU / NPU toggle (``ToggleButtons``)
``mavtools-usage-by``          usage by pool / workspace / flavor / user ... (``ToggleButtons``)
``mavtools-summary``           the summary line (an ``HTML`` widget; its text is ``str(summary)``)
``mavtools-figure-<name>``     the ``PlotView`` of each figure: ``allocation``, ``usage``,
                               ``versions``, ``durations`` (and ``queue``)
=============================  ====================================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import ipywidgets as w
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from mavtools.provenance import provenance
from mavtools.statuses import OUTCOMES
from mavtools.views import figures
from mavtools.views.aggregates import (
    FILTER_COLUMNS,
    FILTERS,
    NULL_LABELS,
    RESOURCES,
    SHOWN_WHEN_SEVERAL,
    Aggregates,
    Selection,
    Summary,
    select,
    summarize,
)
from mavtools.views.mime import mime_bundle
from mavtools.views.plot import PlotView

__all__ = [
    "FIGURE_NAMES",
    "FILTER_LABELS",
    "Dashboard",
    "FilterPanel",
    "MultiFilter",
    "Summary",
    "summarize",
]

#: The figures a :class:`Dashboard` shows, in order (also the suffix of their CSS class).
FIGURE_NAMES: Final = ("allocation", "usage", "versions", "durations")
#: Filter column -> (attribute of the panel, singular, plural): see
#: :data:`~mavtools.views.aggregates.FILTERS`, where a filter is added.
FILTER_LABELS: Final = FILTERS
#: Usage figure choices: label -> filter column (every filter but the outcome).
USAGE_BY: Final = {singular: c for c, (_, singular, _) in FILTERS.items() if c != "outcome"}
_NONE_LABEL: Final = "(none)"
_PLOTLY_MIMETYPE: Final = "application/vnd.plotly.v1+json"


# ------------------------------------------------------------------------------ one filter


class MultiFilter:
    """A check-box list with All / None / Reset and a count ("4 of 6 pools").

    Args:
        column: the frame column it filters.
        options: ``(label, value)`` pairs; value None stands for a missing value.
        singular, plural: what an option is, for the heading and the count.
        tooltips: value -> hover text of its box (for example the id behind a name).

    Attributes:
        value: the checked values, in option order (assign to change it).
        options: the ``(label, value)`` pairs.
        boxes: one ``ipywidgets.Checkbox`` per option.
        widget: the filter to display.
    """

    def __init__(
        self,
        column: str,
        options: Sequence[tuple[str, str | None]],
        singular: str,
        plural: str,
        tooltips: Mapping[str | None, str] | None = None,
    ) -> None:
        self.column = column
        self.options = list(options)
        self.plural = plural
        self._initial = tuple(v for _, v in self.options)
        self._listeners: list[Callable[[], None]] = []
        self._quiet = False
        self.boxes = [
            w.Checkbox(
                value=True,
                description=label,
                tooltip=(tooltips or {}).get(value, label),
                indent=False,
                layout=w.Layout(width="auto", margin="0"),
            )
            for label, value in self.options
        ]
        self.count = w.HTML()
        self.count.add_class("mavtools-filter-count")
        buttons = []
        for text, action, css in (
            ("All", self.select_all, "mavtools-filter-all"),
            ("None", self.select_none, "mavtools-filter-none"),
            ("Reset", self.reset, "mavtools-filter-reset"),
        ):
            button = w.Button(description=text, layout=w.Layout(width="auto", padding="0 6px"))
            button.add_class(css)
            button.on_click(lambda _b, action=action: action())
            buttons.append(button)
        # Long lists scroll inside a taller box (the options narrow to the selection anyway).
        height = "auto" if len(self.boxes) <= 8 else "220px"
        box_list = w.VBox(self.boxes, layout=w.Layout(max_height=height, overflow="auto"))
        self.widget = w.VBox(
            [w.HBox([self.count, *buttons]), box_list],
            layout=w.Layout(border="1px solid #ddd", padding="2px 6px", margin="2px 0"),
        )
        self.widget.add_class(f"mavtools-{singular}-filter")
        for box in self.boxes:
            box.observe(self._ticked, names="value")
        self._show_count()

    @property
    def value(self) -> tuple[str | None, ...]:
        """The checked values, in option order."""
        return tuple(v for (_, v), box in zip(self.options, self.boxes, strict=True) if box.value)

    @value.setter
    def value(self, values: Sequence[str | None]) -> None:
        wanted = set(values)
        unknown = wanted - set(self._initial)
        if unknown:
            raise ValueError(
                f"Not an option of the {self.plural} filter: {sorted(map(str, unknown))}"
            )
        self._quiet = True
        try:
            for (_, v), box in zip(self.options, self.boxes, strict=True):
                box.value = v in wanted
        finally:
            self._quiet = False
        self._ticked(None)

    @property
    def is_all(self) -> bool:
        """Whether every option is checked (the filter selects everything)."""
        return all(box.value for box in self.boxes)

    def select_all(self) -> None:
        """Check every option."""
        self.value = self._initial

    def select_none(self) -> None:
        """Uncheck every option (the filter then selects no version)."""
        self.value = ()

    def reset(self) -> None:
        """Back to the initial state (every option checked)."""
        self.value = self._initial

    def observe(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change of :attr:`value`."""
        self._listeners.append(callback)

    def show_counts(self, counts: Mapping[str | None, int]) -> None:
        """Write each option's count after its name and hide the options counted 0.

        ``counts`` are the versions each option holds under the *other* filters (see
        :meth:`~mavtools.views.aggregates.Aggregates.option_counts`), so the list narrows to
        what the rest of the selection leaves. A ticked option stays ticked while hidden.
        """
        for (label, value), box in zip(self.options, self.boxes, strict=True):
            n = counts.get(value, 0)
            text = f"{label} ({n:,})"
            if box.description != text:
                box.description = text
            display = None if n else "none"
            if box.layout.display != display:
                box.layout.display = display

    def _ticked(self, _change: Any) -> None:
        if self._quiet:
            return
        self._show_count()
        for callback in self._listeners:
            callback()

    def _show_count(self) -> None:
        n, total = sum(box.value for box in self.boxes), len(self.boxes)
        text = f"all {total} {self.plural}" if n == total else f"{n} of {total} {self.plural}"
        weight = "normal" if n == total else "bold"
        self.count.value = f"<span style='font-weight:{weight}'>{text}</span>"


# ------------------------------------------------------------------------------- filter panel


def _options(df: pl.DataFrame, column: str) -> list[str | None]:
    """The distinct values of a column, sorted, null last."""
    return df.get_column(column).cast(pl.String).unique().sort(nulls_last=True).to_list()


def _default_now(df: pl.DataFrame) -> datetime:
    """The latest snapshot time of the rows, else the provenance's, else the latest timestamp."""
    if "observed_at" in df.columns and df.height:
        observed = df.get_column("observed_at").max()
        if isinstance(observed, datetime):
            return observed
    info = provenance(df)
    if info is not None and info.fetched_at is not None:
        return info.fetched_at
    latest = df.select(
        pl.max_horizontal(
            pl.col("create_time").max(), pl.col("start_time").max(), pl.col("end_time").max()
        )
    ).item()
    return latest if latest is not None else datetime(1970, 1, 1, tzinfo=UTC)


class FilterPanel:
    """Check-box filters and a day window over a frame of versions, with a summary line.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.
        now: overrides every row's snapshot time (``observed_at``) as "now": versions that have
            not ended hold until then (default: each row's own snapshot time).
        names: workspace id -> name; names are shown, ids in the hover text.

    Attributes:
        outcomes, pools, workspaces, flavors, users, regions, projects: :class:`MultiFilter`
            (see :data:`FILTER_LABELS`); ``regions`` and ``projects`` are None when the frame
            holds a single value (the filter is not shown).
        filters: filter column -> :class:`MultiFilter`, the filters shown, in display order.
        days: ``ipywidgets.SelectionRangeSlider`` over days (UTC), both ends included.
        resource: ``ipywidgets.ToggleButtons`` GPU / NPU.
        summary_label: ``ipywidgets.HTML`` showing :attr:`summary` as plain text.
        aggregates: the :class:`~mavtools.views.aggregates.Aggregates` behind the numbers.
        widget: the panel to display.

    Example:
        >>> panel = FilterPanel(df)
        >>> panel.on_change(lambda selection: print(selection.height))
        >>> panel.pools.value = ("pool-a100-prod",)
    """

    def __init__(
        self,
        df: pl.DataFrame,
        *,
        now: datetime | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.frame = df
        # Analyses take "now" from each row's snapshot time (observed_at) unless it is given.
        self._now = now
        self.now = now if now is not None else _default_now(df)
        self.names = dict(names or {})
        self.aggregates = Aggregates(df, now=now)
        self.filters: dict[str, MultiFilter] = {}
        for column in FILTER_COLUMNS:
            attribute, singular, plural = FILTER_LABELS[column]
            values = _options(df, column)
            if column in SHOWN_WHEN_SEVERAL and len(values) < 2:
                setattr(self, attribute, None)  # one project in one region: nothing to choose
                continue
            if column == "outcome":
                values = [o for o in OUTCOMES if o in values]
            shown = self.names if column == "workspace_id" else {}
            missing = NULL_LABELS.get(column, _NONE_LABEL)
            options = [(missing if v is None else shown.get(v, v), v) for v in values]
            tips: dict[str | None, str] = {
                v: f"{shown[v]} (id {v})" for v in values if v is not None and v in shown
            }
            self.filters[column] = MultiFilter(column, options, singular, plural, tips)
            setattr(self, attribute, self.filters[column])
        self.days = self._day_slider(df)
        self.days_label = w.HTML(value=self._days_text())
        self.resource = w.ToggleButtons(
            options=[(RESOURCES[r][2] + "s", r) for r in RESOURCES],
            value=self._default_resource(df),
            description="Show",
            style={"button_width": "70px"},
        )
        self.resource.add_class("mavtools-resource")
        self._quiet = False
        self._holding = False  # set while several controls change at once (Reset): one refresh
        self._listeners: list[Callable[[pl.DataFrame], None]] = []
        self._hooks: list[Callable[[], None]] = []
        self._selection: pl.DataFrame | None = df
        self._summary = self.aggregates.summary(self.state())
        # An HTML widget wraps (a Label cuts a long line short); the text has no markup.
        self.summary_label = w.HTML(value=str(self._summary), layout=w.Layout(width="auto"))
        self.summary_label.add_class("mavtools-summary")
        reset = w.Button(description="Reset all filters", layout=w.Layout(width="auto"))
        reset.on_click(lambda _b: self.reset())
        self.widget = w.VBox(
            [
                self.resource,
                w.VBox([self.days, self.days_label]),
                *(f.widget for f in self.filters.values()),
                reset,
            ],
            # A fixed width (no flex): the figures' side does not trade width with the panel.
            layout=w.Layout(width="330px", min_width="300px", flex="0 0 auto"),
        )
        self.widget.add_class("mavtools-filter-panel")
        for multi in self.filters.values():
            multi.observe(self.refresh)
        self.days.observe(lambda _c: self._days_changed(), names="value")
        # A click on the toggle is the reader's choice: it is not switched back.
        self.resource.observe(lambda _c: self._refresh(follow=False), names="value")
        self._show_option_counts()

    @staticmethod
    def _default_resource(df: pl.DataFrame) -> str:
        gpu, npu = df.select(pl.col("gpu_hours").sum(), pl.col("npu_hours").sum()).row(0)
        return "npu" if (npu or 0) > (gpu or 0) else "gpu"

    @staticmethod
    def _day_slider(df: pl.DataFrame) -> w.SelectionRangeSlider:
        lo, hi = df.select(lo=pl.col("create_time").min(), hi=pl.col("create_time").max()).row(0)
        first = lo.astimezone(UTC).date() if lo is not None else date(1970, 1, 1)
        last = hi.astimezone(UTC).date() if hi is not None else first
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        slider = w.SelectionRangeSlider(
            options=[(d.isoformat(), d) for d in days],
            index=(0, len(days) - 1),
            description="Days (UTC)",
            readout=False,
            style={"description_width": "initial"},
            layout=w.Layout(width="95%"),
        )
        slider.add_class("mavtools-time-filter")
        return slider

    @property
    def controls(self) -> tuple[Any, ...]:
        """The filters, in display order (multi-selects, then the day window)."""
        return (*self.filters.values(), self.days)

    def state(self) -> Selection:
        """The current filters as a :class:`~mavtools.views.aggregates.Selection`."""
        chosen = {c: f.value for c, f in self.filters.items() if not f.is_all}
        n_days = len(self.days.options)
        if n_days and self.days.index != (0, n_days - 1):
            first, last = self.days.value
            return Selection(chosen, first, last)
        return Selection(chosen)

    @property
    def selection(self) -> pl.DataFrame:
        """The versions the filters select (a new frame, computed when read; no provenance)."""
        if self._selection is None:
            self._selection = select(self.frame, self.state(), now=self._now)
        return self._selection

    @property
    def summary(self) -> Summary:
        """The :class:`~mavtools.views.aggregates.Summary` of :attr:`selection`."""
        return self._summary

    def on_change(self, callback: Callable[[pl.DataFrame], None]) -> None:
        """Call ``callback(selection)`` after every change of a filter."""
        self._listeners.append(callback)

    def on_state(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change of a filter (without building the selection)."""
        self._hooks.append(callback)

    def reset(self) -> None:
        """Every filter back to everything, and the whole time range: one refresh, so the
        figures are redrawn once (not once per filter)."""
        self._holding = True
        try:
            for multi in self.filters.values():
                multi.reset()
            n_days = len(self.days.options)
            if n_days:
                self.days.index = (0, n_days - 1)
            self.days_label.value = self._days_text()
            self.resource.value = self._default_resource(self.frame)
        finally:
            self._holding = False
        self.refresh()

    def refresh(self) -> None:
        """Apply the filters again and notify the listeners.

        The GPU / NPU toggle follows the selection: when the selection holds none of the shown
        accelerator's unit-hours and some of the other's, the other is shown.
        """
        self._refresh(follow=True)

    def _refresh(self, *, follow: bool) -> None:
        if self._holding:
            return
        self._selection = None
        state = self.state()
        self._summary = self.aggregates.summary(state)
        hours = self._summary.unit_hours
        shown = self.resource.value
        other = next((r for r in RESOURCES if r != shown), shown)
        if follow and not hours.get(shown) and hours.get(other):
            self._holding = True  # the toggle's own observer would refresh a second time
            try:
                self.resource.value = other
            finally:
                self._holding = False
        self.summary_label.value = str(self._summary)
        self._show_option_counts(state)
        for hook in self._hooks:
            hook()
        for callback in self._listeners:
            callback(self.selection)

    def _show_option_counts(self, state: Selection | None = None) -> None:
        state = state if state is not None else self.state()
        for column, multi in self.filters.items():
            multi.show_counts(self.aggregates.option_counts(state, column))

    def _days_changed(self) -> None:
        if self._quiet or self._holding:
            return
        self.days_label.value = self._days_text()
        self.refresh()

    def _days_text(self) -> str:
        if not self.days.options:
            return ""
        first, last = self.days.value
        return f"{first.isoformat()} to {last.isoformat()} (every version alive in these days)"


# ----------------------------------------------------------------------------------- dashboard


def _figure_view(name: str) -> PlotView:
    view = PlotView(layout=w.Layout(width="100%"))
    view.add_class(f"mavtools-figure-{name}")
    return view


@functools.cache
def _template(name: str) -> dict[str, Any]:
    return pio.templates[name].to_plotly_json()


def _display_data(spec: figures.Spec, renderers: str | None = None) -> tuple[dict[str, Any], ...]:
    """The display data of a figure spec as IPython would show its ``go.Figure``.

    The same bundle ``go.Figure._repr_mimebundle_`` builds with plotly's default renderer
    (``application/vnd.plotly.v1+json`` in a kernel), with the default template applied, but
    without building and validating the figure object tree (most of an update's time).
    """
    layout = spec["layout"]
    name = pio.templates.default
    if name and "template" not in layout:
        layout = {**layout, "template": _template(name)}
    # The config rides in the figure's JSON (plotly's mimetype renderer keeps it): no cloud link.
    fig_dict = {"data": spec["data"], "layout": layout, "config": figures.CONFIG}
    bundle = mime_bundle(fig_dict, renderers)  # plotly's renderers, by their public names
    return ({"output_type": "display_data", "data": bundle or {}, "metadata": {}},)


def _plotly_json(spec: figures.Spec) -> dict[str, Any]:
    """The figure a :class:`~mavtools.views.plot.PlotView` shows: what ``go.Figure`` shows in a
    kernel (plotly's ``plotly_mimetype`` renderer), whatever the default renderer is."""
    (output,) = _display_data(spec, renderers="plotly_mimetype")
    figure: dict[str, Any] = output["data"][_PLOTLY_MIMETYPE]
    return figure


class Dashboard:
    """The filter panel with figures that update in place when a filter changes.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`, usually from
            :func:`mavtools.load_versions`.
        now: overrides every row's snapshot time (``observed_at``): versions that have not ended
            hold until then. :attr:`now` shows the latest snapshot time when it is not given.
        capacity: pool id -> units (GPUs or NPUs, whichever the pool has): each pool's panel of
            the allocation figure draws its own capacity line.
        names: workspace id -> name (``Client.workspace_names()``); ids stay in the hover text.
        live: what the "Now" panel on top reads (a client, or a ``QueueNow`` already read; see
            :class:`mavtools.views.queue.NowPanel`); None: no Now panel.

    Attributes:
        panel: the :class:`FilterPanel`.
        usage_by: ``ipywidgets.ToggleButtons`` choosing the usage figure's grouping.
        specs: figure name (:data:`FIGURE_NAMES`) -> the figure shown, as plain data.
        outputs: figure name -> the :class:`~mavtools.views.plot.PlotView` showing it (its
            ``figure`` is the plotly JSON on screen).
        colors: pool -> colour, fixed for the dashboard (workspaces, users and flavors take one
            colour per kind, :data:`~mavtools.views.figures.KIND_COLORS`).
        redraws: how many figures were sent to the page so far (unchanged ones are not).
        widget: the whole dashboard (an ``HBox``: filters left, figures right).

    Example:
        >>> dashboard = Dashboard(df, capacity={"pool-a100-prod": 16})
        >>> dashboard.panel.outcomes.value = ("failed",)
        >>> dashboard.summary.versions, dashboard.figures["allocation"]
    """

    def __init__(
        self,
        df: pl.DataFrame,
        *,
        now: datetime | None = None,
        capacity: Mapping[str, int] | None = None,
        names: Mapping[str, str] | None = None,
        live: Any = None,
    ) -> None:
        self.panel = FilterPanel(df, now=now, names=names)
        self.now: datetime = self.panel.now
        self.capacity = dict(capacity) if capacity else None
        self.names = self.panel.names
        cells = self.panel.aggregates.cells
        # Pools have colours of their own; workspaces, users and flavors are named on their
        # axis and drawn in one colour per kind (figures.KIND_COLORS): no colour means two things.
        self.colors: dict[str, str] = figures.palette(
            cells["pool_id"].cast(pl.String).unique().to_list()
        )
        lo, hi = df.select(lo=pl.col("create_time").min(), hi=pl.col("create_time").max()).row(0)
        self._covered = (lo, max(hi, self.now)) if lo is not None else None
        self.usage_by = w.ToggleButtons(
            options=[(label, c) for label, c in USAGE_BY.items() if c in self.panel.filters],
            value="workspace_id",
            description="Usage by",
            style={"button_width": "90px"},
        )
        self.usage_by.add_class("mavtools-usage-by")
        self.specs: dict[str, figures.Spec] = {}
        #: Figures sent to the page so far (each one a redraw in the browser).
        self.redraws = 0
        self.outputs = {name: _figure_view(name) for name in FIGURE_NAMES}
        right = w.VBox(
            [
                self.panel.summary_label,
                self.outputs["allocation"],
                self.usage_by,
                *(self.outputs[n] for n in FIGURE_NAMES[1:]),
            ],
            # Basis 0, not auto: with auto the plots' own width was the basis, so a change of
            # the panel (options hidden) shrank them, which shrank the basis, and so on: every
            # figure redrew five more times, a few pixels narrower each time.
            layout=w.Layout(flex="1 1 0%", width="auto", min_width="0"),
        )
        self.widget = w.HBox([self.panel.widget, right], layout=w.Layout(width="100%"))
        self.widget.add_class("mavtools-dashboard")
        self.panel.on_state(self._update)  # the resource toggle refreshes the panel too
        self.usage_by.observe(lambda _c: self._update(("usage",)), names="value")
        self._update()
        from mavtools.views.queue import QueueView  # queue length beside allocation, Now on top

        self.queue = QueueView(self, live)

    @property
    def selection(self) -> pl.DataFrame:
        """The versions the filters select; continue with it in the next cell."""
        return self.panel.selection

    @property
    def summary(self) -> Summary:
        """The summary of the selection (also shown above the figures)."""
        return self.panel.summary

    def allocation_bin(self) -> str:
        """The allocation bin of this dashboard (fixed by the frame's span)."""
        return self.panel.aggregates.every

    def figure_data(self, names: Sequence[str] = FIGURE_NAMES) -> dict[str, pl.DataFrame]:
        """The aggregated rows each figure shows, for the current filters."""
        agg, state, resource = self.panel.aggregates, self.panel.state(), self.panel.resource.value
        data = {
            "allocation": lambda: agg.allocation(state, resource=resource),
            "usage": lambda: agg.usage(state, by=self.usage_by.value, resource=resource),
            "versions": lambda: agg.version_counts(state, by="outcome"),
            "durations": lambda: agg.duration_histogram(state, by="outcome"),
        }
        return {name: data[name]() for name in names}

    def build_specs(self, names: Sequence[str] = FIGURE_NAMES) -> dict[str, figures.Spec]:
        """The dashboard's figures for the current filters, as plain data (see figures.Spec)."""
        data, resource = self.figure_data(names), self.panel.resource.value
        state = self.panel.state()
        covered = self._covered
        if covered is not None and state.start is not None and state.end is not None:
            covered = (max(covered[0], state.start), min(covered[1], state.end))
        held, finished = self._empty_messages()
        builders: dict[str, Callable[[pl.DataFrame], figures.Spec]] = {
            "allocation": lambda d: figures.allocation_spec(
                d, self.capacity, resource=resource, colors=self.colors, empty=held
            ),
            "usage": lambda d: figures.usage_spec(
                d, names=self._usage_names(), colors=self.colors, empty=held,
            ),
            "versions": lambda d: figures.versions_spec(d, covered=covered),
            "durations": lambda d: figures.durations_spec(d, empty=finished),
        }  # fmt: skip
        return {name: builders[name](frame) for name, frame in data.items()}

    def _empty_messages(self) -> tuple[str, str]:
        """What an empty figure says, from the selection: (no units held, nothing finished)."""
        summary, resource = self.summary, self.panel.resource.value
        if not summary.versions:
            return figures.EMPTY_MESSAGE, figures.EMPTY_MESSAGE
        n = f"{summary.versions:,} selected version" + ("s" if summary.versions > 1 else "")
        unit = RESOURCES[resource][2]
        others = [RESOURCES[r][2] for r in RESOURCES if r != resource and summary.unit_hours[r]]
        held = f"The {n} held no {unit}s in the window" + (
            f" (they held {others[0]}s: choose {others[0]}s above)" if others else " (CPU only)"
        )
        finished = f"None of the {n} has finished" if not summary.finished else held
        return held, finished

    def _usage_names(self) -> dict[str, str]:
        """Names of the usage figure's bars: workspace names, or what a missing value means."""
        by = self.usage_by.value
        names = dict(self.names) if by == "workspace_id" else {}
        if by in NULL_LABELS:
            names[_NONE_LABEL] = NULL_LABELS[by]  # the figure labels a missing value "(none)"
        return names

    @property
    def figures(self) -> dict[str, go.Figure]:
        """Figure name (:data:`FIGURE_NAMES`) -> the ``go.Figure`` currently shown (built when
        read: updates only build the plain data)."""
        return {name: figures.Figure(spec) for name, spec in self.specs.items()}

    def _update(self, names: Sequence[str] = FIGURE_NAMES) -> None:
        built = self.build_specs(names)
        # Only a figure whose data changed is sent: the browser redraws nothing else.
        changed = {n: spec for n, spec in built.items() if self.specs.get(n) != spec}
        self.specs = {**self.specs, **changed}
        self.redraws += len(changed)
        for name, spec in changed.items():
            self.outputs[name].figure = _plotly_json(spec)  # one Plotly.react in the page

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # The plain-text fallback (kept in saved notebooks, compared by nbval) says what is shown.
        bundle["text/plain"] = f"Dashboard: {self.summary}"
        return bundle
