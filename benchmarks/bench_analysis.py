"""Time the analyses and the figure builders on 1,000,000 synthetic versions over a year.

Run: ``python benchmarks/bench_analysis.py [n_versions] [repeats]``. Targets from the issue:
``allocation`` hourly by pool at most 1.0 s; every figure (analysis + figure) at most 1.0 s and its
JSON under 300 KB. Each line shows the best of ``repeats`` runs; the exit code is 1 when a target
is missed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import polars as pl

from mavtools import analysis as A
from mavtools.frame import typed
from mavtools.local.synth import POOLS, bulk
from mavtools.views import distributions as D
from mavtools.views import timeseries as T

CAPACITY = {p.pool_id: p.capacity for p in POOLS}
FIGURES: dict[str, Callable[[pl.DataFrame], Any]] = {
    "allocation by pool": lambda d: T.allocation_figure(A.allocation(d, by="pool_id"), CAPACITY),
    "durations by outcome + pool": lambda d: D.durations_figure(
        A.duration_histogram(d, by="outcome"), A.duration_histogram(d, by="pool_id")
    ),
    "versions per week": lambda d: T.versions_figure(A.version_counts(d)),
    "GPU-hours by pool": lambda d: T.usage_figure(A.usage(d, by="pool_id")),
    "GPU-hours by flavor": lambda d: T.usage_figure(A.usage(d, by="flavor_code")),
    "GPU-hours by workspace": lambda d: T.usage_figure(A.usage(d, by="workspace_id")),
    "queue wait by GPU count": lambda d: D.queue_wait_figure(A.queue_wait(d, by="gpu_num")),
    "queue wait weekly": lambda d: D.queue_wait_figure(A.queue_wait(d, by="gpu_num", every="1w")),
    "failure rate flavor x pool": lambda d: D.failure_rate_figure(
        A.failure_rate(d, by=["flavor_code", "pool_id"])
    ),
    "failure rate weekly": lambda d: D.failure_rate_figure(
        A.failure_rate(d, by="pool_id", every="1w")
    ),
    "heatmap hour x weekday": lambda d: T.heatmap_figure(A.weekly_profile(d)),
}


def best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main(n: int = 1_000_000, repeats: int = 3) -> int:
    t0 = time.perf_counter()
    df = typed(bulk(n, days=365).with_columns(workspace_id=pl.lit("0")))
    print(
        f"frame of {df.height:,} versions over 365 days built in {time.perf_counter() - t0:.2f} s"
    )
    ok = True
    secs, alloc = best(lambda: A.allocation(df, every="1h", by="pool_id"), repeats)
    ok &= secs <= 1.0
    print(f"allocation {n / 1e6:g}M hourly by pool: {secs:.2f} s ({alloc.height:,} rows)")
    for name, fn in (
        ("capacity_needed by pool", lambda: A.capacity_needed(df)),
        ("quality_report", lambda: A.quality_report(df)),
        ("durations by pool", lambda: A.durations(df)),
    ):
        secs, _ = best(fn, repeats)
        print(f"{name}: {secs:.2f} s")
    for name, build in FIGURES.items():
        secs, fig = best(lambda b=build: b(df), repeats)
        kb = len(fig.to_json().encode()) / 1024
        ok &= secs <= 1.0 and kb < 300
        print(f"figure {name}: {secs:.2f} s, JSON {kb:.0f} KB")
    return 0 if ok else 1


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    sys.exit(main(*args))
