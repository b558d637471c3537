"""Time a dashboard update, from a filter change to the new figure data.

Run: ``python benchmarks/bench_widgets.py [n_versions] [repeats]`` (default 1,000,000 and 15).
Targets from issue 13: p90 of a change at most 100 ms at 1,000,000 versions and at most 30 ms at
100,000 (in between, interpolated linearly). Measured in-process (no kernel, no
browser): the time of the ``value`` assignment, which runs the same observers a click runs
(filter, summary, aggregation, figure builders, and the display data plotly's ``plotly_mimetype``
renderer produces, as in a kernel), then the JSON encoding of that data, which the kernel does
before sending it to the browser. Each row is the median, p90 and worst of ``repeats`` changes;
the exit code is 1 when a p90 misses the target.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly.io as pio
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.percentile import percentile
from mavtools import analysis as A
from mavtools.frame import build_frame
from mavtools.local.synth import bulk
from mavtools.views import timeseries as T
from mavtools.views.widgets import Dashboard, _display_data


def target_s(n: int) -> float:
    """The p90 target: 30 ms at 100,000 versions, 100 ms at 1,000,000."""
    share = min(max((n - 100_000) / 900_000, 0.0), 1.0)
    return 0.030 + share * 0.070


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(n: int = 1_000_000, repeats: int = 15) -> int:
    pio.renderers.default = "plotly_mimetype"  # what a kernel uses; outside one it is unset
    t0 = time.perf_counter()
    df = build_frame([bulk(n, days=365)], "0")
    print(
        f"frame of {df.height:,} versions over 365 days built in {time.perf_counter() - t0:.2f} s"
    )
    t0 = time.perf_counter()
    dash = Dashboard(df)
    print(f"Dashboard(df) built in {time.perf_counter() - t0:.2f} s (pre-aggregation included)")
    target = target_s(n)
    panel = dash.panel
    pools = tuple(v for _, v in panel.pools.options)
    outcomes = tuple(v for _, v in panel.outcomes.options)
    n_days = len(panel.days.options)
    # Each filter goes to a narrower value and back to everything, ``repeats`` times.
    changes: list[tuple[str, Callable[[], None]]] = [
        ("pool: one pool", lambda: setattr(panel.pools, "value", pools[:1])),
        ("pool: back to all (whole frame)", lambda: setattr(panel.pools, "value", pools)),
        ("outcome: drop failed", lambda: setattr(
            panel.outcomes, "value", tuple(o for o in outcomes if o != "failed"))),
        ("outcome: back to all (whole frame)", lambda: setattr(panel.outcomes, "value", outcomes)),
        ("time: last 30 days", lambda: setattr(panel.days, "index", (n_days - 30, n_days - 1))),
        ("time: back to all (whole frame)", lambda: setattr(panel.days, "index", (0, n_days - 1))),
    ]  # fmt: skip
    ok = True
    header = (
        f"{'change':36} {'median ms':>10} {'p90 ms':>7} {'worst ms':>9} {'JSON ms':>8} {'KB':>6}"
    )
    print(f"\n{header}")
    for pair in range(0, len(changes), 2):
        totals: dict[str, list[float]] = {changes[pair][0]: [], changes[pair + 1][0]: []}
        encodes: dict[str, list[float]] = {name: [] for name in totals}
        size: dict[str, float] = {}
        for _ in range(repeats):
            for name, change in changes[pair : pair + 2]:
                update = timed(change)
                data = [out.figure for out in dash.outputs.values()]
                encode = timed(lambda data=data: json.dumps(data))
                totals[name].append(update + encode)
                encodes[name].append(encode)
                size[name] = len(json.dumps(data)) / 1024
        for name, times in totals.items():
            times.sort()
            med, p90 = statistics.median(times), percentile(times, 90)
            ok &= p90 <= target
            print(
                f"{name:36} {med * 1000:10.1f} {p90 * 1000:7.1f} {times[-1] * 1000:9.1f} "
                f"{statistics.median(encodes[name]) * 1000:8.1f} {size[name]:6.1f}"
            )
    every = dash.allocation_bin()
    agg, state = panel.aggregates, panel.state()
    print(f"\nwhole frame, per step (median of {repeats}; allocation bin {every}):")
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("summary", lambda: agg.summary(state)),
        ("allocation by pool (pre-aggregated)", lambda: agg.allocation(state)),
        ("  + its figure", lambda: T.allocation_figure(agg.allocation(state))),
        ("usage by workspace", lambda: agg.usage(state, by="workspace_id")),
        ("weekly counts", lambda: agg.version_counts(state)),
        ("duration histogram", lambda: agg.duration_histogram(state)),
        ("allocation from raw versions (not used)",
         lambda: A.allocation(df, every=every, by="pool_id", now=dash.now)),
        ("display data of the figures",
         lambda: [_display_data(spec) for spec in dash.specs.values()]),
    ]  # fmt: skip
    for name, step in steps:
        times = [timed(step) for _ in range(repeats)]
        print(f"  {name:45} {statistics.median(times) * 1000:8.1f} ms")
    print(f"\ntarget: p90 of every change <= {target * 1000:.0f} ms:", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    pl.Config.set_tbl_rows(20)
    sys.exit(main(*args))
