"""Time the what-if replay and measure how well it reproduces the samples' waits.

Run: ``python benchmarks/bench_whatif.py [n_versions]``. Figures from issue 12:

* ``what_if`` on 100,000 versions of one pool x 20 sizes: at most 10 s (exit code 1 when missed),
  and the replay's cost per version (each size replays every version once);
* one ``simulate`` at 1,000,000 versions;
* agreement: ``replay_check`` at the samples' real pool sizes (from the manifest): the share of
  versions whose simulated start is the observed one to the second, within 5 minutes, and the
  p50/p90 wait errors.

The load is :func:`mavtools.local.synth.bulk` put into one pool. Its arrivals and run lengths are
plausible, its queueing is not (bulk does not queue), so the replay decides every wait.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl

import mavtools as mt
from mavtools.frame import typed
from mavtools.local.synth import bulk

ROOT = Path(__file__).resolve().parent.parent
POOL = "pool-bench"


def one_pool(n: int) -> pl.DataFrame:
    """``n`` versions asking for GPUs, all in one pool (bulk makes about 2 in 3 GPU versions)."""
    raw = bulk(n * 8 // 5, days=365).with_columns(pool_id=pl.lit(POOL), workspace_id=pl.lit("0"))
    return typed(raw).filter(pl.col("gpu_num") > 0).head(n)


def main(n: int = 100_000) -> int:
    df = one_pool(n)
    demand = mt.capacity_needed(df, q=1.0, by=None, include_queued=True)["peak"].item()
    sizes = [max(8, round(demand * f / 20)) for f in range(6, 26)]  # 30% .. 125% of peak demand
    t0 = time.perf_counter()
    table = mt.what_if(df, pool_id=POOL, sizes=sizes)
    elapsed = time.perf_counter() - t0
    replays = df.height * len(sizes)
    ok = elapsed <= 10.0
    print(
        f"what_if: {df.height:,} versions of one pool x {len(sizes)} sizes ({sizes[0]}..{sizes[-1]} "
        f"GPUs) in {elapsed:.2f} s (target 10 s: {'ok' if ok else 'MISSED'}); "
        f"{elapsed / replays * 1e6:.2f} us per version per size"
    )
    with pl.Config(tbl_rows=25, tbl_width_chars=160):
        print(table.select("units", pl.selectors.starts_with("wait_").round(2), "utilization_mean"))

    size = sizes[len(sizes) // 2]
    t0 = time.perf_counter()
    mt.simulate(df, pool_id=POOL, units=size, policy="backfill")
    print(
        f"simulate backfill: {df.height:,} versions on {size} GPUs in {time.perf_counter() - t0:.2f} s"
    )

    big = one_pool(1_000_000)
    size = round(mt.capacity_needed(big, q=1.0, by=None, include_queued=True)["peak"].item() * 0.6)
    t0 = time.perf_counter()
    out = mt.simulate(big, pool_id=POOL, units=size)
    print(
        f"simulate: {big.height:,} versions on {size} GPUs in {time.perf_counter() - t0:.2f} s "
        f"({out['sim_start'].is_not_null().sum():,} replayed)"
    )

    manifest = json.loads((ROOT / "data" / "samples" / "manifest.json").read_text())
    samples = mt.load_versions(mt.samples_client(), workspace_id=mt.ALL_WORKSPACES)
    print("agreement at the samples' real sizes (FIFO):")
    for pool in manifest["pools"]:
        rows = samples.filter(pl.col("pool_id") == pool)
        resource = "npu" if rows["npu_num"].max() else "gpu"
        if not rows[f"{resource}_num"].max():
            print(f"  {pool}: no versions ask for GPUs or NPUs, nothing to replay")
            continue
        check = mt.replay_check(
            samples, pool_id=pool, pool_sizes=manifest["pools"], resource=resource
        ).row(0, named=True)
        print(
            f"  {pool} at {check['units']}: {check['versions']} versions, same start to the second "
            f"{check['share_same_start']:.1%}, within 5 min {check['share_within_5min']:.1%}; "
            f"p50 error {check['p50_error_hours'] * 60:+.1f} min, "
            f"p90 error {check['p90_error_hours'] * 60:+.1f} min"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
