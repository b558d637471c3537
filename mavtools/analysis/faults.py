"""Where GPU time goes to faults: unit-hours of run segments that ended in a fault.

A v2 job that failed over runs in several segments (the frame's ``segments``, from
``running_records``). A segment *ended in a fault* when the job did not simply run to its end
after it: another segment followed (the job was restarted or rescheduled), or the API names the
fault tolerance taken after it (``end_recover``, e.g. ``job_reschedule``). Its unit-hours are the
ones the holding rule of :mod:`mavtools.analysis` counts for it (units x time held, inside the
window, following an elastic job's node count), so they are a part of the same hours
:func:`~mavtools.analysis.allocation` and :func:`~mavtools.analysis.cost` count. The work done in
such a segment since the last checkpoint is lost; how much of it, the API does not say.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import polars as pl

from mavtools.analysis.allocation import overlapping
from mavtools.analysis.timeline import (
    DEFAULT_TZ,
    HOUR_MS,
    By,
    Resource,
    group_keys,
    held_intervals,
    sorted_by,
    with_frame_now,
)
from mavtools.frame import VERSION_SCHEMA

__all__ = ["fault_hours", "faulted_count"]

#: The default grouping: where the faults happen, on what, and whose jobs.
DEFAULT_BY: Final = ("pool_id", "flavor_code", "user_name")


def faulted_count() -> pl.Expr:
    """Per row, how many of its ``segments`` ended in a fault (null without segments): every
    segment but the last, and the last too when the API names a recovery after it."""
    last = pl.col("segments").list.last().struct.field("end_recover").fill_null("") != ""
    return pl.col("segments").list.len().cast(pl.Int64) - 1 + last.cast(pl.Int64)


def _unit_hours(
    df: pl.DataFrame,
    keys: list[str],
    resource: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime | None,
    tz: str,
    name: str,
    faulted_only: bool = False,
) -> pl.DataFrame:
    held, _, _ = held_intervals(
        df, keys, resource, start, end, now, tz=tz, faulted_only=faulted_only
    )
    spent = ((pl.col("e") - pl.col("s")) * pl.col("u")).sum() / HOUR_MS
    if not keys:
        return held.select(spent.alias(name))
    return held.group_by(keys).agg(spent.alias(name))


def fault_hours(
    df: pl.DataFrame,
    *,
    by: By = DEFAULT_BY,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    tz: str = DEFAULT_TZ,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """Unit-hours of run segments that ended in a fault, per group, against all unit-hours held.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA` (rows without ``segments``,
            such as every v1 row, hold hours but never fault hours).
        by: column(s) to group by (default pool, flavor and user); None for one total.
        start, end, now, tz, resource: as in :func:`~mavtools.analysis.allocation`.

    Returns:
        The ``by`` columns, ``unit_hours`` (all unit-hours held in the window),
        ``fault_unit_hours`` (those of segments that ended in a fault), ``fault_share``
        (fault / all; null when nothing was held), ``fault_segments`` (segments that ended in a
        fault, of the versions overlapping the window) and ``restarted_versions`` (those
        versions with at least one restart); one row per group that held units, sorted by
        ``fault_unit_hours``, largest first.

    Example:
        >>> mt.fault_hours(df, by=["pool_id", "user_name"], start=datetime(2026, 9, 1))
    """
    keys = group_keys(by)
    if "segments" not in df.columns:  # a frame built by hand: no run segments known
        df = df.with_columns(
            segments=pl.lit(None, dtype=VERSION_SCHEMA["segments"]),
            restarts=pl.lit(None, dtype=pl.Int32),
        )
    # Rows without a snapshot time hold until the latest moment the *whole* frame vouches for,
    # not the faulted rows alone.
    df = with_frame_now(df, tz)
    total = _unit_hours(df, keys, resource, start, end, now, tz, "unit_hours")
    lost = _unit_hours(df, keys, resource, start, end, now, tz, "fault_unit_hours", True)
    counts = overlapping(df, start=start, end=end, now=now, tz=tz).select(
        *keys,
        _faults=faulted_count(),
        _restarted=pl.col("restarts").fill_null(0) > 0,
    )
    count_aggs = [
        pl.col("_faults").fill_null(0).sum().cast(pl.Int64).alias("fault_segments"),
        pl.col("_restarted").sum().cast(pl.Int64).alias("restarted_versions"),
    ]
    if keys:
        out = total.join(lost, on=keys, how="left", nulls_equal=True).join(
            counts.group_by(keys).agg(count_aggs), on=keys, how="left", nulls_equal=True
        )
    else:
        out = total.with_columns(
            fault_unit_hours=pl.lit(lost["fault_unit_hours"].sum(), dtype=pl.Float64)
        ).with_columns(**counts.select(count_aggs).row(0, named=True))
    out = out.with_columns(
        pl.col("fault_unit_hours").fill_null(0.0),
        pl.col("fault_segments").fill_null(0).cast(pl.Int64),
        pl.col("restarted_versions").fill_null(0).cast(pl.Int64),
    ).with_columns(
        fault_share=pl.when(pl.col("unit_hours") > 0).then(
            pl.col("fault_unit_hours") / pl.col("unit_hours")
        )
    )
    out = sorted_by(out, keys).sort("fault_unit_hours", descending=True, maintain_order=True)
    return out.select(
        *keys,
        "unit_hours",
        "fault_unit_hours",
        "fault_share",
        "fault_segments",
        "restarted_versions",
    )
