"""A dashboard of figures that follow a filter panel, for Jupyter notebooks.

:class:`~mavtools.views.filters.FilterPanel` (in :mod:`mavtools.views.filters`) selects
versions by outcome, pool, workspace, flavor and user, and by region and project when the
frame holds several (check-box lists, all checked at first, each with All / None / Reset and a
count such as "4 of 6 pools"), and by a window of whole days (UTC) that selects every version
whose life overlaps it. A summary line (versions, GPU- and NPU-hours in the window, failed and
canceled shares of finished versions) follows the selection. :class:`Dashboard` adds figures
that are rebuilt whenever a filter changes::

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
  numbers as the analysis functions on the panel's ``selection`` (see that module for the
  window and share semantics). The ``selection`` itself is computed only when read.
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import ipywidgets as w
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from mavtools.views import distributions, style, timeseries
from mavtools.views.aggregates import (
    FILTERS,
    NULL_LABELS,
    RESOURCES,
    Selection,
    Summary,
    summarize,
)
from mavtools.views.filters import NONE_LABEL, FilterPanel
from mavtools.views.mime import PLOTLY_MIMETYPE, mime_bundle
from mavtools.views.plot import PlotView

__all__ = ["FIGURE_NAMES", "Dashboard", "Summary", "summarize"]

#: The figures a :class:`Dashboard` shows, in order (also the suffix of their CSS class).
FIGURE_NAMES: Final = ("allocation", "usage", "versions", "durations")
#: Usage figure choices: label -> filter column (every filter but the outcome).
USAGE_BY: Final = {singular: c for c, (_, singular, _) in FILTERS.items() if c != "outcome"}


# ----------------------------------------------------------------------------------- dashboard


def _figure_view(name: str) -> PlotView:
    view = PlotView(layout=w.Layout(width="100%"), filename=f"mavtools-{name}")
    view.add_class(f"mavtools-figure-{name}")
    return view


@functools.cache
def _template(name: str) -> dict[str, Any]:
    return pio.templates[name].to_plotly_json()


def _display_data(spec: style.Spec, renderers: str | None = None) -> tuple[dict[str, Any], ...]:
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
    fig_dict = {"data": spec["data"], "layout": layout, "config": style.CONFIG}
    bundle = mime_bundle(fig_dict, renderers)  # plotly's renderers, by their public names
    return ({"output_type": "display_data", "data": bundle or {}, "metadata": {}},)


def _plotly_json(spec: style.Spec) -> dict[str, Any]:
    """The figure a :class:`~mavtools.views.plot.PlotView` shows: what ``go.Figure`` shows in a
    kernel (plotly's ``plotly_mimetype`` renderer), whatever the default renderer is."""
    (output,) = _display_data(spec, renderers="plotly_mimetype")
    figure: dict[str, Any] = output["data"][PLOTLY_MIMETYPE]
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
            colour per kind, :data:`~mavtools.views.style.KIND_COLORS`).
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
        # axis and drawn in one colour per kind (style.KIND_COLORS): no colour means two things.
        self.colors: dict[str, str] = style.palette(
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
        self.specs: dict[str, style.Spec] = {}
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
        from mavtools.views.queue import QueueView  # queue length beside allocation, Now on top

        self.queue = QueueView(self, live)  # draws its figure: _update sends it no more
        self._update()

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
        return dict(self._data(names, self.panel.state()))

    def _data(self, names: Sequence[str], state: Selection) -> Iterator[tuple[str, pl.DataFrame]]:
        agg, resource = self.panel.aggregates, self.panel.resource.value
        data = {
            "allocation": lambda: agg.allocation(state, resource=resource),
            "usage": lambda: agg.usage(state, by=self.usage_by.value, resource=resource),
            "versions": lambda: agg.version_counts(state, by="outcome"),
            "durations": lambda: agg.duration_histogram(state, by="outcome"),
        }
        for name in names:
            yield name, data[name]()

    def build_specs(self, names: Sequence[str] = FIGURE_NAMES) -> dict[str, style.Spec]:
        """The dashboard's figures for the current filters, as plain data (see style.Spec)."""
        return dict(self._specs(names))

    def _specs(self, names: Sequence[str]) -> Iterator[tuple[str, style.Spec]]:
        """The figures one at a time (each built when asked for), what they share computed once:
        the filters' state, the window the data cover and what an empty figure says."""
        resource, state = self.panel.resource.value, self.panel.state()
        covered = self._covered
        if covered is not None and state.start is not None and state.end is not None:
            covered = (max(covered[0], state.start), min(covered[1], state.end))
        held, finished = self._empty_messages()
        builders: dict[str, Callable[[pl.DataFrame], style.Spec]] = {
            "allocation": lambda d: timeseries.allocation_spec(
                d, self.capacity, resource=resource, colors=self.colors, empty=held
            ),
            "usage": lambda d: timeseries.usage_spec(
                d, names=self._usage_names(), colors=self.colors, empty=held,
            ),
            "versions": lambda d: timeseries.versions_spec(d, covered=covered),
            "durations": lambda d: distributions.durations_spec(d, empty=finished),
        }  # fmt: skip
        for name, frame in self._data(names, state):
            yield name, builders[name](frame)

    def _empty_messages(self) -> tuple[str, str]:
        """What an empty figure says, from the selection: (no units held, nothing finished)."""
        summary, resource = self.summary, self.panel.resource.value
        if not summary.versions:
            return style.EMPTY_MESSAGE, style.EMPTY_MESSAGE
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
            names[NONE_LABEL] = NULL_LABELS[by]  # the figure labels a missing value "(none)"
        return names

    @property
    def figures(self) -> dict[str, go.Figure]:
        """Figure name (:data:`FIGURE_NAMES`) -> the ``go.Figure`` currently shown (built when
        read: updates only build the plain data)."""
        return {name: style.Figure(spec) for name, spec in self.specs.items()}

    def _update(self, names: Sequence[str] = FIGURE_NAMES) -> None:
        # One figure at a time, built then sent: the page draws the first (on screen) while
        # the kernel builds the next.
        for name, spec in self._specs(names):
            # Only a figure whose data changed is sent: the browser redraws nothing else.
            if self.specs.get(name) != spec:
                self.specs = {**self.specs, name: spec}
                self.redraws += 1
                self.outputs[name].figure = _plotly_json(spec)  # one Plotly.react in the page
            if name == "allocation":
                self.queue.update()  # right below it, on screen too: before the others

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # The plain-text fallback (kept in saved notebooks, compared by nbval) says what is shown.
        bundle["text/plain"] = f"Dashboard: {self.summary}"
        return bundle
