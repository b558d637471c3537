"""How versions end: failed and canceled shares of finished versions, versions created per period."""

from __future__ import annotations

from typing import Final

import polars as pl

from mavtools.analysis.timeline import (
    By,
    Every,
    Resource,
    group_keys,
    period_keys,
    sorted_by,
    using,
)

__all__ = ["failure_rate", "version_counts"]

_FINISHED: Final = ("succeeded", "failed", "canceled")


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
    keys, extra = period_keys(group_keys(by), every, "end_time")
    done = using(df, resource).filter(pl.col("outcome").is_in(_FINISHED))
    aggs = [pl.len().cast(pl.Int64).alias("finished")] + [
        (pl.col("outcome") == o).sum().cast(pl.Int64).alias(o) for o in _FINISHED
    ]
    out = (
        sorted_by(done.with_columns(extra).group_by(keys).agg(aggs), keys)
        if keys
        else done.select(aggs)
    )
    rate = (pl.col("failed") + pl.col("canceled")) / pl.col("finished")
    return out.with_columns(failure_rate=pl.when(pl.col("finished") > 0).then(rate))


def version_counts(df: pl.DataFrame, every: Every = "1w", by: By = "outcome") -> pl.DataFrame:
    """Versions created per period (and group): ``time``, the ``by`` columns, ``versions``."""
    keys = group_keys(by)
    counts = df.group_by(pl.col("create_time").dt.truncate(every).alias("time"), *keys).agg(
        versions=pl.len().cast(pl.Int64)
    )
    return sorted_by(counts, ["time", *keys])
