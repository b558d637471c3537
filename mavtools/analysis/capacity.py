"""How many units a pool needs: the level that covers a fraction ``q`` of the time."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from mavtools.analysis.timeline import (
    DEFAULT_TZ,
    FINISHED,
    HOUR_MS,
    By,
    Resource,
    epoch_ms,
    group_index,
    group_keys,
    held_intervals,
    keyword_only,
    now_ms_expr,
    snapshots,
    step_function,
    units_column,
)

__all__ = ["capacity_needed"]

#: A pool is saturated when versions waited longer than QUEUED_AFTER_MS during at least
#: SATURATED_QUEUED of the window's hours, or its allocation sat at its peak SATURATED_AT_PEAK of
#: them. Waits shorter than 10 minutes are submission delays rather than a full pool.
QUEUED_AFTER_MS = 600_000
SATURATED_QUEUED = 0.05
SATURATED_AT_PEAK = 0.25


def _queued_share(
    df: pl.DataFrame,
    keys: list[str],
    groups: pl.DataFrame,
    resource: str,
    now: datetime | None,
    lo: int,
    hi: int,
    tz: str,
    windows: pl.DataFrame,
) -> pl.DataFrame:
    """Per group (``_g``): the share of ``[lo, hi)`` during which a version had been waiting for
    more than :data:`QUEUED_AFTER_MS` (a version that never started waits until it ended, or
    until its snapshot time when it is not finished)."""
    begin = epoch_ms(pl.col("create_time")) + QUEUED_AFTER_MS
    unfinished = ~pl.col("outcome").cast(pl.String).is_in(list(FINISHED))
    waited = (
        df.lazy()
        .filter(pl.col(units_column(resource)) > 0)
        .select(
            *keys,
            s=begin.clip(lo, hi),
            e=pl.coalesce(
                epoch_ms(pl.col("start_time")),
                epoch_ms(pl.col("end_time")),
                pl.when(unfinished).then(now_ms_expr(df, now, tz)),
            ).clip(lo, hi),
            u=pl.lit(1, dtype=pl.Int64),
        )
        .filter(pl.col("e") > pl.col("s"))
        .collect()
    )
    steps = _cut(step_function(waited, groups, keys, pl.Series([lo], dtype=pl.Int64), hi), windows)
    return (
        steps.join(windows, on="_g", how="left")
        .group_by("_g")
        .agg(
            share_queued=pl.col("seg").filter(pl.col("level") > 0).sum() / pl.col("_total").first()
        )
    )


def _cut(steps: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """Steps cut at their group's window end ``_hi`` (its snapshot time)."""
    return (
        steps.join(windows.select("_g", "_hi"), on="_g", how="left")
        .with_columns(
            seg=(pl.min_horizontal(pl.col("t") + pl.col("seg"), pl.col("_hi")) - pl.col("t"))
        )
        .filter(pl.col("seg") > 0)
        .drop("_hi")
    )


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

    A full pool's ``needed`` only restates its size. Such a pool is marked ``saturated``: versions
    waited more than 10 minutes during at least 5% of the hours, or the allocation sat at its peak
    for at least 25% of them (a pool whose large versions block can queue below its peak). Its
    summary then names the reasons that hold and says the allocation understates demand, in words
    for a report's reader; the demand is ``include_queued=True`` and the waits at other sizes
    :func:`~mavtools.analysis.what_if`; for how many whole nodes
    such a pool needs, use :func:`~mavtools.analysis.sizing`. Print the summaries
    (``for line in t["summary"]: print(line)``): a table display cuts long strings.

    Args:
        q: the fraction of the window's time to cover, 0..1.
        by, start, end, now, resource: as in :func:`~mavtools.analysis.allocation`; the window is
            the same for every group (by default up to the snapshot time).
        tz: the zone naive ``start``/``end``/``now`` are read in (the answer has no bins).
        include_queued: count units from creation (demand) instead of start.

    Returns:
        The ``by`` columns, ``needed`` (Int64), ``q``, ``peak`` (Int64), ``mean`` (time-weighted),
        ``hours`` (window length), ``hours_covered`` (hours with allocation <= needed),
        ``share_at_peak`` (of the hours, allocation at the peak), ``share_queued`` (of the hours,
        a version waiting over 10 minutes), ``saturated`` and ``summary``, e.g. "pool-x needs 24
        GPUs to cover 95% of hours; it peaked at 40".

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
        "share_at_peak": pl.Float64,
        "share_queued": pl.Float64,
        "saturated": pl.Boolean,
        "summary": pl.String,
    }
    if lo is None or hi is None:
        return pl.DataFrame(schema=schema)
    groups = group_index(df, keys)
    # Each group's window ends at its latest snapshot time at the latest: time after it was not
    # observed (its "hours" say how long the window really is).
    windows = snapshots(df, keys, groups, now, tz).select(
        "_g",
        _hi=pl.min_horizontal(pl.col("known").fill_null(hi), pl.lit(hi)).clip(lower_bound=lo),
    )
    windows = windows.with_columns(_total=pl.col("_hi") - lo)
    steps = _cut(step_function(held, groups, keys, pl.Series([lo], dtype=pl.Int64), hi), windows)
    by_level = (
        steps.group_by("_g", "level")
        .agg(ms=pl.col("seg").sum())
        .sort("_g", "level")
        .with_columns(cum=pl.col("ms").cum_sum().over("_g"))
        .join(windows, on="_g", how="left")
    )
    needed = (
        by_level.filter(pl.col("cum") >= q * pl.col("_total"))
        .group_by("_g")
        .agg(needed=pl.col("level").first(), covered=pl.col("cum").first())
    )
    stats = by_level.group_by("_g").agg(
        peak=pl.col("level").max(),
        area=(pl.col("level") * pl.col("ms")).sum(),
        at_peak=pl.col("ms").filter(pl.col("level") == pl.col("level").max()).sum(),
    )
    queued = _queued_share(df, keys, groups, resource, now, lo, hi, tz, windows)
    total = pl.col("_total")
    share_at_peak = (
        pl.when((pl.col("peak") > 0) & (total > 0)).then(pl.col("at_peak") / total).otherwise(0.0)
    )
    saturated = (pl.col("share_queued").fill_null(0.0) >= SATURATED_QUEUED) | (
        share_at_peak >= SATURATED_AT_PEAK
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
        .join(queued, on="_g", how="left")
        .join(windows, on="_g", how="left")
        .sort("_g")
        .with_columns(  # a group whose window is empty (all after its snapshot) needs nothing
            needed=pl.col("needed").fill_null(0),
            covered=pl.col("covered").fill_null(0),
            peak=pl.col("peak").fill_null(0),
            area=pl.col("area").fill_null(0),
        )
        .select(
            *keys,
            needed=pl.col("needed").cast(pl.Int64),
            q=pl.lit(q, dtype=pl.Float64),
            peak=pl.col("peak").cast(pl.Int64),
            mean=pl.when(total > 0).then(pl.col("area") / total),
            hours=(total / HOUR_MS).cast(pl.Float64),
            hours_covered=pl.col("covered") / HOUR_MS,
            share_at_peak=share_at_peak,
            share_queued=pl.col("share_queued").fill_null(0.0),
            saturated=saturated,
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
    if not include_queued:
        # Only the reasons that hold are said ("sat at its peak in 0% of hours" helps nobody), in
        # words a reader of a report acts on, not keyword arguments.
        reasons = pl.concat_str(
            pl.when(pl.col("share_queued") >= SATURATED_QUEUED).then(
                pl.format(
                    "versions waited over 10 min in {}% of hours",
                    (pl.col("share_queued") * 100).round(0).cast(pl.Int64),
                )
            ),
            pl.when(pl.col("share_at_peak") >= SATURATED_AT_PEAK).then(
                pl.format(
                    "the allocation sat at its peak in {}% of hours",
                    (pl.col("share_at_peak") * 100).round(0).cast(pl.Int64),
                )
            ),
            separator=" and ",
            ignore_nulls=True,
        )
        out = out.with_columns(
            summary=pl.when("saturated")
            .then(
                pl.format(
                    "{}. Saturated: {}, so the allocation understates demand; the demand with "
                    "queued versions and the waits at other sizes show what more units would do",
                    pl.col("summary"),
                    reasons,
                )
            )
            .otherwise(pl.col("summary"))
        )
    return out.cast(pl.Schema(schema))
