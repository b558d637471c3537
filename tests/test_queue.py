"""queue_length against a minute-by-minute brute force written independently of the sweep line.

The brute force scans every version at every minute ("waiting = created, not yet started, not
finished, not after its snapshot") and forms bins with ``zoneinfo`` local wall-clock arithmetic,
so windows, snapshots and the DST days of Europe/Berlin are checked against plain Python.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import mavtools as mt
from tests.test_analysis import FINISHED_CODES, T0, frame

MIN_S = 60


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


# A version: create minute, wait (None: never started), run (None: no end), status override,
# gpus, pool. Times in whole minutes after T0 (2026-03-02, so +27 days reaches the Berlin spring
# change on 2026-03-29 and the runs below can cross it when the offset says so).
version = st.fixed_dictionaries(
    {
        "c": st.integers(0, 600),
        "wait": st.one_of(st.none(), st.integers(0, 300)),
        "run": st.one_of(st.none(), st.integers(0, 240)),
        "cancel": st.booleans(),
        "g": st.sampled_from([0, 1, 2, 8]),
        "pool": st.sampled_from(["pa", "pb"]),
    }
)


def rows_from(specs: list[dict], offset: int) -> list[dict]:
    rows = []
    for v in specs:
        c = v["c"] + offset
        row = {"c": c, "g": v["g"], "pool": v["pool"]}
        if v["wait"] is None:  # never started: still queued, or canceled while queued
            row |= {"s": None, "e": (c + (v["run"] or 0)) if v["cancel"] else None}
            row["status"] = 12 if v["cancel"] else 7
            if v["cancel"] and v["run"] is None:  # finished, no end time: unknown exit
                row["status"], row["e"] = 12, None
        else:
            s = c + v["wait"]
            row |= {"s": s, "e": None if v["run"] is None else s + v["run"]}
        rows.append(row)
    return rows


def wait_span(r: dict, snap: int) -> tuple[int, int] | None:
    """[create, leave) of a row's wait, by the rule in plain words."""
    if r["g"] == 0:
        return None
    left = [t for t in (r.get("s"), r.get("e")) if t is not None]
    if left:
        leave = min(left)
    elif r.get("status") in FINISHED_CODES:
        return None  # finished without start or end: unknown
    else:
        leave = snap
    leave = min(leave, snap)
    return (r["c"], leave) if leave > r["c"] else None


def frame_snapshot(rows: list[dict]) -> int:
    return max(r[k] for r in rows for k in ("c", "s", "e") if r.get(k) is not None)


