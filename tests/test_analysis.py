"""Each analysis against an independent computation: a brute-force minute sweep or DuckDB SQL.

The independent versions are written differently on purpose (plain Python loops over minutes,
SQL aggregates), on seeded random frames with the edge cases named in the issue, plus small cases
computed by hand.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from mavtools import analysis as A
from mavtools.frame import empty_frame, stamp, typed
from mavtools.local.cluster import CLUSTER_SNAPSHOT, cluster_records

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, midnight UTC
T0_MS = int(T0.timestamp() * 1000)
FINISHED_CODES = {10, 11, 12, 13, 14}
MIN = 60_000
HOUR = 3_600_000


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Typed frame from compact rows; times in minutes after T0, None = not set.

    Keys: c (create), s (start), e (end), g (gpu_num), n (npu_num), pool, status, d (duration min,
    default e - s), id, flavor, ws (workspace). Also the builder of tests/test_whatif.py.
    """
    recs = []
    for i, r in enumerate(rows):
        c = r.get("c", 0)
        s, e = r.get("s"), r.get("e")
        dur = r.get("d", (e - s) if s is not None and e is not None else 0)

        def ms(v: float | None) -> int:
            return 0 if v is None else T0_MS + int(v * MIN)

        status = r.get("status")
        if status is None:
            status = 10 if e is not None and s is not None else (8 if s is not None else 7)
        recs.append(
            {
                "version_id": r.get("id", i + 1),
                "version_name": f"v{i}",
                "version_desc": None,
                "status": status,
                "create_time": ms(c),
                "start_time": ms(s),
                "end_time": ms(e),
                "duration": int(dur * MIN),
                "pool_id": r.get("pool", "p1"),
                "flavor_code": r.get("flavor", "f1"),
                "gpu_num": r.get("g", 1),
                "npu_num": r.get("n", 0),
                "workspace_id": r.get("ws", "0"),
            }
        )
    schema = {
        "version_id": pl.Int64,
        "version_name": pl.String,
        "version_desc": pl.String,
        "status": pl.Int64,
        "create_time": pl.Int64,
        "start_time": pl.Int64,
        "end_time": pl.Int64,
        "duration": pl.Int64,
        "pool_id": pl.String,
        "flavor_code": pl.String,
        "gpu_num": pl.Int64,
        "npu_num": pl.Int64,
        "workspace_id": pl.String,
    }
    return typed(pl.DataFrame(recs, schema=schema))


def random_rows(rng: random.Random, n: int, span: int = 600) -> list[dict[str, Any]]:
    """Minute-rounded versions with every edge case: running, never started, zero GPUs, ..."""
    rows = []
    for _ in range(n):
        c = rng.randrange(span)
        kind = rng.random()
        s = c + rng.randrange(0, 90)
        e = s + rng.choice([0, 1, 30, 59, 60, 61, 125, rng.randrange(300)])
        if kind < 0.1:
            s = e = None  # queued
        elif kind < 0.2:
            e = None  # running
        elif kind < 0.25:
            s = None  # failed before starting
        finished_without_end = 0.25 <= kind < 0.3 and s is not None
        rows.append(
            {
                "c": c,
                "s": s,
                "e": e,
                "g": rng.choice([0, 1, 2, 8]),
                "n": rng.choice([0, 0, 1]),
                "pool": rng.choice(["pa", "pb", "pc"]),
                "flavor": rng.choice(["f1", "f2"]),
                "status": None if e is None or s is None or rng.random() < 0.6 else 11,
            }
        )
        if finished_without_end:  # the API sent no end time for a finished version
            rows[-1].update(e=None, status=rng.choice([10, 11, 14]), d=rng.choice([0, 30, 90]))
    return rows


# ------------------------------------------------------------------------- brute-force sweeps


def brute_levels(rows, now_min, lo, hi, units="g"):
    """Per pool and per minute in [lo, hi): units held, by scanning every version each minute."""
    levels = defaultdict(lambda: [0] * (hi - lo))
    for pool in {r["pool"] for r in rows}:
        levels[pool]  # every group appears, with zeros
    for r in rows:
        if r["s"] is None or r.get(units, 0) == 0:
            continue
        _, end = held_span(r, now_min)
        for m in range(lo, hi):
            if r["s"] <= m < end:
                levels[r["pool"]][m - lo] += r[units]
    return levels


