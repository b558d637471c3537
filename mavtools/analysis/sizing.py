"""How many whole nodes each pool needs: one decision per pool, from the what-if replay.

Three numbers used to answer "how big should this pool be", and none of them was the answer:
:func:`~mavtools.analysis.capacity_needed` restates a full pool's size (its allocation cannot
exceed it), the same with ``include_queued=True`` counts every queued version as if it had run at
once (what running *without any queueing* would take), and :func:`~mavtools.analysis.what_if`
gives waits at sizes someone has to pick. :func:`sizing` makes them one decision: the fewest whole
nodes whose replayed wait quantile meets the target, with the other two numbers as context.

Decisions, stated once:

The recommendation
    Sizes are whole nodes of ``units_per_node`` units, tried from the fewest nodes that fit the
    largest version upward, each replayed by :func:`~mavtools.analysis.what_if` with
    ``units_per_node`` (versions placed on nodes). The first size whose wait quantile is at most
    ``wait`` is the answer: the fewest whole nodes meeting the target, whether or not the wait
    falls monotonically with the size (on nodes it need not). The scan stops at
    :data:`MAX_NODES_FACTOR` times the nodes that would run everything without queueing; a pool
    that no size reaches gets a null recommendation and a verdict that says so.
Today
    Today's size is the pool's size from ``pools`` (a pools table or pool id -> units), else its
    observed peak allocation. Today's waits and utilization are the *replay* at today's size (the
    same model as the recommendation, so "42 h -> 17 min" compares like with like); the observed
    wait quantile stands beside it (``wait_observed_hours``) and :func:`replay_check` says how far
    the two are apart.
Cost
    ``rates`` (pool id -> price per unit-hour) price a size as capacity: units x rate x
    :data:`HOURS_PER_MONTH` per month, idle or not. Over a window, that is what
    :func:`~mavtools.analysis.cost` bills with ``pool_sizes`` and ``idle="share"`` (used + idle).
    The cost per job-hour of waiting saved is the extra monthly cost divided by the replayed
    job-hours of waiting it removes per month of history.
Horizon
    With ``horizon``, each pool's history is replayed with its arrivals compressed (or stretched)
    in time by the ratio of its forecast demand at the horizon's end to its recent demand
    (:func:`~mavtools.analysis.forecast.demand_growth`), keeping every run length: the same jobs,
    arriving that much more often.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import polars as pl

from mavtools.analysis.capacity import capacity_needed
from mavtools.analysis.replay import (
    Policy,
    PoolSizes,
    pool_versions,
    simulate,
    size_of,
    wait_ms,
)
from mavtools.analysis.timeline import HOUR_MS, TIME, Resource, now_ms_expr

__all__ = ["HOURS_PER_MONTH", "MAX_NODES_FACTOR", "sizing"]

#: Hours in an average month (365 x 24 / 12): the month of every monthly cost.
HOURS_PER_MONTH: Final = 730.0
#: The scan gives up beyond this many times the nodes that would run everything without queueing.
MAX_NODES_FACTOR: Final = 2
#: The share of hours the "without queueing" demand covers (as capacity_needed's default).
DEMAND_Q: Final = 0.95

UnitsPerNode = int | Mapping[str, int] | None


def _resource_of(df: pl.DataFrame, pools: PoolSizes | None, pool_id: str) -> Resource | None:
    """``"gpu"`` or ``"npu"``: the pools table's accelerator, else what the versions ask for."""
    if isinstance(pools, pl.DataFrame) and "accelerator" in pools.columns:
        hit = pools.filter(pl.col("pool_id").cast(pl.String) == pool_id)["accelerator"]
        if hit.len() and hit[0] == "npu":
            return "npu"
        if hit.len() and hit[0] == "gpu":
            return "gpu"
    part = df.filter(pl.col("pool_id").cast(pl.String) == pool_id)
    gpus, npus = part["gpu_num"].fill_null(0).sum(), part["npu_num"].fill_null(0).sum()
    if gpus > 0:
        return "gpu"
    return "npu" if npus > 0 else None