def local_bin(minute: int, every: str, tz: ZoneInfo) -> tuple[int, int]:
    """[start, end) in minutes after T0 of the bin holding ``minute``, by wall-clock arithmetic."""
    t = at(minute).astimezone(tz)
    if every == "1h":  # the local hour keeps its fold (the repeated hour is its own bin)
        b0u = t.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        b1u = b0u + timedelta(hours=1)
    else:  # local midnight to the next one: 23, 24 or 25 hours
        d0 = datetime(t.year, t.month, t.day, tzinfo=tz)
        d1 = datetime.combine(d0.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        b0u, b1u = d0.astimezone(UTC), d1.astimezone(UTC)
    return (
        int((b0u - T0).total_seconds()) // MIN_S,
        int((b1u - T0).total_seconds()) // MIN_S,
    )


def brute(
    rows: list[dict],
    snap: int,
    every: str,
    tz: str,
    start: int | None = None,
    end: int | None = None,
) -> pl.DataFrame:
    zone = ZoneInfo(tz)
    spans = [(r["pool"], sp, r["g"]) for r in rows if (sp := wait_span(r, snap))]
    if not spans and (start is None or end is None):
        return pl.DataFrame()  # no window to report on
    lo = start if start is not None else min(sp[0] for _, sp, _ in spans)
    hi = end if end is not None else max(sp[1] for _, sp, _ in spans)
    pools = sorted({r["pool"] for r in rows})
    known = {p: snap for p in pools}  # one snapshot for the frame
    first, _ = local_bin(lo, every, zone)
    bins = []
    b = first
    while b < hi:
        b0, b1 = local_bin(b, every, zone)
        bins.append((b0, b1))
        b = b1
    out = []
    for pool in pools:
        for b0, b1 in bins:
            counts, units = [], []
            c_from = max(b0, lo) if start is not None else b0
            c_to = min(b1, known[pool], hi)
            for m in range(max(b0, lo), min(b1, hi)):
                n = sum(1 for p, (s, e), _ in spans if p == pool and s <= m < e)
                u = sum(g for p, (s, e), g in spans if p == pool and s <= m < e)
                counts.append(n)
                units.append(u)
            covered = max(0, c_to - c_from)
            out.append(
                (
                    at(b0).astimezone(zone),
                    pool,
                    sum(counts) / covered if covered else None,
                    max(counts, default=0),
                    sum(units) / covered if covered else None,
                    max(units, default=0),
                    covered / (b1 - b0),
                )
            )
    return pl.DataFrame(
        out,
        schema={
            "time": pl.Datetime("ms", tz),
            "pool_id": pl.Categorical(),
            "waiting_mean": pl.Float64,
            "waiting_peak": pl.Int64,
            "units_waiting_mean": pl.Float64,
            "units_waiting_peak": pl.Int64,
            "coverage": pl.Float64,
        },
        orient="row",
    )


def check(rows, every, tz, start=None, end=None, now=None):
    snap = now if now is not None else frame_snapshot(rows)
    got = mt.queue_length(
        frame(rows),
        every=every,
        by="pool_id",
        tz=tz,
        start=None if start is None else at(start),
        end=None if end is None else at(end),
        now=None if now is None else at(now),
    )
    expected = brute(rows, snap, every, tz, start, end)
    if expected.is_empty():
        assert got.is_empty()
        return
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


SPRING = 27 * 24 * 60 - 300  # five hours before 2026-03-29 00:00 UTC (Berlin loses an hour)
AUTUMN = (datetime(2026, 10, 25, tzinfo=UTC) - T0) // timedelta(minutes=1)  # Berlin gains an hour


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(version, min_size=1, max_size=15),
    st.sampled_from(["1h", "1d"]),
    st.sampled_from(["UTC", "Europe/Berlin", "America/St_Johns"]),
    st.sampled_from([0, SPRING, AUTUMN - 500]),
)
def test_queue_length_matches_minute_brute_force(specs, every, tz, offset):
    check(rows_from(specs, offset), every, tz)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(version, min_size=1, max_size=12),
    st.integers(0, 500),
    st.integers(1, 500),
    st.integers(-100, 200),
    st.sampled_from(["UTC", "Europe/Berlin"]),
)
def test_queue_length_with_window_and_snapshot(specs, start, length, after, tz):
    rows = rows_from(specs, SPRING)
    lo, hi = SPRING + start, SPRING + start + length
    now = hi + after  # a snapshot before the window's end cuts its coverage
    if now <= lo:
        now = lo + 1
    check(rows, "1h", tz, start=lo, end=hi, now=now)


def test_queue_length_by_hand():
    # p waits for 8 GPUs from 0:00 to 1:30 (starts then), a 2-GPU version from 0:30 until
    # canceled at 1:00, and a 1-GPU version still queued at the snapshot 2:00.
    rows = [
        {"c": 0, "s": 90, "e": 120, "g": 8},
        {"c": 30, "s": None, "e": 60, "g": 2, "status": 12},
        {"c": 60, "s": None, "e": None, "g": 1},
    ]
    got = mt.queue_length(frame(rows), by=None, now=at(120))
    assert got["waiting_mean"].to_list() == pytest.approx([1.5, 1.5])
    assert got["units_waiting_mean"].to_list() == pytest.approx([9.0, (9 * 30 + 1 * 30) / 60])
    assert got["waiting_peak"].to_list() == [2, 2]
    assert got["units_waiting_peak"].to_list() == [10, 9]
    assert got["coverage"].to_list() == [1.0, 1.0]


def test_queue_length_empty_and_bad_input():
    empty = mt.queue_length(frame([{"c": 0, "s": 0, "e": 10, "g": 1}]))
    assert empty.is_empty() and "waiting_mean" in empty.columns
    with pytest.raises(ValueError, match="time zone"):
        mt.queue_length(frame([{"c": 0, "g": 1}]), tz="Mars/Olympus")
    with pytest.raises(ValueError, match="resource"):
        mt.queue_length(frame([{"c": 0, "g": 1}]), resource="tpu")


def test_queue_length_follows_filters():
    rows = [
        {"c": i * 7, "s": i * 7 + 40, "e": i * 7 + 90, "g": 1 + i % 3, "pool": p}
        for i, p in enumerate(["pa", "pb", "pc"] * 5)
    ]
    df = frame(rows)
    whole = mt.queue_length(df, every="1h", start=at(0), end=at(300), now=at(300))
    part = mt.queue_length(
        df.filter(pl.col("pool_id") == "pb"), every="1h", start=at(0), end=at(300), now=at(300)
    )
    assert_frame_equal(part, whole.filter(pl.col("pool_id") == "pb"), check_dtypes=False)
