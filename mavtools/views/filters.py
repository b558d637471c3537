"""The filter panel: check-box filters and a day window over versions, with a summary line.

:class:`FilterPanel` selects versions by outcome, pool, workspace, flavor and user, and by region
and project when the frame holds several (check-box lists, all checked at first, each with
All / None / Reset and a count such as "4 of 6 pools"), and by a window
of whole days (UTC) that selects every version whose life overlaps it. A summary line (versions,
GPU- and NPU-hours in the window, failed and canceled shares of finished versions) follows the
selection. :class:`~mavtools.views.widgets.Dashboard` adds figures that follow it (its module
says how the two behave together; the panel's CSS classes are listed there)::

    >>> panel = FilterPanel(df, names=client.workspace_names())
    >>> panel.on_change(lambda selection: print(selection.height))
    >>> panel.pools.value = ("pool-a100-prod",)   # the same as ticking only that box
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import ipywidgets as w
import polars as pl

from mavtools.provenance import provenance
from mavtools.statuses import OUTCOMES
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
)

__all__ = ["FILTER_LABELS", "NONE_LABEL", "FilterPanel", "MultiFilter"]

#: Filter column -> (attribute of the panel, singular, plural): see
#: :data:`~mavtools.views.aggregates.FILTERS`, where a filter is added.
FILTER_LABELS: Final = FILTERS
#: The label of a missing value, where :data:`~mavtools.views.aggregates.NULL_LABELS` says none.
NONE_LABEL: Final = "(none)"


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
            missing = NULL_LABELS.get(column, NONE_LABEL)
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
        for hook in self._hooks:
            hook()
        # After the figures: the page handles messages in order, and the figures are what a
        # click is for (the counts follow a few milliseconds later).
        self._show_option_counts(state)
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
