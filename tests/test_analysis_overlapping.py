"""``overlapping`` keeps the frame's "now": a chosen subset is analysed as the whole frame would be.

Rows without ``observed_at`` (frames built by hand) hold until the latest moment the *whole* frame
vouches for (docs/semantics.md, "No ``observed_at``"). A subset vouches for less: a version that
is still running would stop holding at the subset's own latest timestamp. Expected numbers are
worked by hand.
"""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

import mavtools as mt
from mavtools.frame import stamp
from mavtools.views.aggregates import Selection, select
from tests.test_analysis import at, frame

#: A version running since 00:00, and one that ran 10:00-12:00: the frame vouches for 12:00.
ROWS = [
    {"c": 0, "s": 0, "e": None, "g": 1},
    {"c": 600, "s": 600, "e": 720, "g": 1},
]
START, END = at(0), at(480)  # 00:00-08:00: only the running version overlaps it


def test_chosen_subset_holds_until_the_frames_now():
    df = frame(ROWS)
    assert df["observed_at"].null_count() == df.height  # built by hand: no snapshot times
    chosen = mt.overlapping(df, start=START, end=END)
    assert chosen["version_id"].to_list() == [1]
    # By hand: the running version holds 1 GPU from 00:00 to 12:00, so every hour of the window.
    expected = pl.DataFrame(
        {
            "time": [at(60 * h) for h in range(8)],
            "allocated_mean": [1.0] * 8,
            "allocated_peak": [1] * 8,
            "coverage": [1.0] * 8,
        },
        schema_overrides={"time": pl.Datetime("ms", "UTC")},
    )
    whole = mt.allocation(df, every="1h", by=None, start=START, end=END)
    assert_frame_equal(whole, expected)
    assert_frame_equal(mt.allocation(chosen, every="1h", by=None, start=START, end=END), expected)
    needed = mt.capacity_needed(chosen, q=1.0, by=None, start=START, end=END)
    assert needed.select("needed", "hours").row(0) == (1, 8.0)


def test_chosen_subset_keeps_the_snapshot_times_it_had():
    df = stamp(frame(ROWS), at(300))  # fetched at 05:00: the running version holds until then
    chosen = mt.overlapping(df, start=START, end=END)
    assert chosen["observed_at"].to_list() == [at(300)]
    hourly = mt.allocation(chosen, every="1h", by=None, start=START, end=END)
    assert hourly["allocated_mean"].to_list() == [1.0] * 5 + [None] * 3
    assert hourly["coverage"].to_list() == [1.0] * 5 + [0.0] * 3


def test_dashboard_selection_by_pool_holds_until_the_frames_now():
    # The running version in pool-a, the one that ran 10:00-12:00 in pool-b: choosing pool-a alone
    # must not end the running version at its own start (the subset's latest timestamp).
    df = frame([{**ROWS[0], "pool": "pool-a"}, {**ROWS[1], "pool": "pool-b"}])
    for selection in (
        Selection({"pool_id": ["pool-a"]}),  # no window: the filter alone
        Selection({"pool_id": ["pool-a"]}, START.date(), START.date()),  # the whole first day
    ):
        chosen = select(df, selection)
        assert chosen["version_id"].to_list() == [1]
        # By hand: 1 GPU from 00:00 to the frame's now, 12:00.
        hourly = mt.allocation(chosen, every="1h", by=None)
        assert (hourly["allocated_mean"] * hourly["coverage"]).sum() == 12.0
