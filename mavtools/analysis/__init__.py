"""Capacity answers from the typed frame of job versions: pure functions, no I/O, no plotting.

Every function takes a frame with the columns of :data:`mavtools.frame.VERSION_SCHEMA` and returns
a small polars frame. Decisions that the numbers depend on, stated once:

Holding units
    A version holds ``gpu_num`` (``npu_num`` with ``resource="npu"``) over the half-open interval
    ``[start_time, end_time)``. A version that started and has no ``end_time`` is running and holds
    until ``now``; a version that never started holds nothing. The presence of the timestamps
    decides, not the status code (a ``LOST`` version with an end time held until that end). An
    ``end_time`` before ``start_time`` holds nothing (see :func:`quality_report`).

``now``
    When the data was fetched. ``now=None`` means the fetch time of the frame's
    :func:`mavtools.provenance` when it has one (frames returned by ``list_versions`` or
    ``load_versions``), else the latest ``create_time``, ``start_time`` or ``end_time`` in the
    frame, the best lower bound of the fetch time the frame itself carries. Derived frames
    (``df.filter(...)``) carry no provenance: pass ``now`` explicitly. A ``datetime`` is
    accepted; a naive one is read as UTC.

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

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

import polars as pl

from mavtools.analysis.whatif import replay_check, simulate, size_for, what_if
from mavtools.provenance import provenance
from mavtools.statuses import STATUS_NAMES

__all__ = [
    "allocation",
    "capacity_needed",
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

Resource = Literal["gpu", "npu"]
By = str | Sequence[str] | None
Every = str | timedelta

_TIME: Final = pl.Datetime("ms", "UTC")
_HOUR_MS: Final = 3_600_000
_UNITS: Final[dict[str, str]] = {"gpu": "gpu_num", "npu": "npu_num"}
_HOURS: Final[dict[str, str]] = {"gpu": "gpu_hours", "npu": "npu_hours"}
_FINISHED: Final = ("succeeded", "failed", "canceled")


# --------------------------------------------------------------------------------------- helpers


def _units(resource: str) -> str:
    try:
        return _UNITS[resource]
    except KeyError:
        raise ValueError(f"resource must be 'gpu' or 'npu', not {resource!r}") from None


def _by(by: By) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _to_ms(value: datetime) -> int:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, not {type(value).__name__} {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


def _interval(every: Every) -> str:
    """A polars duration string (``offset_by`` takes no timedelta)."""
    if isinstance(every, timedelta):
        ms = every // timedelta(milliseconds=1)
        if ms <= 0 or every % timedelta(milliseconds=1):
            raise ValueError(f"every must be a positive whole number of milliseconds, not {every}")
        return f"{ms}ms"
    return every


def _ms(expr: pl.Expr) -> pl.Expr:
    """Epoch milliseconds of a ``Datetime("ms")`` expression."""
    return expr.dt.epoch("ms")


def _default_now_ms(df: pl.DataFrame) -> int | None:
    row = df.select(
        pl.max_horizontal(
            pl.col("create_time").max(), pl.col("start_time").max(), pl.col("end_time").max()
        ).dt.epoch("ms")
    )
    return row.item() if row.height else None


def _span_text(span: timedelta) -> str:
    """``timedelta(days=7)`` -> ``"7 days"``; ``timedelta(hours=36)`` -> ``"36 h"``."""
    minutes = int(span.total_seconds() // 60)
    if minutes % 1440 == 0 and minutes >= 1440:
        return f"{minutes // 1440} day{'s' if minutes != 1440 else ''}"
    if minutes % 60 == 0 and minutes >= 60:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def _now_ms(df: pl.DataFrame, now: datetime | None) -> int | None:
    """``now``, else the fetch time of a frame mavtools returned, else its latest timestamp."""
    if now is None:
        info = provenance(df)
        now = info.fetched_at if info is not None else None
    return _to_ms(now) if now is not None else _default_now_ms(df)


def _using(df: pl.DataFrame, resource: Resource | None) -> pl.DataFrame:
    """Versions that ask for ``resource`` (all versions when it is None)."""
    return df if resource is None else df.filter(pl.col(_units(resource)) > 0)


def _sorted(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.sort(keys, nulls_last=True, maintain_order=True) if keys else frame


# ------------------------------------------------------------------------------- the sweep line


def _intervals(
    df: pl.DataFrame,
    keys: list[str],
    resource: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime | None,
    include_queued: bool = False,
) -> tuple[pl.DataFrame, int | None, int | None]:
    """Held intervals ``[s, e)`` in epoch ms, clipped to the window, and that window.

    With ``include_queued`` an interval begins at creation instead of start: the units a version
    *asked for* while it waited count too (demand rather than allocation).
    """
    units = _units(resource)
    now_ms = _now_ms(df, now)
    begin = pl.col("create_time") if include_queued else pl.col("start_time")
    held = (
        df.lazy()
        .filter(begin.is_not_null() & (pl.col(units) > 0))
        .select(
            *keys,
            s=_ms(begin),
            e=pl.coalesce(_ms(pl.col("end_time")), pl.lit(now_ms, dtype=pl.Int64)),
            u=pl.col(units).cast(pl.Int64),
        )
        .filter(pl.col("e") > pl.col("s"))
        .collect()
    )
    lo = _to_ms(start) if start is not None else held.select(pl.col("s").min()).item()
    hi = _to_ms(end) if end is not None else held.select(pl.col("e").max()).item()
    if lo is None or hi is None or hi <= lo:
        return held.clear(), None, None
    clipped = held.with_columns(
        s=pl.col("s").clip(lower_bound=int(lo)), e=pl.col("e").clip(upper_bound=int(hi))
    )
    return clipped.filter(pl.col("e") > pl.col("s")), int(lo), int(hi)


def _groups(df: pl.DataFrame, keys: list[str], extra: pl.DataFrame | None = None) -> pl.DataFrame:
    """The distinct group keys with a dense index ``_g`` in output order."""
    if not keys:
        return pl.DataFrame({"_g": [0]}, schema={"_g": pl.UInt32})
    found = df.select(keys).unique()
    if extra is not None:
        found = pl.concat([found, extra.select(keys).cast(found.schema)]).unique()
    return _sorted(found, keys).with_row_index("_g")


def _steps(
    held: pl.DataFrame,
    groups: pl.DataFrame,
    keys: list[str],
    anchors: pl.Series,
    end_ms: int,
) -> pl.DataFrame:
    """The step function of units held, per group: ``_g``, ``t``, ``level``, ``seg`` (ms)."""
    if keys:
        held = held.join(groups, on=keys, how="left", nulls_equal=True)
    else:
        held = held.with_columns(_g=pl.lit(0, dtype=pl.UInt32))
    marks = groups.select("_g").join(
        anchors.alias("t").to_frame().with_columns(d=pl.lit(0, dtype=pl.Int64)), how="cross"
    )
    events = pl.concat(
        [
            held.select("_g", t="s", d="u"),
            held.select("_g", t="e", d=-pl.col("u")),
            marks.select("_g", "t", "d"),
        ]
    ).sort("_g", "t")
    # Each group's deltas sum to zero, so a global running sum is the per-group level.
    same_next = (pl.col("_g") == pl.col("_g").shift(-1)) & (pl.col("t") == pl.col("t").shift(-1))
    steps = (
        events.lazy()
        .with_columns(level=pl.col("d").cum_sum())
        .filter(~same_next.fill_null(False))
        .with_columns(
            seg=pl.when(pl.col("_g") == pl.col("_g").shift(-1))
            .then(pl.col("t").shift(-1))
            .otherwise(pl.lit(end_ms))
            - pl.col("t")
        )
        .filter(pl.col("t") < end_ms)
        .select("_g", "t", "level", "seg")
    )
    return steps.collect()


def _empty_allocation(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    schema = {"time": _TIME} | {k: df.schema[k] for k in keys}
    return pl.DataFrame(schema=schema | {"allocated_mean": pl.Float64, "allocated_peak": pl.Int64})


def _allocation(
    df: pl.DataFrame,
    every: Every,
    keys: list[str],
    start: datetime | None,
    end: datetime | None,
    now: datetime | None,
    resource: str,
    extra: pl.DataFrame | None = None,
    include_queued: bool = False,
) -> pl.DataFrame:
    every = _interval(every)
    held, lo, hi = _intervals(df, keys, resource, start, end, now, include_queued)
    if lo is None or hi is None:
        return _empty_allocation(df, keys)
    first = pl.Series([lo]).cast(_TIME).dt.truncate(every).item()
    bins = pl.datetime_range(
        first, pl.Series([hi]).cast(_TIME).item(), every, closed="left", time_unit="ms", eager=True
    ).alias("time")
    bins_ms = bins.to_frame().select(
        "time", bin_ms=_ms(pl.col("time").dt.offset_by(every)) - _ms(pl.col("time"))
    )
    groups = _groups(df, keys, extra)
    steps = _steps(held, groups, keys, bins.dt.epoch("ms"), hi)
    per_bin = (
        steps.lazy()
        .with_columns(time=pl.col("t").cast(_TIME).dt.truncate(every))
        .group_by("_g", "time")
        .agg(area=(pl.col("level") * pl.col("seg")).sum(), allocated_peak=pl.col("level").max())
        .join(bins_ms.lazy(), on="time", how="left")
        .join(groups.lazy(), on="_g", how="left")
        .sort("_g", "time")
        .select(
            "time",
            *keys,
            allocated_mean=pl.col("area") / pl.col("bin_ms"),
            allocated_peak=pl.col("allocated_peak").cast(pl.Int64),
        )
    )
    return per_bin.collect()


# ------------------------------------------------------------------------------------ the API


def allocation(
    df: pl.DataFrame,
    every: Every = "1h",
    by: By = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    *,
    resource: Resource = "gpu",
    include_queued: bool = False,
) -> pl.DataFrame:
    """Units allocated per time bin (and group): the time-weighted mean and the peak.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.
        every: bin length, a polars duration string (``"1h"``, ``"1d"``, ``"1w"``) or timedelta.
        by: column(s) to group by, for example ``"pool_id"``.
        start: clip holdings before this moment (default: the earliest start).
        end: clip holdings from this moment on (default: the latest holding end).
        now: when the data was fetched; running versions hold until then (see module docstring).
        resource: ``"gpu"`` (``gpu_num``) or ``"npu"`` (``npu_num``).
        include_queued: count a version's units from its creation, not its start: the demand
            (allocated + waiting), which a saturated pool's allocation hides.

    Returns:
        One row per bin and group, every bin of the window for every group in ``df`` (zeros
        included): ``time`` (bin start, UTC), the ``by`` columns, ``allocated_mean`` (Float64,
        time-weighted mean over ``[time, time + every)``) and ``allocated_peak`` (Int64, the
        largest instantaneous allocation in the bin). Sum of ``allocated_mean`` x bin hours equals
        the unit-hours held inside the window.

    Example:
        >>> hourly = allocation(df, every="1h", by="pool_id")
    """
    return _allocation(df, every, _by(by), start, end, now, resource, include_queued=include_queued)


def usage(df: pl.DataFrame, by: By = "pool_id", *, resource: Resource = "gpu") -> pl.DataFrame:
    """GPU-hours (or NPU-hours) and version counts per group.

    Hours are the frame's ``gpu_hours``/``npu_hours`` (units x the run time the API reports), so a
    running version counts what it had used when the data was fetched.

    Returns:
        The ``by`` columns, ``versions`` (all versions of the group), ``versions_using`` (those that
        asked for at least one unit), ``gpu_hours`` or ``npu_hours``, and ``share`` of the total
        hours (null when the total is zero); sorted by hours, largest first.

    Example:
        >>> usage(df, by="flavor_code", resource="npu")
    """
    keys, units, hours = _by(by), _units(resource), _HOURS[resource]
    aggs = [
        pl.len().cast(pl.Int64).alias("versions"),
        (pl.col(units) > 0).sum().cast(pl.Int64).alias("versions_using"),
        pl.col(hours).sum().alias(hours),
    ]
    out = df.group_by(keys).agg(aggs) if keys else df.select(aggs)
    total = pl.col(hours).sum()
    out = out.with_columns(share=pl.when(total > 0).then(pl.col(hours) / total))
    return out.sort([hours, *keys], descending=[True] + [False] * len(keys), nulls_last=True)


def capacity_needed(
    df: pl.DataFrame,
    q: float = 0.95,
    by: By = "pool_id",
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    *,
    resource: Resource = "gpu",
    include_queued: bool = False,
) -> pl.DataFrame:
    """The fewest units that would have covered the allocation a fraction ``q`` of the time.

    A pool that is full queues jobs, so its allocation never exceeds its size and hides what it
    needed. ``include_queued=True`` counts each version's units from its creation instead of its
    start (allocated + waiting): the units that would have run everything without queueing.

    From the step function of units held over ``[start, end)`` (the same window for every group,
    so idle time counts), ``needed`` is the smallest integer ``c`` such that the time with
    allocation <= ``c`` is at least ``q`` of the window.

    Returns:
        The ``by`` columns, ``needed`` (Int64), ``q``, ``peak`` (Int64), ``mean`` (time-weighted),
        ``hours`` (window length), ``hours_covered`` (hours with allocation <= needed) and
        ``summary``, e.g. "pool-x needs 24 GPUs to cover 95% of hours; it peaked at 40".

    Example:
        >>> capacity_needed(df, q=0.9, by="pool_id")["summary"].to_list()
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be between 0 and 1, not {q!r}")
    keys = _by(by)
    held, lo, hi = _intervals(df, keys, resource, start, end, now, include_queued)
    schema = {k: df.schema[k] for k in keys} | {
        "needed": pl.Int64,
        "q": pl.Float64,
        "peak": pl.Int64,
        "mean": pl.Float64,
        "hours": pl.Float64,
        "hours_covered": pl.Float64,
        "summary": pl.String,
    }
    if lo is None or hi is None:
        return pl.DataFrame(schema=schema)
    groups = _groups(df, keys)
    total = hi - lo
    steps = _steps(held, groups, keys, pl.Series([lo], dtype=pl.Int64), hi)
    by_level = (
        steps.group_by("_g", "level")
        .agg(ms=pl.col("seg").sum())
        .sort("_g", "level")
        .with_columns(cum=pl.col("ms").cum_sum().over("_g"))
    )
    needed = (
        by_level.filter(pl.col("cum") >= q * total)
        .group_by("_g")
        .agg(needed=pl.col("level").first(), covered=pl.col("cum").first())
    )
    stats = by_level.group_by("_g").agg(
        peak=pl.col("level").max(), area=(pl.col("level") * pl.col("ms")).sum()
    )
    unit = "GPU" if resource == "gpu" else "NPU"
    label = (
        pl.concat_str([pl.col(k).cast(pl.String).fill_null("(none)") for k in keys], separator="/")
        if keys
        else pl.lit("all versions")
    )
    out = (
        groups.join(needed, on="_g", how="left")
        .join(stats, on="_g", how="left")
        .sort("_g")
        .select(
            *keys,
            needed=pl.col("needed").cast(pl.Int64),
            q=pl.lit(q, dtype=pl.Float64),
            peak=pl.col("peak").cast(pl.Int64),
            mean=pl.col("area") / total,
            hours=pl.lit(total / _HOUR_MS, dtype=pl.Float64),
            hours_covered=pl.col("covered") / _HOUR_MS,
            summary=pl.format(
                "{} needs {} {} to cover {}% of hours"
                + (" without queueing" if include_queued else "")
                + "; it peaked at {}",
                label,
                pl.col("needed"),
                pl.when(pl.col("needed") == 1).then(pl.lit(unit)).otherwise(pl.lit(unit + "s")),
                pl.lit(f"{q * 100:g}"),
                pl.col("peak"),
            ),
        )
    )
    return out.cast(pl.Schema(schema))