def brute_allocation(rows, now_min, lo, hi, bin_min=60, explicit_start=False):
    """Expected rows (time, pool, mean, peak, coverage); bins aligned at multiples of bin_min.

    The mean is over the minutes of the bin inside the window (a given start cuts the first bin;
    the end, or the snapshot, cuts the last one); coverage is their share of the bin.
    """
    levels = brute_levels(rows, now_min, lo, hi)
    first = lo - lo % bin_min
    out = []
    for pool in sorted(levels):
        lv = levels[pool]
        for b in range(first, hi, bin_min):
            mins = [lv[m - lo] for m in range(max(b, lo), min(b + bin_min, hi))]
            covered = min(b + bin_min, hi) - (max(b, lo) if explicit_start else b)
            out.append((at(b), pool, sum(mins) / covered, max(mins), covered / bin_min))
    return pl.DataFrame(
        out,
        schema={
            "time": pl.Datetime("ms", "UTC"),
            "pool_id": pl.Categorical(),
            "allocated_mean": pl.Float64,
            "allocated_peak": pl.Int64,
            "coverage": pl.Float64,
        },
        orient="row",
    )


def held_span(r, now_min):
    """[start, end) of what a row holds: finished without an end, start + duration."""
    if r["e"] is not None:
        return r["s"], r["e"]
    return r["s"], (r["s"] + r.get("d", 0) if r.get("status") in FINISHED_CODES else now_min)


def window_of(rows, now_min):
    held = [held_span(r, now_min) for r in rows if r["s"] is not None and r["g"] > 0]
    held = [(s, e) for s, e in held if e > s]
    if not held:
        return None
    return min(s for s, _ in held), max(e for _, e in held)


def frame_now(rows):
    """The latest moment the rows vouch for (a timestamp, or a finished run's start + duration)."""
    times = [r[k] for r in rows for k in ("c", "s", "e") if r.get(k) is not None]
    ends = [held_span(r, 0)[1] for r in rows if r["s"] is not None and r["e"] is None]
    return max(times + ends)


# ---------------------------------------------------------------------------------- allocation