def _per_node(units_per_node: UnitsPerNode, pools: PoolSizes | None, pool_id: str) -> int:
    if isinstance(units_per_node, int):
        return units_per_node
    if isinstance(units_per_node, Mapping) and pool_id in units_per_node:
        return int(units_per_node[pool_id])
    if isinstance(pools, pl.DataFrame) and "units_per_node" in pools.columns:
        hit = pools.filter(pl.col("pool_id").cast(pl.String) == pool_id)["units_per_node"]
        if hit.len() and hit[0] is not None and hit[0] > 0:
            return int(hit[0])
    return 1  # unknown: a node of one unit, i.e. sizes in units


def _peak(pool: pl.DataFrame, begin: pl.Expr) -> int:
    """The most units held at once if every version held from ``begin`` (epoch ms) for its run
    length."""
    events = pl.concat(
        [
            pool.select(t=begin, d="units"),
            pool.select(t=begin + pl.col("_run"), d=-pl.col("units")),
        ]
    ).sort("t", "d")  # ends before starts at the same moment
    return int(events.select(pl.col("d").cum_sum().max()).item() or 0)


def _scaled(df: pl.DataFrame, growth: float) -> pl.DataFrame:
    """The versions with arrivals ``growth`` times as frequent from the first one on.

    Every time of a version moves with its creation, so its observed wait and run length are
    kept. The snapshot time (``observed_at``) moves as the snapshot itself would, so the replay's
    span, and the utilization over it, are those of the compressed history; a version still
    running at the snapshot is cut there (its run was censored anyway).
    """
    if growth == 1.0:
        return df
    t0 = df["create_time"].min()
    factor = 1 / growth - 1
    shift = ((pl.col("create_time") - pl.lit(t0)) * factor).cast(pl.Duration("ms"))
    moved = [c for c in ("create_time", "start_time", "end_time") if c in df.columns]
    out = df.with_columns((pl.col(c) + shift).alias(c) for c in moved)
    if "observed_at" in df.columns:
        snapshot = pl.col("observed_at") - pl.lit(t0)
        out = out.with_columns(
            observed_at=pl.col("observed_at") + (snapshot * factor).cast(pl.Duration("ms"))
        )
    return out


def _hours(h: float | None) -> str:
    if h is None:
        return "n/a"
    if h < 1 / 60:
        return "no wait" if h == 0 else f"{h * 3600:.0f} s"
    return f"{h * 60:.0f} min" if h < 1 else f"{h:.0f} h" if h >= 10 else f"{h:.1f} h"


def _money(value: float, currency: str) -> str:
    return f"{currency} {value:,.0f}"


