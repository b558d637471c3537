"""Pre-aggregated versions for a dashboard: each filter change only sums the selected groups.

:class:`Aggregates` is built once per dashboard. It groups the versions into *cells* (one per
distinct combination of the :data:`FILTER_COLUMNS`) and keeps, per cell, the results of the
:mod:`mavtools.analysis` functions the dashboard shows, computed with the cell (and the days a
version's life spans) as extra ``by`` columns. A filter change then selects cells and days and sums:
a few thousand rows instead of a million versions, and numbers equal to the analysis functions on
the filtered frame because they *are* those functions' results, summed over disjoint groups.

Decisions:

* **The time window selects by overlap**, as :func:`mavtools.overlapping`: the window
  ``[start, end)`` (whole UTC days) selects every version whose run overlaps it, and every version
  created in it. Allocation in the window is clipped to it, exactly as
  ``mt.allocation(df, start=start, end=end)``. Versions created per week stay *by creation*
  (weeks inside the window).
* **Allocation shows the time-weighted mean**, which adds up over groups. The peak within a bin
  does not (the peak of a sum is not the sum of peaks), so the dashboard does not show it;
  :func:`mavtools.allocation` does.
* **One bin per dashboard**, chosen from the frame's whole span (1 h up to 14 days, 6 h up to 120
  days, else 1 day); all of them divide a day, so every window of whole days is whole bins.
* **Shares in the summary ignore the outcome filter**: failed and canceled shares are over every
  finished version the *other* filters select, so selecting only "failed" does not read "100 %".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

import polars as pl

from mavtools import analysis
from mavtools.analysis.timeline import held_until, with_frame_now

__all__ = [
    "FILTERS",
    "FILTER_COLUMNS",
    "NULL_LABELS",
    "RESOURCES",
    "SHOWN_WHEN_SEVERAL",
    "Aggregates",
    "Selection",
    "Summary",
    "bin_for_span",
    "select",
    "summarize",
]

#: An accelerator (kept here too: the analysis package is being split).
Resource = Literal["gpu", "npu"]
#: The multi-select filters of a dashboard, in display order: column -> (attribute of the
#: ``FilterPanel``, what one option is, what several are). Adding a filter is this one line: the
#: panel, the pre-aggregation, the counts and the usage choices follow.
FILTERS: Final[dict[str, tuple[str, str, str]]] = {
    "outcome": ("outcomes", "outcome", "outcomes"),
    "pool_id": ("pools", "pool", "pools"),
    "workspace_id": ("workspaces", "workspace", "workspaces"),
    "flavor_code": ("flavors", "flavor", "flavors"),
    "user_name": ("users", "user", "users"),  # issue 15: who ran the job (v2 jobs only)
    "region": ("regions", "region", "regions"),  # issue 11: several projects and regions
    "project_id": ("projects", "project", "projects"),
}
FILTER_COLUMNS: Final = tuple(FILTERS)
#: Filters a panel shows only when the frame holds more than one value: one project in one region
#: (the usual notebook) has nothing to choose there. They are still cells of the pre-aggregation.
SHOWN_WHEN_SEVERAL: Final = frozenset({"region", "project_id"})
#: What a missing value of a filter column means, where "(none)" would not say it: v1 versions
#: carry no user name (only v2 jobs do), so they form one option of the user filter. (A v2 job
#: without a user name, which the samples and the API reference do not show, would join it.)
NULL_LABELS: Final[dict[str, str]] = {"user_name": "(v1 job, no user)"}
#: Accelerators a dashboard can show: resource -> (units column, hours column, display unit).
RESOURCES: Final[dict[Resource, tuple[str, str, str]]] = {
    "gpu": ("gpu_num", "gpu_hours", "GPU"),
    "npu": ("npu_num", "npu_hours", "NPU"),
}
_BINS: Final = ((timedelta(days=14), "1h"), (timedelta(days=120), "6h"))
_LONG_BIN: Final = "1d"
_FINISHED: Final = ("succeeded", "failed", "canceled")
_DAY: Final = pl.Date
_EPOCH: Final = date(1970, 1, 1)


def bin_for_span(span: timedelta) -> str:
    """The allocation bin of a dashboard whose frame spans ``span``.

    Example:
        >>> bin_for_span(timedelta(days=90))
        '6h'
    """
    return next((every for limit, every in _BINS if span <= limit), _LONG_BIN)


@dataclass(frozen=True)
class Selection:
    """What the filters choose: allowed values per filter column and a window of whole days.

    Attributes:
        chosen: filter column -> the allowed values (None stands for a missing value); a column
            that is absent is not filtered.
        first_day, last_day: the window, both days included (UTC); None: no window.
    """

    chosen: Mapping[str, Sequence[str | None]]
    first_day: date | None = None
    last_day: date | None = None

    @property
    def start(self) -> datetime | None:
        """The window's start (midnight UTC of ``first_day``)."""
        return None if self.first_day is None else _midnight(self.first_day)

    @property
    def end(self) -> datetime | None:
        """The window's end, excluded (midnight UTC after ``last_day``)."""
        return None if self.last_day is None else _midnight(self.last_day + timedelta(days=1))


