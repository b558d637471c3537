"""When will a job submitted now start? A replay of the pool forward, many times, and its backtest.

:func:`predict_start` takes the pool's state at ``at`` as the frame knew it then:

Running
    versions started at or before ``at`` whose end was not known by then. Each one's remaining run
    is drawn from the run lengths of *similar* versions (same pool, same units; the whole pool when
    none is similar) that had finished by ``at`` and ran longer than it has run so far: the
    remaining time given the time already run.
Waiting
    versions created at or before ``at`` that had neither started nor ended by then, in order of
    creation (FIFO, ModelArts' default for dedicated pools); each one's run is drawn from the
    finished runs of similar versions. ``queue=`` (the live queue from :func:`mavtools.queue_now`)
    replaces this list, since the job search does not see other projects' jobs.
Arrivals
    under FIFO a version created after the job queues behind it and cannot delay its start, so
    none is drawn.
Entry delay
    ModelArts starts even a job that finds room a little after its creation (scheduling, image
    pull). The delay is drawn from the waits of versions that found room (nobody waiting ahead and
    enough units free at their creation) and had started by ``at``.

The job starts when every version ahead of it has started and enough units are free, and not
before its entry delay. The pool's size comes from ``pool_size`` (a number, a mapping or a pools
table such as :meth:`mavtools.Client.pools` returns), else the largest allocation the pool reached
(which underestimates a pool that was never full).

What it cannot know: priorities and preemption, node fragmentation, versions canceled while
waiting (each one ahead is assumed to run), and changes of the pool's size. :func:`backtest_start`
measures how much these matter on the frame's own history.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import polars as pl

from mavtools.analysis.timeline import (
    DAY_MS,
    DEFAULT_TZ,
    HOUR_MS,
    Resource,
    _finished,
    _unknown,
    epoch_ms,
    now_ms_expr,
    to_ms,
    units_column,
)

__all__ = ["backtest_start", "predict_start"]

PoolSize = int | Mapping[str, int] | pl.DataFrame
_SIZE_WORDS: Final = {
    "given": "as given",
    "pools table": "from the pools table",
    "observed peak": "its observed peak allocation",
}
_NONE: Final = np.iinfo(np.int64).max  # "not known": a start or end after every moment


@dataclass
class _Pool:
    """One pool's versions as arrays (epoch ms; ``_NONE`` where a time is not known)."""

    create: np.ndarray
    start: np.ndarray
    end: np.ndarray  # a real end (finished), else _NONE
    units: np.ndarray
    snapshot: int
    room: np.ndarray | None = None  # found room at creation (see _found_room)

    @property
    def run(self) -> np.ndarray:
        return self.end - self.start


def _pool(df: pl.DataFrame, pool_id: str, resource: str, now: datetime | None) -> _Pool:
    units = units_column(resource)
    none = pl.lit(_NONE, dtype=pl.Int64)
    # A finished version's end: end_time, else start + duration (the holding rule); a version
    # not finished has no end yet. Never started and finished: it left the queue at its end.
    # An ``unknown`` outcome (v2 Abnormal/Lost) is no proof the job still runs: as in
    # held_until, it holds for its duration, and without one it holds nothing.
    ran = pl.col("duration").dt.total_milliseconds()
    ended = _finished() | _unknown()
    end = (
        pl.when(pl.col("end_time").is_not_null())
        .then(epoch_ms(pl.col("end_time")))
        .when(ended & pl.col("start_time").is_not_null() & (ran > 0))
        .then(epoch_ms(pl.col("start_time")) + ran)
        .when(ended)
        .then(epoch_ms(pl.coalesce("start_time", "create_time")))
    )
    rows = (
        df.lazy()
        .filter((pl.col("pool_id").cast(pl.String) == pool_id) & (pl.col(units) > 0))
        .select(
            c=epoch_ms(pl.col("create_time")),
            s=epoch_ms(pl.col("start_time")).fill_null(none),
            e=end.fill_null(none),
            u=pl.col(units).cast(pl.Int64),
            k=now_ms_expr(df, now),
        )
        .filter(pl.col("c").is_not_null())
        .sort("c")
        .collect()
    )
    if rows.height == 0:
        pools = df.select(pl.col("pool_id").cast(pl.String).unique().sort())["pool_id"]
        known = ", ".join(str(p) for p in pools.head(10).to_list())
        raise ValueError(
            f"pool {pool_id!r} has no versions asking for {resource} units; its pools: {known}"
        )
    return _Pool(
        rows["c"].to_numpy(),
        rows["s"].to_numpy(),
        rows["e"].to_numpy(),
        rows["u"].to_numpy(),
        int(rows["k"].max()),  # type: ignore[arg-type]
    )


