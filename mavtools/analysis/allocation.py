"""Units held over time: allocation per bin, utilization against pool sizes, weekly profile, usage."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl

from mavtools.analysis.timeline import (
    DEFAULT_TZ,
    HOURS,
    By,
    Every,
    Resource,
    check_tz,
    epoch_ms,
    group_index,
    group_keys,
    held_intervals,
    held_until,
    interval,
    keyword_only,
    local,
    snapshots,
    step_function,
    time_bins,
    to_ms,
    units_column,
    with_frame_now,
)

__all__ = ["allocation", "overlapping", "usage", "utilization", "weekly_profile"]

_COLUMNS: dict[str, pl.DataType] = {
    "allocated_mean": pl.Float64(),
    "allocated_peak": pl.Int64(),
    "coverage": pl.Float64(),
}


def _empty_allocation(df: pl.DataFrame, keys: list[str], tz: str) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {"time": pl.Datetime("ms", tz)}
    schema |= {k: df.schema[k] for k in keys}
    return pl.DataFrame(schema=schema | _COLUMNS)


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
    tz: str = DEFAULT_TZ,
) -> pl.DataFrame:
    every, tz = interval(every), check_tz(tz)
    held, lo, hi = held_intervals(df, keys, resource, start, end, now, include_queued, tz)
    if lo is None or hi is None:
        return _empty_allocation(df, keys, tz)
    zone = pl.Datetime("ms", tz)
    bins_frame = time_bins(lo, hi, every, tz)
    bins = bins_frame["time"]
    groups = group_index(df, keys, extra)
    # The part of a bin the data covers: inside [start, end) and not after the group's snapshot.
    covered_from = lo if start is not None else bins_frame["b0"][0]
    known = snapshots(df, keys, groups, now, tz).with_columns(
        known=pl.min_horizontal(pl.col("known").fill_null(hi), pl.lit(hi))
    )
    steps = step_function(held, groups, keys, bins.dt.epoch("ms"), hi)
    per_bin = (
        steps.lazy()
        .with_columns(time=local(pl.col("t").cast(pl.Datetime("ms", "UTC")), tz).dt.truncate(every))
        .group_by("_g", "time")
        .agg(area=(pl.col("level") * pl.col("seg")).sum(), allocated_peak=pl.col("level").max())
        .join(bins_frame.lazy(), on="time", how="left")
        .join(known.lazy(), on="_g", how="left")
        .join(groups.lazy(), on="_g", how="left")
        .with_columns(
            covered=(
                pl.min_horizontal("b1", "known") - pl.max_horizontal("b0", pl.lit(covered_from))
            ).clip(lower_bound=0)
        )
        .sort("_g", "time")
        .select(
            pl.col("time").cast(zone),
            *keys,
            allocated_mean=pl.when(pl.col("covered") > 0).then(pl.col("area") / pl.col("covered")),
            allocated_peak=pl.col("allocated_peak").cast(pl.Int64),
            coverage=pl.col("covered") / (pl.col("b1") - pl.col("b0")),
        )
    )
    return per_bin.collect()


@keyword_only("every", "by", "start", "end", "now")
def allocation(
    df: pl.DataFrame,
    *,
    every: Every = "1h",
    by: By = "pool_id",
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    tz: str = DEFAULT_TZ,
    resource: Resource = "gpu",
    include_queued: bool = False,
) -> pl.DataFrame:
    """Units allocated per time bin (and group): the time-weighted mean and the peak.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.
        every: bin length, a polars duration string (``"1h"``, ``"1d"``, ``"1w"``) or timedelta.
        by: column(s) to group by (default ``"pool_id"``); None for one total.
        start: the window's start: holdings before it are clipped (default: the earliest start).
        end: the window's end: holdings from it on are clipped (default: the snapshot time).
            Every version whose run overlaps ``[start, end)`` counts, whenever it was created.
        now: overrides every row's snapshot time ``observed_at`` (see the module docstring).
        tz: IANA time zone of the bins (default UTC): ``"1d"`` bins start at local midnight,
            ``"1h"`` bins on the local hour; naive ``start``/``end``/``now`` are read in it.
        resource: ``"gpu"`` (``gpu_num``) or ``"npu"`` (``npu_num``).
        include_queued: count a version's units from its creation, not its start: the demand
            (allocated + waiting), which a saturated pool's allocation hides.

    Returns:
        One row per bin and group, every bin of the window for every group in ``df`` (zeros
        included): ``time`` (bin start, ``Datetime("ms", tz)``), the ``by`` columns,
        ``allocated_mean`` (Float64, time-weighted mean over the covered part of the bin; null
        when nothing of it is covered), ``allocated_peak`` (Int64, the largest instantaneous
        allocation in the bin) and ``coverage`` (Float64, the share of the bin's real length that
        lies inside ``[start, end)`` and not after the group's snapshot time). Sum of
        ``allocated_mean`` x ``coverage`` x bin hours equals the unit-hours held inside the window.

    Example:
        >>> hourly = allocation(df, every="1h", by="pool_id", tz="Europe/Berlin")
    """
    return _allocation(
        df, every, group_keys(by), start, end, now, resource, include_queued=include_queued, tz=tz
    )


@keyword_only("start", "end")
def overlapping(
    df: pl.DataFrame,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    tz: str = DEFAULT_TZ,
) -> pl.DataFrame:
    """The versions whose run overlaps ``[start, end)``: what a time window should select.

    Selecting by creation time misses every version created before the window and still running
    in it. ``allocation(overlapping(df, start=a, end=b), start=a, end=b)`` equals
    ``allocation(df, start=a, end=b)``. A version that never started (or holds nothing) is kept
    when its creation lies in the window, so counts of queued or canceled versions still see it.
    Rows without ``observed_at`` (frames built by hand) come back with the whole frame's "now"
    (the latest moment ``df`` vouches for) as their ``observed_at``: the subset alone vouches
    for less, and a version still running would stop holding at the subset's latest timestamp.

    Example:
        >>> chosen = overlapping(df, start=datetime(2026, 9, 24), end=datetime(2026, 10, 1))
    """
    df = with_frame_now(df, check_tz(tz))
    lo = pl.lit(to_ms(start, tz) if start is not None else None, dtype=pl.Int64)
    hi = pl.lit(to_ms(end, tz) if end is not None else None, dtype=pl.Int64)
    s, e, c = (
        epoch_ms(pl.col("start_time")),
        held_until(df, now, tz),
        epoch_ms(pl.col("create_time")),
    )
    after_start = pl.lit(True) if start is None else e > lo
    before_end = pl.lit(True) if end is None else s < hi
    runs = s.is_not_null() & e.is_not_null() & (e > s) & after_start & before_end
    created = (pl.lit(True) if start is None else c >= lo) & (
        pl.lit(True) if end is None else c < hi
    )
    return df.filter(runs.fill_null(False) | created.fill_null(False))


@keyword_only("by")
def usage(df: pl.DataFrame, *, by: By = "pool_id", resource: Resource = "gpu") -> pl.DataFrame:
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
    keys, units, hours = group_keys(by), units_column(resource), HOURS[resource]
    aggs = [
        pl.len().cast(pl.Int64).alias("versions"),
        (pl.col(units) > 0).sum().cast(pl.Int64).alias("versions_using"),
        pl.col(hours).sum().alias(hours),
    ]
    out = df.group_by(keys).agg(aggs) if keys else df.select(aggs)
    total = pl.col(hours).sum()
    out = out.with_columns(share=pl.when(total > 0).then(pl.col(hours) / total))
    return out.sort([hours, *keys], descending=[True] + [False] * len(keys), nulls_last=True)


@keyword_only("capacity", "every", "start", "end", "now")
def utilization(
    df: pl.DataFrame,
    *,
    capacity: Mapping[str, int],
    every: Every = "1h",
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    tz: str = DEFAULT_TZ,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """Allocation against the pool sizes the user knows, per pool and time bin.

    Args:
        capacity: pool id -> units in the pool. Only these pools are reported; a pool with no
            versions shows zero allocation.
        every, start, end, now, tz, resource: as in :func:`allocation`.

    Returns:
        ``time``, ``pool_id``, ``allocated_mean``, ``allocated_peak``, ``coverage``, ``capacity`` (Int64),
        ``utilization`` (mean / capacity) and ``peak_utilization`` (peak / capacity).

    Example:
        >>> utilization(df, capacity={"pool-a100-prod": 16}, every="1d")
    """
    bad = {k: v for k, v in capacity.items() if not isinstance(v, int) or v <= 0}
    if bad:
        raise ValueError(f"capacity must map pool ids to positive unit counts; got {bad}")
    sizes = pl.DataFrame(
        {"pool_id": list(capacity), "capacity": list(capacity.values())},
        schema={"pool_id": pl.String, "capacity": pl.Int64},
    )
    alloc = _allocation(df, every, ["pool_id"], start, end, now, resource, extra=sizes, tz=tz)
    return (
        alloc.with_columns(_pool=pl.col("pool_id").cast(pl.String))
        .join(sizes.rename({"pool_id": "_pool"}), on="_pool", how="inner", maintain_order="left")
        .drop("_pool")
        .with_columns(
            utilization=pl.col("allocated_mean") / pl.col("capacity"),
            peak_utilization=pl.col("allocated_peak") / pl.col("capacity"),
        )
    )


@keyword_only("start", "end", "now")
def weekly_profile(
    df: pl.DataFrame,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    tz: str = DEFAULT_TZ,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """Mean units allocated by day of week x hour of day in ``tz``, from the hourly allocation.

    Args:
        start, end, now, tz, resource: as in :func:`allocation`. On the day summer time ends the
            repeated local hour contributes two hourly bins to its slot; on the day it starts,
            the skipped hour contributes none.

    Returns:
        ``weekday`` (1 = Monday ... 7 = Sunday), ``hour`` (0-23, local), ``allocated_mean`` (mean
        over the hourly bins falling on that slot, each weighted by its coverage),
        ``allocated_peak`` (their maximum) and ``hours`` (bins).

    Example:
        >>> weekly_profile(df, tz="Europe/Berlin")
    """
    hourly = _allocation(df, "1h", [], start, end, now, resource, tz=tz)
    weighted = (pl.col("allocated_mean") * pl.col("coverage")).sum()
    return (
        hourly.group_by(
            weekday=pl.col("time").dt.weekday().cast(pl.Int8),
            hour=pl.col("time").dt.hour().cast(pl.Int8),
        )
        .agg(
            allocated_mean=pl.when(pl.col("coverage").sum() > 0).then(
                weighted / pl.col("coverage").sum()
            ),
            allocated_peak=pl.col("allocated_peak").max(),
            hours=pl.len().cast(pl.Int64),
        )
        .sort("weekday", "hour")
    )
