"""Capacity answers from the typed frame of job versions: pure functions, no I/O, no plotting.

Every function takes a frame with the columns of :data:`mavtools.frame.VERSION_SCHEMA` and returns
a small polars frame. Decisions that the numbers depend on, stated once:

Holding units
    A version holds ``gpu_num`` (``npu_num`` with ``resource="npu"``) over the half-open interval
    ``[start_time, end_time)``; a version that never started holds nothing, and an ``end_time``
    before ``start_time`` holds nothing (see :func:`quality_report`).

Finished without an end
    A version whose outcome is finished (succeeded, failed, canceled) but which the API sent
    without ``end_time`` holds from ``start_time`` to ``start_time + duration`` when ``duration``
    > 0, otherwise nothing; :func:`quality_report` counts these under ``finished_without_end``.
    No finished version ever holds until "now". Only an unfinished version (pending, running,
    unknown) without an end holds until "now".

``now`` (the snapshot time)
    Every row carries ``observed_at``, the snapshot time of the fetch that read it (one value per
    fetch; after an incremental cache refresh every row carries the refresh's time). A version
    that has not ended holds until its own row's ``observed_at``, so ``filter``, ``sort`` and
    ``concat`` (even of frames fetched at different times) change nothing:
    ``allocation(df.filter(cond), by=k, start=a, end=b)`` equals
    ``allocation(df, by=k, start=a, end=b).filter(cond on k)``. ``now=`` overrides it for every
    row. Rows without ``observed_at`` (frames built by hand) use the latest moment the frame
    vouches for (its latest timestamp, or a finished run's start + duration).

Windows
    ``start``/``end`` select by overlap: every version whose holding overlaps ``[start, end)``
    counts, clipped to it, whenever it was created (:func:`overlapping` returns those versions,
    for a time control). Defaults: from the earliest start of a holding version to the latest
    moment a version holds (the snapshot time when something runs). Counts *by creation*
    (:func:`version_counts`, and ``queue_wait``'s periods) stay by creation and say so.

Time bins and time zones
    ``tz=`` (an IANA name, default ``"UTC"``) sets the zone of bins and times of day: bins start
    at local midnight ("1d"), on the local hour ("1h"), on Mondays ("1w"), on the 1st ("1mo"), via
    ``Expr.dt.truncate(every)`` in that zone, so the same ``every`` gives the same bins whatever
    the window. A day with a DST change is 23 or 25 hours long, and its mean is over its real
    length. ``time`` columns are ``Datetime("ms", tz)``; naive ``start``/``end``/``now`` are read
    in ``tz``.

Partial bins
    A bin that lies partly before ``start``, after ``end`` or after the group's snapshot time
    reports the mean over its covered part, and ``coverage`` says which share of the bin's real
    length that is (null mean when nothing is covered). Usage invariant: the sum over bins of
    ``allocated_mean x coverage x bin hours`` equals the unit-hours held inside the window.

Algorithm of :func:`allocation` and :func:`capacity_needed`
    A sweep line, vectorised in polars: +units at each start and -units at each end, plus a zero
    event at every bin start of every group, sorted by (group, time) and cumulatively summed. Events
    at the same instant are merged before reading the level, so a job ending at 10:00 and another
    starting at 10:00 never look like an overlap. Every step of the resulting step function lies in
    one bin, which gives the exact time-weighted mean (integer unit-milliseconds, divided once) and
    the exact peak, including the level carried into a bin. No Python loop runs over versions.

Quantiles
    :func:`queue_wait` and :func:`durations` use linear interpolation between order statistics
    (``interpolation="linear"``), the definition of DuckDB's ``quantile_cont`` and of NumPy's
    default, so the numbers can be checked in SQL.

Groups
    ``by`` takes a column name or a list of them; null keys form their own group. Rows come sorted
    by the ``by`` columns (categoricals lexically, enums in their declared order) and then by time.
"""

from mavtools.analysis.allocation import (
    allocation,
    overlapping,
    usage,
    utilization,
    weekly_profile,
)
from mavtools.analysis.capacity import capacity_needed
from mavtools.analysis.cost import cost
from mavtools.analysis.failures import (
    FinishedShares,
    failure_rate,
    finished_shares,
    version_counts,
)
from mavtools.analysis.quality import quality_report
from mavtools.analysis.units import queue_wait_by_units
from mavtools.analysis.waits import duration_histogram, durations, queue_wait
from mavtools.analysis.whatif import replay_check, simulate, size_for, what_if

__all__ = [
    "FinishedShares",
    "allocation",
    "capacity_needed",
    "cost",
    "duration_histogram",
    "durations",
    "failure_rate",
    "finished_shares",
    "overlapping",
    "quality_report",
    "queue_wait",
    "queue_wait_by_units",
    "replay_check",
    "simulate",
    "size_for",
    "usage",
    "utilization",
    "version_counts",
    "weekly_profile",
    "what_if",
]
