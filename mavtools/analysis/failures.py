"""How versions end: failed and canceled shares of finished versions, versions created per period.

The vocabulary, defined here once and used everywhere (summary line, tables, figures):

- *finished*: outcome ``succeeded``, ``failed`` or ``canceled`` (:data:`FINISHED`);
- *failed share*: failed / finished;
- *canceled share*: canceled / finished (canceled or killed by someone, which is not a failure).

The two shares are always reported separately; their sum is not called a failure rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from mavtools.analysis.timeline import (
    DEFAULT_TZ,
    FINISHED,
    By,
    Every,
    Resource,
    check_tz,
    finished_at,
    group_keys,
    interval,
    keyword_only,
    local,
    period_keys,
    sorted_by,
    using,
)

__all__ = ["FinishedShares", "failure_rate", "finished_shares", "version_counts"]


def _share(outcome: str) -> pl.Expr:
    return pl.when(pl.col("finished") > 0).then(pl.col(outcome) / pl.col("finished"))


@keyword_only("by", "every")
def failure_rate(
    df: pl.DataFrame,
    *,
    by: By = "pool_id",
    every: Every | None = None,
    tz: str = DEFAULT_TZ,
    resource: Resource | None = None,
) -> pl.DataFrame:
    """Failed share and canceled share of finished versions, per group (and period).

    Args:
        by: column(s) to group by (default ``"pool_id"``); None for one row.
        every: also split by the period in which the versions finished, periods starting at
            local midnight (or hour, week, month) in ``tz``: their ``end_time``, else
            ``start_time + duration``, else (never started, no end sent: every such v2 job)
            ``create_time``, so no finished version falls in a period without a date.
        tz: IANA time zone of the periods (default UTC).
        resource: keep only versions asking for GPUs (``"gpu"``) or NPUs; None keeps all.

    Returns:
        The ``by`` columns, ``time`` (with ``every``), ``finished``, ``succeeded``, ``failed``,
        ``canceled`` (counts), ``failed_share`` = failed / finished and ``canceled_share`` =
        canceled / finished (null when nothing finished). ``failure_rate``
        (= failed_share + canceled_share) is kept one release for old callers; do not show it.

    Example:
        >>> failure_rate(df, by=["flavor_code", "pool_id"])
    """
    keys, extra = period_keys(group_keys(by), every, finished_at(), tz)
    done = using(df, resource).filter(pl.col("outcome").is_in(FINISHED))
    aggs = [pl.len().cast(pl.Int64).alias("finished")] + [
        (pl.col("outcome") == o).sum().cast(pl.Int64).alias(o) for o in FINISHED
    ]
    out = (
        sorted_by(done.with_columns(extra).group_by(keys).agg(aggs), keys)
        if keys
        else done.select(aggs)
    )
    return out.with_columns(
        failed_share=_share("failed"),
        canceled_share=_share("canceled"),
        failure_rate=pl.when(pl.col("finished") > 0).then(
            (pl.col("failed") + pl.col("canceled")) / pl.col("finished")
        ),
    )


@dataclass(frozen=True, slots=True)
class FinishedShares:
    """How the finished versions of a frame ended (see the module docstring for the terms).

    Attributes:
        finished: versions that succeeded, failed or were canceled.
        failed: of those, how many failed.
        canceled: of those, how many were canceled.
        failed_share: failed / finished (None when nothing finished).
        canceled_share: canceled / finished (None when nothing finished).
    """

    finished: int
    failed: int
    canceled: int
    failed_share: float | None
    canceled_share: float | None

    def __str__(self) -> str:
        if not self.finished:
            return "no finished versions"
        return (
            f"{self.failed_share:.1%} of {self.finished:,} finished versions failed, "
            f"{self.canceled_share:.1%} were canceled"
        )


def finished_shares(df: pl.DataFrame, *, resource: Resource | None = None) -> FinishedShares:
    """The failed and canceled shares of a whole frame, for a summary line.

    Example:
        >>> print(finished_shares(dashboard.selection))
        11.0% of 2,512 finished versions failed, 4.1% were canceled
    """
    row = failure_rate(df, by=None, resource=resource).row(0, named=True)
    return FinishedShares(
        finished=row["finished"],
        failed=row["failed"],
        canceled=row["canceled"],
        failed_share=row["failed_share"],
        canceled_share=row["canceled_share"],
    )


@keyword_only("every", "by")
def version_counts(
    df: pl.DataFrame, *, every: Every = "1w", by: By = "outcome", tz: str = DEFAULT_TZ
) -> pl.DataFrame:
    """Versions *created* per period (and group): counted by creation time, not by run.

    Args:
        every: period length; periods start at local midnight (Monday for ``"1w"``) in ``tz``.
        by: column(s) that split the counts (default ``"outcome"``, to stack them by outcome).
        tz: IANA time zone of the periods (default UTC).

    Returns:
        ``time`` (period start, ``Datetime("ms", tz)``), the ``by`` columns and ``versions``.

    Example:
        >>> version_counts(df, every="1d", tz="Europe/Berlin")
    """
    keys = group_keys(by)
    period = local(pl.col("create_time"), check_tz(tz)).dt.truncate(interval(every))
    counts = df.group_by(period.alias("time"), *keys).agg(versions=pl.len().cast(pl.Int64))
    return sorted_by(counts, ["time", *keys])
