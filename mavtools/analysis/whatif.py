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

import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final, Literal

import polars as pl

from mavtools.analysis.timeline import (
    FINISHED,
    HOUR_MS,
    TIME,
    held_until,
    now_ms_expr,
    units_column,
)
from mavtools.frame import _DURATION, ROW_KEY

__all__ = ["IDENTITY", "replay_check", "simulate", "size_for", "what_if"]

Policy = Literal["fifo", "backfill"]
Resource = Literal["gpu", "npu"]
#: Pool id -> units, or a frame with the columns ``pool_id`` and ``units`` (a pools table).
PoolSizes = Mapping[str, int] | pl.DataFrame

#: The columns that identify a row and break ties between versions created at the same moment:
#: v1 versions by their integer id (numeric order, as the issue asks), v2 jobs (``version_id``
#: null, sorted last) by :data:`mavtools.frame.ROW_KEY`. Columns a hand-built frame lacks are skipped.
IDENTITY: Final[tuple[str, ...]] = ("version_id", *ROW_KEY)

_POLICIES: Final = ("fifo", "backfill")
NEVER_STARTED: Final = "never started"
NO_CREATE_TIME: Final = "no create_time to arrive at"


# ------------------------------------------------------------------------------- the replay core


class _Nodes:
    """Free units per node; places and releases versions (see "Nodes" in the module docstring)."""

    def __init__(self, units: int, units_per_node: int | None) -> None:
        self.per_node = units_per_node or units
        self.free = [self.per_node] * (units // self.per_node)

    def place(self, need: int) -> list[tuple[int, int]] | None:
        free, per_node = self.free, self.per_node
        if need < per_node:
            best = -1
            for i, f in enumerate(free):
                if f >= need and (best < 0 or f < free[best]):
                    best = i
            if best < 0:
                return None
            free[best] -= need
            return [(best, need)]
        count = -(-need // per_node)
        idle = [i for i, f in enumerate(free) if f == per_node][:count]
        if len(idle) < count:
            return None
        for i in idle:
            free[i] = 0
        return [(i, per_node) for i in idle]

    def release(self, held: list[tuple[int, int]]) -> None:
        for i, u in held:
            self.free[i] += u


def _fifo_bag(arrive: list[int], need: list[int], run: list[int], units: int) -> list[int]:
    """FIFO on one bag of units: version i starts at the first moment after its arrival and the
    previous start at which enough units are free (free units only grow until i starts)."""
    starts: list[int] = []
    running: list[tuple[int, int]] = []
    free, t = units, arrive[0] if arrive else 0
    pop, push = heapq.heappop, heapq.heappush
    for a, n, r in zip(arrive, need, run, strict=True):
        if a > t:
            t = a
        while running and running[0][0] <= t:
            free += pop(running)[1]
        while free < n:
            t, u = pop(running)
            free += u
        free -= n
        starts.append(t)
        push(running, (t + r, n))
    return starts


def _fifo_nodes(
    arrive: list[int], need: list[int], run: list[int], units: int, units_per_node: int
) -> list[int]:
    nodes = _Nodes(units, units_per_node)
    starts: list[int] = []
    running: list[tuple[int, int, list[tuple[int, int]]]] = []  # (end, order, placement)
    t = arrive[0] if arrive else 0
    for i, (a, n, r) in enumerate(zip(arrive, need, run, strict=True)):
        t = max(t, a)
        while running and running[0][0] <= t:
            nodes.release(heapq.heappop(running)[2])
        while (held := nodes.place(n)) is None:
            end, _, placed = heapq.heappop(running)
            t = end
            nodes.release(placed)
        starts.append(t)
        heapq.heappush(running, (t + r, i, held))
    return starts


def _backfill(
    arrive: list[int], need: list[int], run: list[int], units: int, units_per_node: int | None
) -> list[int]:
    """Event by event: release what ended, queue what arrived, start every queued version that
    fits, in queue order.

    Whether a version fits depends only on its size, and a size that does not fit now makes every
    larger size not fit (on nodes too), while starting a version only takes space away. So the
    in-order scan starts, again and again, the earliest queued version among those whose size
    fits: the queue is kept as one FIFO per size, and each step looks at their heads only (a
    handful of sizes), instead of rescanning a queue that holds thousands of versions.
    """
    nodes = _Nodes(units, units_per_node)
    starts = [0] * len(arrive)
    running: list[tuple[int, int, list[tuple[int, int]]]] = []
    queues: dict[int, deque[int]] = {}
    queued, nxt, total = 0, 0, len(arrive)
    while nxt < total or queued:
        t = arrive[nxt] if nxt < total else running[0][0]
        if running and running[0][0] < t:
            t = running[0][0]
        while running and running[0][0] <= t:
            nodes.release(heapq.heappop(running)[2])
        while nxt < total and arrive[nxt] <= t:
            queues.setdefault(need[nxt], deque()).append(nxt)
            queued += 1
            nxt += 1
        while queued and any(nodes.free):
            heads = sorted((q[0], n) for n, q in queues.items() if q)
            for j, n in heads:
                held = nodes.place(n)
                if held is not None:
                    queues[n].popleft()
                    queued -= 1
                    starts[j] = t
                    if run[j]:
                        heapq.heappush(running, (t + run[j], j, held))
                    else:  # a zero-length run holds nothing, [t, t)
                        nodes.release(held)
                    break
            else:
                break  # no queued size fits now
    return starts


def _replay(
    arrive: list[int],
    need: list[int],
    run: list[int],
    units: int,
    policy: str,
    units_per_node: int | None,
) -> list[int]:
    """Start times (epoch ms) of versions that all fit ``units``, in arrival order."""
    if policy == "backfill":
        return _backfill(arrive, need, run, units, units_per_node)
    if units_per_node is None or units_per_node == units:
        return _fifo_bag(arrive, need, run, units)
    return _fifo_nodes(arrive, need, run, units, units_per_node)


# -------------------------------------------------------------------------------- input checks


def _check(units: int, policy: str, units_per_node: int | None) -> None:
    if policy not in _POLICIES:
        raise ValueError(f"policy must be 'fifo' or 'backfill', not {policy!r}")
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(f"units must be a positive whole number of units, not {units!r}")
    if units_per_node is not None:
        if not isinstance(units_per_node, int) or units_per_node <= 0:
            raise ValueError(
                f"units_per_node must be a positive whole number, not {units_per_node!r}"
            )
        if units % units_per_node:
            raise ValueError(
                f"units ({units}) must be a whole number of nodes of {units_per_node} units"
            )


def _pool_versions(
    df: pl.DataFrame, pool_id: str, resource: str, now: datetime | None
) -> pl.DataFrame:
    """The pool's versions asking for the resource, in queue order, with the replay inputs."""
    units = units_column(resource)
    pools = df.select(pl.col("pool_id").cast(pl.String).unique().sort())["pool_id"]
    if df.height and pool_id not in pools:
        known = ", ".join(str(p) for p in pools.head(10).to_list())
        raise ValueError(f"pool {pool_id!r} has no versions in this frame; its pools: {known}")
    ids = [c for c in IDENTITY if c in df.columns]
    keep = ids + (["version_id"] if "version_id" not in ids and "version_id" in df.columns else [])
    start = pl.col("start_time").dt.epoch("ms")
    finished = pl.col("outcome").cast(pl.String).is_in(list(FINISHED))
    return (
        df.lazy()
        .filter((pl.col("pool_id").cast(pl.String) == pool_id) & (pl.col(units) > 0))
        .select(
            *keep,
            "create_time",
            units=pl.col(units).cast(pl.Int64),
            start_time="start_time",
            queue_wait="queue_wait",
            run_censored=pl.col("start_time").is_not_null()
            & pl.col("end_time").is_null()
            & ~finished,
            _arrive=pl.col("create_time").dt.epoch("ms"),
            _run=(held_until(df, now, clip=False) - start).fill_null(0).clip(lower_bound=0),
        )
        .sort(["_arrive", *ids], nulls_last=True, maintain_order=True)
        .collect()
    )


def _replayed(pool: pl.DataFrame, units: int, policy: str, upn: int | None) -> pl.DataFrame:
    """``pool`` with ``fitted``, ``left_out``, ``sim_start``, ``sim_wait``, ``sim_end``."""
    started = pl.col("start_time").is_not_null()
    fits = pl.col("units") <= units
    marked = pool.with_columns(
        fitted=fits,
        left_out=pl.when(~started)
        .then(pl.lit(NEVER_STARTED))
        .when(pl.col("_arrive").is_null())
        .then(pl.lit(NO_CREATE_TIME))
        .when(~fits)
        .then(pl.lit(f"asks for more than {units} units")),
    )
    go = marked.with_row_index("_i").filter(pl.col("left_out").is_null())
    starts = _replay(
        go["_arrive"].to_list(), go["units"].to_list(), go["_run"].to_list(), units, policy, upn
    )
    sim = go.select("_i", _start=pl.Series(starts, dtype=pl.Int64))
    out = (
        marked.with_row_index("_i").join(sim, on="_i", how="left", maintain_order="left").drop("_i")
    )
    return out.with_columns(
        sim_start=pl.col("_start").cast(TIME),
        sim_wait=(pl.col("_start") - pl.col("_arrive")).cast(_DURATION),
        sim_end=(pl.col("_start") + pl.col("_run")).cast(TIME),
        run_time=pl.col("_run").cast(_DURATION),
    )


# ------------------------------------------------------------------------------------ the API


def simulate(
    df: pl.DataFrame,
    *,
    pool_id: str,
    units: int,
    policy: Policy = "fifo",
    units_per_node: int | None = None,
    now: datetime | None = None,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """Replay one pool's history on ``units`` GPUs (NPUs with ``resource="npu"``).

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.
        pool_id: the pool to replay.
        units: accelerators in the replayed pool.
        policy: ``"fifo"`` or ``"backfill"`` (see the module docstring).
        units_per_node: place versions on nodes of this many units (``units`` must be a multiple).
        now: where still-running versions end; default: each row's ``observed_at`` (the
            snapshot time of its fetch).
        resource: ``"gpu"`` (``gpu_num``) or ``"npu"`` (``npu_num``).

    Returns:
        One row per version of the pool asking for the resource, in queue order: the identity
        column(s) (``version_id``), ``create_time``, ``units`` (asked for), the observed
        ``start_time`` and ``queue_wait``, ``run_time`` (the replayed run length) and
        ``run_censored`` (still running: its true length is unknown), ``fitted`` (asks for no
        more than ``units``), ``left_out`` (why it was not replayed, null when it was),
        ``sim_start``, ``sim_wait`` and ``sim_end`` (null when left out).

    Example:
        >>> simulate(df, pool_id="pool-a100-research", units=48)["sim_wait"].max()
    """
    _check(units, policy, units_per_node)
    out = _replayed(_pool_versions(df, pool_id, resource, now), units, policy, units_per_node)
    return out.drop("_arrive", "_run", "_start")


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
        _check(size, policy, units_per_node)
    pool = _pool_versions(df, pool_id, resource, now)
    snapshot_ms = df.select(now_ms_expr(df, now).max()).item() if df.height else None
    parts = [
        _replayed(pool, size, policy, units_per_node).select(
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


def _wait_ms(wait: str | timedelta) -> int:
    """``"2h"``, ``"25m"``, ``"1d"`` (polars duration strings) or a timedelta, in milliseconds."""
    if isinstance(wait, timedelta):
        return wait // timedelta(milliseconds=1)
    epoch = pl.Series([0], dtype=TIME)
    try:
        return int(epoch.dt.offset_by(wait).dt.epoch("ms").item())
    except pl.exceptions.InvalidOperationError:
        raise ValueError(f"wait must be a duration such as '2h' or '30m', not {wait!r}") from None


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
    target_h = _wait_ms(wait) / HOUR_MS
    pool = _pool_versions(df, pool_id, resource, now).filter(
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


def _size_of(pool_sizes: PoolSizes | None, pool_id: str) -> int | None:
    """The known size of a pool from a mapping or a pools table (``pool_id``, ``units``)."""
    if pool_sizes is None:
        return None
    if isinstance(pool_sizes, pl.DataFrame):
        hit = pool_sizes.filter(pl.col("pool_id").cast(pl.String) == pool_id)
        return int(hit["units"].item()) if hit.height else None
    size = pool_sizes.get(pool_id)
    return int(size) if size is not None else None


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
    units = _size_of(pool_sizes, pool_id)
    units_from = "known size"
    if units is None:
        units_from = "observed peak"
        pool = _pool_versions(df, pool_id, resource, now).filter(pl.col("start_time").is_not_null())
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