def _found_room(pool: _Pool, size: int) -> np.ndarray:
    """Per version, whether it found room at its creation: nobody waiting ahead and enough units
    free. Decided from what was known at that moment (starts and ends before it), so a
    prediction at ``at`` may use the waits of such versions that had started by ``at``."""
    c, s, e, u = pool.create, pool.start, pool.end, pool.units
    started = s != _NONE
    ss, su = s[started], u[started]
    order_s = np.argsort(ss)
    cum_s = np.concatenate([[0], np.cumsum(su[order_s])])
    es = np.where(e[started] == _NONE, _NONE, e[started])
    order_e = np.argsort(es)
    cum_e = np.concatenate([[0], np.cumsum(su[order_e])])
    held = (
        cum_s[np.searchsorted(ss[order_s], c, "left")]
        - cum_e[np.searchsorted(es[order_e], c, "right")]
    )
    # Versions ahead still waiting: created before this creation, not started by it.
    waiting_ahead = np.searchsorted(np.sort(c), c, "left") - np.searchsorted(
        ss[order_s], c, "right"
    )
    return started & (size - held >= u) & (waiting_ahead <= 0)


def _size(pool: _Pool, pool_id: str, pool_size: PoolSize | None) -> tuple[int, str]:
    if isinstance(pool_size, int) and not isinstance(pool_size, bool):
        return pool_size, "given"
    if isinstance(pool_size, pl.DataFrame):
        hit = pool_size.filter(pl.col("pool_id").cast(pl.String) == pool_id)
        if hit.height and hit["units"][0]:
            return int(hit["units"][0]), "pools table"
    elif isinstance(pool_size, Mapping) and pool_size.get(pool_id):
        return int(pool_size[pool_id]), "given"
    started = pool.start != _NONE
    ends = np.where(pool.end[started] == _NONE, pool.snapshot, pool.end[started])
    t = np.concatenate([pool.start[started], ends])
    d = np.concatenate([pool.units[started], -pool.units[started]])
    order = np.lexsort((d, t))  # ends before starts at the same moment
    peak = int(np.cumsum(d[order]).max()) if d.size else 0
    return max(peak, 1), "observed peak"


class _History:
    """What was known at ``at``: finished runs by units, entry delays, the running and waiting."""

    def __init__(self, pool: _Pool, at: int, size: int, exclude: int | None = None) -> None:
        c, s, e, u = pool.create, pool.start, pool.end, pool.units
        known = c <= at
        if exclude is not None:
            known = known.copy()
            known[exclude] = False
        done = known & (s <= at) & (e <= at) & (e != _NONE)
        self.runs_all = np.sort((e - s)[done])
        self.runs_by_units = {int(k): np.sort((e - s)[done & (u == k)]) for k in np.unique(u[done])}
        started = known & (s <= at)
        running = started & ((e > at) | (e == _NONE))
        self.running_elapsed = at - s[running]
        self.running_units = u[running]
        waiting = known & (s > at) & ~((e <= at) & (e != _NONE))
        self.waiting_units = u[waiting]
        if pool.room is None:
            pool.room = _found_room(pool, size)
        self.delays = (s - c)[started & pool.room]
        self.waits_week = (s - c)[started & (c >= at - 7 * DAY_MS)]

    def runs(self, units: int) -> np.ndarray:
        similar = self.runs_by_units.get(units)
        return similar if similar is not None and similar.size else self.runs_all


