"""How long versions wait in the queue and run: quantiles and histograms."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from mavtools.analysis.timeline import (
    DEFAULT_TZ,
    HOUR_MS,
    By,
    Every,
    Resource,
    group_keys,
    keyword_only,
    period_keys,
    sorted_by,
    using,
)

__all__ = ["duration_histogram", "durations", "queue_wait"]


def _quantile_name(q: float) -> str:
    return f"wait_p{q * 100:g}_hours"


@keyword_only("by", "quantiles", "every")
def queue_wait(
    df: pl.DataFrame,
    *,
    by: By = "pool_id",
    quantiles: Sequence[float] = (0.5, 0.9, 0.99),
    every: Every | None = None,
    tz: str = DEFAULT_TZ,
    resource: Resource | None = None,
) -> pl.DataFrame:
    """Queue-wait percentiles (start - create, in hours) of started versions, per group.

    Args:
        by: column(s) to group by (default ``"pool_id"``; ``"gpu_num"`` shows how waits grow
            with the size asked for).
        every: also split by the period of ``create_time`` (``"1w"`` for weekly trends), periods
            starting at local midnight in ``tz``.
        tz: IANA time zone of the periods (default UTC).
        resource: keep only versions asking for GPUs (``"gpu"``) or NPUs; None keeps all.

    Returns:
        The ``by`` columns, ``time`` (period start, when ``every`` is given), ``versions`` (started
        versions) and one column per quantile, ``wait_p50_hours`` ...; linear interpolation.

    Example:
        >>> queue_wait(df, by="gpu_num", every="1w")
    """
    keys, extra = period_keys(group_keys(by), every, "create_time", tz)
    started = using(df, resource).filter(pl.col("queue_wait").is_not_null())
    hours = pl.col("queue_wait").dt.total_milliseconds() / HOUR_MS
    aggs = [pl.len().cast(pl.Int64).alias("versions")] + [
        hours.quantile(q, interpolation="linear").alias(_quantile_name(q)) for q in quantiles
    ]
    if not keys:
        return started.select(aggs)
    return sorted_by(started.with_columns(extra).group_by(keys).agg(aggs), keys)


@keyword_only("by")
def durations(
    df: pl.DataFrame, *, by: By = "pool_id", resource: Resource | None = None
) -> pl.DataFrame:
    """Run-time summaries of versions that started and ended, per group.

    Run time is the API's ``duration``. Returns the ``by`` columns, ``versions``,
    ``p50_hours``, ``p90_hours`` (linear interpolation) and ``max_hours``.

    Example:
        >>> durations(df, by="outcome")
    """
    keys = group_keys(by)
    ran = using(df, resource).filter(
        pl.col("start_time").is_not_null() & pl.col("end_time").is_not_null()
    )
    hours = pl.col("duration").dt.total_milliseconds() / HOUR_MS
    aggs = [
        pl.len().cast(pl.Int64).alias("versions"),
        hours.quantile(0.5, interpolation="linear").alias("p50_hours"),
        hours.quantile(0.9, interpolation="linear").alias("p90_hours"),
        hours.max().alias("max_hours"),
    ]
    return sorted_by(ran.group_by(keys).agg(aggs), keys) if keys else ran.select(aggs)


@keyword_only("by", "bins_per_decade")
def duration_histogram(
    df: pl.DataFrame,
    *,
    by: By = "outcome",
    bins_per_decade: int = 5,
    resource: Resource | None = None,
) -> pl.DataFrame:
    """Counts of run times on log-spaced bins from 1 minute to 100 days (for plotting).

    Runs shorter than a minute fall in the first bin, longer than 100 days in the last.

    Returns:
        The ``by`` columns, ``lo_hours`` and ``hi_hours`` (bin edges) and ``versions``; only
        non-empty bins.
    """
    keys = group_keys(by)
    lo_h = 1 / 60
    decades = 5  # 1 minute .. 1,666 hours (about 70 days)
    n_bins = decades * bins_per_decade
    ran = using(df, resource).filter(
        pl.col("start_time").is_not_null() & pl.col("end_time").is_not_null()
    )
    hours = pl.col("duration").dt.total_milliseconds() / HOUR_MS
    index = (
        ((hours.clip(lower_bound=lo_h) / lo_h).log10() * bins_per_decade)
        .floor()
        .clip(0, n_bins - 1)
        .cast(pl.Int32)
        .alias("_bin")
    )
    counts = ran.group_by(*keys, index).agg(versions=pl.len().cast(pl.Int64))
    edge = lambda k: lo_h * pl.lit(10.0).pow(k / bins_per_decade)  # noqa: E731
    return sorted_by(counts, [*keys, "_bin"]).select(
        *keys,
        lo_hours=edge(pl.col("_bin")),
        hi_hours=edge(pl.col("_bin") + 1),
        versions="versions",
    )
