"""Capacity answers from the typed frame of job versions: pure functions, no I/O, no plotting.

Every function takes a frame with the columns of :data:`mavtools.frame.VERSION_SCHEMA` and returns
a small polars frame. Decisions that the numbers depend on, stated once:

Holding units
    A version holds ``gpu_num`` (``npu_num`` with ``resource="npu"``) over the half-open interval
    ``[start_time, end_time)``. A version that started and has no ``end_time`` is running and holds
    until ``now``; a version that never started holds nothing. The presence of the timestamps
    decides, not the status code (a ``LOST`` version with an end time held until that end). An
    ``end_time`` before ``start_time`` holds nothing (see :func:`quality_report`).

``now`` (the snapshot time)
    Every row carries ``observed_at``, the snapshot time of the fetch that read it (one value per
    fetch; after an incremental cache refresh every row carries the refresh's time). A version
    that has not ended holds until its own row's ``observed_at``, so ``filter``, ``sort`` and
    ``concat`` (even of frames fetched at different times) change nothing. ``now=`` overrides it
    for every row. Rows without ``observed_at`` (frames built by hand) use the latest
    ``create_time``, ``start_time`` or ``end_time`` of the frame. A ``datetime`` is accepted; a
    naive one is read as UTC. The default window ends at the latest snapshot time: the data
    tells the allocation up to then, zeros included.

Time bins
    Bins are aligned with ``Expr.dt.truncate(every)`` in UTC ("1h" on the hour, "1d" at midnight
    UTC, "1w" on Mondays, "1mo" on the 1st), so the same ``every`` gives the same bins whatever the
    window. ``start``/``end`` clip the holdings to ``[start, end)``; a bin partly outside the window
    is still averaged over its full length. Defaults: from the earliest start of a holding version
    to the latest moment a version holds (``now`` when something runs).

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

from mavtools.analysis.allocation import allocation, usage, utilization, weekly_profile
from mavtools.analysis.capacity import capacity_needed
from mavtools.analysis.cost import cost
from mavtools.analysis.failures import failure_rate, version_counts
from mavtools.analysis.quality import quality_report
from mavtools.analysis.waits import duration_histogram, durations, queue_wait
from mavtools.analysis.whatif import replay_check, simulate, size_for, what_if

__all__ = [
    "allocation",
    "capacity_needed",
    "cost",
    "duration_histogram",
    "durations",
    "failure_rate",
    "quality_report",
    "queue_wait",
    "replay_check",
    "simulate",
    "size_for",
    "usage",
    "utilization",
    "version_counts",
    "weekly_profile",
    "what_if",
]