def _remaining(rng: np.random.Generator, runs: np.ndarray, elapsed: int, n: int) -> np.ndarray:
    """``n`` remaining run lengths of a version that has run ``elapsed``: runs of ``runs``
    (sorted) longer than that, uniformly, minus ``elapsed``."""
    i = int(np.searchsorted(runs, elapsed, "right"))
    if i >= runs.size:  # ran longer than anything seen: as long again
        return np.full(n, max(elapsed, 1), dtype=np.int64)
    return runs[rng.integers(i, runs.size, n)] - elapsed


def _simulate(hist: _History, units: int, size: int, runs: int, seed: int) -> np.ndarray:
    """Simulated waits (ms) of a job of ``units`` arriving at ``at``, ``runs`` times.

    The random draws are made for all runs at once (numpy); each run is then a FIFO pass over
    the queue with a heap of running versions' ends.
    """
    rng = np.random.default_rng(seed)
    r_units = hist.running_units.tolist()
    ends = np.empty((len(r_units), runs), dtype=np.int64)
    for j, (el, ru) in enumerate(zip(hist.running_elapsed.tolist(), r_units, strict=True)):
        ends[j] = _remaining(rng, hist.runs(ru), el, runs)
    queue = np.minimum(hist.waiting_units, size)  # a version bigger than the pool takes it all
    lengths = np.zeros((queue.size, runs), dtype=np.int64)
    for k in np.unique(queue).tolist():
        pool = hist.runs(int(k))
        rows = np.flatnonzero(queue == k)
        if pool.size:
            lengths[rows] = pool[rng.integers(0, pool.size, (rows.size, runs))]
    delays = (
        hist.delays[rng.integers(0, hist.delays.size, runs)]
        if hist.delays.size
        else np.zeros(runs, dtype=np.int64)
    )
    need_list = queue.tolist()
    held_now = sum(r_units)
    waits = np.empty(runs, dtype=np.int64)
    push, pop = heapq.heappush, heapq.heappop
    for k in range(runs):
        running = list(zip(ends[:, k].tolist(), r_units, strict=True))
        heapq.heapify(running)
        free, t = size - held_now, 0
        for need, run in zip(need_list, lengths[:, k].tolist(), strict=True):
            while free < need:
                end, held = pop(running)
                if end > t:
                    t = end
                free += held
            push(running, (t + run, need))
            free -= need
        while free < units:
            end, held = pop(running)
            if end > t:
                t = end
            free += held
        waits[k] = max(t, int(delays[k]))
    return waits


def _at_ms(at: datetime | None, pool: _Pool, tz: str) -> int:
    return pool.snapshot if at is None else to_ms(at, tz)


def _hours(ms: float) -> str:
    h = ms / HOUR_MS
    if h < 1:
        minutes = max(h * 60, 0)
        return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"
    return f"{h:.1f} h" if h < 48 else f"{h / 24:.1f} days"


def _article(n: int) -> str:
    """ "an 8-GPU job", "an 11-GPU job", "a 4-GPU job"."""
    text = str(n)
    spoken_vowel = text.startswith("8") or (len(text) in (2, 5) and text.startswith(("11", "18")))
    return "an" if spoken_vowel else "a"


