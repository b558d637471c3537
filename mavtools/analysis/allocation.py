"""Units held over time: allocation per bin, utilization against pool sizes, weekly profile, usage."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl

from mavtools.analysis.timeline import (
    HOURS,
    TIME,
    By,
    Every,
    Resource,
    epoch_ms,
    group_index,
    group_keys,
    held_intervals,
    interval,
    step_function,
    units_column,
)

__all__ = ["allocation", "usage", "utilization", "weekly_profile"]


def _empty_allocation(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    schema = {"time": TIME} | {k: df.schema[k] for k in keys}
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
    every = interval(every)
    held, lo, hi = held_intervals(df, keys, resource, start, end, now, include_queued)
    if lo is None or hi is None:
        return _empty_allocation(df, keys)
    first = pl.Series([lo]).cast(TIME).dt.truncate(every).item()
    bins = pl.datetime_range(
        first, pl.Series([hi]).cast(TIME).item(), every, closed="left", time_unit="ms", eager=True
    ).alias("time")
    bins_ms = bins.to_frame().select(
        "time", bin_ms=epoch_ms(pl.col("time").dt.offset_by(every)) - epoch_ms(pl.col("time"))
    )
    groups = group_index(df, keys, extra)
    steps = step_function(held, groups, keys, bins.dt.epoch("ms"), hi)
    per_bin = (
        steps.lazy()
        .with_columns(time=pl.col("t").cast(TIME).dt.truncate(every))
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
    return _allocation(
        df, every, group_keys(by), start, end, now, resource, include_queued=include_queued
    )


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
