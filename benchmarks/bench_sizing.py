"""Time the capacity decision: sizing every pool, and the demand forecast with its backtests.

Run: ``python benchmarks/bench_sizing.py [n_versions]``. Figures from issue 23 (exit code 1 when
a target is missed):

* ``mt.sizing`` for every pool of 100,000 versions (a year of :func:`mavtools.local.synth.bulk`,
  nodes of 8 GPUs or 4 NPUs, today's size the observed peak): at most 5 s, with the replays it
  needed;
* ``mt.forecast`` + ``mt.backtest_forecast`` for 6 pools over a year, of daily and of weekly
  demand: at most 5 s. The forecast's own cost (the closed-form fit in plain Python) is printed
  apart from computing the demand series from the versions, which is polars' allocation sweep.
"""

from __future__ import annotations

import sys
import time

import polars as pl

import mavtools as mt
from mavtools.frame import typed
from mavtools.local.synth import bulk

TARGET_S = 5.0


def versions(n: int) -> pl.DataFrame:
    """``n`` versions asking for GPUs or NPUs over a year, in bulk's pools."""
    raw = bulk(n * 8 // 5, days=365).with_columns(workspace_id=pl.lit("0"))
    df = typed(raw)
    asking = df.filter((pl.col("gpu_num") > 0) | (pl.col("npu_num") > 0))
    # A seeded sample, not the first n: the whole year stays covered.
    return asking.sample(min(n, asking.height), seed=0).sort("create_time")


def main(n: int = 100_000) -> int:
    df = versions(n)
    pools = df.group_by("pool_id").agg(
        pl.len(), npu=(pl.col("npu_num") > 0).any(), gpu=(pl.col("gpu_num") > 0).any()
    )
    days = (df["create_time"].max() - df["create_time"].min()).days
    print(f"{df.height:,} versions in {pools.height} pools over {days} days")
    per_node = {
        p: 4 if npu and not gpu else 8
        for p, npu, gpu in pools.select("pool_id", "npu", "gpu").iter_rows()
    }
    t0, cpu0 = time.perf_counter(), time.process_time()
    decision = mt.sizing(df, units_per_node=per_node)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ok_sizing = elapsed <= TARGET_S
    print(
        f"sizing: {decision.height} pools of {df.height:,} versions in {elapsed:.2f} s "
        f"({cpu:.2f} s CPU) "
        f"(target {TARGET_S:.0f} s: {'ok' if ok_sizing else 'MISSED'})"
    )
    with pl.Config(tbl_rows=20, tbl_width_chars=160, fmt_str_lengths=60):
        print(
            decision.select(
                "pool_id", "units_per_node", "units_now", "units", "wait_now_hours", "wait_hours"
            )
        )

    t0 = time.perf_counter()
    daily = pl.concat(mt.demand(df, every="1d", resource=r) for r in ("gpu", "npu"))
    weekly = pl.concat(mt.demand(df, every="1w", resource=r) for r in ("gpu", "npu"))
    series_s = time.perf_counter() - t0
    daily = (
        daily.group_by("pool_id", "time").agg(pl.col("unit_hours").sum()).sort("pool_id", "time")
    )
    weekly = (
        weekly.group_by("pool_id", "time").agg(pl.col("unit_hours").sum()).sort("pool_id", "time")
    )
    t0 = time.perf_counter()
    for series, every in ((daily, "1d"), (weekly, "1w")):
        mt.forecast(series, every=every, horizon="13w")
        bt = mt.backtest_forecast(series, every=every, horizon="13w")
        print(
            f"  {every}: {bt.height} pools x {bt['periods'].max()} periods, "
            f"{bt['folds'].max()} folds, skill in {bt['skill'].sum()}, "
            f"MASE {bt['mase'].min():.2f}..{bt['mase'].max():.2f}"
        )
    fit_s = time.perf_counter() - t0
    ok_forecast = series_s + fit_s <= TARGET_S
    print(
        f"forecast + backtest: demand series {series_s:.2f} s + fits {fit_s:.3f} s = "
        f"{series_s + fit_s:.2f} s (target {TARGET_S:.0f} s: {'ok' if ok_forecast else 'MISSED'})"
    )
    return 0 if ok_sizing and ok_forecast else 1


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:2])))