def predict_start(
    df: pl.DataFrame,
    *,
    pool_id: str,
    units: int,
    at: datetime | None = None,
    queue: Any = None,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    pool_size: PoolSize | None = None,
    runs: int = 500,
    seed: int = 0,
    resource: Resource = "gpu",
    tz: str = DEFAULT_TZ,
) -> pl.DataFrame:
    """The predicted wait of a job of ``units`` submitted on ``pool_id`` at ``at``, as quantiles.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`.
        pool_id: the pool.
        units: GPUs (NPUs with ``resource="npu"``) the job asks for.
        at: when it is submitted (default: the frame's snapshot time); naive times are in ``tz``.
        queue: the live queue (:class:`mavtools.QueueNow` or its ``waiting`` frame): the pool's
            waiting versions in position order replace those the frame knows.
        quantiles: the wait quantiles to report (linear interpolation over the runs).
        pool_size: units in the pool (a number, pool id -> units, or a pools table with
            ``pool_id`` and ``units``); default the largest allocation the pool reached.
        runs: simulated futures; ``seed`` makes them repeatable.

    Returns:
        One row: ``pool_id``, ``units``, ``at``, ``pool_size``, ``size_from``, ``running`` and
        ``waiting_ahead`` (versions), ``units_ahead``, ``runs_known`` (finished runs the draws
        come from), ``wait_p10_hours`` ... (one per quantile),
        ``waits_hours`` (the simulated waits, a list, for a histogram) and ``summary``.

    Raises:
        ValueError: the pool has no versions, or ``units`` exceeds the pool's size.

    Example:
        >>> predict_start(df, pool_id="pool-a100-research", units=8)["summary"].item()
    """
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(f"units must be a positive whole number, not {units!r}")
    pool = _pool(df, pool_id, resource, None)
    size, size_from = _size(pool, pool_id, pool_size)
    if units > size:
        raise ValueError(
            f"a job of {units} units never starts on {pool_id}, which has {size} ({size_from}); "
            "pass pool_size= if the pool is bigger"
        )
    at_ms = _at_ms(at, pool, tz)
    hist = _History(pool, at_ms, size)
    if queue is not None:
        waiting = getattr(queue, "waiting", queue)
        mine = waiting.filter(pl.col("pool_id").cast(pl.String) == pool_id).sort("position")
        col = "gpu" if resource == "gpu" else "npu"
        hist.waiting_units = mine[col].cast(pl.Int64).to_numpy()
    waits = _simulate(hist, units, size, runs, seed)
    out = _result(pool_id, units, at_ms, size, size_from, hist, waits, quantiles, resource)
    if at is None:  # the snapshot: "now" as far as the data knows
        out = out.with_columns(
            pl.col("summary")
            .str.replace(" submitted ", " submitted now (", literal=True)
            .str.replace(" UTC on ", " UTC) on ", literal=True)
        )
    return out


def _result(
    pool_id: str,
    units: int,
    at_ms: int,
    size: int,
    size_from: str,
    hist: _History,
    waits: np.ndarray,
    quantiles: Sequence[float],
    resource: str,
) -> pl.DataFrame:
    hours = waits / HOUR_MS
    qs = {f"wait_p{q * 100:g}_hours": float(np.quantile(hours, q)) for q in quantiles}
    lo, mid, hi = (float(np.quantile(waits, q)) for q in (0.1, 0.5, 0.9))
    unit = "GPU" if resource == "gpu" else "NPU"
    summary = (
        f"{_article(units)} {units}-{unit} job submitted "
        f"{datetime.fromtimestamp(at_ms / 1000, UTC):%Y-%m-%d %H:%M} UTC on {pool_id}: "
        f"median {_hours(mid)}, 80% between {_hours(lo)} and {_hours(hi)} "
        f"({len(hist.waiting_units)} waiting ahead, {len(hist.running_units)} running, "
        f"a pool of {size} {unit}s, {_SIZE_WORDS[size_from]})"
    )
    if hist.runs_all.size == 0 and (hist.waiting_units.size or hist.running_units.size):
        summary += (
            "; no run of this pool had finished by then, so how long the jobs ahead run is "
            "unknown and the prediction is not to be trusted"
        )
    return pl.DataFrame(
        {
            "pool_id": [pool_id],
            "units": [units],
            "at": [datetime.fromtimestamp(at_ms / 1000, UTC)],
            "pool_size": [size],
            "size_from": [size_from],
            "running": [len(hist.running_units)],
            "waiting_ahead": [len(hist.waiting_units)],
            "units_ahead": [int(hist.waiting_units.sum())],
            "runs_known": [int(hist.runs_all.size)],
            **{k: [v] for k, v in qs.items()},
            "waits_hours": [hours.tolist()],
            "summary": [summary],
        },
        schema_overrides={"at": pl.Datetime("ms", "UTC"), "units": pl.Int64},
    )


