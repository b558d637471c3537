"""Time the start predictor and its backtest, and print the backtest figures of the samples.

Run: ``python benchmarks/bench_queue.py [n_versions]``. Targets from issue 24 (exit code 1 when
one is missed):

* ``predict_start`` for one job on a pool of 100,000 versions: at most 2 s;
* ``backtest_start`` of 500 versions of that pool: at most 30 s;
* figures: the backtest on every GPU/NPU pool of the samples (10-90% coverage, median absolute
  error against the pool's 7-day median wait), and ``queue_length`` over the 100,000 versions.

The load is :func:`mavtools.local.synth.bulk` in one pool, replayed FIFO (:func:`mavtools.simulate`)
on 65% of its peak demand so that it queues for hours (median wait about 2 h), and once more on
60%, where the backlog runs away (thousands waiting ahead): the predictor's worst case.
"""

from __future__ import annotations

import sys
import time

import polars as pl

import mavtools as mt
from mavtools.frame import typed
from mavtools.local.synth import bulk

POOL = "pool-bench"


def queued_pool(n: int, share: float = 0.65) -> tuple[pl.DataFrame, int]:
    raw = bulk(n * 8 // 5, days=365).with_columns(pool_id=pl.lit(POOL), workspace_id=pl.lit("0"))
    df = typed(raw).filter(pl.col("gpu_num") > 0).head(n)
    peak = mt.capacity_needed(df, q=1.0, by=None, include_queued=True)["peak"].item()
    size = max(int(df["gpu_num"].max()), round(peak * share))  # type: ignore[arg-type]
    sim = mt.simulate(df, pool_id=POOL, units=size).select("version_id", s="sim_start", e="sim_end")
    replayed = (
        df.join(sim, on="version_id", how="left")
        .with_columns(start_time="s", end_time="e")
        .with_columns(queue_wait=pl.col("start_time") - pl.col("create_time"))
        .drop("s", "e")
    )
    return replayed, size


def main(n: int = 100_000) -> int:
    ok = True
    df, size = queued_pool(n)
    print(f"pool: {df.height:,} versions on {size} GPUs (FIFO replay of synth.bulk)")

    t0 = time.perf_counter()
    at = df["create_time"].max()
    got = mt.predict_start(df, pool_id=POOL, units=8, pool_size=size, at=at)
    elapsed = time.perf_counter() - t0
    ok &= elapsed <= 2.0
    print(
        f"predict_start (500 runs): {elapsed:.2f} s (target 2 s: "
        f"{'ok' if elapsed <= 2.0 else 'MISSED'}); {got['summary'].item()}"
    )

    t0 = time.perf_counter()
    back = mt.backtest_start(df, pool_id=POOL, pool_size=size, sample=500)
    elapsed = time.perf_counter() - t0
    ok &= elapsed <= 30.0
    print(
        f"backtest_start of 500 versions (200 runs each): {elapsed:.2f} s (target 30 s: "
        f"{'ok' if elapsed <= 30.0 else 'MISSED'}); {back['summary'].item()}"
    )

    worst, worst_size = queued_pool(n, 0.6)
    t0 = time.perf_counter()
    got = mt.predict_start(
        worst, pool_id=POOL, units=8, pool_size=worst_size, at=worst["create_time"].max()
    )
    elapsed = time.perf_counter() - t0
    print(  # beyond the case: no target, the figure says what the worst case costs
        f"predict_start with a runaway backlog ({got['waiting_ahead'].item():,} waiting ahead, "
        f"500 runs): {elapsed:.2f} s (no target: every run replays the whole backlog)"
    )

    t0 = time.perf_counter()
    q = mt.queue_length(df, every="1h", by="pool_id")
    print(f"queue_length hourly: {q.height:,} bins in {time.perf_counter() - t0:.2f} s")

    client = mt.samples_client()
    samples, pools = client.list_versions(workspace_id=mt.ALL_WORKSPACES), client.pools()
    print("backtest on the samples (500 versions per pool or all after the first 7 days):")
    for row in pools.filter(pl.col("units") > 0).iter_rows(named=True):
        t0 = time.perf_counter()
        b = mt.backtest_start(
            samples, pool_id=row["pool_id"], pool_size=pools, resource=row["accelerator"]
        )
        print(f"  {b['summary'].item()} ({time.perf_counter() - t0:.1f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:2])))