def sizing(
    df: pl.DataFrame,
    *,
    pool_id: str | None = None,
    wait: str | timedelta = "2h",
    quantile: float = 0.9,
    units_per_node: UnitsPerNode = None,
    pools: PoolSizes | None = None,
    rates: Mapping[str, float] | None = None,
    currency: str = "EUR",
    horizon: str | None = None,
    policy: Policy = "fifo",
    now: datetime | None = None,
) -> pl.DataFrame:
    """One sizing decision per pool, in whole nodes, with what it changes and what it costs.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.
        pool_id: one pool; default every pool whose versions ask for GPUs or NPUs.
        wait: the wait target, a duration such as ``"2h"`` or a timedelta.
        quantile: the share of versions that must start within ``wait`` (0.9: the p90 wait).
        units_per_node: units per node: one number, or pool id -> units; default the pools
            table's ``units_per_node``, else 1 (sizes in units).
        pools: today's sizes: the pools table (``client.pools()``: ``units``, ``units_per_node``,
            ``accelerator``) or pool id -> units; a pool not listed is sized at its observed peak.
        rates: pool id -> price per unit-hour (GPU-hour, NPU-hour); without it no cost columns
            are filled.
        currency: the label of the prices in the verdict.
        horizon: size for the forecast demand at this horizon's end (``"13w"``), see the module
            docstring; default: for the history as it was.
        policy: the queue policy of the replay, ``"fifo"`` or ``"backfill"``.
        now: where still-running versions end (default: each row's ``observed_at``).

    Returns:
        One row per pool: ``pool_id``, ``resource``, ``units_per_node``, ``units_now``,
        ``nodes_now``, ``units`` and ``nodes`` (the recommendation; null when no size up to the
        scan's end meets the target), ``nodes_change``, ``quantile``, ``wait_target_hours``,
        ``wait_observed_hours`` (the quantile of the observed waits), ``wait_now_hours`` and
        ``wait_hours`` (replayed today and at the recommendation), ``share_over_1h_now`` and
        ``share_over_1h``, ``utilization_now`` and ``utilization``, ``saturated`` and
        ``allocation_needed`` (:func:`capacity_needed` at 95%: for a saturated pool, its size),
        ``demand_units`` (95% of hours without queueing) and ``demand_nodes``, ``growth`` (the
        demand factor of ``horizon``, 1 without), ``cost_month_now``, ``cost_month``,
        ``cost_month_demand``, ``wait_hours_saved_month`` and ``cost_per_wait_hour_saved`` (null
        without ``rates``), and ``verdict``, a sentence to paste into an email.

    Raises:
        ValueError: ``quantile`` is outside [0, 1], ``wait`` is not a duration, or ``pool_id``
            has no versions asking for GPUs or NPUs.

    Example:
        >>> t = sizing(df, pools=client.pools(), rates={"pool-a100-research": 2.9})
        >>> for line in t["verdict"]:
        ...     print(line)
    """
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be between 0 and 1, not {quantile!r}")
    target_h = wait_ms(wait) / HOUR_MS
    names = (
        [pool_id]
        if pool_id is not None
        else df.select(pl.col("pool_id").cast(pl.String).unique().drop_nulls().sort())[
            "pool_id"
        ].to_list()
    )
    growths: Mapping[str, float] = {}
    if horizon is not None:
        from mavtools.analysis.forecast import demand_growth

        growths = demand_growth(df, horizon=horizon, pools=pools, now=now)
    rows = []
    for name in names:
        resource = _resource_of(df, pools, name)
        if resource is None:
            if pool_id is not None:
                raise ValueError(f"pool {name!r} has no versions asking for GPUs or NPUs")
            continue
        growth = growths.get(name, 1.0)
        history = df.filter(pl.col("pool_id").cast(pl.String) == name)
        asked = history.filter(pl.col(f"{resource}_num") > 0)
        if pool_id is None and asked["start_time"].is_null().all():
            # Nothing ever ran: no history to replay. One row that says so, not a failed table.
            rows.append(
                dict.fromkeys(_SCHEMA)
                | {
                    "pool_id": name,
                    "resource": resource,
                    "verdict": f"{name}: none of its {asked.height} jobs ever started, so there "
                    "is no history to replay; size it by hand",
                }
            )
            continue
        rows.append(
            _one_pool(
                history,
                _scaled(history, growth),
                name,
                resource,
                target_h,
                quantile,
                _per_node(units_per_node, pools, name),
                size_of(pools, name),
                rates,
                currency,
                growth,
                horizon,
                name in growths,
                policy,
                now,
            )
        )
    return pl.DataFrame(rows, schema=_SCHEMA, orient="row")


_SCHEMA: Final = {
    "pool_id": pl.String,
    "resource": pl.String,
    "units_per_node": pl.Int64,
    "units_now": pl.Int64,
    "nodes_now": pl.Int64,
    "units": pl.Int64,
    "nodes": pl.Int64,
    "nodes_change": pl.Int64,
    "quantile": pl.Float64,
    "wait_target_hours": pl.Float64,
    "wait_observed_hours": pl.Float64,
    "wait_now_hours": pl.Float64,
    "wait_hours": pl.Float64,
    "share_over_1h_now": pl.Float64,
    "share_over_1h": pl.Float64,
    "utilization_now": pl.Float64,
    "utilization": pl.Float64,
    "saturated": pl.Boolean,
    "allocation_needed": pl.Int64,
    "demand_units": pl.Int64,
    "demand_nodes": pl.Int64,
    "growth": pl.Float64,
    "horizon": pl.String,
    "forecast_used": pl.Boolean,
    "cost_month_now": pl.Float64,
    "cost_month": pl.Float64,
    "cost_month_demand": pl.Float64,
    "wait_hours_saved_month": pl.Float64,
    "cost_per_wait_hour_saved": pl.Float64,
    "verdict": pl.String,
}


