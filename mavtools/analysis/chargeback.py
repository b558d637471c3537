"""Chargeback per team per month: :func:`~mavtools.analysis.cost` month by month, with failed and
canceled work apart and the change from the month before.

Each month is one :func:`~mavtools.analysis.cost` window ``[month start, next month start)``,
the last one cut at the snapshot time (idle capacity after the data was fetched is not known
yet). Idle capacity is shared among the groups in proportion to their use of each pool
(``idle="share"``), so a month's ``total_cost`` summed over its rows is every sized pool's size x
the month's hours x its rate. Without ``rates`` the table is in unit-hours only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

import polars as pl

from mavtools.analysis.cost import IDLE_ROW, cost
from mavtools.analysis.timeline import (
    DEFAULT_TZ,
    By,
    Resource,
    group_keys,
    units_column,
    with_frame_now,
)
from mavtools.analysis.whatif import PoolSizes

__all__ = ["chargeback"]

_CANCELED: Final = "canceled"


def _windows(
    df: pl.DataFrame, every: str, tz: str, now: datetime | None
) -> list[tuple[datetime, datetime]]:
    """(start, end) of each period, the first from the first start, the last to the snapshot
    time (idle capacity is known neither before the data nor after it)."""
    started = df["start_time"].drop_nulls()
    if started.is_empty():
        return []
    snapshot: datetime = now or df["observed_at"].max()  # type: ignore[assignment]
    first: datetime = started.min()  # type: ignore[assignment]
    starts = pl.datetime_range(
        pl.Series([first]).dt.convert_time_zone(tz).dt.truncate(every)[0],
        snapshot,
        every,
        eager=True,
    ).to_list()
    out = []
    for s in starts:
        e = pl.Series([s]).dt.offset_by(every)[0]
        out.append((max(s, first), min(e, snapshot)))
    return out


def chargeback(
    df: pl.DataFrame,
    *,
    rates: Mapping[str, float] | None = None,
    by: By = "workspace_id",
    every: str = "1mo",
    pool_sizes: PoolSizes | None = None,
    rate_by: str = "pool_id",
    resource: Resource = "gpu",
    now: datetime | None = None,
    tz: str = DEFAULT_TZ,
) -> pl.DataFrame:
    """Who used (and pays for) the units, period by period.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.
        rates: price per unit-hour per pool (or flavor, ``rate_by="flavor_code"``); None: unit-hours
            only (the cost columns are null).
        by: the column(s) to bill, e.g. ``"workspace_id"`` or ``"user_name"``.
        every: the period, ``"1mo"`` by default.
        pool_sizes: pool id -> units (or the pools table) of the pools to bill idle capacity
            for; only pools of ``resource``. Without it, idle is unknown (null).
        resource: ``"gpu"`` or ``"npu"``.
        now: the snapshot time (default: the latest ``observed_at``).
        tz: the zone of the period boundaries.

    Returns:
        ``period`` (start), ``hours`` (of the period inside the data: the first and last are
        partial), the ``by`` columns (String; the ``__idle__`` row holds the idle of
        sized pools nobody used that period), ``unit_hours``, ``failed_unit_hours`` and
        ``canceled_unit_hours`` (parts of ``unit_hours``), ``idle_unit_hours`` (shared),
        ``cost``, ``idle_cost``, ``total_cost`` and ``change`` (``total_cost``, or without rates
        ``unit_hours + idle_unit_hours``, minus the previous period's; null in the first).

    Example:
        >>> chargeback(df, rates={"pool-a100-prod": 2.9}, pool_sizes={"pool-a100-prod": 16})
    """
    keys = group_keys(by)
    # Rows without a snapshot time hold until the whole frame's "now" (the used rows alone vouch
    # for less), and the last period ends there.
    df = with_frame_now(df, tz)
    used = df.filter(pl.col(units_column(resource)) > 0)
    priced = dict(rates) if rates is not None else None
    if priced is None:  # unit-hours only: any price makes the same hours
        priced = dict.fromkeys(used[rate_by].cast(pl.String).unique().drop_nulls().to_list(), 1.0)
        if pool_sizes is not None:
            names = (
                list(pool_sizes)
                if isinstance(pool_sizes, Mapping)
                else pool_sizes.get_column("pool_id").to_list()
            )
            priced |= dict.fromkeys((str(p) for p in names), 1.0)
    parts = []
    for start, end in _windows(used, every, tz, now):
        if end <= start:
            continue
        window = {"start": start, "end": end, "now": now, "tz": tz, "resource": resource}
        bill = cost(
            used,
            rates=priced,
            by=keys,
            idle="share" if pool_sizes is not None else "leave",
            pool_sizes=pool_sizes,
            rate_by=rate_by,  # type: ignore[arg-type]
            **window,  # type: ignore[arg-type]
        )
        canceled = used.filter(pl.col("outcome").cast(pl.String) == _CANCELED)
        if canceled.height:
            gone = cost(canceled, rates=priced, by=keys, idle="leave", rate_by=rate_by, **window)  # type: ignore[arg-type]
            gone = gone.select(*keys, canceled_unit_hours="unit_hours")
            bill = bill.join(gone, on=keys, how="left", nulls_equal=True)
        else:
            bill = bill.with_columns(canceled_unit_hours=pl.lit(None, pl.Float64))
        period = pl.Series([start]).dt.convert_time_zone(tz).dt.truncate(every)[0]
        hours = (end - start).total_seconds() / 3600
        parts.append(bill.with_columns(period=pl.lit(period), hours=pl.lit(hours)))
    if not parts:  # nothing used: the same columns, no rows (callers concatenate resources)
        amounts = ("unit_hours", "failed_unit_hours", "canceled_unit_hours", "idle_unit_hours")
        schema: dict[str, pl.DataType] = {"period": pl.Datetime("ms", tz), "hours": pl.Float64()}
        schema |= dict.fromkeys(keys, pl.String())
        schema |= dict.fromkeys(
            (*amounts, "cost", "idle_cost", "total_cost", "change"), pl.Float64()
        )
        return pl.DataFrame(schema=schema)
    out = pl.concat(parts, how="vertical_relaxed").with_columns(
        canceled_unit_hours=pl.col("canceled_unit_hours").fill_null(0.0)
    )
    out = out.select(
        pl.col("period").cast(pl.Datetime("ms", tz)),
        "hours",
        *keys,
        "unit_hours",
        failed_unit_hours=pl.col("failed_unit_hours") - pl.col("canceled_unit_hours"),
        canceled_unit_hours="canceled_unit_hours",
        idle_unit_hours="idle_unit_hours",
        cost=pl.col("cost") if rates is not None else pl.lit(None, pl.Float64),
        idle_cost=pl.col("idle_cost") if rates is not None else pl.lit(None, pl.Float64),
        total_cost=pl.col("total_cost") if rates is not None else pl.lit(None, pl.Float64),
    )
    measure = (
        pl.col("total_cost")
        if rates is not None
        else pl.col("unit_hours") + pl.col("idle_unit_hours").fill_null(0.0)
    )
    idle_last = pl.col(keys[0]) == IDLE_ROW if keys else pl.lit(False)
    return (
        out.with_columns(change=(measure - measure.shift(1)).over(keys, order_by="period"))
        .sort(["period", idle_last, *keys])
        .select(pl.all())
    )