@pytest.mark.parametrize("seed", range(8))
def test_allocation_matches_minute_sweep(seed):
    rng = random.Random(seed)
    rows = random_rows(rng, rng.choice([1, 2, 5, 20, 60]))
    df = frame(rows)
    now = frame_now(rows)
    got = A.allocation(df, every="1h", by="pool_id")
    win = window_of(rows, now)
    if win is None:
        assert got.is_empty()
        return
    expected = brute_allocation(rows, now, *win)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_allocation_with_window_and_now_matches_sweep(seed):
    rng = random.Random(100 + seed)
    rows = random_rows(rng, 40)
    df = frame(rows)
    lo, hi, now = 95, 450, 500  # window not aligned with the hour bins
    got = A.allocation(df, every="1h", by="pool_id", start=at(lo), end=at(hi), now=at(now))
    expected = brute_allocation(rows, now, lo, hi, explicit_start=True)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 300),
            st.integers(0, 200),
            st.integers(0, 4),
            st.sampled_from(["pa", "pb"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from([15, 30, 60, 120]),
)
def test_allocation_property_mean_and_peak(specs, bin_min):
    rows = [
        {"c": s, "s": s, "e": (s + d) if ended else None, "g": g, "pool": p}
        for s, d, g, p, ended in specs
    ]
    now = frame_now(rows)
    got = A.allocation(frame(rows), every=f"{bin_min}m", by="pool_id")
    win = window_of(rows, now)
    if win is None:
        assert got.is_empty()
        return
    expected = brute_allocation(rows, now, *win, bin_min=bin_min)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_allocation_integral_equals_clipped_usage(seed):
    """sum(mean x coverage x bin hours) == unit-hours of the versions clipped to the window."""
    rng = random.Random(seed)
    rows = random_rows(rng, 200, span=3000)
    df = frame(rows)
    start, end, now = at(333.3), at(2111.7), at(2500)
    got = A.allocation(df, every="1h", by=None, start=start, end=end, now=now)
    integral = got.select((pl.col("allocated_mean") * pl.col("coverage")).sum()).item()  # 1 h
    finished = pl.col("outcome").is_in(["succeeded", "failed", "canceled"])
    clipped = (
        df.filter(pl.col("start_time").is_not_null())
        .select(
            s=pl.col("start_time").clip(lower_bound=start),
            e=pl.coalesce(
                "end_time",
                pl.when(finished).then(pl.col("start_time") + pl.col("duration")).otherwise(now),
            ).clip(upper_bound=end),
            g=pl.col("gpu_num"),
        )
        .select(((pl.col("e") - pl.col("s")).dt.total_milliseconds().clip(0) * pl.col("g")).sum())
        .item()
        / HOUR
    )
    assert integral == pytest.approx(clipped, rel=1e-12)


def test_allocation_by_hand():
    rows = [
        {"s": 30, "e": 90, "g": 2, "pool": "a"},  # crosses the 01:00 edge
        {"s": 90, "e": 120, "g": 4, "pool": "a"},  # starts when the first ends: no overlap
        {"s": 60, "e": None, "g": 1, "pool": "b"},  # running until now = 02:30
        {"s": 0, "e": 30, "g": 0, "pool": "b"},  # zero GPUs
        {"s": None, "e": None, "g": 8, "pool": "c", "c": 150},  # queued; sets now = 02:30
    ]
    got = A.allocation(frame(rows), every="1h", by="pool_id")
    expected = pl.DataFrame(
        {
            "time": [at(0), at(60), at(120)] * 3,
            "pool_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
            # 02:00-03:00 is covered up to now = 02:30: b held 1 GPU all of that half hour
            "allocated_mean": [1.0, 1.0 + 2.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0],
            "allocated_peak": [2, 4, 0, 0, 1, 1, 0, 0, 0],
            "coverage": [1.0, 1.0, 0.5] * 3,
        },
        schema_overrides={
            "time": pl.Datetime("ms", "UTC"),
            "pool_id": pl.Categorical(),
            "allocated_peak": pl.Int64,
        },
    )
    assert_frame_equal(got, expected)


def test_allocation_single_version_and_npu():
    df = frame([{"s": 10, "e": 70, "g": 0, "n": 3}])
    assert A.allocation(df).is_empty()
    got = A.allocation(df, resource="npu")
    assert got["allocated_mean"].to_list() == [2.5, 3.0]  # 01:00 bin: data ends at 01:10
    assert got["coverage"].to_list() == [1.0, pytest.approx(1 / 6)]
    assert got["allocated_peak"].to_list() == [3, 3]
    assert got.schema["time"] == pl.Datetime("ms", "UTC")


def test_allocation_empty_frame():
    got = A.allocation(empty_frame(), by="pool_id")
    assert got.is_empty()
    assert got.columns == ["time", "pool_id", "allocated_mean", "allocated_peak", "coverage"]


def test_allocation_daily_bins_and_rejects_bad_resource():
    df = frame([{"s": 0, "e": 36 * 60, "g": 2}])
    got = A.allocation(df, every="1d")
    assert got["allocated_mean"].to_list() == [2.0, 2.0]  # the second day is known until 12:00
    assert got["coverage"].to_list() == [1.0, 0.5]
    with pytest.raises(ValueError, match="resource"):
        A.allocation(df, resource="tpu")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ capacity_needed


def brute_capacity(rows, now, lo, hi, q):
    out = {}
    for pool, lv in brute_levels(rows, now, lo, hi).items():
        total = len(lv)
        needed = next(c for c in sorted(set(lv)) if sum(1 for x in lv if x <= c) >= q * total)
        out[pool] = (needed, max(lv), sum(lv) / total)
    return out


@pytest.mark.parametrize(("seed", "q"), [(s, q) for s in range(5) for q in (0.5, 0.9, 0.95, 1.0)])
def test_capacity_needed_matches_minute_sweep(seed, q):
    rng = random.Random(seed)
    rows = random_rows(rng, 50)
    now = frame_now(rows)
    lo, hi = window_of(rows, now)
    got = A.capacity_needed(frame(rows), q=q)
    want = brute_capacity(rows, now, lo, hi, q)
    assert {r[0]: r[1:] for r in got.select("pool_id", "needed", "peak").iter_rows()} == {
        p: (n, pk) for p, (n, pk, _) in want.items()
    }
    for pool, mean in got.select("pool_id", "mean").iter_rows():
        assert mean == pytest.approx(want[pool][2], rel=1e-12)


def test_capacity_needed_by_hand():
    # pool a: 4 GPUs for 1 h, 1 GPU for 3 h, then nothing for 6 h (window 10 h, set by pool b)
    rows = [
        {"s": 0, "e": 60, "g": 3, "pool": "a"},
        {"s": 0, "e": 240, "g": 1, "pool": "a"},
        {"s": 0, "e": 600, "g": 2, "pool": "b"},
    ]
    got = A.capacity_needed(frame(rows), q=0.95)
    assert got["needed"].to_list() == [4, 2]  # a: at most 1 GPU only 90% of the time
    assert got["peak"].to_list() == [4, 2]
    assert got["mean"].to_list() == [pytest.approx(0.7), pytest.approx(2.0)]
    assert got["hours_covered"].to_list() == [10.0, 10.0]
    assert got["summary"][0] == "a needs 4 GPUs to cover 95% of hours; it peaked at 4"
    at90 = A.capacity_needed(frame(rows), q=0.9)
    assert at90["needed"].to_list() == [1, 2]
    assert at90["summary"][0] == "a needs 1 GPU to cover 90% of hours; it peaked at 4"
    assert at90["hours_covered"][0] == pytest.approx(9.0)
    assert A.capacity_needed(empty_frame()).is_empty()
    with pytest.raises(ValueError, match="q must be"):
        A.capacity_needed(frame(rows), q=1.5)


# ---------------------------------------------------------------------------------- utilization


def test_utilization_by_hand():
    df = frame([{"s": 0, "e": 90, "g": 4, "pool": "a"}, {"s": 0, "e": 30, "g": 1, "pool": "z"}])
    got = A.utilization(df, capacity={"a": 8, "empty": 2}, every="1h")
    assert got.select(pl.col("pool_id").cast(pl.String), "utilization").rows() == [
        ("a", 0.5),
        ("a", 0.5),  # 4 of 8 GPUs for the 30 minutes of the bin the data covers
        ("empty", 0.0),
        ("empty", 0.0),
    ]
    assert got["peak_utilization"].to_list() == [0.5, 0.5, 0.0, 0.0]
    with pytest.raises(ValueError, match="positive"):
        A.utilization(df, capacity={"a": 0})


# ------------------------------------------------------------------ DuckDB-checked aggregations


def cluster_frame() -> pl.DataFrame:
    """The hand-made cluster-shaped listing (mavtools.local.cluster), typed and stamped."""
    raw = pl.DataFrame(cluster_records(), infer_schema_length=None)
    return stamp(typed(raw), CLUSTER_SNAPSHOT)


@pytest.fixture(params=[0, 1, 2, 3, "cluster"])
def random_frame(request):
    """Seeded random frames, and the cluster-shaped listing (whole-second ties, no-end, ...)."""
    if request.param == "cluster":
        return cluster_frame()
    rng = random.Random(1000 + request.param)
    return frame(random_rows(rng, rng.choice([1, 3, 80, 300]), span=20_000))


def sql(query: str, **tables: pl.DataFrame) -> pl.DataFrame:
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String)))
    return con.sql(query).pl()