def _one_pool(
    history: pl.DataFrame,
    df: pl.DataFrame,
    name: str,
    resource: Resource,
    target_h: float,
    quantile: float,
    upn: int,
    known: int | None,
    rates: Mapping[str, float] | None,
    currency: str,
    growth: float,
    horizon: str | None,
    forecast_used: bool,
    policy: Policy,
    now: datetime | None,
) -> dict[str, Any]:
    """``df`` is ``history`` (the pool's versions) with arrivals scaled to the horizon's demand:
    the replays and the demand run on it, today's size and the saturation on the history."""
    pool = pool_versions(df, name, resource, now).filter(pl.col("start_time").is_not_null())
    if pool.height == 0:
        raise ValueError(f"pool {name!r} has no started versions asking for {resource} units")
    past = pool_versions(history, name, resource, now).filter(pl.col("start_time").is_not_null())
    units_now = known if known is not None else _peak(past, pl.col("start_time").dt.epoch("ms"))
    nodes_now = max(1, -(-units_now // upn))
    lo = -(-int(pool.select(pl.col("units").max()).item()) // upn)
    # Nobody waits at this size (without fragmentation):
    demand_peak = _peak(pool, pl.col("_arrive"))
    top = max(nodes_now, lo, MAX_NODES_FACTOR * -(-demand_peak // upn))
    snapshot_ms = df.select(now_ms_expr(df, now).max()).item()

    def replay(nodes: int) -> dict[str, Any]:
        """One replay at ``nodes``: the numbers :func:`what_if` reports for that size (tests
        hold the two equal), and the total wait, which it does not report."""
        sim = simulate(
            df,
            pool_id=name,
            units=nodes * upn,
            policy=policy,
            units_per_node=upn,
            now=now,
            resource=resource,
        ).filter(pl.col("left_out").is_null())
        hours = pl.col("sim_wait").dt.total_milliseconds() / HOUR_MS
        last = pl.max_horizontal(pl.col("sim_end").max(), pl.lit(snapshot_ms).cast(TIME))
        span = (last - pl.col("create_time").min()).dt.total_milliseconds()
        held = (pl.col("units") * pl.col("run_time").dt.total_milliseconds()).sum()
        return sim.select(
            wait=hours.quantile(quantile, "linear"),
            share_over_1h=(hours > 1).mean(),
            utilization=pl.when(span > 0).then(held / (nodes * upn * span)),
            wait_total_hours=hours.sum(),
        ).row(0, named=True)

    replays = {nodes_now: replay(nodes_now)}
    today = replays[nodes_now]
    best, best_nodes = None, None
    for nodes in range(lo, top + 1):
        if nodes not in replays:
            replays[nodes] = replay(nodes)
        row = replays[nodes]
        if row["wait"] is not None and row["wait"] <= target_h:
            best, best_nodes = row, nodes
            break
    observed = pool.select(
        (pl.col("queue_wait").dt.total_milliseconds() / HOUR_MS).quantile(quantile, "linear")
    ).item()

    capacity = capacity_needed(history, q=DEMAND_Q, resource=resource, now=now)
    capacity = capacity.filter(pl.col("pool_id").cast(pl.String) == name)
    demand = capacity_needed(
        df,
        q=DEMAND_Q,
        resource=resource,
        now=now,
        include_queued=True,
    ).filter(pl.col("pool_id").cast(pl.String) == name)
    saturated = bool(capacity["saturated"].item()) if capacity.height else False
    allocation_needed = int(capacity["needed"].item()) if capacity.height else None
    demand_units = int(demand["needed"].item()) if demand.height else None
    demand_nodes = None if demand_units is None else -(-demand_units // upn)

    rate = None if rates is None else rates.get(name)
    cost_now = cost_rec = cost_demand = saved_month = per_saved = None
    if rate is not None:
        cost_now = units_now * rate * HOURS_PER_MONTH
        cost_rec = None if best_nodes is None else best_nodes * upn * rate * HOURS_PER_MONTH
        if demand_units is not None:
            cost_demand = demand_units * rate * HOURS_PER_MONTH
    if best_nodes is not None:
        first = int(pool.select(pl.col("_arrive").min()).item())
        months = max(int(snapshot_ms) - first, 1) / HOUR_MS / HOURS_PER_MONTH
        saved = today["wait_total_hours"] - replays[best_nodes]["wait_total_hours"]
        saved_month = saved / months
        if cost_now is not None and cost_rec is not None and saved_month > 0:
            per_saved = (cost_rec - cost_now) / saved_month

    out: dict[str, Any] = {
        "pool_id": name,
        "resource": resource,
        "units_per_node": upn,
        "units_now": units_now,
        "nodes_now": nodes_now,
        "units": None if best_nodes is None else best_nodes * upn,
        "nodes": best_nodes,
        "nodes_change": None if best_nodes is None else best_nodes - nodes_now,
        "quantile": quantile,
        "wait_target_hours": target_h,
        "wait_observed_hours": observed,
        "wait_now_hours": today["wait"],
        "wait_hours": None if best is None else best["wait"],
        "share_over_1h_now": today["share_over_1h"],
        "share_over_1h": None if best is None else best["share_over_1h"],
        "utilization_now": today["utilization"],
        "utilization": None if best is None else best["utilization"],
        "saturated": saturated,
        "allocation_needed": allocation_needed,
        "demand_units": demand_units,
        "demand_nodes": demand_nodes,
        "growth": growth,
        "horizon": horizon,
        "forecast_used": forecast_used,
        "cost_month_now": cost_now,
        "cost_month": cost_rec,
        "cost_month_demand": cost_demand,
        "wait_hours_saved_month": saved_month,
        "cost_per_wait_hour_saved": per_saved,
    }
    out["verdict"] = _verdict(out, top, currency)
    if horizon is not None and not forecast_used:
        out["verdict"] += (
            f" (for {horizon} ahead: sized on the history as it was, as no forecast of its "
            "demand beats a naive one)"
        )
    return out


def _verdict(r: Mapping[str, Any], top: int, currency: str) -> str:
    unit = "GPU" if r["resource"] == "gpu" else "NPU"
    upn = int(r["units_per_node"])
    q = f"p{float(r['quantile']) * 100:g}"

    def units(n: int) -> str:
        return f"{n} {unit}" + ("s" if n != 1 else "")

    def nodes(n: int) -> str:
        return f"{n} node" + ("s" if n != 1 else "") + (f" ({units(n * upn)})" if upn > 1 else "")

    target = _hours(r["wait_target_hours"])
    name = str(r["pool_id"])
    if r["forecast_used"]:
        name += f" in {r['horizon']} (forecast demand x{float(r['growth']):.2f})"
    util = "utilization {:.0%}".format(r["utilization_now"] or 0.0)
    if r["nodes"] is None:
        text = (
            f"{name}: no size up to {nodes(top)} brings the {q} wait within {target} "
            f"(today {_hours(r['wait_now_hours'])} at {nodes(int(r['nodes_now']))})"
        )
    else:
        change = int(r["nodes_change"])
        wait_part = f"{q} wait {_hours(r['wait_now_hours'])}"
        if change == 0:
            text = (
                f"{name}: keep {nodes(int(r['nodes_now']))}: {wait_part} (target {target}), {util}"
            )
        else:
            verb = "add" if change > 0 else "remove"
            text = (
                f"{name}: {verb} {nodes(abs(change))}: {wait_part} -> "
                f"{_hours(r['wait_hours'])} (target {target}), "
                f"{util} -> {float(r['utilization'] or 0.0):.0%}"
            )
            if r["cost_month"] is not None and r["cost_month_now"] is not None:
                delta = float(r["cost_month"]) - float(r["cost_month_now"])
                text += f", {'+' if delta >= 0 else '-'}{_money(abs(delta), currency)}/month"
                if r["cost_per_wait_hour_saved"] is not None and delta > 0:
                    text += (
                        f" ({_money(float(r['cost_per_wait_hour_saved']), currency)} "
                        "per job-hour of waiting saved)"
                    )
    if r["saturated"]:
        text += (
            f". It was saturated, so its allocation cannot show demand (capacity_needed at 95% "
            f"only says {units(int(r['allocation_needed'] or 0))})"
        )
        if r["demand_units"] is not None:
            text += (
                f"; running everything without queueing would take {units(int(r['demand_units']))}"
            )
            if r["cost_month_demand"] is not None:
                text += f" ({_money(float(r['cost_month_demand']), currency)}/month)"
    return text
