"""How many units a pool needs: the level that covers a fraction ``q`` of the time."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from mavtools.analysis.timeline import (
    DEFAULT_TZ,
    HOUR_MS,
    By,
    Resource,
    group_index,
    group_keys,
    held_intervals,
    keyword_only,
    step_function,
)

__all__ = ["capacity_needed"]


@keyword_only("q", "by", "start", "end", "now")
def capacity_needed(
    df: pl.DataFrame,
    *,
    q: float = 0.95,
    by: By = "pool_id",
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    tz: str = DEFAULT_TZ,
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

    Args:
        q: the fraction of the window's time to cover, 0..1.
        by, start, end, now, resource: as in :func:`~mavtools.analysis.allocation`; the window is
            the same for every group (by default up to the snapshot time).
        tz: the zone naive ``start``/``end``/``now`` are read in (the answer has no bins).
        include_queued: count units from creation (demand) instead of start.

    Returns:
        The ``by`` columns, ``needed`` (Int64), ``q``, ``peak`` (Int64), ``mean`` (time-weighted),
        ``hours`` (window length), ``hours_covered`` (hours with allocation <= needed) and
        ``summary``, e.g. "pool-x needs 24 GPUs to cover 95% of hours; it peaked at 40".

    Example:
        >>> capacity_needed(df, q=0.9, by="pool_id")["summary"].to_list()
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be between 0 and 1, not {q!r}")
    keys = group_keys(by)
    held, lo, hi = held_intervals(df, keys, resource, start, end, now, include_queued, tz)
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
    groups = group_index(df, keys)
    total = hi - lo
    steps = step_function(held, groups, keys, pl.Series([lo], dtype=pl.Int64), hi)
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
            hours=pl.lit(total / HOUR_MS, dtype=pl.Float64),
            hours_covered=pl.col("covered") / HOUR_MS,
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