def test_usage_matches_sql(random_frame):
    got = A.usage(random_frame, by="pool_id").with_columns(pl.col("pool_id").cast(pl.String))
    want = sql(
        """
        select pool_id, count(*) as versions, count(*) filter (where gpu_num > 0) as versions_using,
               sum(gpu_num * duration / 3600000.0) as gpu_hours
        from v group by pool_id
        """,
        v=random_frame.with_columns(duration=pl.col("duration").dt.total_milliseconds()),
    )
    total = want["gpu_hours"].sum()
    want = want.with_columns(share=pl.col("gpu_hours") / total if total else pl.lit(None))
    assert_frame_equal(got, want, check_row_order=False, check_dtypes=False, rel_tol=1e-9)


def test_failure_rate_matches_sql(random_frame):
    got = A.failure_rate(random_frame, by=["flavor_code", "pool_id"])
    want = sql(
        """
        select flavor_code, pool_id, count(*) finished,
               count(*) filter (where outcome = 'succeeded') succeeded,
               count(*) filter (where outcome = 'failed') failed,
               count(*) filter (where outcome = 'canceled') canceled,
               (count(*) filter (where outcome = 'failed'))::double / count(*) as failed_share,
               (count(*) filter (where outcome = 'canceled'))::double / count(*) as canceled_share,
               (count(*) filter (where outcome in ('failed', 'canceled')))::double / count(*)
                   as failure_rate
        from v where outcome in ('succeeded', 'failed', 'canceled')
        group by all order by all
        """,
        v=random_frame,
    )
    assert_frame_equal(
        got.with_columns(pl.col("flavor_code", "pool_id").cast(pl.String)), want, check_dtypes=False
    )


