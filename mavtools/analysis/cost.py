"""Chargeback: who pays for the GPU-hours (NPU-hours) of a period, idle capacity included.

Decisions, stated once:

Unit-hours
    A version's units x the time it held them inside the window ``[start, end)`` (the holding rule
    of :mod:`mavtools.analysis`: running versions hold until ``now``; the window defaults to the
    earliest start to the latest moment a version holds). They are the same hours
    :func:`~mavtools.analysis.allocation` integrates, so a bill and an allocation chart agree.
Rates
    ``rates`` maps a pool id (``rate_by="pool_id"``) or a flavor code (``rate_by="flavor_code"``)
    to a price per unit-hour. A holding version whose pool or flavor has no rate is an error (a
    bill that silently leaves some hours out is wrong).
Idle capacity (the three modes of OpenCost)
    Known only with ``pool_sizes``: per pool, size x window hours - used unit-hours. Priced at the
    pool's rate, or with flavor rates at the pool's mean rate over its used hours.
    ``idle="share"`` shares each pool's idle cost among the groups in proportion to the unit-hours
    they used *in that pool*; ``"row"`` shows all idle in one row whose ``by`` columns read
    ``__idle__``; ``"leave"`` leaves it out (the idle columns are null). A sized pool nobody used
    has nobody to share with: its idle goes to the ``__idle__`` row under ``"share"`` too.
    Without ``pool_sizes`` idle is unknown and the idle columns are null.
Failed and canceled
    ``failed_unit_hours`` and ``failed_cost`` are the part of ``unit_hours`` and ``cost`` spent by
    versions whose outcome is failed or canceled: paid for, produced nothing.
Reconciliation
    With ``idle="share"`` or ``"row"``, ``total_cost`` summed over the rows equals, for every sized
    pool, size x window hours x its rate, plus the used cost of pools without a size.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final, Literal

import polars as pl

from mavtools.analysis.timeline import (
    DEFAULT_TZ,
    HOUR_MS,
    By,
    Resource,
    group_keys,
    held_intervals,
    latest_snapshot_ms,
    now_ms_expr,
)
from mavtools.analysis.whatif import PoolSizes

__all__ = ["IDLE_ROW", "cost"]

Idle = Literal["share", "row", "leave"]
#: The ``by`` value of the row that carries idle capacity (OpenCost's name).
IDLE_ROW: Final = "__idle__"
_FAILED: Final = ("failed", "canceled")


def _sizes_frame(pool_sizes: PoolSizes) -> pl.DataFrame:
    if isinstance(pool_sizes, pl.DataFrame):
        sizes = pool_sizes.select(pl.col("pool_id").cast(pl.String), pl.col("units").cast(pl.Int64))
    else:
        sizes = pl.DataFrame(
            {"pool_id": list(pool_sizes), "units": list(pool_sizes.values())},
            schema={"pool_id": pl.String, "units": pl.Int64},
        )
    bad = sizes.filter(pl.col("units").is_null() | (pl.col("units") <= 0))
    if bad.height:
        raise ValueError(f"pool sizes must be positive unit counts; got {bad.rows()}")
    return sizes


def cost(
    df: pl.DataFrame,
    *,
    rates: Mapping[str, float],
    by: By = "workspace_id",
    idle: Idle = "share",
    pool_sizes: PoolSizes | None = None,
    rate_by: Literal["pool_id", "flavor_code"] = "pool_id",
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    tz: str = DEFAULT_TZ,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """Unit-hours x rate per group, with failed work and idle capacity shown plainly.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.
        rates: price per unit-hour, keyed by pool id or flavor code (``rate_by``).
        by: column(s) to bill, e.g. ``"workspace_id"``.
        idle: ``"share"``, ``"row"`` or ``"leave"`` (see the module docstring).
        pool_sizes: pool id -> units, or a pools table with ``pool_id`` and ``units``.
        rate_by: ``"pool_id"`` or ``"flavor_code"``.
        start: window start (default: the earliest start of a holding version).
        end: window end (default: the latest moment a version holds).
        now: where running versions end (default: each row's snapshot time ``observed_at``).
        tz: the zone naive ``start``/``end``/``now`` are read in.
        resource: ``"gpu"`` or ``"npu"``.

    Returns:
        The ``by`` columns (as String), ``unit_hours``, ``cost``, ``failed_unit_hours``,
        ``failed_cost``, ``idle_unit_hours``, ``idle_cost`` and ``total_cost`` (cost + idle
        cost), sorted by the ``by`` columns with the ``__idle__`` row last.

    Raises:
        ValueError: a holding version has no rate, ``idle`` or ``rate_by`` is unknown, or a pool
            used more unit-hours than its size allows in the window (wrong size).

    Example:
        >>> cost(df, rates={"pool-a100-prod": 2.5}, pool_sizes={"pool-a100-prod": 16})
    """
    if idle not in ("share", "row", "leave"):
        raise ValueError(f"idle must be 'share', 'row' or 'leave', not {idle!r}")
    if rate_by not in ("pool_id", "flavor_code"):
        raise ValueError(f"rate_by must be 'pool_id' or 'flavor_code', not {rate_by!r}")
    keys = group_keys(by)
    inner = list(dict.fromkeys([*keys, "pool_id", rate_by, "outcome"]))
    held, lo, hi = held_intervals(df, inner, resource, start, end, now, tz=tz)
    rate_table = pl.DataFrame(
        {"_key": list(rates), "_rate": [float(r) for r in rates.values()]},
        schema={"_key": pl.String, "_rate": pl.Float64},
    )
    used = (
        held.with_columns(
            pl.col(k).cast(pl.String) for k in dict.fromkeys([*keys, "pool_id", rate_by])
        )
        .with_columns(_key=pl.col(rate_by), _ms=(pl.col("e") - pl.col("s")) * pl.col("u"))
        .join(rate_table, on="_key", how="left")
    )
    missing = used.filter(pl.col("_rate").is_null())["_key"].unique().sort().to_list()
    if missing:
        raise ValueError(f"no rate for {rate_by} {', '.join(map(str, missing))}; add it to rates")
    failed = pl.col("outcome").cast(pl.String).is_in(_FAILED)
    used = used.with_columns(_cost=pl.col("_ms") / HOUR_MS * pl.col("_rate"))
    # Per group and pool: the hours and cost used there (the basis of the idle share).
    per_pool = used.group_by(list(dict.fromkeys([*keys, "pool_id"]))).agg(
        _ms=pl.col("_ms").sum(),
        cost=pl.col("_cost").sum(),
        failed_ms=pl.col("_ms").filter(failed).sum(),
        failed_cost=pl.col("_cost").filter(failed).sum(),
    )
    idle_pool = _idle_by_pool(per_pool, pool_sizes, rates, rate_by, lo, hi, _seen(df, now, tz))
    idle_rows: pl.DataFrame | None
    if idle_pool is not None and idle == "share":
        totals = per_pool.group_by("pool_id").agg(_pool_ms=pl.col("_ms").sum())
        per_pool = (
            # Left joins that match null pools: a public-pool job (no pool_id) is billed, and
            # shares no idle capacity (a pool without an id has no size).
            per_pool.join(totals, on="pool_id", how="left", nulls_equal=True)
            .join(idle_pool, on="pool_id", how="left")
            .with_columns(
                idle_ms=pl.col("idle_ms") * pl.col("_ms") / pl.col("_pool_ms"),
                idle_cost=pl.col("idle_cost") * pl.col("_ms") / pl.col("_pool_ms"),
            )
        )
        idle_rows = idle_pool.join(totals, on="pool_id", how="anti")  # sized, unused pools
    else:
        per_pool = per_pool.with_columns(idle_ms=pl.lit(0.0), idle_cost=pl.lit(0.0))
        idle_rows = idle_pool if idle_pool is not None and idle == "row" else None
    groups = per_pool.group_by(keys) if keys else per_pool.group_by(pl.lit(0).alias("_all"))
    out = groups.agg(
        unit_hours=pl.col("_ms").sum() / HOUR_MS,
        cost=pl.col("cost").sum(),
        failed_unit_hours=pl.col("failed_ms").sum() / HOUR_MS,
        failed_cost=pl.col("failed_cost").sum(),
        idle_unit_hours=pl.col("idle_ms").fill_null(0).sum() / HOUR_MS,
        idle_cost=pl.col("idle_cost").fill_null(0).sum(),
    ).drop("_all", strict=False)
    out = out.sort(keys, nulls_last=True) if keys else out
    if idle_rows is not None and idle_rows.height:
        row = idle_rows.select(
            *[pl.lit(IDLE_ROW, dtype=pl.String).alias(k) for k in keys],
            unit_hours=pl.lit(0.0),
            cost=pl.lit(0.0),
            failed_unit_hours=pl.lit(0.0),
            failed_cost=pl.lit(0.0),
            idle_unit_hours=pl.col("idle_ms").sum() / HOUR_MS,
            idle_cost=pl.col("idle_cost").sum(),
        )
        out = pl.concat([out, row.cast(out.schema)])
    if idle_pool is None or idle == "leave":
        out = out.with_columns(
            idle_unit_hours=pl.lit(None, pl.Float64), idle_cost=pl.lit(None, pl.Float64)
        )
    return out.with_columns(total_cost=pl.col("cost") + pl.col("idle_cost").fill_null(0.0))


def _seen(df: pl.DataFrame, now: datetime | None, tz: str) -> tuple[pl.DataFrame, int | None]:
    """Each pool's latest snapshot time (``pool_id`` as String, ``_known`` in epoch ms), and the
    frame's."""
    per_row = df.select(pool_id=pl.col("pool_id").cast(pl.String), _known=now_ms_expr(df, now, tz))
    return per_row.group_by("pool_id").agg(pl.col("_known").max()), latest_snapshot_ms(df, now, tz)


def _idle_by_pool(
    per_pool: pl.DataFrame,
    pool_sizes: PoolSizes | None,
    rates: Mapping[str, float],
    rate_by: str,
    lo: int | None,
    hi: int | None,
    seen: tuple[pl.DataFrame, int | None],
) -> pl.DataFrame | None:
    """Per sized pool: ``idle_ms`` (unit-ms) and ``idle_cost`` over the window, or None.

    A pool's window ends at its latest snapshot time at the latest (a pool without rows: the
    frame's): idle capacity after it has not been observed, so it is not billed.
    """
    if pool_sizes is None or lo is None or hi is None:
        return None
    sizes = _sizes_frame(pool_sizes)
    known, latest = seen
    pools = per_pool.group_by("pool_id").agg(_ms=pl.col("_ms").sum(), _cost=pl.col("cost").sum())
    known_or = pl.col("_known").fill_null(pl.lit(latest, dtype=pl.Int64)).fill_null(hi)
    until = pl.min_horizontal(known_or, pl.lit(hi))
    idle = (
        sizes.join(pools, on="pool_id", how="left")
        .join(known, on="pool_id", how="left")
        .with_columns(
            idle_ms=(
                pl.col("units") * (until - lo).clip(lower_bound=0) - pl.col("_ms").fill_null(0)
            ).cast(pl.Float64)
        )
    )
    over = idle.filter(pl.col("idle_ms") < 0)["pool_id"].to_list()
    if over:
        raise ValueError(
            f"pool(s) {', '.join(over)} used more unit-hours than their size allows in the window; "
            "check pool_sizes"
        )
    if rate_by == "pool_id":
        rate = pl.col("pool_id").replace_strict(
            {k: float(v) for k, v in rates.items()}, default=None, return_dtype=pl.Float64
        )
    else:
        rate = pl.col("_cost") / (
            pl.col("_ms") / HOUR_MS
        )  # the pool's mean rate over its used hours
    idle = idle.with_columns(_idle_rate=rate)
    unpriced = idle.filter(pl.col("_idle_rate").is_null() & (pl.col("idle_ms") > 0))
    if unpriced.height:
        raise ValueError(
            f"no rate to price the idle capacity of {', '.join(unpriced['pool_id'].to_list())}; "
            "give rates per pool (rate_by='pool_id')"
        )
    return idle.select(
        "pool_id",
        "idle_ms",
        idle_cost=pl.col("idle_ms") / HOUR_MS * pl.col("_idle_rate").fill_null(0.0),
    )