@dataclass(frozen=True)
class Summary:
    """What the current selection holds.

    Attributes:
        versions: versions selected.
        total: versions in the whole frame.
        unit_hours: resource ("gpu", "npu") -> unit-hours held inside the window by the selection
            (the allocation's area: equal to the sum of ``allocated_mean`` x bin hours).
        finished: finished versions the filters other than the outcome select.
        failed, canceled: of those, how many failed and how many were canceled.
    """

    versions: int
    total: int
    unit_hours: Mapping[str, float]
    finished: int
    failed: int
    canceled: int

    @property
    def gpu_hours(self) -> float:
        """GPU-hours in the window (``unit_hours["gpu"]``; the attribute of earlier releases)."""
        return self.unit_hours.get("gpu", 0.0)

    @property
    def failed_share(self) -> float | None:
        """``failed / finished``; None when nothing finished."""
        return self.failed / self.finished if self.finished else None

    @property
    def canceled_share(self) -> float | None:
        """``canceled / finished``; None when nothing finished."""
        return self.canceled / self.finished if self.finished else None

    def __str__(self) -> str:
        if not self.versions:
            return f"No versions match the current selection (0 of {self.total:,})"
        hours = " | ".join(
            f"{self.unit_hours.get(r, 0.0):,.1f} {RESOURCES[r][2]}-hours" for r in RESOURCES
        )
        if self.finished:
            shares = (
                f"of {self.finished:,} finished: {self.failed_share:.1%} failed, "
                f"{self.canceled_share:.1%} canceled"
            )
        else:
            shares = "no finished versions"
        return f"{self.versions:,} of {self.total:,} versions | {hours} | {shares}"


def _area_hours(every: str) -> pl.Expr:
    """Unit-hours of an allocation row: mean over the covered part x covered hours."""
    span = pl.col("time").dt.offset_by(every) - pl.col("time")
    covered = span.dt.total_milliseconds() / 3_600_000 * pl.col("coverage")
    return (pl.col("allocated_mean") * covered).fill_null(0.0)


def _snapshot(df: pl.DataFrame) -> datetime | None:
    """The latest snapshot time of the rows (``observed_at``), else their latest timestamp."""
    columns = [
        c for c in ("observed_at", "create_time", "start_time", "end_time") if c in df.columns
    ]
    if "observed_at" in columns and df.get_column("observed_at").null_count() < df.height:
        columns = ["observed_at"]
    latest = df.select(pl.max_horizontal(pl.col(c).max() for c in columns)).item()
    return latest if isinstance(latest, datetime) else None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _member(column: str, chosen: Sequence[str | None]) -> pl.Expr:
    named = [v for v in chosen if v is not None]
    expr = pl.col(column).cast(pl.String).is_in(named) if named else pl.lit(False)
    return expr | pl.col(column).is_null() if None in chosen else expr


def select(df: pl.DataFrame, selection: Selection, now: datetime | None = None) -> pl.DataFrame:
    """The versions of ``selection`` in a versions frame (the window as :func:`mavtools.overlapping`).

    Without ``now``, rows that have no ``observed_at`` (a frame built by hand) come back stamped
    with the whole frame's "now", as :func:`mavtools.overlapping` does, so the selection is
    analysed as it was in the frame.

    Example:
        >>> select(df, Selection({"pool_id": ["pool-a"]}, date(2026, 9, 1), date(2026, 9, 30)))
    """
    if now is None:  # rows without a snapshot time keep the whole frame's "now", not the subset's
        df = with_frame_now(df)
    parts = [_member(c, values) for c, values in selection.chosen.items()]
    chosen = df.filter(pl.all_horizontal(parts)) if parts else df
    if selection.start is None or selection.end is None:
        return chosen
    return analysis.overlapping(chosen, start=selection.start, end=selection.end, now=now)