def test_durations_matches_sql(random_frame):
    got = A.durations(random_frame, by="outcome")
    want = sql(
        """
        select outcome, count(*) versions,
               quantile_cont(h, 0.5) p50_hours, quantile_cont(h, 0.9) p90_hours, max(h) max_hours
        from (select outcome, duration / 3600000.0 h from v
              where start_time is not null and end_time is not null)
        group by outcome
        """,
        v=random_frame.with_columns(duration=pl.col("duration").dt.total_milliseconds()),
    )
    assert_frame_equal(
        got.with_columns(pl.col("outcome").cast(pl.String)),
        want,
        check_row_order=False,
        check_dtypes=False,
        rel_tol=1e-9,
    )


def test_queue_wait_matches_sql(random_frame):
    got = A.queue_wait(random_frame, by="gpu_num", quantiles=(0.5, 0.9, 0.99), every="1w")
    want = sql(
        """
        select gpu_num, time_bucket(interval 7 days, create_time, timestamptz '2024-01-01') as time,
               count(*) versions, quantile_cont(w, 0.5) wait_p50_hours,
               quantile_cont(w, 0.9) wait_p90_hours, quantile_cont(w, 0.99) wait_p99_hours
        from (select *, queue_wait / 3600000.0 w from v where queue_wait is not null)
        group by all order by all
        """,
        v=random_frame.with_columns(queue_wait=pl.col("queue_wait").dt.total_milliseconds()),
    )
    assert_frame_equal(
        got,
        want.with_columns(pl.col("time").cast(pl.Datetime("ms", "UTC"))),
        check_dtypes=False,
        rel_tol=1e-9,
    )


# -------------------------------------------------------------------------- small cases by hand


def hand_frame() -> pl.DataFrame:
    return frame(
        [
            {"c": 0, "s": 6, "e": 66, "g": 2, "pool": "a", "flavor": "x"},  # 1 h, 2 GPU-hours
            {"c": 0, "s": 30, "e": 210, "g": 1, "pool": "a", "flavor": "y", "status": 11},
            {"c": 10, "s": 40, "e": 40, "g": 0, "pool": "b", "status": 13},  # zero length
            {"c": 20, "s": None, "e": None, "g": 4, "pool": "b"},  # queued
            {"c": 20, "s": 50, "e": None, "g": 8, "pool": "b", "d": 10},  # running, 10 min so far
        ]
    )


def test_usage_by_hand():
    got = A.usage(hand_frame())
    assert got.select(pl.col("pool_id").cast(pl.String), "versions", "gpu_hours").rows() == [
        ("a", 2, 5.0),
        ("b", 3, pytest.approx(8 / 6)),
    ]
    assert got["versions_using"].to_list() == [2, 2]
    assert A.usage(hand_frame(), by=None)["gpu_hours"].item() == pytest.approx(5 + 8 / 6)
    assert A.usage(empty_frame()).is_empty()