def backtest_start(
    df: pl.DataFrame,
    *,
    pool_id: str,
    sample: int = 500,
    pool_size: PoolSize | None = None,
    min_history_days: float = 7,
    runs: int = 200,
    seed: int = 0,
    resource: Resource = "gpu",
) -> pl.DataFrame:
    """How well :func:`predict_start` predicted the waits the pool's versions really had.

    For up to ``sample`` started versions (drawn at random, seeded, from those created after the
    pool's first ``min_history_days``), the wait is predicted from the state at the version's
    creation using only what was known then (runs that had ended, versions that had started), and
    compared with the wait it had. The naive baseline predicts the pool's median wait over the
    previous 7 days (of versions that had started by then; 0 when none had).

    Args:
        min_history_days: only versions created this long after the pool's first version are
            predicted, so that a prediction has history to draw from and the baseline its week.

    Returns:
        One row: ``pool_id``, ``versions`` (predicted), ``coverage_10_90`` (share of real waits
        inside the predicted 10-90% interval), ``mae_hours`` (median absolute error of the
        predicted median), ``baseline_mae_hours``, ``beats_baseline`` and ``summary``.

    Example:
        >>> backtest_start(df, pool_id="pool-a100-research", sample=300)["summary"].item()
    """
    pool = _pool(df, pool_id, resource, None)
    size, _ = _size(pool, pool_id, pool_size)
    started = np.flatnonzero(
        (pool.start != _NONE)
        & (pool.create >= pool.create.min() + min_history_days * DAY_MS)
        & (pool.units <= size)
    )
    if started.size == 0:
        raise ValueError(
            f"pool {pool_id!r} has no started versions after its first {min_history_days:g} days "
            "of history; pass min_history_days=0 to backtest on a shorter history (the 7-day "
            "baseline then sees fewer days)"
        )
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(started, min(sample, started.size), replace=False)).tolist()
    real, p10, p50, p90, base = [], [], [], [], []
    for i in chosen:
        at = int(pool.create[i])
        hist = _History(pool, at, size, exclude=i)
        waits = _simulate(hist, int(pool.units[i]), size, runs, seed + i)
        real.append(int(pool.start[i] - at))
        p10.append(np.quantile(waits, 0.1))
        p50.append(np.quantile(waits, 0.5))
        p90.append(np.quantile(waits, 0.9))
        week = hist.waits_week
        base.append(float(np.median(week)) if week.size else 0.0)
    r, lo, mid, hi, b = (np.asarray(x, dtype=float) for x in (real, p10, p50, p90, base))
    coverage = float(np.mean((lo <= r) & (r <= hi)))
    mae = float(np.median(np.abs(mid - r))) / HOUR_MS
    base_mae = float(np.median(np.abs(b - r))) / HOUR_MS
    beats = mae < base_mae
    verdict = "beats" if beats else "does NOT beat"
    summary = (
        f"backtest on {len(chosen)} versions of {pool_id}: the 10-90% interval held "
        f"{coverage:.0%} of the real waits; median absolute error {_hours(mae * HOUR_MS)} vs "
        f"{_hours(base_mae * HOUR_MS)} for the pool's 7-day median wait, so the prediction "
        f"{verdict} the naive baseline"
    )
    return pl.DataFrame(
        {
            "pool_id": [pool_id],
            "versions": [len(chosen)],
            "coverage_10_90": [coverage],
            "mae_hours": [mae],
            "baseline_mae_hours": [base_mae],
            "beats_baseline": [beats],
            "summary": [summary],
        }
    )
