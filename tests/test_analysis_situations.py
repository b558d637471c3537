"""The six situations of issue 9, each over data fetched from the local server on 127.0.0.1.

The data is the hand-made listing of :mod:`mavtools.local.cluster` (whole-second ties, running and
ended-without-end versions, single-flavor pools, 0 accelerators on a GPU flavor, long waits then
canceled, a snapshot inside the repeated hour of the end of summer time). Expected numbers are
worked by hand from that listing or computed in DuckDB SQL, never by mavtools itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import polars.selectors as cs
import pytest
from polars.testing import assert_frame_equal

import mavtools as mt
from mavtools import analysis as A
from mavtools.api.client import Client
from mavtools.local.cluster import CLUSTER_SNAPSHOT, CLUSTER_TIMEZONE, cluster_records
from mavtools.store import VersionCache
from tests.conftest import PROJECT, TOKEN

BERLIN = CLUSTER_TIMEZONE


def fetch(server: Any, snapshot: datetime, **query: Any) -> pl.DataFrame:
    client = Client(server.url, PROJECT, allow_http=True, token=TOKEN, page_size=100)
    client.clock = lambda: snapshot  # the fetch time, fixed so the numbers are reproducible
    return client.list_versions(**query)


@pytest.fixture
def cluster(start_server: Any) -> pl.DataFrame:
    return fetch(start_server(cluster_records()), CLUSTER_SNAPSHOT)


def sql(query: str, **tables: pl.DataFrame) -> pl.DataFrame:
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table.with_columns((cs.categorical() | cs.enum()).cast(pl.String)))
    return con.sql(query).pl()


# ------------------------------------------------------------------ 1. the snapshot travels


def test_snapshot_time_travels_with_every_row(cluster):
    assert cluster["observed_at"].dtype == pl.Datetime("ms", "UTC")
    assert cluster["observed_at"].unique().to_list() == [CLUSTER_SNAPSHOT]
    solo = cluster.filter(pl.col("pool_id") == "pool-solo")  # its only version is running
    hourly = mt.allocation(solo, every="1h")
    assert hourly["time"].max() == datetime(2026, 10, 25, 1, tzinfo=UTC)
    assert hourly["allocated_peak"].to_list() == [8] * hourly.height
    assert mt.capacity_needed(solo, q=0.95)["needed"].to_list() == [8]


def test_filtered_allocation_equals_allocation_filtered_for_every_pool(cluster):
    window = {"start": datetime(2026, 10, 23, tzinfo=UTC), "end": CLUSTER_SNAPSHOT}
    whole = mt.allocation(cluster, every="1h", by="pool_id", **window)
    for pool in cluster["pool_id"].unique().to_list():
        part = mt.allocation(cluster.filter(pl.col("pool_id") == pool), by="pool_id", **window)
        assert part.height > 0, pool
        assert_frame_equal(part, whole.filter(pl.col("pool_id") == pool), check_dtypes=False)


def test_frames_of_two_fetches_hold_until_their_own_snapshot(start_server):
    solo = [r for r in cluster_records() if r["pool_id"] == "pool-solo"]
    other = [dict(r, version_id=9_000, workspace_id="w2") for r in solo]
    first = fetch(start_server(solo), CLUSTER_SNAPSHOT - timedelta(hours=3))
    second = fetch(start_server(other), CLUSTER_SNAPSHOT, workspace_id="w2")
    both = pl.concat([second, first]).sort("version_id")
    window = {"start": datetime(2026, 10, 24, 18, tzinfo=UTC), "end": CLUSTER_SNAPSHOT}
    whole = mt.allocation(both, every="1h", by="workspace_id", **window)
    # pool-solo started at 20:00 UTC; fetched at 22:30 (workspace "0") and at 01:30 ("w2")
    for ws, hours in (("0", 2.5), ("w2", 5.5)):
        part = mt.allocation(both.filter(pl.col("workspace_id") == ws), by="workspace_id", **window)
        assert_frame_equal(part, whole.filter(pl.col("workspace_id") == ws), check_dtypes=False)
        held = (part["allocated_mean"].fill_null(0) * part["coverage"]).sum()
        assert held == pytest.approx(8 * hours), ws


def test_cache_keeps_the_snapshot_column(start_server, tmp_path):
    server = start_server(cluster_records())
    client = Client(server.url, PROJECT, allow_http=True, token=TOKEN, page_size=100)
    df = mt.load_versions(client, cache_dir=tmp_path)
    assert df["observed_at"].null_count() == 0 and df["observed_at"].n_unique() == 1
    again = mt.load_versions(client, cache_dir=tmp_path)
    assert_frame_equal(again, df)
    scanned = mt.scan_cache(cache_dir=tmp_path).collect()
    assert scanned["observed_at"].to_list() == df.sort("version_id")["observed_at"].to_list()


def test_after_an_incremental_refresh_every_row_carries_the_new_snapshot(start_server, tmp_path):
    server = start_server(cluster_records())
    client = Client(server.url, PROJECT, allow_http=True, token=TOKEN, page_size=100)
    clock = [CLUSTER_SNAPSHOT]
    cache = VersionCache(tmp_path, clock=lambda: clock[0])
    first = cache.load(client)
    assert first["observed_at"].unique().to_list() == [CLUSTER_SNAPSHOT]
    end = CLUSTER_SNAPSHOT + timedelta(hours=1)
    server.api.update_version(
        6_000, status=10, end_time=int(end.timestamp() * 1000), duration=5 * 3_600_000
    )
    clock[0] = CLUSTER_SNAPSHOT + timedelta(hours=2)
    df = cache.load(client, max_age=0)
    assert mt.provenance(df).note.startswith("incremental refresh")  # type: ignore[union-attr]
    assert df["observed_at"].unique().to_list() == [clock[0]]  # kept rows too
    # Running versions now hold until the new snapshot; pool-solo's version ended at `end`.
    solo = mt.allocation(df.filter(pl.col("pool_id") == "pool-solo"), every="1h")
    assert (solo["allocated_mean"] * solo["coverage"]).sum() == pytest.approx(8 * 6.5)


# ------------------------------------------------------------------ 2. finished means finished


def test_finished_versions_without_end_hold_start_to_start_plus_duration(cluster):
    noend = cluster.filter(pl.col("pool_id") == "pool-noend")
    hourly = mt.allocation(noend, every="1h")
    # LOST 10:00-11:00, COMPLETED (no end, 2 h) 11:00-13:00, COMPLETED 10:30-11:30, all 8 GPUs;
    # FAILED with duration 0 holds nothing: 8 x (1 + 2 + 1) GPU-hours, over by 13:00 on Oct 23.
    assert hourly["time"].max() < datetime(2026, 10, 23, 13, tzinfo=UTC)  # not until "now"
    assert (hourly["allocated_mean"] * hourly["coverage"]).sum() == pytest.approx(32.0)
    assert hourly["allocated_peak"].max() == 16
    need = mt.capacity_needed(noend, q=1.0, start=datetime(2026, 10, 23, tzinfo=UTC))
    assert need["needed"].to_list() == [16]
    report = mt.quality_report(cluster).filter(pl.col("check") == "finished_without_end")
    assert report["versions"].to_list() == [3]
    assert sorted(report["example_ids"][0]) == ["6100", "6101", "6102"]
    stuck = mt.quality_report(cluster, stuck_after=timedelta(hours=1))
    running = stuck.filter(pl.col("check") == "stuck_running")["example_ids"][0]
    assert not set(running) & {"6100", "6101", "6102"}


# ------------------------------------------------------------------ 3. windows by overlap


def test_window_covers_every_version_that_overlaps_it(cluster):
    start, end = datetime(2026, 10, 24, 12, tzinfo=UTC), datetime(2026, 10, 25, tzinfo=UTC)
    got = mt.allocation(cluster, every="1h", by=None, start=start, end=end)
    expected = sql(
        f"""
        with bins as (
            select unnest(range(timestamptz '{start:%Y-%m-%d %H:%M}+00',
                                timestamptz '{end:%Y-%m-%d %H:%M}+00', interval 1 hour)) as b),
        runs as (
            select gpu_num as u, epoch_ms(start_time) as s,
                   coalesce(epoch_ms(end_time), epoch_ms(observed_at)) as e
            from df where start_time is not null and gpu_num > 0 and end_time is not null
               or start_time is not null and gpu_num > 0 and outcome not in
                  ('succeeded', 'failed', 'canceled'))
        select b as time,
               coalesce(sum(u * greatest(0, least(e, epoch_ms(b) + 3600000)
                                            - greatest(s, epoch_ms(b)))), 0) / 3600000.0 as m
        from bins left join runs on s < epoch_ms(b) + 3600000 and e > epoch_ms(b)
        group by b order by b
        """,
        df=cluster,
    )
    assert got["allocated_mean"].to_list() == pytest.approx(expected["m"].to_list())
    # The versions to select for that window are those whose run overlaps it, not those created in it.
    chosen = mt.overlapping(cluster, start=start, end=end)
    assert_frame_equal(mt.allocation(chosen, every="1h", by=None, start=start, end=end), got)
    by_creation = cluster.filter(pl.col("create_time") >= start)
    assert (
        mt.allocation(by_creation, every="1h", start=start, end=end)["allocated_mean"].sum()
        < got["allocated_mean"].sum()
    )


# ------------------------------------------------------------------ 4. partial bins


def test_last_bin_is_the_mean_over_its_covered_part(cluster):
    solo = cluster.filter(pl.col("pool_id") == "pool-solo")
    hourly = mt.allocation(solo, every="1h")
    last = hourly.row(-1, named=True)
    assert last["time"] == datetime(2026, 10, 25, 1, tzinfo=UTC)
    assert last["allocated_mean"] == 8.0  # held 01:00-01:30 of a bin the snapshot cuts in half
    assert last["coverage"] == 0.5
    clipped = mt.allocation(solo, every="1h", end=datetime(2026, 10, 24, 22, 15, tzinfo=UTC))
    assert clipped.row(-1, named=True)["allocated_mean"] == 8.0
    assert clipped.row(-1, named=True)["coverage"] == 0.25
    # Usage invariant: sum of mean x coverage x bin hours = unit-hours held in the window.
    held = (hourly["allocated_mean"] * hourly["coverage"]).sum()
    assert held == pytest.approx(8 * 5.5)


# ------------------------------------------------------------------ 5. one vocabulary


def test_failed_and_canceled_shares_are_reported_separately(cluster):
    rates = mt.failure_rate(cluster, by=None)
    expected = sql(
        """
        select count(*) as finished,
               count(*) filter (where outcome = 'failed') / count(*) as failed_share,
               count(*) filter (where outcome = 'canceled') / count(*) as canceled_share
        from df where outcome in ('succeeded', 'failed', 'canceled')
        """,
        df=cluster,
    ).row(0, named=True)
    got = rates.row(0, named=True)
    assert got["finished"] == expected["finished"]
    assert got["failed_share"] == pytest.approx(expected["failed_share"])
    assert got["canceled_share"] == pytest.approx(expected["canceled_share"])
    shares = mt.finished_shares(cluster)
    assert shares.finished == expected["finished"]
    assert shares.failed_share == pytest.approx(expected["failed_share"])
    assert shares.canceled_share == pytest.approx(expected["canceled_share"])


# ------------------------------------------------------------------ 6. time zones


def test_daily_bins_start_at_local_midnight_and_dst_day_is_25_hours(cluster):
    solo = cluster.filter(pl.col("pool_id") == "pool-solo")
    later = datetime(2026, 10, 26, tzinfo=UTC)
    daily = mt.allocation(solo, every="1d", tz=BERLIN, now=later)
    assert daily["time"].dtype == pl.Datetime("ms", BERLIN)
    got = {
        t.astimezone(UTC): (m, c)
        for t, m, c in daily.select("time", "allocated_mean", "coverage").iter_rows()
    }
    oct24 = datetime(2026, 10, 23, 22, tzinfo=UTC)  # local midnight, summer time
    oct25 = datetime(2026, 10, 24, 22, tzinfo=UTC)  # local midnight; the day has 25 hours
    assert got[oct24] == (pytest.approx(8 * 2 / 24), 1.0)  # held from 20:00 UTC = 22:00 local
    assert got[oct25] == (8.0, 1.0)  # held all 25 hours, averaged over 25 hours
    hourly = mt.allocation(solo, every="1h", tz=BERLIN, now=later)
    oct25_local = hourly.filter(pl.col("time").dt.date() == datetime(2026, 10, 25).date())
    assert oct25_local.height == 25  # 02:00 local happens twice
    profile = A.weekly_profile(solo, tz=BERLIN, now=later)
    slot = {(d, h): (m, n) for d, h, m, _, n in profile.iter_rows()}
    assert (6, 21) not in slot  # it started Saturday 22:00 local = 20:00 UTC
    assert slot[(6, 22)] == (8.0, 1)
    assert slot[(7, 2)] == (8.0, 2) and slot[(7, 3)] == (8.0, 1)  # 02:00 happened twice


def test_counts_and_rates_by_local_period(cluster):
    counts = A.version_counts(cluster, every="1d", by=None, tz=BERLIN)
    # Every version was created on Oct 23 or 24 local time; 00:00 local on Oct 24 is 22:00 UTC
    expected = sql(
        f"""
        select date_trunc('day', create_time at time zone '{BERLIN}') as d, count(*) as n
        from df group by d order by d
        """,
        df=cluster,
    )
    assert [t.date() for t in counts["time"]] == [d.date() for d in expected["d"]]
    assert counts["versions"].to_list() == expected["n"].to_list()
    waits = mt.queue_wait(cluster, by=None, every="1d", tz=BERLIN)
    assert waits["time"].dtype == pl.Datetime("ms", BERLIN)
    rates = mt.failure_rate(cluster, by=None, every="1d", tz=BERLIN)
    assert rates["time"].dtype == pl.Datetime("ms", BERLIN)


def test_positional_arguments_still_work_with_a_warning(cluster):
    with pytest.warns(DeprecationWarning, match="keyword"):
        old = mt.allocation(cluster, "1d", "pool_id")
    assert_frame_equal(old, mt.allocation(cluster, every="1d", by="pool_id"))


# ------------------------------------------- every analysis on the cluster listing, against SQL

HELD_SQL = """
    select pool_id, gpu_num as u, epoch_ms(start_time) as s,
           case when end_time is not null then epoch_ms(end_time)
                when outcome in ('succeeded', 'failed', 'canceled') then
                    case when duration > 0 then epoch_ms(start_time) + duration end
                else epoch_ms(observed_at) end as e
    from df where start_time is not null and gpu_num > 0
