"""The replay engine of the what-if analyses: one pool's history queued again on another size.

:func:`simulate` replays a pool (the policies and what the replay cannot know are described in
:mod:`mavtools.analysis.whatif`, whose public functions summarize it); :func:`pool_versions`,
:func:`size_of` and :func:`wait_ms` are shared with :mod:`mavtools.analysis.sizing` and the
forecast.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final, Literal

import polars as pl

from mavtools.analysis.timeline import (
    FINISHED,
    TIME,
    held_until,
    units_column,
)
from mavtools.frame import _DURATION, ROW_KEY

__all__ = [
    "IDENTITY",
    "check_replay",
    "pool_versions",
    "replayed",
    "simulate",
    "size_of",
    "wait_ms",
]

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


def check_replay(units: int, policy: str, units_per_node: int | None) -> None:
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


def pool_versions(
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


def replayed(pool: pl.DataFrame, units: int, policy: str, upn: int | None) -> pl.DataFrame:
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
    check_replay(units, policy, units_per_node)
    out = replayed(pool_versions(df, pool_id, resource, now), units, policy, units_per_node)
    return out.drop("_arrive", "_run", "_start")


def wait_ms(wait: str | timedelta) -> int:
    """``"2h"``, ``"25m"``, ``"1d"`` (polars duration strings) or a timedelta, in milliseconds."""
    if isinstance(wait, timedelta):
        return wait // timedelta(milliseconds=1)
    epoch = pl.Series([0], dtype=TIME)
    try:
        return int(epoch.dt.offset_by(wait).dt.epoch("ms").item())
    except pl.exceptions.InvalidOperationError:
        raise ValueError(f"wait must be a duration such as '2h' or '30m', not {wait!r}") from None


def size_of(pool_sizes: PoolSizes | None, pool_id: str) -> int | None:
    """The known size of a pool from a mapping or a pools table (``pool_id``, ``units``)."""
    if pool_sizes is None:
        return None
    if isinstance(pool_sizes, pl.DataFrame):
        hit = pool_sizes.filter(pl.col("pool_id").cast(pl.String) == pool_id)
        return int(hit["units"].item()) if hit.height else None
    size = pool_sizes.get(pool_id)
    return int(size) if size is not None else None
