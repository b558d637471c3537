"""Time the analyses on 1,000,000 synthetic versions that each ran in two segments (a fault, a gap).

Run: ``python benchmarks/bench_segments.py [n_versions] [repeats]``. Prints the best of ``repeats``
runs of ``allocation`` hourly by pool and ``fault_hours`` by pool, flavor and user, beside
``allocation`` on the same versions without segments. No target: the figures show what run
segments cost (twice the intervals to sweep).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import polars as pl

from mavtools import analysis as A
from mavtools.frame import typed
from mavtools.local.synth import bulk


def best(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def with_two_segments(df: pl.DataFrame) -> pl.DataFrame:
    """Every finished version: ran its first third, was rescheduled, ran its second half."""
    run = pl.col("end_time") - pl.col("start_time")

    def segment(start: pl.Expr, end: pl.Expr, recover: str | None) -> pl.Expr:
        return pl.struct(
            start=start,
            end=end,
            start_type=pl.lit("init_or_rescheduled"),
            end_reason=pl.lit("node_fault" if recover else None, dtype=pl.String),
            end_recover=pl.lit(recover, dtype=pl.String),
        )

    first = segment(pl.col("start_time"), pl.col("start_time") + run / 3, "job_reschedule")
    second = segment(pl.col("start_time") + run / 2, pl.col("end_time"), None)
    return df.with_columns(
        segments=pl.when(pl.col("end_time").is_not_null())
        .then(pl.concat_list(first, second))
        .cast(df.schema["segments"]),
        restarts=pl.when(pl.col("end_time").is_not_null()).then(pl.lit(1, dtype=pl.Int32)),
    )


def main(n: int = 1_000_000, repeats: int = 3) -> int:
    plain = typed(bulk(n, days=365).with_columns(workspace_id=pl.lit("0")))
    df = with_two_segments(plain)
    print(f"{n:,} versions, {df['segments'].is_not_null().sum():,} with two run segments")
    for name, fn in (
        ("allocation hourly by pool, no segments", lambda: A.allocation(plain, by="pool_id")),
        ("allocation hourly by pool, two segments", lambda: A.allocation(df, by="pool_id")),
        ("fault_hours by pool, flavor, user", lambda: A.fault_hours(df)),
    ):
        print(f"{name}: {best(fn, repeats):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