def summarize(
    df: pl.DataFrame,
    total: int | None = None,
    *,
    now: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    every: str = "1h",
) -> Summary:
    """The :class:`Summary` of a frame of selected versions, straight from the analysis functions.

    Args:
        df: the selected versions.
        total: versions in the whole frame (default: ``df.height``).
        now: when the data was fetched (as for :func:`mavtools.allocation`).
        start, end: the window; unit-hours are those held inside it.
        every: the allocation bin used to sum unit-hours (any bin gives the same sum).

    The failed and canceled shares are over the finished versions of ``df``; pass a frame
    filtered by everything but the outcome to get the dashboard's shares.

    Example:
        >>> print(summarize(df.filter(pl.col("pool_id") == "pool-a100-prod"), df.height))
    """
    hours: dict[str, float] = {}
    for resource in RESOURCES:
        alloc = analysis.allocation(
            df, every=every, start=start, end=end, now=now, resource=resource
        )
        hours[resource] = float(alloc.select(_area_hours(every).sum()).item() or 0.0)
    counts = df.select(
        finished=pl.col("outcome").is_in(_FINISHED).sum(),
        failed=(pl.col("outcome") == "failed").sum(),
        canceled=(pl.col("outcome") == "canceled").sum(),
    ).row(0, named=True)
    return Summary(
        versions=df.height,
        total=df.height if total is None else total,
        unit_hours=hours,
        finished=int(counts["finished"] or 0),
        failed=int(counts["failed"] or 0),
        canceled=int(counts["canceled"] or 0),
    )