"""


def sql_df(cluster: pl.DataFrame) -> pl.DataFrame:
    return cluster.with_columns(duration=pl.col("duration").dt.total_milliseconds())


@pytest.mark.parametrize(("every", "tz"), [("1h", "UTC"), ("1h", BERLIN), ("1d", BERLIN)])
def test_allocation_matches_sql_in_local_bins(cluster, every, tz):
    lo, hi = datetime(2026, 10, 22, 22, tzinfo=UTC), CLUSTER_SNAPSHOT  # Oct 23 00:00 in Berlin
    got = mt.allocation(cluster, every=every, by="pool_id", start=lo, end=hi, tz=tz)
    if every == "1h":  # Berlin is a whole number of hours from UTC: local hours = UTC hours
        bins = f"""select b, b + interval 1 hour as b1 from (select unnest(range(
            timestamptz '{lo:%Y-%m-%d %H:%M}+00', timestamptz '{hi:%Y-%m-%d %H:%M}+00',
            interval 1 hour)) as b)"""
    else:  # local calendar days, each from its local midnight to the next one
        bins = f"""select (d::timestamp at time zone '{tz}') as b,
                          ((d + interval 1 day)::timestamp at time zone '{tz}') as b1
                   from (select unnest(range(date '2026-10-23', date '2026-10-26',
                                             interval 1 day)) as d)
                   where (d::timestamp at time zone '{tz}') < timestamptz '{hi:%Y-%m-%d %H:%M}+00'"""
    lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)
    expected = sql(
        f"""
        with bins as ({bins}),
        b as (select b, epoch_ms(b) as b0, epoch_ms(b1) as b1,
                     least(epoch_ms(b1), {hi_ms}) - greatest(epoch_ms(b), {lo_ms}) as covered
              from bins),
        held as (select pool_id, u, greatest(s, {lo_ms}) as s, least(e, {hi_ms}) as e
                 from ({HELD_SQL}) where e > s),
        pools as (select distinct pool_id from df),
        peaks as (  -- the level at the bin start and at every start inside the bin
            select p.pool_id, b.b, t.t,
                   (select coalesce(sum(u), 0) from held h
                    where h.pool_id = p.pool_id and h.s <= t.t and t.t < h.e) as level
            from pools p cross join b
            join (select b.b, b.b0 as t from b
                  union select b.b, h.s from b join held h on h.s >= b.b0 and h.s < b.b1) t
              on t.b = b.b)
        select p.pool_id, b.b as time,
               coalesce(sum(h.u * greatest(0, least(h.e, b.b1) - greatest(h.s, b.b0))), 0)
                   / any_value(b.covered) as allocated_mean,
               (select max(level) from peaks k where k.pool_id = p.pool_id and k.b = b.b)
                   as allocated_peak,
               any_value(b.covered) / any_value(b.b1 - b.b0) as coverage
        from pools p cross join b
        left join held h on h.pool_id = p.pool_id and h.s < b.b1 and h.e > b.b0
        group by p.pool_id, b.b order by p.pool_id, b.b
        """,
        df=sql_df(cluster),
    )
    assert got["time"].dtype == pl.Datetime("ms", tz)
    assert got.height == expected.height
    assert [t.timestamp() for t in got["time"]] == [t.timestamp() for t in expected["time"]]
    assert got["pool_id"].cast(pl.String).to_list() == expected["pool_id"].to_list()
    assert got["allocated_mean"].to_list() == pytest.approx(expected["allocated_mean"].to_list())
    assert got["allocated_peak"].to_list() == expected["allocated_peak"].to_list()
    assert got["coverage"].to_list() == pytest.approx(expected["coverage"].to_list())


@pytest.mark.parametrize("q", [0.5, 0.9, 1.0])
def test_capacity_needed_matches_sql(cluster, q):
    lo, hi = datetime(2026, 10, 23, tzinfo=UTC), CLUSTER_SNAPSHOT
    lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)
    got = mt.capacity_needed(cluster, q=q, by="pool_id", start=lo, end=hi)
    expected = sql(
        f"""
        with held as (select pool_id, u, greatest(s, {lo_ms}) as s, least(e, {hi_ms}) as e
                      from ({HELD_SQL}) where e > greatest(s, {lo_ms}) and s < {hi_ms}),
        pools as (select distinct pool_id from df),
        times as (select pool_id, t from (
                      select pool_id, s as t from held union select pool_id, e from held
                      union select pool_id, {lo_ms} from pools union select pool_id, {hi_ms}
                      from pools)),
        segs as (select pool_id, t, lead(t) over (partition by pool_id order by t) - t as ms
                 from times),
        levels as (select g.pool_id, g.ms,
                          (select coalesce(sum(u), 0) from held h
                           where h.pool_id = g.pool_id and h.s <= g.t and g.t < h.e) as level
                   from segs g where g.ms > 0),
        cum as (select pool_id, level,
                       sum(sum(ms)) over (partition by pool_id order by level) as covered
                from levels group by pool_id, level)
        select pool_id, min(level) filter (where covered >= {q} * {hi_ms - lo_ms}) as needed,
               max(level) as peak
        from cum group by pool_id order by pool_id
        """,
        df=sql_df(cluster),
    )
    assert got.select(pl.col("pool_id").cast(pl.String), "needed", "peak").rows() == (
        expected.rows()
    )


def test_the_numbers_of_the_issue_on_the_bundled_samples():
    """Issue 9's figures: the window's first day and the two shares, on the samples."""
    df = mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)
    day = {"start": datetime(2026, 9, 24, tzinfo=UTC), "end": datetime(2026, 9, 25, tzinfo=UTC)}
    by_overlap = mt.allocation(df, every="1d", by=None, **day)
    assert by_overlap["allocated_mean"].item() == pytest.approx(32.3, abs=0.05)
    chosen = mt.overlapping(df, **day)
    assert_frame_equal(mt.allocation(chosen, every="1d", by=None, **day), by_overlap)
    by_creation = df.filter(pl.col("create_time") >= day["start"])
    first = mt.allocation(by_creation, every="1d", by=None, **day)
    assert first["allocated_mean"].item() == pytest.approx(14.3, abs=0.05)  # what the slider did
    shares = mt.finished_shares(df)
    assert (round(shares.failed_share or 0, 3), round(shares.canceled_share or 0, 3)) == (
        0.128,  # 0.130 before six v2 jobs became Abnormal (unknown, not finished): issue 20
        0.033,
    )
    assert str(shares) == "12.8% of 2,980 finished versions failed, 3.3% were canceled"