def test_queue_wait_by_hand():
    got = A.queue_wait(hand_frame(), by=None, quantiles=(0.5, 1.0))
    # started versions wait 6, 30, 30 and 30 minutes
    assert got.row(0) == (4, pytest.approx(0.5), pytest.approx(0.5))
    by_pool = A.queue_wait(hand_frame(), by="pool_id", quantiles=(0.5,))
    assert by_pool["wait_p50_hours"].to_list() == [pytest.approx(0.3), pytest.approx(0.5)]
    assert A.queue_wait(empty_frame()).is_empty()


def test_failure_rate_by_hand():
    got = A.failure_rate(hand_frame())
    assert got.select(
        pl.col("pool_id").cast(pl.String), "finished", "failed", "canceled"
    ).rows() == [
        ("a", 2, 1, 0),
        ("b", 1, 0, 1),
    ]
    assert got["failure_rate"].to_list() == [0.5, 1.0]
    weekly = A.failure_rate(hand_frame(), by=None, every="1w")
    assert weekly.select("time", "finished").rows() == [(T0, 3)]


def test_durations_by_hand():
    got = A.durations(hand_frame(), by=None)
    assert got.row(0) == (3, pytest.approx(1.0), pytest.approx(2.6), 3.0)
    assert A.durations(hand_frame(), resource="gpu", by=None)["versions"].item() == 2


def test_duration_histogram_by_hand():
    got = A.duration_histogram(hand_frame(), by=None, bins_per_decade=1)
    # 0 min -> first bin [1 min, 10 min); 60 min -> [10, 100); 180 min -> [100, 1000)
    assert got.select("lo_hours", "hi_hours", "versions").rows() == [
        (pytest.approx(1 / 60), pytest.approx(1 / 6), 1),
        (pytest.approx(1 / 6), pytest.approx(10 / 6), 1),
        (pytest.approx(100 / 60), pytest.approx(1000 / 60), 1),
    ]


def test_version_counts_and_weekly_profile_by_hand():
    counts = A.version_counts(hand_frame(), every="1d")
    assert counts.select(pl.col("outcome").cast(pl.String), "versions").rows() == [
        ("pending", 1),
        ("running", 1),
        ("succeeded", 1),
        ("failed", 1),
        ("canceled", 1),
    ]
    profile = A.weekly_profile(frame([{"s": 0, "e": 90, "g": 2}]))
    assert profile.rows() == [(1, 0, 2.0, 2, 1), (1, 1, 2.0, 2, 1)]  # 01:00-01:30 covered


def test_quality_report_by_hand():
    df = frame(
        [
            {"c": 0, "s": 10, "e": 70, "d": 50},  # duration disagrees by 10 min
            {"c": 0, "s": 10, "e": 10},  # zero length
            {"c": 0, "s": 10, "e": 5, "d": 0, "id": 30},  # ends before it starts
            {"c": 0, "s": 10, "e": 20, "status": 14, "id": 40},  # lost
            {"c": 0, "s": 10, "e": None},  # running for 8 days below: stuck
            {"c": 0, "s": None, "e": None},  # queued for 8 days: stuck
            {"c": 0, "s": 10, "e": 20, "status": 99, "id": 70},  # unknown code
            {"c": 50, "s": 40, "e": 60, "id": 80},  # starts before creation
            {"c": 0, "s": 10, "e": 20, "g": None, "id": 90},  # no gpu_num: unknown, not 0
        ]
    )
    report = A.quality_report(df, now=at(8 * 24 * 60))
    counts = dict(report.select("check", "versions").iter_rows())
    assert counts == {
        "duration_mismatch": 2,  # the 10-minute gap and the end-before-start row
        "zero_length": 1,
        "end_before_start": 1,
        "finished_without_end": 0,
        "lost": 1,
        "stuck_running": 1,
        "stuck_queued": 1,
        "unknown_status": 1,
        "future_timestamp": 0,
        "before_creation": 1,
        "unknown_without_duration": 0,
        "no_create_time": 0,
        "never_started_without_end": 0,
        "after_snapshot": 0,
        "unknown_units": 1,
    }
    examples = dict(report.select("check", "example_ids").iter_rows())
    assert examples["unknown_units"] == ["90"]
    # examples name rows by job_id, the identity shared by v1 versions and v2 jobs
    assert examples["lost"] == ["40"] and examples["before_creation"] == ["80"]
    assert A.quality_report(df, now=at(30))["versions"][8] == 2  # ends at 70, created at 50
    empty = A.quality_report(empty_frame())
    assert empty["versions"].sum() == 0 and empty.height == 15


