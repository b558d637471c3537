"""Capacity answers from the typed frame of job versions: pure functions, no I/O, no plotting.

Every function takes a frame with the columns of :data:`mavtools.frame.VERSION_SCHEMA` and returns
a small polars frame. Decisions that the numbers depend on, stated once:

Holding units
    A version holds ``gpu_num`` (``npu_num`` with ``resource="npu"``) over the half-open interval
    ``[start_time, end_time)``; a version that never started holds nothing, and an ``end_time``
    before ``start_time`` holds nothing (see :func:`quality_report`).

Run segments
    A version with ``segments`` (v2 ``running_records``) holds its units only inside them: the
    gaps while it was rescheduled hold nothing, so ``gpu_hours``, :func:`allocation`,
    :func:`capacity_needed`, :func:`cost` and :func:`fault_hours` count the segments only (each
    clipped to the version's own end; an open segment runs until it). An elastic version with
    ``node_counts`` holds units per node x its node count at each moment. ``include_queued``
    counts from creation to end, gaps included: a job waiting to be rescheduled still asks for
    its units (an elastic one, units per node x the larger of its spec's ``node_count`` and its
    node count at that moment, so demand is never below what it holds). Rows without segments (v1, or v2 where the API sent none) hold
    ``[start_time, end_time)`` as before. One helper applies this for every analysis
    (:func:`mavtools.analysis.timeline.held_intervals`); :func:`mavtools.segments.held_time` is
    the same rule for the frame's hours. A segment *ended in a fault* when another followed it or
    the API names the recovery taken after it (``end_recover``); see :func:`fault_hours`.

Finished without an end
    A version whose outcome is finished (succeeded, failed, canceled) but which the API sent
    without ``end_time`` holds from ``start_time`` to ``start_time + duration`` when ``duration``
    > 0, otherwise nothing; :func:`quality_report` counts these under ``finished_without_end``.
    No finished version ever holds until "now". Only a pending or running version without an
    end holds until "now".

Unknown outcomes
    An ``unknown`` version (v2 ``Abnormal``, v1 ``UNKNOWN``/``DELETE_FAILED``, undocumented codes)
    is no proof that the job still runs (node failures leave jobs Abnormal for good). With a
    start and a ``duration`` > 0 (and no ``end_time``) it holds for that duration; without a
    duration it holds nothing, and :func:`quality_report` counts it under
    ``unknown_without_duration``.

Nothing after the snapshot
    No analysis counts time after the snapshot: a version holds until its own row's snapshot
    time at the latest (an ``end_time`` after it is cut there; ``quality_report`` counts those
    under ``after_snapshot``). A window that ends after the snapshot is clipped to it:
    :func:`allocation` keeps the bins and says so with ``coverage`` (0 after the snapshot);
    :func:`capacity_needed` ends each group's window at the group's latest snapshot (its
    ``hours`` say how long the window was); :func:`cost` bills idle capacity of a pool only up to
    the pool's latest snapshot. Replays (:func:`what_if`) use a finished version's observed run
    length even past the snapshot (they replay lengths, they do not count time).

Rows without a pool
    Public-pool jobs have no ``pool_id``. They form their own (null) group wherever ``by``
    includes ``pool_id``; :func:`cost` bills them in every idle mode (with ``rate_by="pool_id"``
    they need a rate, which a null pool cannot have: use ``rate_by="flavor_code"``), and they
    share no idle capacity (only a pool with an id can have a size). :func:`what_if` and friends
    replay one named pool, so they never see them.

Finished without starting
    A version that ended without starting holds nothing. Per-period analyses of finished
    versions (:func:`failure_rate` with ``every``) date it by its ``end_time`` when the API sent
    one (v1 does) and otherwise by its ``create_time`` (every such v2 job: v2 sends no end time);
    ``quality_report`` counts the latter under ``never_started_without_end``. Its queue time is
    unknown then, so ``include_queued`` demand counts nothing for it (v1: creation to end).

Rows an analysis cannot use
    are left out with a reason, never a crash: rows without ``create_time`` (v1 sends 0) are
    left out of the replays (``left_out`` = "no create_time to arrive at",
    ``left_out_no_create_time`` in :func:`what_if`) and of :func:`queue_wait`; demand
    (``include_queued``) counts them from their start. Rows without ``gpu_num``/``npu_num``
    (unknown, not zero: a flavor nobody knows, or a v1 version without them) hold nothing.
    :func:`quality_report` counts each kind (``no_create_time``, ``unknown_without_duration``,
    ``never_started_without_end``, ``after_snapshot``, ``unknown_units``). docs/semantics.md has the same decisions per analysis.

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
from mavtools.analysis.chargeback import chargeback
from mavtools.analysis.cost import cost
from mavtools.analysis.failures import (
    FinishedShares,
    failure_rate,
    finished_shares,
    version_counts,
)
from mavtools.analysis.faults import fault_hours
from mavtools.analysis.forecast import backtest_forecast, demand, forecast
from mavtools.analysis.predict import backtest_start, predict_start
from mavtools.analysis.quality import quality_report
from mavtools.analysis.queue import queue_length
from mavtools.analysis.sizing import sizing
from mavtools.analysis.units import queue_wait_by_units
from mavtools.analysis.waits import duration_histogram, durations, queue_wait
from mavtools.analysis.whatif import replay_check, simulate, size_for, what_if

__all__ = [
    "FinishedShares",
    "allocation",
    "backtest_forecast",
    "backtest_start",
    "capacity_needed",
    "chargeback",
    "cost",
    "demand",
    "duration_histogram",
    "durations",
    "failure_rate",
    "fault_hours",
    "finished_shares",
    "forecast",
    "overlapping",
    "predict_start",
    "quality_report",
    "queue_length",
    "queue_wait",
    "queue_wait_by_units",
    "replay_check",
    "simulate",
    "size_for",
    "sizing",
    "usage",
    "utilization",
    "version_counts",
    "weekly_profile",
    "what_if",
]