class Aggregates:
    """The analyses a dashboard shows, pre-aggregated per cell and life span in days.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.
        now: when the data was fetched; versions that have not ended hold until then.
        every: the allocation bin (default: :func:`bin_for_span` of the frame's span).

    Example:
        >>> agg = Aggregates(df, now=fetched_at)
        >>> agg.allocation(Selection({"pool_id": ["pool-a100-prod"]}), resource="gpu")
    """

    def __init__(
        self, df: pl.DataFrame, *, now: datetime | None = None, every: str | None = None
    ) -> None:
        self.now = now
        self.total = df.height
        lo, hi = df.select(lo=pl.col("create_time").min(), hi=pl.col("create_time").max()).row(0)
        span = (max(hi, now or hi) - lo) if lo is not None else timedelta(0)
        self.every = every or bin_for_span(span)
        # One id per combination of filter values: the cells a filter change selects.
        self._ids: dict[tuple[tuple[str, tuple[str | None, ...]], ...], pl.Series] = {}
        self.cells = (
            df.select(FILTER_COLUMNS)
            .unique()
            .sort(FILTER_COLUMNS, nulls_last=True)
            .with_row_index("_cell")
        )
        framed = df.join(self.cells, on=list(FILTER_COLUMNS), how="left", nulls_equal=True)
        # The days that decide whether a window selects a version (see :func:`select`): created
        # in the window (_c), or a run [start, held_until) that overlaps it (_s, _e: the days of
        # its start and of its last held millisecond; null without a run).
        held = held_until(framed, now)
        start_ms = pl.col("start_time").dt.epoch("ms")
        ran = start_ms.is_not_null() & held.is_not_null() & (held > start_ms)
        day = lambda ms: ms.cast(pl.Datetime("ms", "UTC")).dt.date()  # noqa: E731
        framed = framed.with_columns(
            _c=pl.col("create_time").dt.date(),
            _s=pl.when(ran).then(pl.col("start_time").dt.date()),
            _e=pl.when(ran).then(day(held - 1)),
        )
        keys = ["_cell", "_c", "_s", "_e"]
        self._counts = framed.group_by(keys).agg(
            versions=pl.len().cast(pl.Int64),
            **{f"{hours}": pl.col(hours).sum() for _, hours, _ in RESOURCES.values()},
            **{
                f"{units}_using": (pl.col(units) > 0).sum().cast(pl.Int64)
                for units, _, _ in RESOURCES.values()
            },
        )
        self._hist = analysis.duration_histogram(framed, by=keys)
        # The dashboard's whole window: from the first creation day to the snapshot time, so the
        # numbers do not depend on which versions a filter leaves (as the default window would).
        first = lo.astimezone(UTC).date() if lo is not None else _EPOCH
        snapshot = now or _snapshot(df)
        self.span: tuple[datetime, datetime] = (_midnight(first), snapshot or _midnight(first))
        full = {
            resource: analysis.allocation(
                framed, every=self.every, by="_cell", start=self.span[0], end=self.span[1],
                now=now, resource=resource,
            )
            for resource in RESOURCES
        }  # fmt: skip
        # Every bin of the whole window with the share of it the data covers: a selection's
        # allocation is drawn on all of them (zero where nothing ran, a gap where nothing is
        # covered), never only on the bins where something ran.
        self._bins = {
            r: a.group_by("time").agg(pl.col("coverage").max()).sort("time")
            for r, a in full.items()
        }
        self._alloc = {r: a.filter(pl.col("allocated_mean") > 0) for r, a in full.items()}
        self._schema = {c: df.schema[c] for c in FILTER_COLUMNS}
        # The filter values ride along, so a change only filters and sums (no join).
        week = pl.col("_c").dt.truncate("1w").cast(pl.Datetime("ms", "UTC"))
        self._counts = self._with(self._counts, FILTER_COLUMNS).with_columns(_week=week)
        self._hist = self._with(self._hist, FILTER_COLUMNS)
        # Without a window the days do not matter: smaller tables for the common case.
        sums = pl.exclude(
            "_cell", "_c", "_s", "_e", "_week", "lo_hours", "hi_hours", *FILTER_COLUMNS
        )
        self._counts_all = self._counts.group_by("_cell", "_week", *FILTER_COLUMNS).agg(sums.sum())
        self._hist_all = self._hist.group_by("_cell", "lo_hours", "hi_hours", *FILTER_COLUMNS).agg(
            pl.col("versions").sum()
        )
        self._alloc = {
            r: self._with(a, ["pool_id"]).with_columns(
                _unit_hours=_area_hours(self.every),
                _area=pl.col("allocated_mean") * pl.col("coverage"),
            )
            for r, a in self._alloc.items()
        }

    # ------------------------------------------------------------------------- selecting

    def cell_ids(self, selection: Selection, *, ignore: Sequence[str] = ()) -> pl.Series:
        """Ids of the cells the selection's filters choose (``ignore``: columns left out)."""
        key = tuple((c, tuple(values)) for c, values in selection.chosen.items() if c not in ignore)
        if key not in self._ids:
            parts = [_member(c, values) for c, values in key]
            chosen = self.cells.filter(pl.all_horizontal(parts)) if parts else self.cells
            if len(self._ids) > 64:  # each filter change makes a new key: keep the memo small
                self._ids.clear()
            self._ids[key] = chosen.get_column("_cell")
        return self._ids[key]

    def _window(self, frame: pl.DataFrame, selection: Selection) -> pl.DataFrame:
        if selection.first_day is None or selection.last_day is None:
            return frame
        first, last = selection.first_day, selection.last_day
        created = pl.col("_c").is_between(first, last)
        runs = (pl.col("_s") <= last) & (pl.col("_e") >= first)
        return frame.filter(created | runs.fill_null(False))

    def _rows(
        self,
        frame: pl.DataFrame,
        selection: Selection,
        ignore: Sequence[str] = (),
        *,
        by_life: bool = True,
    ) -> pl.DataFrame:
        if by_life and selection.first_day is None:
            frame = {id(self._counts): self._counts_all, id(self._hist): self._hist_all}.get(
                id(frame), frame
            )
        ids = self.cell_ids(selection, ignore=ignore)
        if ids.len() < self.cells.height:
            frame = frame.filter(pl.col("_cell").is_in(ids.implode()))
        return self._window(frame, selection) if by_life else frame

    def _with(self, frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        wanted = [c for c in columns if c not in frame.columns]
        if not wanted:
            return frame
        return frame.join(self.cells.select("_cell", *wanted), on="_cell", how="left")

    # ----------------------------------------------------------------------------- results

    def summary(self, selection: Selection) -> Summary:
        """The :class:`Summary` of a selection."""
        counts = self._rows(self._counts, selection)
        versions = int(counts["versions"].sum())
        others = self._with(self._rows(self._counts, selection, ignore=("outcome",)), ["outcome"])
        done = (
            others.filter(pl.col("outcome").is_in(_FINISHED))
            .group_by("outcome")
            .agg(pl.col("versions").sum())
        )
        by_outcome = dict(zip(done["outcome"].cast(pl.String), done["versions"], strict=True))
        hours: dict[str, float] = {}
        for resource in RESOURCES:
            rows = self._window_bins(
                self._rows(self._alloc[resource], selection, by_life=False), selection
            )
            hours[resource] = float(rows.get_column("_unit_hours").sum() or 0.0)
        return Summary(
            versions=versions,
            total=self.total,
            unit_hours=hours,
            finished=sum(by_outcome.values()),
            failed=by_outcome.get("failed", 0),
            canceled=by_outcome.get("canceled", 0),
        )

    @staticmethod
    def _window_bins(rows: pl.DataFrame, selection: Selection) -> pl.DataFrame:
        if selection.start is None or selection.end is None:
            return rows
        return rows.filter(pl.col("time").is_between(selection.start, selection.end, "left"))

    def _bin_hours(self) -> pl.Expr:
        span = pl.col("time").dt.offset_by(self.every) - pl.col("time")
        return span.dt.total_milliseconds() / 3_600_000

    def allocation(
        self,
        selection: Selection,
        *,
        resource: Resource = "gpu",
        by: Sequence[str] = ("pool_id",),
    ) -> pl.DataFrame:
        """Units allocated per bin (and ``by`` group) in the window: ``time``, ``by``,
        ``allocated_mean`` and ``coverage``.

        Every bin of the window appears for every group that held a unit in it, as
        :func:`mavtools.allocation` gives them: 0 where the group held nothing, null where the
        data covers no part of the bin (a figure draws a gap there, not a slope).
        """
        rows = self._rows(self._alloc[resource], selection, by_life=False)
        rows = self._with(self._window_bins(rows, selection), by)
        # A bin's mean is over its covered part (the same for every cell of one snapshot).
        sums = rows.group_by("time", *by).agg(_area=pl.col("_area").sum())
        bins = self._window_bins(self._bins[resource], selection)
        groups = sums.select(*by).unique()
        out = (
            bins.join(groups, how="cross")
            .join(sums, on=["time", *by], how="left", nulls_equal=True)
            .select(
                "time",
                *by,
                allocated_mean=pl.when(pl.col("coverage") > 0).then(
                    pl.col("_area").fill_null(0.0) / pl.col("coverage")
                ),
                coverage="coverage",
            )
        )
        return out.sort("time", *by, nulls_last=True)

    def usage(self, selection: Selection, *, by: str, resource: Resource = "gpu") -> pl.DataFrame:
        """:func:`mavtools.usage` of the selected versions by one filter column."""
        units, hours, _ = RESOURCES[resource]
        rows = self._with(self._rows(self._counts, selection), [by])
        out = rows.group_by(by).agg(
            versions=pl.col("versions").sum(),
            versions_using=pl.col(f"{units}_using").sum(),
            **{hours: pl.col(hours).sum()},
        )
        total = pl.col(hours).sum()
        out = out.with_columns(share=pl.when(total > 0).then(pl.col(hours) / total))
        return out.sort([hours, by], descending=[True, False], nulls_last=True)

    def version_counts(self, selection: Selection, *, by: str = "outcome") -> pl.DataFrame:
        """Versions created per week (Monday, UTC) by ``by``, weeks inside the window only."""
        rows = self._with(self._rows(self._counts, selection), [by])
        if selection.first_day is not None:
            rows = rows.filter(pl.col("_c") >= selection.first_day)
        out = rows.group_by(pl.col("_week").alias("time"), by).agg(pl.col("versions").sum())
        return out.sort("time", by, nulls_last=True)

    def duration_histogram(self, selection: Selection, *, by: str = "outcome") -> pl.DataFrame:
        """:func:`mavtools.duration_histogram` of the selected versions by one filter column."""
        rows = self._with(self._rows(self._hist, selection), [by])
        out = rows.group_by(by, "lo_hours", "hi_hours").agg(pl.col("versions").sum())
        return out.sort(by, "lo_hours", nulls_last=True)

    def option_counts(self, selection: Selection, column: str) -> dict[str | None, int]:
        """Versions per value of one filter column under every *other* filter of the selection.

        What a filter's options show next to their names: the count each option would select
        if it were the only one ticked (0: nothing left of it under the other filters).

        Example:
            >>> agg.option_counts(Selection({"pool_id": ["pool-ascend-910"]}), "user_name")
        """
        rows = self._with(self._rows(self._counts, selection, ignore=(column,)), [column])
        out = rows.group_by(pl.col(column).cast(pl.String)).agg(pl.col("versions").sum())
        return dict(zip(out[column].to_list(), out["versions"].to_list(), strict=True))

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """The dtypes of the filter columns in the source frame."""
        return dict(self._schema)