def test_allocation_accepts_timedelta_bins():
    df = frame([{"s": 0, "e": 90, "g": 2}])
    assert_frame_equal(A.allocation(df, every=timedelta(minutes=30)), A.allocation(df, every="30m"))


def test_quality_report_states_thresholds_in_human_units():
    report = A.quality_report(empty_frame(), stuck_after=timedelta(days=7))
    meanings = dict(zip(report["check"], report["meaning"], strict=True))
    assert meanings["stuck_running"] == "running for longer than 7 days"
    report = A.quality_report(empty_frame(), stuck_after=timedelta(hours=36))
    meanings = dict(zip(report["check"], report["meaning"], strict=True))
    assert meanings["stuck_queued"] == "queued for longer than 36 h"


def test_demand_counts_queued_units_that_allocation_hides():
    # Pool of 4 GPUs: A runs 0-60 min; B asks at 30 min, waits for A, runs 60-90 min;
    # C asks for 2 GPUs at 40 min and gives up at 50 min without ever starting.
    df = frame(
        [
            dict(c=0, s=0, e=60, g=4, pool="p"),
            dict(c=30, s=60, e=90, g=4, pool="p"),
            dict(c=40, s=None, e=50, g=2, pool="p", status=13),
        ]
    )
    now = at(90)
    held = A.allocation(df, every="30m", now=now)
    wanted = A.allocation(df, every="30m", now=now, include_queued=True)
    assert held["allocated_mean"].to_list() == [4.0, 4.0, 4.0]
    assert wanted["allocated_mean"].to_list() == pytest.approx([4.0, 8.0 + 2.0 / 3.0, 4.0])
    assert wanted["allocated_peak"].to_list() == [4, 10, 4]
    plain = A.capacity_needed(df, q=1.0, now=now)
    demand = A.capacity_needed(df, q=1.0, now=now, include_queued=True)
    assert plain["needed"].to_list() == [4] and demand["needed"].to_list() == [10]
    assert demand["summary"][0] == (
        "p needs 10 GPUs to cover 100% of hours without queueing; it peaked at 10"
    )


def test_a_day_when_summer_time_starts_lasts_23_hours():
    # 2026-03-29 in Berlin: from 2026-03-28 23:00 UTC to 2026-03-29 22:00 UTC.
    day = 27 * 24 * 60  # minutes from T0 (2026-03-02 00:00 UTC) to 2026-03-29 00:00 UTC
    rows = [{"s": day - 60, "e": day + 22 * 60, "g": 3}, {"s": day, "e": day + 60, "g": 23}]
    got = A.allocation(frame(rows), every="1d", by=None, tz="Europe/Berlin")
    assert got["time"].to_list() == [datetime(2026, 3, 29, tzinfo=ZoneInfo("Europe/Berlin"))]
    # 3 units for all 23 hours, 23 units for one: 3 + 1 = 4 on average over the real length
    assert got["allocated_mean"].to_list() == [pytest.approx(4.0)]
    assert got["coverage"].to_list() == [1.0]
    hourly = A.allocation(frame(rows), every="1h", by=None, tz="Europe/Berlin")
    assert hourly.height == 23 and hourly["time"].dt.hour().to_list().count(2) == 0
    with pytest.raises(ValueError, match="time zone"):
        A.allocation(frame(rows), tz="Mars/Olympus")
