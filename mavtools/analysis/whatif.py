"""What if pool X had N GPUs? Replay a pool's history on another size and read the queue waits.

A pool that is full queues jobs, so its allocation never shows what it needed. The replay answers
the question people actually decide ("with 48 GPUs instead of 40, how long would jobs wait?") from
the versions the pool really ran: each arrives at its ``create_time``, asks for its ``gpu_num``
(``npu_num`` with ``resource="npu"``) and runs for its observed run length.

Decisions, stated once:

Who is replayed
    The versions of the pool that ask for at least one unit of the resource (others do not compete
    for it). Of those, versions that never started (no ``start_time``: never scheduled, or still
    queued at the snapshot), started versions without a ``create_time`` (v1 sends 0 for it; no
    arrival to replay from) and versions asking for more units than the replayed size are *left
    out*: they stay in the result with ``fitted``/``left_out`` saying why and a null ``sim_start``,
    and :func:`what_if` counts them per size. A version still queued at the snapshot has no run
    length to replay; on a FIFO pool every version created after it was still queued too, so the
    observed waits lose nothing (on a bigger pool it would have run and taken some units).
Run length
    How long the version held its units, by the holding rule of :mod:`mavtools.analysis`:
    ``end_time - start_time``; for a version still running, snapshot time - start, where the
    snapshot time is ``now`` when given, else the row's ``observed_at``. The true length of a
    running version is unknown (``run_censored`` is true), so its replay stops at the snapshot,
    which can only shorten later versions' waits slightly.
Order and ties
    Versions are taken in order of ``create_time``, ties broken by :data:`IDENTITY` (the row's
    identity columns, the one place to change when rows are identified by ``job_id``).
Policies
    ``"fifo"`` (ModelArts' default for dedicated pools): the first version in the queue starts as
    soon as it fits, and blocks every version behind it until then. ``"backfill"`` (ModelArts'
    "traversal" policy): at every arrival or end, the queue is scanned in order and each version
    that fits starts now; a large version can wait while smaller ones pass it.
Nodes
    With ``units_per_node``, the pool is ``units / units_per_node`` nodes. A version asking for
    fewer units than a node goes on one node (the fullest one that fits: best fit, ties to the
    lowest node), larger versions take ``ceil(units / units_per_node)`` whole idle nodes. Without
    it, the pool is one bag of units (no fragmentation).
Waits after the snapshot
    On a smaller pool a version can start after the snapshot: its ``sim_wait`` is the wait it
    would have had, beyond what the data saw. Nothing is cut.

What the replay cannot know: job priorities and preemption (ModelArts can order a queue by
priority; the history does not say which jobs jumped it), fragmentation across nodes when
``units_per_node`` is not given, jobs that people would have submitted differently on another
size (fewer retries, bigger sweeps, jobs sent to another pool), the delay between creation and
entering the queue (image pulls, submission), and how long running versions will still run.
:func:`replay_check` measures how far these leave the replay from the observed waits on your data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import polars as pl

from mavtools.analysis.replay import (
    IDENTITY,
    NEVER_STARTED,
    NO_CREATE_TIME,
    Policy,
    PoolSizes,
    Resource,
    check_replay,
    pool_versions,
    replayed,
    simulate,
    size_of,
    wait_ms,
)
from mavtools.analysis.replay import wait_ms as _wait_ms  # noqa: F401  # forecast.py's name for it
from mavtools.analysis.timeline import HOUR_MS, now_ms_expr

__all__ = ["IDENTITY", "replay_check", "simulate", "size_for", "what_if"]


def _quantile_name(q: float) -> str:
    return f"wait_p{q * 100:g}_hours"


def what_if(
    df: pl.DataFrame,
    *,
    pool_id: str,
    sizes: Iterable[int],
    policy: Policy = "fifo",
    quantiles: Sequence[float] = (0.5, 0.9, 0.99),
    units_per_node: int | None = None,
    now: datetime | None = None,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """The queue waits the pool would have had at each size: one replay per size.

    Quantiles use linear interpolation over the replayed versions (those that started and fit the
    size), named as :func:`~mavtools.analysis.queue_wait` names them. Under ``"fifo"`` on one bag
    of units, more units never lengthen any version's wait, so no quantile grows with the size
    as long as every size fits the largest version (smaller sizes leave it out and say so).

    Returns:
        One row per size, in the order given: ``pool_id``, ``units``, ``versions`` (replayed),
        ``wait_p50_hours`` ..., ``share_waited_over_1h``, ``utilization_mean`` (unit-hours held /
        (units x hours from the first arrival to the later of the snapshot and the last simulated
        end)), ``left_out_never_started``, ``left_out_too_big`` and ``left_out_no_create_time``
        (started versions without a ``create_time``: nothing to replay their arrival from).

    Example:
        >>> what_if(df, pool_id="pool-a100-research", sizes=range(16, 65, 8))
    """
    sizes = list(dict.fromkeys(sizes))  # one row per distinct size
    for size in sizes:
        check_replay(size, policy, units_per_node)
    pool = pool_versions(df, pool_id, resource, now)
    snapshot_ms = df.select(now_ms_expr(df, now).max()).item() if df.height else None
    parts = [
        replayed(pool, size, policy, units_per_node).select(
            "left_out", "units", "_arrive", "_run", "_start", size=pl.lit(size, dtype=pl.Int64)
        )
        for size in sizes
    ]
    if not parts:
        return _what_if_empty(quantiles)
    runs = pl.concat(parts)
    hours = (pl.col("_start") - pl.col("_arrive")) / HOUR_MS
    ran = pl.col("left_out").is_null()
    table = runs.group_by("size", maintain_order=True).agg(
        versions=ran.sum().cast(pl.Int64),
        **{_quantile_name(q): hours.filter(ran).quantile(q, "linear") for q in quantiles},
        share_waited_over_1h=(hours.filter(ran) > 1).mean(),
        _area=(pl.col("units") * pl.col("_run")).filter(ran).sum(),
        _first=pl.col("_arrive").filter(ran).min(),
        _last=(pl.col("_start") + pl.col("_run")).filter(ran).max(),
        left_out_never_started=(pl.col("left_out") == NEVER_STARTED).sum().cast(pl.Int64),
        left_out_too_big=pl.col("left_out").str.starts_with("asks for more").sum().cast(pl.Int64),
        left_out_no_create_time=(pl.col("left_out") == NO_CREATE_TIME).sum().cast(pl.Int64),
    )
    span = pl.max_horizontal(pl.col("_last"), pl.lit(snapshot_ms, dtype=pl.Int64)) - pl.col(
        "_first"
    )
    return table.select(
        pl.lit(pool_id, dtype=pl.String).alias("pool_id"),
        pl.col("size").alias("units"),
        "versions",
        *[_quantile_name(q) for q in quantiles],
        "share_waited_over_1h",
        pl.when(span > 0).then(pl.col("_area") / (pl.col("size") * span)).alias("utilization_mean"),
        "left_out_never_started",
        "left_out_too_big",
        "left_out_no_create_time",
    )


def _what_if_empty(quantiles: Sequence[float]) -> pl.DataFrame:
    return pl.DataFrame(
        schema={"pool_id": pl.String, "units": pl.Int64, "versions": pl.Int64}
        | {_quantile_name(q): pl.Float64 for q in quantiles}
        | {
            "share_waited_over_1h": pl.Float64,
            "utilization_mean": pl.Float64,
            "left_out_never_started": pl.Int64,
            "left_out_too_big": pl.Int64,
            "left_out_no_create_time": pl.Int64,
        }
    )


def size_for(
    df: pl.DataFrame,
    *,
    pool_id: str,
    wait: str | timedelta = "2h",
    quantile: float = 0.9,
    policy: Policy = "fifo",
    units_per_node: int | None = None,
    now: datetime | None = None,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """The smallest pool size whose simulated wait quantile is at most ``wait``.

    Sizes searched run from the largest version the pool started (rounded up to whole nodes) to
    the peak of units asked for at once had nobody waited (where nobody waits). Under ``"fifo"`` on
    one bag of units the wait only falls with the size, so a bisection finds the smallest size;
    otherwise (backfill, nodes) sizes are tried one by one (node by node) from the bottom.

    Returns:
        The :func:`what_if` row of that size (one row), which shows the wait it reaches.

    Raises:
        ValueError: the pool has no replayable versions, or ``quantile`` is outside [0, 1].

    Example:
        >>> size_for(df, pool_id="pool-a100-research", wait="2h", quantile=0.9)["units"].item()
    """
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be between 0 and 1, not {quantile!r}")
    target_h = wait_ms(wait) / HOUR_MS
    pool = pool_versions(df, pool_id, resource, now).filter(
        pl.col("start_time").is_not_null() & pl.col("_arrive").is_not_null()
    )
    if pool.height == 0:
        raise ValueError(
            f"pool {pool_id!r} has no started versions with a create_time asking for {resource} "
            "units; nothing to replay"
        )
    step = units_per_node or 1
    lo = -(-int(pool["units"].max()) // step) * step  # type: ignore[arg-type]
    events = pl.concat(
        [
            pool.select(t="_arrive", d="units"),
            pool.select(t=pl.col("_arrive") + pl.col("_run"), d=-pl.col("units")),
        ]
    ).sort("t", "d")  # ends before starts at the same moment
    peak = int(events.select(pl.col("d").cum_sum().max()).item())
    hi = max(lo, -(-peak // step) * step)

    def row(size: int) -> pl.DataFrame:
        return what_if(
            df,
            pool_id=pool_id,
            sizes=[size],
            policy=policy,
            quantiles=(quantile,),
            units_per_node=units_per_node,
            now=now,
            resource=resource,
        )

    def meets(table: pl.DataFrame) -> bool:
        value = table[_quantile_name(quantile)].item()
        return value is not None and value <= target_h

    if policy == "fifo" and units_per_node is None:
        while lo < hi:
            mid = (lo + hi) // 2
            if meets(row(mid)):
                hi = mid
            else:
                lo = mid + 1
        return row(lo)
    for size in range(lo, hi + step, step):
        found = row(size)
        if meets(found):
            return found
    return row(hi)


def replay_check(
    df: pl.DataFrame,
    *,
    pool_id: str,
    pool_sizes: PoolSizes | None = None,
    policy: Policy = "fifo",
    units_per_node: int | None = None,
    now: datetime | None = None,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """How far the replay at the pool's real size is from the waits that were observed.

    Read it before trusting :func:`what_if` on a pool: the replay knows no priorities, preemption,
    node fragmentation (without ``units_per_node``) or submission delays (module docstring).

    Args:
        pool_sizes: known pool sizes (pool id -> units, or a pools table with ``pool_id`` and
            ``units``). A pool not listed is replayed at its observed peak allocation, the
            smallest size that held what it ran (for a pool that was ever full, its size).

    Returns:
        One row: ``pool_id``, ``units``, ``units_from`` (``"known size"`` or ``"observed peak"``),
        ``versions`` (replayed), ``share_same_start`` (simulated start within a second of the
        observed one), ``share_within_5min``, observed and simulated ``wait_p50_hours`` and
        ``wait_p90_hours`` and their errors (simulated - observed, hours),
        ``entry_delay_p50_minutes`` (the median observed wait of the versions the replay starts
        at once: the delay before entering the queue) and ``summary``.

    Example:
        >>> replay_check(df, pool_id="pool-a100-prod", pool_sizes={"pool-a100-prod": 16})
    """
    units = size_of(pool_sizes, pool_id)
    units_from = "known size"
    if units is None:
        units_from = "observed peak"
        pool = pool_versions(df, pool_id, resource, now).filter(pl.col("start_time").is_not_null())
        events = pl.concat(
            [
                pool.select(t=pl.col("start_time").dt.epoch("ms"), d="units"),
                pool.select(
                    t=pl.col("start_time").dt.epoch("ms") + pl.col("_run"), d=-pl.col("units")
                ),
            ]
        ).sort("t", "d")
        units = int(events.select(pl.col("d").cum_sum().max()).item() or 0)
        if units <= 0:  # nothing started: no size to replay at (the user gave none)
            raise ValueError(
                f"pool {pool_id!r} has no started versions asking for {resource} units; "
                "nothing to replay"
            )
    sim = simulate(
        df,
        pool_id=pool_id,
        units=units,
        policy=policy,
        units_per_node=units_per_node,
        now=now,
        resource=resource,
    ).filter(pl.col("left_out").is_null())
    if sim.height == 0:
        raise ValueError(f"pool {pool_id!r} has no started versions asking for {resource} units")
    gap = (pl.col("sim_start") - pl.col("start_time")).dt.total_milliseconds().abs()
    obs = pl.col("queue_wait").dt.total_milliseconds() / HOUR_MS
    simh = pl.col("sim_wait").dt.total_milliseconds() / HOUR_MS
    unit = "GPUs" if resource == "gpu" else "NPUs"
    out = sim.select(
        pool_id=pl.lit(pool_id, dtype=pl.String),
        units=pl.lit(units, dtype=pl.Int64),
        units_from=pl.lit(units_from),
        versions=pl.len().cast(pl.Int64),
        share_same_start=(gap < 1000).mean(),
        share_within_5min=(gap <= 300_000).mean(),
        observed_p50_hours=obs.quantile(0.5, "linear"),
        simulated_p50_hours=simh.quantile(0.5, "linear"),
        observed_p90_hours=obs.quantile(0.9, "linear"),
        simulated_p90_hours=simh.quantile(0.9, "linear"),
    ).with_columns(
        p50_error_hours=pl.col("simulated_p50_hours") - pl.col("observed_p50_hours"),
        p90_error_hours=pl.col("simulated_p90_hours") - pl.col("observed_p90_hours"),
        # Versions the replay starts at once found room: what they still waited in the data is
        # the delay between creation and entering the queue, which the replay cannot know.
        entry_delay_p50_minutes=pl.lit(
            sim.select(
                (pl.col("queue_wait").dt.total_milliseconds() / 60_000)
                .filter(pl.col("sim_wait").dt.total_milliseconds() == 0)
                .median()
            ).item(),
            dtype=pl.Float64,
        ),
    )
    return out.with_columns(
        summary=pl.format(
            "{} replayed at {} {} ({}): of {} versions, {}% start within a second of what was "
            "observed and {}% within 5 minutes; p50 wait {} h simulated vs {} h observed, "
            "p90 {} h vs {} h; versions that found room still started {} min after creation "
            "(median), a delay the replay cannot know",
            pl.col("pool_id"),
            pl.col("units"),
            pl.lit(unit),
            pl.col("units_from"),
            pl.col("versions"),
            (pl.col("share_same_start") * 100).round(1),
            (pl.col("share_within_5min") * 100).round(1),
            pl.col("simulated_p50_hours").round(2),
            pl.col("observed_p50_hours").round(2),
            pl.col("simulated_p90_hours").round(2),
            pl.col("observed_p90_hours").round(2),
            pl.col("entry_delay_p50_minutes").round(1),
        )
    )