def utilization(
    df: pl.DataFrame,
    capacity: Mapping[str, int],
    every: Every = "1h",
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    *,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """Allocation against the pool sizes the user knows, per pool and time bin.

    Args:
        capacity: pool id -> units in the pool. Only these pools are reported; a pool with no
            versions shows zero allocation.

    Returns:
        ``time``, ``pool_id``, ``allocated_mean``, ``allocated_peak``, ``capacity`` (Int64),
        ``utilization`` (mean / capacity) and ``peak_utilization`` (peak / capacity).

    Example:
        >>> utilization(df, {"pool-a100-prod": 16}, every="1d")
    """
    bad = {k: v for k, v in capacity.items() if not isinstance(v, int) or v <= 0}
    if bad:
        raise ValueError(f"capacity must map pool ids to positive unit counts; got {bad}")
    sizes = pl.DataFrame(
        {"pool_id": list(capacity), "capacity": list(capacity.values())},
        schema={"pool_id": pl.String, "capacity": pl.Int64},
    )
    alloc = _allocation(df, every, ["pool_id"], start, end, now, resource, extra=sizes)
    return (
        alloc.with_columns(_pool=pl.col("pool_id").cast(pl.String))
        .join(sizes.rename({"pool_id": "_pool"}), on="_pool", how="inner", maintain_order="left")
        .drop("_pool")
        .with_columns(
            utilization=pl.col("allocated_mean") / pl.col("capacity"),
            peak_utilization=pl.col("allocated_peak") / pl.col("capacity"),
        )
    )


def _quantile_name(q: float) -> str:
    return f"wait_p{q * 100:g}_hours"


def _period(keys: list[str], every: Every | None, column: str) -> tuple[list[str], list[pl.Expr]]:
    if every is None:
        return keys, []
    return [*keys, "time"], [pl.col(column).dt.truncate(every).alias("time")]


def queue_wait(
    df: pl.DataFrame,
    by: By = "gpu_num",
    quantiles: Sequence[float] = (0.5, 0.9, 0.99),
    every: Every | None = None,
    *,
    resource: Resource | None = None,
) -> pl.DataFrame:
    """Queue-wait percentiles (start - create, in hours) of started versions, per group.

    Args:
        every: also split by the period of ``create_time`` (``"1w"`` for weekly trends).
        resource: keep only versions asking for GPUs (``"gpu"``) or NPUs; None keeps all.

    Returns:
        The ``by`` columns, ``time`` (period start, when ``every`` is given), ``versions`` (started
        versions) and one column per quantile, ``wait_p50_hours`` ...; linear interpolation.

    Example:
        >>> queue_wait(df, by="gpu_num", every="1w")
    """
    keys, extra = _period(_by(by), every, "create_time")
    started = _using(df, resource).filter(pl.col("queue_wait").is_not_null())
    hours = pl.col("queue_wait").dt.total_milliseconds() / _HOUR_MS
    aggs = [pl.len().cast(pl.Int64).alias("versions")] + [
        hours.quantile(q, interpolation="linear").alias(_quantile_name(q)) for q in quantiles
    ]
    if not keys:
        return started.select(aggs)
    return _sorted(started.with_columns(extra).group_by(keys).agg(aggs), keys)


def failure_rate(
    df: pl.DataFrame,
    by: By = "pool_id",
    every: Every | None = None,
    *,
    resource: Resource | None = None,
) -> pl.DataFrame:
    """Share of finished versions that failed or were canceled, per group (and period).

    Args:
        every: also split by the period of ``end_time`` (when the versions finished).

    Returns:
        The ``by`` columns, ``time`` (with ``every``), ``finished``, ``succeeded``, ``failed``,
        ``canceled`` (counts) and ``failure_rate`` = (failed + canceled) / finished.

    Example:
        >>> failure_rate(df, by=["flavor_code", "pool_id"])
    """
    keys, extra = _period(_by(by), every, "end_time")
    done = _using(df, resource).filter(pl.col("outcome").is_in(_FINISHED))
    aggs = [pl.len().cast(pl.Int64).alias("finished")] + [
        (pl.col("outcome") == o).sum().cast(pl.Int64).alias(o) for o in _FINISHED
    ]
    out = (
        _sorted(done.with_columns(extra).group_by(keys).agg(aggs), keys)
        if keys
        else done.select(aggs)
    )
    rate = (pl.col("failed") + pl.col("canceled")) / pl.col("finished")
    return out.with_columns(failure_rate=pl.when(pl.col("finished") > 0).then(rate))


def durations(
    df: pl.DataFrame, by: By = "pool_id", *, resource: Resource | None = None
) -> pl.DataFrame:
    """Run-time summaries of versions that started and ended, per group.

    Run time is the API's ``duration``. Returns the ``by`` columns, ``versions``,
    ``p50_hours``, ``p90_hours`` (linear interpolation) and ``max_hours``.

    Example:
        >>> durations(df, by="outcome")
    """
    keys = _by(by)
    ran = _using(df, resource).filter(
        pl.col("start_time").is_not_null() & pl.col("end_time").is_not_null()
    )
    hours = pl.col("duration").dt.total_milliseconds() / _HOUR_MS
    aggs = [
        pl.len().cast(pl.Int64).alias("versions"),
        hours.quantile(0.5, interpolation="linear").alias("p50_hours"),
        hours.quantile(0.9, interpolation="linear").alias("p90_hours"),
        hours.max().alias("max_hours"),
    ]
    return _sorted(ran.group_by(keys).agg(aggs), keys) if keys else ran.select(aggs)


def duration_histogram(
    df: pl.DataFrame,
    by: By = "outcome",
    bins_per_decade: int = 5,
    *,
    resource: Resource | None = None,
) -> pl.DataFrame:
    """Counts of run times on log-spaced bins from 1 minute to 100 days (for plotting).

    Runs shorter than a minute fall in the first bin, longer than 100 days in the last.

    Returns:
        The ``by`` columns, ``lo_hours`` and ``hi_hours`` (bin edges) and ``versions``; only
        non-empty bins.
    """
    keys = _by(by)
    lo_h = 1 / 60
    decades = 5  # 1 minute .. 1,666 hours (about 70 days)
    n_bins = decades * bins_per_decade
    ran = _using(df, resource).filter(
        pl.col("start_time").is_not_null() & pl.col("end_time").is_not_null()
    )
    hours = pl.col("duration").dt.total_milliseconds() / _HOUR_MS
    index = (
        ((hours.clip(lower_bound=lo_h) / lo_h).log10() * bins_per_decade)
        .floor()
        .clip(0, n_bins - 1)
        .cast(pl.Int32)
        .alias("_bin")
    )
    counts = ran.group_by(*keys, index).agg(versions=pl.len().cast(pl.Int64))
    edge = lambda k: lo_h * pl.lit(10.0).pow(k / bins_per_decade)  # noqa: E731
    return _sorted(counts, [*keys, "_bin"]).select(
        *keys,
        lo_hours=edge(pl.col("_bin")),
        hi_hours=edge(pl.col("_bin") + 1),
        versions="versions",
    )


def version_counts(df: pl.DataFrame, every: Every = "1w", by: By = "outcome") -> pl.DataFrame:
    """Versions created per period (and group): ``time``, the ``by`` columns, ``versions``."""
    keys = _by(by)
    counts = df.group_by(pl.col("create_time").dt.truncate(every).alias("time"), *keys).agg(
        versions=pl.len().cast(pl.Int64)
    )
    return _sorted(counts, ["time", *keys])


def weekly_profile(
    df: pl.DataFrame,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    *,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """Mean units allocated by day of week x hour of day (UTC), from the hourly allocation.

    Returns:
        ``weekday`` (1 = Monday ... 7 = Sunday), ``hour`` (0-23), ``allocated_mean`` (mean over the
        hourly bins falling on that slot), ``allocated_peak`` (their maximum) and ``hours`` (bins).
    """
    hourly = _allocation(df, "1h", [], start, end, now, resource)
    return (
        hourly.group_by(
            weekday=pl.col("time").dt.weekday().cast(pl.Int8),
            hour=pl.col("time").dt.hour().cast(pl.Int8),
        )
        .agg(
            allocated_mean=pl.col("allocated_mean").mean(),
            allocated_peak=pl.col("allocated_peak").max(),
            hours=pl.len().cast(pl.Int64),
        )
        .sort("weekday", "hour")
    )


def quality_report(
    df: pl.DataFrame,
    now: datetime | None = None,
    stuck_after: timedelta = timedelta(days=7),
    duration_tolerance: timedelta = timedelta(minutes=1),
) -> pl.DataFrame:
    """Data problems to know before trusting a chart; one row per check, problems or not.

    Args:
        now: when the data was fetched (default: as in the module docstring). Stuck versions are
            measured against it; timestamps "in the future" are those after ``now`` when it is
            given, else after the current clock (nothing real happens after the moment one looks).
        stuck_after: a version running, or queued, longer than this is reported as stuck.
        duration_tolerance: allowed gap between ``duration`` and ``end_time - start_time``.

    Returns:
        ``check``, ``versions`` (how many), ``share`` (of all versions), ``example_ids`` (up to five
        ``version_id``) and ``meaning``.

    Example:
        >>> quality_report(df).filter(pl.col("versions") > 0)
    """
    now_ms = _now_ms(df, now) or 0
    future_ms = _to_ms(now) if now is not None else _to_ms(datetime.now(UTC))
    s, e, c = _ms(pl.col("start_time")), _ms(pl.col("end_time")), _ms(pl.col("create_time"))
    stuck_ms = stuck_after // timedelta(milliseconds=1)
    tol_ms = duration_tolerance // timedelta(milliseconds=1)
    run_ms = pl.col("duration").dt.total_milliseconds()
    checks: list[tuple[str, pl.Expr, str]] = [
        (
            "duration_mismatch",
            ((e - s) - run_ms).abs() > tol_ms,
            "the API's duration differs from end_time - start_time",
        ),
        ("zero_length", (e == s), "started and ended at the same moment"),
        ("end_before_start", e < s, "end_time earlier than start_time; holds nothing"),
        ("lost", pl.col("status") == 14, "status LOST: the platform lost track of the job"),
        (
            "stuck_running",
            s.is_not_null() & e.is_null() & (pl.lit(now_ms) - s > stuck_ms),
            f"running for longer than {_span_text(stuck_after)}",
        ),
        (
            "stuck_queued",
            s.is_null() & e.is_null() & (pl.lit(now_ms) - c > stuck_ms),
            f"queued for longer than {_span_text(stuck_after)}",
        ),
        (
            "unknown_status",
            ~pl.col("status").is_in(list(STATUS_NAMES)),
            "a status code the API documentation does not list",
        ),
        (
            "future_timestamp",
            pl.max_horizontal(c, s, e) > future_ms,
            "a timestamp after the fetch time (or the clock)",
        ),
        ("before_creation", (s < c) | (e < c), "started or ended before it was created"),
    ]
    n = df.height
    flags = df.select(
        "version_id", *[expr.fill_null(False).alias(name) for name, expr, _ in checks]
    )
    counts = flags.select([pl.col(name).sum() for name, _, _ in checks]).row(0) if n else (0,) * 9
    rows = []
    for (name, _, meaning), count in zip(checks, counts, strict=True):
        examples = flags.filter(pl.col(name))["version_id"].head(5).to_list() if count else []
        rows.append((name, int(count), count / n if n else None, examples, meaning))
    return pl.DataFrame(
        rows,
        schema={
            "check": pl.String,
            "versions": pl.Int64,
            "share": pl.Float64,
            "example_ids": pl.List(pl.Int64),
            "meaning": pl.String,
        },
        orient="row",
    )
