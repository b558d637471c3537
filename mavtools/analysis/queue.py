"""The queue over time: how many versions waited, and for how many units, per bin and group.

A version *waits* from its ``create_time`` until it starts, or until it ends without starting
(canceled or failed while queued), or, when it is neither, until the snapshot time of its row
(``observed_at``, or ``now=``): the half-open interval ``[create_time, min(start_time, end_time,
snapshot))``. A finished version that never started and has no ``end_time`` says nothing about when
it left the queue, so it counts nowhere. Only versions asking for the resource count (``gpu_num``
> 0 with ``resource="gpu"``): the queue for GPUs.

Bins, windows, snapshots, time zones and ``coverage`` are those of
:func:`~mavtools.analysis.allocation` (see :mod:`mavtools.analysis`): the same sweep line runs
twice, once with one unit per version (versions waiting) and once with the units asked for.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from mavtools.analysis.timeline import (
    DEFAULT_TZ,
    By,
    Every,
    Resource,
    _finished,
    check_tz,
    epoch_ms,
    group_index,
    group_keys,
    interval,
    keyword_only,
    local,
    now_ms_expr,
    snapshots,
    step_function,
    time_bins,
    to_ms,
    units_column,
)

__all__ = ["queue_length", "waiting_intervals"]

_QUEUE_COLUMNS: dict[str, pl.DataType] = {
    "waiting_mean": pl.Float64(),
    "waiting_peak": pl.Int64(),
    "units_waiting_mean": pl.Float64(),
    "units_waiting_peak": pl.Int64(),
    "coverage": pl.Float64(),
}


def waiting_intervals(
    df: pl.DataFrame, keys: list[str], resource: str, now: datetime | None, tz: str = DEFAULT_TZ
) -> pl.DataFrame:
    """Per version asking for the resource, its wait ``[s, e)`` in epoch ms and units ``u``."""
    units = units_column(resource)
    snap = now_ms_expr(df, now, tz)
    left = pl.min_horizontal(epoch_ms(pl.col("start_time")), epoch_ms(pl.col("end_time")))
    # Unfinished and never started: still waiting at the snapshot. Finished without a start or
    # an end: when it left the queue is unknown (null, dropped below).
    until = pl.when(left.is_not_null()).then(left).when(~_finished()).then(snap)
    return (
        df.lazy()
        .filter(pl.col(units) > 0)
        .select(
            *keys,
            s=epoch_ms(pl.col("create_time")),
            # Nothing is known to wait after the row's snapshot (min_horizontal skips nulls:
            # an unknown exit must stay unknown).
            e=pl.when(until.is_not_null()).then(pl.min_horizontal(until, snap)),
            u=pl.col(units).cast(pl.Int64),
        )
        .filter(pl.col("s").is_not_null() & pl.col("e").is_not_null() & (pl.col("e") > pl.col("s")))
        .collect()
    )


def _empty(df: pl.DataFrame, keys: list[str], tz: str) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {"time": pl.Datetime("ms", tz)}
    schema |= {k: df.schema[k] for k in keys}
    return pl.DataFrame(schema=schema | _QUEUE_COLUMNS)


@keyword_only("every", "by", "start", "end", "now")
def queue_length(
    df: pl.DataFrame,
    *,
    every: Every = "1h",
    by: By = "pool_id",
    resource: Resource = "gpu",
    tz: str = DEFAULT_TZ,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Versions waiting, and the units they wait for, per time bin (and group): mean and peak.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.
        every: bin length, a polars duration string (``"1h"``, ``"1d"``) or timedelta.
        by: column(s) to group by (default ``"pool_id"``); None for one total.
        resource: ``"gpu"`` (``gpu_num``) or ``"npu"`` (``npu_num``): who waits for what.
        tz: IANA time zone of the bins; naive ``start``/``end``/``now`` are read in it.
        start: the window's start (default: the earliest creation of a version that waited).
        end: the window's end (default: the latest moment a version waited).
        now: overrides every row's snapshot time ``observed_at``.

    Returns:
        One row per bin and group (zeros included): ``time`` (bin start,
        ``Datetime("ms", tz)``), the ``by`` columns, ``waiting_mean`` (Float64, time-weighted
        mean number of versions waiting over the covered part of the bin, null when nothing is
        covered), ``waiting_peak`` (Int64), ``units_waiting_mean``, ``units_waiting_peak`` and
        ``coverage`` (as in :func:`~mavtools.analysis.allocation`).

    Example:
        >>> queue_length(df, every="1d", by="pool_id", tz="Europe/Berlin")
    """
    every, tz = interval(every), check_tz(tz)
    keys = group_keys(by)
    waits = waiting_intervals(df, keys, resource, now, tz)
    lo = to_ms(start, tz) if start is not None else waits.select(pl.col("s").min()).item()
    hi = to_ms(end, tz) if end is not None else waits.select(pl.col("e").max()).item()
    if lo is None or hi is None or hi <= lo:
        return _empty(df, keys, tz)
    waits = waits.with_columns(
        s=pl.col("s").clip(lower_bound=lo), e=pl.col("e").clip(upper_bound=hi)
    ).filter(pl.col("e") > pl.col("s"))
    bins_frame = time_bins(lo, hi, every, tz)
    bins = bins_frame["time"]
    groups = group_index(df, keys)
    covered_from = lo if start is not None else bins_frame["b0"][0]
    known = snapshots(df, keys, groups, now, tz).with_columns(
        known=pl.min_horizontal(pl.col("known").fill_null(hi), pl.lit(hi))
    )

    def per_bin(level: pl.DataFrame, name: str) -> pl.LazyFrame:
        return (
            level.lazy()
            .with_columns(
                time=local(pl.col("t").cast(pl.Datetime("ms", "UTC")), tz).dt.truncate(every)
            )
            .group_by("_g", "time")
            .agg(
                (pl.col("level") * pl.col("seg")).sum().alias(f"_{name}_area"),
                pl.col("level").max().cast(pl.Int64).alias(f"{name}_peak"),
            )
        )

    anchors = bins.dt.epoch("ms")
    versions = per_bin(
        step_function(waits.with_columns(u=pl.lit(1, dtype=pl.Int64)), groups, keys, anchors, hi),
        "waiting",
    )
    units = per_bin(step_function(waits, groups, keys, anchors, hi), "units_waiting")
    covered = (
        pl.min_horizontal("b1", "known") - pl.max_horizontal("b0", pl.lit(covered_from))
    ).clip(lower_bound=0)
    out = (
        versions.join(units, on=["_g", "time"], how="left")
        .join(bins_frame.lazy(), on="time", how="left")
        .join(known.lazy(), on="_g", how="left")
        .join(groups.lazy(), on="_g", how="left")
        .with_columns(_covered=covered)
        .sort("_g", "time")
        .select(
            pl.col("time").cast(pl.Datetime("ms", tz)),
            *keys,
            waiting_mean=pl.when(pl.col("_covered") > 0).then(
                pl.col("_waiting_area") / pl.col("_covered")
            ),
            waiting_peak="waiting_peak",
            units_waiting_mean=pl.when(pl.col("_covered") > 0).then(
                pl.col("_units_waiting_area") / pl.col("_covered")
            ),
            units_waiting_peak="units_waiting_peak",
            coverage=pl.col("_covered") / (pl.col("b1") - pl.col("b0")),
        )
    )
    return out.collect()
