"""The seven shapes of issue 20, each worked by hand: numbers that were wrong without an error.

Every case is a frame of the documented contract (built with :func:`tests.strategies.version`)
and a number worked out on paper in the comment above its assertion.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import mavtools as mt
from mavtools.frame import stamp
from mavtools.local import synth
from mavtools.local.fake import RunningServer
from mavtools.store import load_versions
from tests.conftest import PROJECT, TOKEN
from tests.strategies import frame_of, version
from tests.test_cache import client_for, small_records
from tests.test_v2 import FLAVORS, make_jobs, start_v2

SNAP = datetime(2026, 6, 1, tzinfo=UTC)  # the snapshot time of every case
H = timedelta(hours=1)
D = timedelta(days=1)


def unit_hours(alloc: pl.DataFrame) -> float:
    """Sum of allocated_mean x coverage x bin hours (the usage invariant of the analysis)."""
    length = pl.col("time").dt.offset_by("1d") - pl.col("time")  # bins of these cases are days
    return float(
        alloc.select(
            (
                pl.col("allocated_mean").fill_null(0)
                * pl.col("coverage")
                * length.dt.total_milliseconds()
                / 3_600_000
            ).sum()
        ).item()
    )


# 1 -- an unknown outcome holds for its duration, not until the snapshot ------------------------


def abnormal_frame() -> pl.DataFrame:
    # A v2 job ran 1 h on 8 GPUs and went Abnormal (status 0, outcome unknown) 30 days before
    # the snapshot; a second Abnormal one started but the API sent no duration.
    start = SNAP - 30 * D - H
    rows = [
        version(api="v2", ident=1, status=0, create=start - H, start=start, duration=H, gpu=8),
        version(
            api="v2", ident=2, status=0, create=start, start=start, duration=timedelta(0), gpu=8
        ),
    ]
    return stamp(frame_of(rows), SNAP)


def test_unknown_outcome_holds_for_its_duration_only() -> None:
    df = abnormal_frame()
    # 8 GPUs x 1 h = 8 GPU-hours, in usage, allocation and the bill alike (was 5,760 = 8 x 720).
    assert mt.usage(df, by=None)["gpu_hours"].item() == pytest.approx(8.0)
    assert unit_hours(mt.allocation(df, every="1d", by=None)) == pytest.approx(8.0)
    bill = mt.cost(df, rates={"p1": 1.0}, by=None, pool_sizes={"p1": 8})
    assert bill["unit_hours"].item() == pytest.approx(8.0)
    # 1 h of 8 GPUs in a window of 1 h: the 95% level is 8, and the pool is not saturated by
    # a job that ended a month ago (the window ends with the last holding).
    need = mt.capacity_needed(df, by=None, start=SNAP - 31 * D, q=0.95)
    assert need["needed"].item() == 0 and need["peak"].item() == 8
    assert not need["saturated"].item()
    # The one without a duration holds nothing, and the report says so.
    report = dict(mt.quality_report(df).select("check", "versions").iter_rows())
    assert report["unknown_without_duration"] == 1


# 2 -- nothing after the snapshot is counted ---------------------------------------------------


def test_window_past_the_snapshot_counts_no_future() -> None:
    # 8 GPUs held for the 10 days up to the snapshot (still running); the window ends 20 days
    # after the snapshot.
    df = stamp(
        frame_of([version(status=8, create=SNAP - 10 * D, start=SNAP - 10 * D, gpu=8)]), SNAP
    )
    later = SNAP + 20 * D
    # It ran all the observed time: half the window (was 0 = the 20 unobserved days won), and
    # the window is the 240 observed hours.
    need = mt.capacity_needed(df, by=None, q=0.5, end=later)
    assert need["needed"].item() == 8 and need["hours"].item() == pytest.approx(240.0)
    # A pool of 8 GPUs busy all the observed time has no idle hours (was 3,840 = 8 x 480).
    bill = mt.cost(df, rates={"p1": 1.0}, by=None, pool_sizes={"p1": 8}, end=later)
    assert bill["unit_hours"].item() == pytest.approx(1920.0)
    assert bill["idle_unit_hours"].item() == pytest.approx(0.0)
    # The allocation's bins after the snapshot say they are not covered.
    alloc = mt.allocation(df, every="1d", by=None, end=later)
    assert alloc.filter(pl.col("time") >= SNAP)["coverage"].max() == 0
    assert unit_hours(alloc) == pytest.approx(1920.0)


def test_an_end_after_the_row_snapshot_is_clipped() -> None:
    # Finished 2 GPUs from 10 h before the snapshot to 10 h after it (a clock ahead, or a
    # hand-built frame): only the 10 observed hours count, 20 GPU-hours.
    row = version(create=SNAP - 10 * H, start=SNAP - 10 * H, end=SNAP + 10 * H, gpu=2)
    df = stamp(frame_of([row]), SNAP)
    assert unit_hours(mt.allocation(df, every="1d", by=None)) == pytest.approx(20.0)
    assert mt.cost(df, rates={"p1": 1.0}, by=None)["unit_hours"].item() == pytest.approx(20.0)
    report = dict(mt.quality_report(df).select("check", "versions").iter_rows())
    assert report["after_snapshot"] == 1


# 3 -- a row without pool_id is billed ----------------------------------------------------------


def test_cost_share_bills_rows_without_a_pool() -> None:
    # 2 GPUs x 1 h in pool p1, 4 GPUs x 1 h on a public pool (no pool id): 6 unit-hours.
    t = SNAP - 2 * H
    rows = [
        version(ident=1, create=t, start=t, end=t + H, gpu=2, pool="p1", flavor="gpu.8"),
        version(ident=2, create=t, start=t, end=t + H, gpu=4, pool=None, flavor="gpu.8"),
    ]
    df = stamp(frame_of(rows), SNAP)
    rates = {"gpu.8": 1.0}
    for idle in ("share", "row", "leave"):
        bill = mt.cost(
            df, rates=rates, rate_by="flavor_code", by="pool_id", idle=idle, pool_sizes={"p1": 4}
        )
        # every mode bills 6 (share billed 2: an inner join dropped the null pool)
        assert bill["unit_hours"].sum() == pytest.approx(6.0), idle
    shared = mt.cost(df, rates=rates, rate_by="flavor_code", by="pool_id", pool_sizes={"p1": 4})
    by_pool = {r["pool_id"]: r for r in shared.iter_rows(named=True)}
    # p1: 4 x 1 h window - 2 used = 2 idle unit-hours, all on p1's user; the public pool has no
    # size, so no idle.
    assert by_pool["p1"]["idle_unit_hours"] == pytest.approx(2.0)
    assert by_pool[None]["idle_unit_hours"] == pytest.approx(0.0)
    assert by_pool[None]["total_cost"] == pytest.approx(4.0)


# 4 -- versions that ended without starting have a date -----------------------------------------


def test_never_started_v2_failures_are_dated_by_creation() -> None:
    # A v2 job created on Wednesday 2026-05-20 that failed to be created (CreateFailed: status 5)
    # and a v1 one canceled with an end the next Monday: both finished, neither started.
    created = datetime(2026, 5, 20, 9, tzinfo=UTC)
    rows = [
        version(api="v2", ident=1, status=5, create=created, duration=timedelta(0)),
        version(api="v1", ident=2, status=13, create=created, end=created + 5 * D),
    ]
    df = stamp(frame_of(rows), SNAP)
    weekly = mt.failure_rate(df, by=None, every="1w")
    assert weekly["time"].null_count() == 0  # was: the v2 job's period had no date
    assert weekly.select("time", "failed", "canceled").rows() == [
        (datetime(2026, 5, 18, tzinfo=UTC), 1, 0),  # the v2 job by its creation (Monday 18th)
        (datetime(2026, 5, 25, tzinfo=UTC), 0, 1),  # the v1 one by its end (Monday 25th)
    ]
    report = dict(mt.quality_report(df).select("check", "versions").iter_rows())
    assert report["never_started_without_end"] == 1


def test_v2_create_failed_jobs_from_the_server_have_a_period(
    start_server: Callable[..., RunningServer],
) -> None:
    jobs = make_jobs(6)
    for job in jobs[:2]:  # created, then failed before starting: no start, no end from the API
        job["status"].update(phase="Failed", secondary_phase="CreateFailed", start_time=0)
    _, client = start_v2(start_server, (), jobs)
    df = client.list_versions(api="v2")
    weekly = mt.failure_rate(df, by=None, every="1w")
    assert weekly["time"].null_count() == 0
    assert weekly["failed"].sum() == 2 + sum(j["status"]["phase"] == "Failed" for j in jobs[2:])


# 5 -- rows without a create time are left out, never a crash -----------------------------------


def test_replays_leave_out_a_started_version_without_create_time() -> None:
    t = SNAP - 10 * H
    rows = [
        version(ident=1, create=t, start=t, end=t + H, gpu=2),
        version(ident=2, create=None, start=t, end=t + 2 * H, gpu=2),  # v1 sent 0
        version(ident=3, create=t + H, start=t + H, end=t + 3 * H, gpu=2),
    ]
    df = stamp(frame_of(rows), SNAP)
    sim = mt.simulate(df, pool_id="p1", units=2)
    reasons = dict(zip(sim["version_id"], sim["left_out"], strict=True))
    assert reasons == {1: None, 2: "no create_time to arrive at", 3: None}
    # 2 GPUs: version 1 runs 0-1 h, version 3 arrives at 1 h and starts at once.
    assert sim.filter(pl.col("version_id") == 3)["sim_wait"].item() == timedelta(0)
    table = mt.what_if(df, pool_id="p1", sizes=[2, 4])
    assert table["versions"].to_list() == [2, 2]
    assert table["left_out_no_create_time"].to_list() == [1, 1]
    assert table["left_out_too_big"].to_list() == [0, 0]
    assert mt.size_for(df, pool_id="p1", wait="1h")["units"].item() == 2
    report = dict(mt.quality_report(df).select("check", "versions").iter_rows())
    assert report["no_create_time"] == 1


def test_demand_never_holds_less_than_allocation_without_create_time() -> None:
    # 3 GPUs started 2 h before the snapshot, creation unknown: demand counts it from its start.
    row = version(status=8, create=None, start=SNAP - 2 * H, gpu=3)
    df = stamp(frame_of([row]), SNAP)
    held = unit_hours(mt.allocation(df, every="1d", by=None))
    asked = unit_hours(mt.allocation(df, every="1d", by=None, include_queued=True))
    assert held == pytest.approx(6.0) and asked == pytest.approx(6.0)


# 6 -- a v1 refresh with a page-size multiple of new versions is incremental -------------------


def test_v1_refresh_of_a_whole_page_of_new_versions_stays_incremental(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    def finished(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for rec in records:  # every version over: no cached version can still change
            start = rec["start_time"] or rec["create_time"]
            rec.update(status=10, start_time=start, end_time=start + 60_000, duration=60_000)
        return records

    server = start_server(finished(small_records(60)), token="tok-SECRET-cache-7a1b")
    cache = tmp_path / "cache"
    load_versions(client_for(server, page_size=10), cache_dir=cache)
    later = synth.SNAPSHOT + timedelta(days=2)
    server.api.add_versions(
        finished(small_records(10, id_offset=50_000_000, days=1, seed=3, end=later))
    )
    before = server.api.requests
    df = load_versions(client_for(server, page_size=10), cache_dir=cache, max_age=0)
    # 10 new versions = one page of 10 exactly; one more row of slack reaches a cached version
    # and proves the read complete: 2 requests of 10 (was 7, a full read of 70).
    assert server.api.requests - before == 2
    assert df.height == 70
    assert "full fetch" not in mt.provenance(df).note  # type: ignore[union-attr]


# 7 -- v2 cards stay unknown when flavor_detail says nothing about them --------------------------


@pytest.mark.parametrize(
    "detail",
    [
        {"flavor_type": "GPU"},  # no flavor_info
        {"flavor_type": "GPU", "flavor_info": {"gpu": {"product_name": "V100"}}},  # no unit_num
    ],
)
def test_v2_cards_come_from_the_flavor_list_when_the_detail_is_silent(
    start_server: Callable[..., RunningServer], detail: dict[str, Any]
) -> None:
    jobs = [j for j in make_jobs(6) if j["spec"]["resource"]["flavor_id"] == "flv.gpu.8"]
    for job in jobs:
        job["spec"]["resource"]["flavor_detail"] = detail
    _, client = start_v2(start_server, (), jobs)
    df = client.list_versions(api="v2")
    # flv.gpu.8 has 8 GPUs per node in the flavor list (was 0: the job counted as CPU).
    expected = sorted(8 * j["spec"]["resource"]["node_count"] for j in jobs)
    assert sorted(df["gpu_num"].to_list()) == expected
    assert FLAVORS["flv.gpu.8"] == (8, 0)


def test_v2_cards_stay_unknown_when_neither_detail_nor_list_knows() -> None:
    from mavtools.frame_v2 import build_v2_frame, parse_search_page

    jobs = make_jobs(3)
    for job in jobs:
        job["spec"]["resource"]["flavor_detail"] = {"flavor_type": "GPU"}
    import json

    page = parse_search_page(json.dumps({"count": 3, "items": jobs}).encode(), where="page 1")
    df = build_v2_frame([page.records], "0", {})
    assert df["gpu_num"].null_count() == 3 and df["npu_num"].null_count() == 3


# -- the cluster data set's v2 jobs, over HTTP ---------------------------------------------------


def test_cluster_v2_jobs_read_over_http_give_the_hand_worked_numbers(
    start_server: Callable[..., RunningServer],
) -> None:
    from mavtools.local.cluster import CLUSTER_SNAPSHOT, cluster_records, cluster_v2_jobs

    server, _ = start_v2(start_server, cluster_records(), cluster_v2_jobs())
    client = mt.Client(server.url, PROJECT, token=TOKEN, allow_http=True)
    client.clock = lambda: CLUSTER_SNAPSHOT
    df = client.list_versions(api="v2")
    assert df.height == 4
    # Abnormal 1 h x 8 + Lost 2 h x 8 = 24 GPU-hours in pool-v2; the public job 3 h x 1.
    alloc = mt.allocation(df, every="1d", by="pool_id", tz="Europe/Berlin")
    length = (pl.col("time").dt.offset_by("1d") - pl.col("time")).dt.total_milliseconds()
    held = dict(
        alloc.group_by("pool_id")
        .agg((pl.col("allocated_mean").fill_null(0) * pl.col("coverage") * length).sum() / HOUR_MS)
        .iter_rows()
    )
    assert held == {"pool-v2": pytest.approx(24.0), None: pytest.approx(3.0)}
    bill = mt.cost(
        df,
        rates={"modelarts.p3.8xlarge": 2.0, "modelarts.p3.large.public": 1.0},
        rate_by="flavor_code",
        by="pool_id",
        pool_sizes={"pool-v2": 8},
    )
    rows = {r["pool_id"]: r for r in bill.iter_rows(named=True)}
    assert rows[None]["unit_hours"] == pytest.approx(3.0) and rows[None]["cost"] == 3.0
    assert rows["pool-v2"]["unit_hours"] == pytest.approx(24.0)
    # The create-failed job is dated by its creation (Saturday 24 October: week of the 19th).
    weekly = mt.failure_rate(df, by=None, every="1w", tz="Europe/Berlin")
    assert weekly["time"].null_count() == 0 and weekly["failed"].sum() == 2  # Lost + CreateFailed
    report = dict(mt.quality_report(df).select("check", "versions").iter_rows())
    assert report["never_started_without_end"] == 1 and report["lost"] == 1


HOUR_MS = 3_600_000


# -- run segments and node counts (issue 19's columns) on the invariants -------------------------


def elastic_frame() -> pl.DataFrame:
    # A v2 job on 1 node x 8 GPUs, created 4 h before the snapshot, started 1 h later; 1 h after
    # its start it grew to 2 nodes (16 GPUs) and still runs at the snapshot.
    t0 = SNAP - 4 * H
    row = version(
        api="v2",
        status=8,
        create=t0,
        start=t0 + H,
        duration=3 * H,
        gpu=8,
        node_count=1,
        node_counts=[{"time": t0 + 2 * H, "nodes": 2}],
    )
    return stamp(frame_of([row]), SNAP)


def test_demand_of_an_elastic_job_is_never_below_what_it_holds() -> None:
    df = elastic_frame()
    # Held: 8 GPUs x 1 h + 16 GPUs x 2 h = 40 GPU-hours, peak 16 (and usage says the same).
    held = mt.allocation(df, every="1d", by=None)
    assert unit_hours(held) == pytest.approx(40.0) and held["allocated_peak"].max() == 16
    assert mt.usage(df, by=None)["gpu_hours"].item() == pytest.approx(40.0)
    # Demand: 8 GPUs asked for while queued 1 h, then what it held: 48 GPU-hours, peak 16
    # (was 8 x 4 h = 32, peak 8: less than it held, the spec's node count all along).
    asked = mt.allocation(df, every="1d", by=None, include_queued=True)
    assert unit_hours(asked) == pytest.approx(48.0) and asked["allocated_peak"].max() == 16
    need = mt.capacity_needed(df, by=None, q=1.0, include_queued=True)
    assert need["needed"].item() == 16


def test_demand_of_a_shrunk_elastic_job_is_what_it_asked_for() -> None:
    # The same job shrinking to 0 nodes 1 h after its start: it held 8 GPU-hours, and it still
    # asks for its 8 GPUs until the snapshot: 8 x 4 h = 32 GPU-hours of demand.
    t0 = SNAP - 4 * H
    row = version(
        api="v2", status=8, create=t0, start=t0 + H, duration=3 * H, gpu=8, node_count=1,
        node_counts=[{"time": t0 + 2 * H, "nodes": 0}],
    )  # fmt: skip
    df = stamp(frame_of([row]), SNAP)
    assert unit_hours(mt.allocation(df, every="1d", by=None)) == pytest.approx(8.0)
    asked = mt.allocation(df, every="1d", by=None, include_queued=True)
    assert unit_hours(asked) == pytest.approx(32.0)


def test_fault_hours_of_a_frame_without_snapshot_times_use_the_whole_frame() -> None:
    # Built by hand, no observed_at: "now" is the latest moment the frame vouches for, 12:00 (a
    # v1 run's end). A running v2 job on 8 GPUs ran 10:00-11:00, failed over (job_reschedule),
    # and runs again from 11:30: 8 x (1 h + 0.5 h) = 12 GPU-hours, 8 of them in the faulted
    # segment; the v1 run adds 1 GPU x 3 h. (Was 0 fault hours: the faulted rows alone
    # vouched for 10:00 only, so the faulted segment was cut there.)
    day = datetime(2026, 6, 1, tzinfo=UTC)
    at = {h: day + timedelta(hours=h) for h in (9, 10, 11, 12)}
    segments = [
        {"start": at[10], "end": at[11], "start_type": "init_or_rescheduled",
         "end_reason": "NodeFault", "end_recover": "job_reschedule"},
        {"start": at[11] + H / 2, "end": None, "start_type": "init_or_rescheduled",
         "end_reason": None, "end_recover": None},
    ]  # fmt: skip
    rows = [
        version(api="v2", ident=1, status=8, create=at[10], start=at[10], gpu=8, node_count=1,
                segments=segments, restarts=1),
        version(ident=2, status=10, create=at[9], start=at[9], end=at[12], gpu=1),
    ]  # fmt: skip
    df = frame_of(rows)
    out = mt.fault_hours(df, by=None)
    assert out["unit_hours"].item() == pytest.approx(15.0)
    assert out["fault_unit_hours"].item() == pytest.approx(8.0)
    assert out["fault_segments"].item() == 1 and out["restarted_versions"].item() == 1
