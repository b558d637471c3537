"""The versions cache, over real HTTP to local FakeModelArts servers, counting their requests.

Independent checks: server-side filtered listings (the fake filters by itself), DuckDB SQL over
the Parquet files, and plain Python filters over the records the server was loaded with.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import mavtools.load
from mavtools.api.client import Client
from mavtools.errors import (
    AccessWarning,
    AuthError,
    CacheError,
    CacheMissError,
    ConfigError,
    SamplesWarning,
    ServerError,
)
from mavtools.frame import VERSION_SCHEMA, build_frame
from mavtools.load import default_client
from mavtools.local import synth
from mavtools.local.fake import RunningServer
from mavtools.provenance import provenance
from mavtools.store import (
    NEVER_EXPIRE,
    PARTITIONS,
    SCHEMA_VERSION,
    CacheStore,
    DatasetId,
    Query,
    Snapshot,
    VersionCache,
    default_cache_dir,
    load_versions,
    parse_max_age,
    scan_cache,
)
from mavtools.store import dataset as store_dataset

PROJECT = "0123456789abcdef0123456789abcdef"
OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
TOKEN = "tok-SECRET-cache-7a1b"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def servers(start_server: Callable[..., RunningServer]) -> Callable[..., RunningServer]:
    """The shared local-server fixture, with this module's token."""

    def start(records: Any = (), **options: Any) -> RunningServer:
        options.setdefault("token", TOKEN)
        return start_server(records, **options)

    return start


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"  # not created: the cache creates it on its first write


def small_records(n: int = 600, id_offset: int = 0, **options: Any) -> list[dict[str, Any]]:
    """``synth.bulk`` records of workspace "0"; ``id_offset`` keeps added versions apart."""
    frame = synth.bulk(n, **options).with_columns(pl.col("version_id") + id_offset)
    return [dict(r, workspace_id="0") for r in frame.to_dicts()]


def client_for(server: RunningServer, **options: Any) -> Client:
    options.setdefault("page_size", 100)
    options.setdefault("retry", _no_retry())
    project = options.pop("project_id", server.api.project_id)
    return Client(server.url, project, token=TOKEN, allow_http=True, **options)


def _no_retry() -> Any:
    from mavtools.api.client import RetryPolicy

    return RetryPolicy(attempts=1, backoff=0.0)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def by_id(frame: pl.DataFrame) -> pl.DataFrame:
    """The versions, in id order; without the snapshot time, which differs between fetches."""
    return frame.sort("version_id").drop("observed_at")


def full_fetch(server: RunningServer, **query: Any) -> pl.DataFrame:
    return client_for(server, page_size=1000).list_versions(**query)


def dataset_dir(cache_dir: Path, server: RunningServer, workspace: str = "0") -> Path:
    client = client_for(server)
    return CacheStore(cache_dir).directory(DatasetId(client.region, client.project_id, workspace))


def the_file(cache_dir: Path, server: RunningServer) -> Path:
    [path] = dataset_dir(cache_dir, server).glob("part-*.parquet")
    return path


# -- policy -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        (" 1.5h ", timedelta(minutes=90)),
        ("30s", timedelta(seconds=30)),
        (0, timedelta(0)),
        ("0", timedelta(0)),
        (timedelta(minutes=3), timedelta(minutes=3)),
        ("never", NEVER_EXPIRE),
        (NEVER_EXPIRE, NEVER_EXPIRE),
    ],
)
def test_max_age_forms(given: Any, expected: timedelta) -> None:
    assert parse_max_age(given) == expected


@pytest.mark.parametrize("bad", ["1 hour", "h", "-1h", -5, True, None, "1y"])
def test_max_age_rejects(bad: Any) -> None:
    with pytest.raises(ConfigError, match="max_age"):
        parse_max_age(bad)


def test_query_is_normalised_and_order_free() -> None:
    one = Query.of(status=["RUNNING", "failed"], pool_id=["b", "a"], workspace_id=["w2", "0"])
    two = Query.of(
        status=["failed", 8, "RUNNING"], pool_id=["a", "b", "a"], workspace_id=["0", "w2"]
    )
    assert one == two
    assert Query.of(workspace_id=["*", "0"]).workspace_id == ["*"]
    assert Query.of(since="2026-10-01").since == datetime(2026, 10, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="since"):
        Query.of(since="last week")


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAVTOOLS_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("MAVTOOLS_CACHE_DIR")
    assert default_cache_dir().name == "mavtools"


def test_first_fetch_creates_the_cache_directory_with_parents(
    servers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 item 1: a HOME without .cache (a fresh container) still gets a cache."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("MAVTOOLS_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    server = servers(small_records(50))
    df = load_versions(client_for(server))
    assert df.height == 50
    files = list((home / ".cache").rglob("part-*.parquet"))
    assert len(files) == 1 and files[0].is_relative_to(default_cache_dir())
    assert stat.S_IMODE((home / ".cache" / "mavtools").stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("https://modelarts.eu-de.otc.t-systems.com", "eu-de"),
        ("https://modelarts.eu-nl.otc.t-systems.com/", "eu-nl"),
        ("https://modelarts.ap-southeast-1.myhuaweicloud.com", "ap-southeast-1"),
        ("http://127.0.0.1:8123", "127.0.0.1-8123"),
    ],
)
def test_client_region_from_the_endpoint_or_given(endpoint: str, region: str) -> None:
    client = Client(endpoint, PROJECT, token=TOKEN, allow_http=True)
    assert client.region == region
    assert Client(endpoint, PROJECT, token=TOKEN, allow_http=True, region="eu-nl").region == "eu-nl"
    with pytest.raises(ConfigError, match="region"):
        Client(endpoint, PROJECT, token=TOKEN, allow_http=True, region="../x")


def two_clouds_home(tmp_path: Path) -> Path:
    """A HOME whose clouds.yaml has team-a (eu-de, PROJECT) and team-b (eu-nl, OTHER_PROJECT)."""
    home = tmp_path / "home"
    (home / ".config" / "openstack").mkdir(parents=True)
    (home / ".config" / "openstack" / "clouds.yaml").write_text(
        textwrap.dedent(
            f"""
            clouds:
              team-a:
                auth_type: token
                region_name: eu-de
                auth: {{token: "{TOKEN}", project_id: {PROJECT}}}
              team-b:
                auth_type: token
                region_name: eu-nl
                auth: {{token: "{TOKEN}", project_id: {OTHER_PROJECT}}}
            """
        )
    )
    return home


def test_os_cloud_names_several_projects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = two_clouds_home(tmp_path)
    monkeypatch.chdir(tmp_path)
    clients = default_client({"HOME": str(home), "OS_CLOUD": "team-a, team-b"})
    assert [(c.region, c.project_id) for c in clients] == [
        ("eu-de", PROJECT),
        ("eu-nl", OTHER_PROJECT),
    ]
    assert clients[1].endpoint == "https://modelarts.eu-nl.otc.t-systems.com"
    one = Client.from_cloud("team-b", {"HOME": str(home)})
    assert (one.region, one.project_id) == ("eu-nl", OTHER_PROJECT)


# -- hits, expiry, offline --------------------------------------------------------------------


def test_hit_makes_no_request_and_keeps_dtypes(servers: Any, cache_dir: Path) -> None:
    server = servers(small_records())
    client = client_for(server)
    first = load_versions(client, cache_dir=cache_dir)
    assert server.api.requests > 0
    info = provenance(first)
    assert info is not None and not info.from_cache and info.note == "full fetch"
    before = server.api.requests
    again = load_versions(client_for(server), cache_dir=cache_dir)
    assert server.api.requests == before
    assert again.schema == VERSION_SCHEMA
    assert_frame_equal(again, first)
    assert_frame_equal(by_id(again), by_id(full_fetch(server)))
    info = provenance(again)
    assert info is not None and info.from_cache and info.cache_age is not None
    assert info.rows == 600 and info.project_id == PROJECT


def test_expiry_follows_max_age(servers: Any, cache_dir: Path) -> None:
    server = servers(small_records())
    clock = Clock()
    vc = VersionCache(cache_dir, clock=clock)
    vc.load(client_for(server))
    count = server.api.requests
    clock.now += timedelta(minutes=59)
    df = vc.load(client_for(server), max_age="1h")
    assert server.api.requests == count
    assert provenance(df).cache_age == timedelta(minutes=59)  # type: ignore[union-attr]
    clock.now += timedelta(minutes=2)
    df = vc.load(client_for(server), max_age="1h")
    assert server.api.requests > count
    assert provenance(df).note.startswith("incremental refresh")  # type: ignore[union-attr]
    count = server.api.requests
    clock.now += timedelta(days=400)
    vc.load(client_for(server), max_age=NEVER_EXPIRE)
    assert server.api.requests == count
    vc.load(client_for(server), max_age=0)
    assert server.api.requests > count


def test_refresh_forces_full_fetch(servers: Any, cache_dir: Path) -> None:
    server = servers(small_records())
    load_versions(client_for(server), cache_dir=cache_dir)
    count = server.api.requests
    df = load_versions(client_for(server), cache_dir=cache_dir, refresh=True, max_age=NEVER_EXPIRE)
    assert server.api.requests > count
    assert provenance(df).note == "full fetch (refresh requested)"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="exclude each other"):
        load_versions(client_for(server), cache_dir=cache_dir, refresh=True, offline=True)


def test_offline_without_entry_raises_and_creates_nothing(servers: Any, cache_dir: Path) -> None:
    server = servers(small_records())
    with pytest.raises(CacheMissError) as caught:
        load_versions(client_for(server), cache_dir=cache_dir, offline=True, status="running")
    message = str(caught.value)
    assert message.count(". ") == 0 and message.endswith(".")
    assert "Nothing is cached" in message and TOKEN not in message
    assert server.api.requests == 0
    assert not cache_dir.exists()


def test_offline_serves_an_old_entry_without_network(servers: Any, cache_dir: Path) -> None:
    server = servers(small_records())
    clock = Clock()
    first = VersionCache(cache_dir, clock=clock).load(client_for(server))
    server.stop()  # nothing answers any more
    clock.now += timedelta(days=30)
    df = VersionCache(cache_dir, clock=clock).load(client_for(server), offline=True)
    assert_frame_equal(df, first)
    info = provenance(df)
    assert info is not None and info.from_cache and info.cache_age == timedelta(days=30)
    assert info.note.startswith("offline")


def test_samples_are_never_cached(cache_dir: Path) -> None:
    with pytest.warns(SamplesWarning):  # no credentials in the environment: samples
        df = mavtools.load.load_versions(cache_dir=cache_dir)
    info = provenance(df)
    assert info is not None and info.is_sample and info.note == "bundled samples, not cached"
    assert not cache_dir.exists()
    with pytest.warns(SamplesWarning):
        again = mavtools.load.load_versions(cache_dir=cache_dir, max_age=0)
    assert_frame_equal(again, df)
    assert provenance(again) == info  # same snapshot time: clock-free outputs


def test_status_filtered_queries_are_answered_from_the_dataset(
    servers: Any, cache_dir: Path
) -> None:
    records = small_records(800, days=5)  # ~160 versions a day: a dozen still running
    server = servers(records)
    running = load_versions(client_for(server), cache_dir=cache_dir, status="running")
    assert running.height and running["outcome"].cast(pl.String).unique().to_list() == ["running"]
    vid = running["version_id"][0]
    server.api.update_version(vid, status=10, end_time=1, duration=5)
    df = load_versions(client_for(server), cache_dir=cache_dir, status="running", max_age=0)
    assert vid not in df["version_id"].to_list()
    assert_frame_equal(by_id(df), by_id(full_fetch(server, status="running")))


def test_all_workspaces(servers: Any, cache_dir: Path) -> None:
    records = synth.simulate(900, seed=3)
    server = servers(records)
    df = load_versions(client_for(server), cache_dir=cache_dir, workspace_id="*")
    assert df["workspace_id"].n_unique() == 3
    count = server.api.requests
    again = load_versions(client_for(server), cache_dir=cache_dir, workspace_id=["*"])
    assert server.api.requests == count
    assert_frame_equal(again, df)
    refreshed = load_versions(client_for(server), cache_dir=cache_dir, workspace_id="*", max_age=0)
    assert_frame_equal(by_id(refreshed), by_id(df))


# -- incremental refresh ----------------------------------------------------------------------


def test_incremental_refresh_100k(servers: Any, cache_dir: Path) -> None:
    """100,000 cached; 100 created and 50 unfinished finished: at most 3 requests, same frame."""
    records = small_records(100_000)
    newest_first = records[::-1]
    # 50 versions deep in the newest 2,000 still running when cached (ranks 1900..1949).
    reopened = newest_first[1900:1950]
    for rec in reopened:
        rec.update(status=8, end_time=0)
    server = servers(records)
    load_versions(client_for(server, page_size=1000), cache_dir=cache_dir)

    for rec in reopened:
        server.api.update_version(
            rec["version_id"], status=10, end_time=rec["start_time"] + 60_000, duration=60_000
        )
    later = synth.SNAPSHOT + timedelta(hours=25)  # all 100 created after the cached ones
    server.api.add_versions(small_records(100, id_offset=50_000_000, days=1, seed=7, end=later))

    before = server.api.requests
    client = client_for(server, page_size=1000)  # a new client: offset mode from the sidecar
    df = load_versions(client, cache_dir=cache_dir, max_age=0)
    used = server.api.requests - before
    assert used <= 3
    # The client also asked for v2 jobs once: this old deployment answers 404 (not counted by
    # the v1 server), so the v2 part is skipped again and noted as such.
    assert client.requests_made == used + 1
    assert provenance(df).note == f"incremental refresh: {used + 1} requests"  # type: ignore[union-attr]
    assert provenance(df).extra["skipped"] == {"v2": "HTTP 404 APIGW.0101"}  # type: ignore[union-attr]
    assert df.height == 100_100
    assert_frame_equal(by_id(df), by_id(full_fetch(server)))
    finished = df.filter(pl.col("version_id").is_in([r["version_id"] for r in reopened]))
    assert finished["status_name"].cast(pl.String).unique().to_list() == ["COMPLETED"]
    # The stored entry is the merged one.
    stored = load_versions(client_for(server), cache_dir=cache_dir, offline=True)
    assert_frame_equal(stored, df)


def test_refresh_falls_back_to_full_fetch_when_unproven(servers: Any, cache_dir: Path) -> None:
    records = small_records(500)
    server = servers(records)
    load_versions(client_for(server), cache_dir=cache_dir)
    server.api.remove_version(records[10]["version_id"])  # an old, finished version disappears
    df = load_versions(client_for(server), cache_dir=cache_dir, max_age=0)
    note = provenance(df).note  # type: ignore[union-attr]
    assert note.startswith("full fetch: incremental refresh could not prove completeness (")
    assert "500 versions after merging, the server lists 499" in note
    assert_frame_equal(by_id(df), by_id(full_fetch(server)))


def test_refresh_reads_exactly_as_deep_as_the_oldest_unfinished(
    servers: Any, cache_dir: Path
) -> None:
    records = small_records(1000)  # over a year: only the newest few are unfinished
    old = records[99]  # newest-first rank 900: the first version of the 10th page of 100
    old.update(status=7, start_time=0, end_time=0, duration=0)
    server = servers(records)
    load_versions(client_for(server), cache_dir=cache_dir)
    server.api.update_version(
        old["version_id"],
        status=11,
        start_time=old["create_time"] + 1,
        end_time=old["create_time"] + 2,
        duration=1,
    )
    before = server.api.requests
    df = load_versions(client_for(server), cache_dir=cache_dir, max_age=0)
    assert server.api.requests - before == 10  # depth 901: pages 1..10, no offset probe
    # ... and the v2 search, asked again in case the deployment gained it: one 404.
    assert provenance(df).note == "incremental refresh: 11 requests"  # type: ignore[union-attr]
    assert_frame_equal(by_id(df), by_id(full_fetch(server)))
    row = df.filter(pl.col("version_id") == old["version_id"])
    assert row["status_name"].cast(pl.String).item() == "FAILED"


# -- nothing lost -----------------------------------------------------------------------------


def test_failed_fetch_leaves_the_entry(servers: Any, cache_dir: Path) -> None:
    server = servers(small_records())
    first = load_versions(client_for(server), cache_dir=cache_dir)
    files = sorted(p.name for p in dataset_dir(cache_dir, server).iterdir())
    server.api.inject("500", times=50)
    with pytest.raises(ServerError):
        load_versions(client_for(server), cache_dir=cache_dir, refresh=True)
    assert sorted(p.name for p in dataset_dir(cache_dir, server).iterdir()) == files
    assert_frame_equal(load_versions(client_for(server), cache_dir=cache_dir, offline=True), first)


def test_failed_write_leaves_the_entry(
    servers: Any, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = servers(small_records())
    first = load_versions(client_for(server), cache_dir=cache_dir)
    real_replace = os.replace

    def crash_on_commit(src: Any, dst: Any) -> None:
        if str(dst).endswith(".parquet"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(store_dataset.os, "replace", crash_on_commit)
    with pytest.raises(CacheError, match="No space"):
        load_versions(client_for(server), cache_dir=cache_dir, refresh=True)
    monkeypatch.undo()
    assert not list(dataset_dir(cache_dir, server).glob(".*.tmp"))
    assert_frame_equal(load_versions(client_for(server), cache_dir=cache_dir, offline=True), first)


_CHILD = textwrap.dedent(
    """
    import sys
    from mavtools.store import load_versions
    from mavtools.api.client import Client
    url, project, token, cache_dir, how = sys.argv[1:]
    client = Client(url, project, token=token, allow_http=True, page_size=10, connections=1)
    kwargs = {"refresh": True} if how == "refresh" else {"max_age": 0}
    df = load_versions(client, cache_dir=cache_dir, **kwargs)
    print(df.height)
    """
)


def _child(server: RunningServer, cache_dir: Path, how: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, server.url, PROJECT, TOKEN, str(cache_dir), how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_mid_fetch_leaves_the_old_entry(servers: Any, cache_dir: Path) -> None:
    records = small_records(400)
    server = servers(records, latency=0.05)
    first = load_versions(client_for(server), cache_dir=cache_dir)
    files = sorted(p.name for p in dataset_dir(cache_dir, server).iterdir())
    server.api.add_versions(
        small_records(
            30, id_offset=50_000_000, seed=9, days=1, end=synth.SNAPSHOT + timedelta(days=2)
        )
    )
    before = server.api.requests
    child = _child(server, cache_dir, "refresh")  # 43 pages of 10, 50 ms each
    deadline = time.monotonic() + 30
    while server.api.requests < before + 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert child.poll() is None, "the child finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)  # also closes the pipes
    assert child.returncode == -signal.SIGKILL
    assert sorted(p.name for p in dataset_dir(cache_dir, server).iterdir()) == files
    df = load_versions(client_for(server), cache_dir=cache_dir, offline=True)
    assert_frame_equal(df, first)
    # The lock died with the process: the next refresh goes through.
    fresh = load_versions(client_for(server), cache_dir=cache_dir, max_age=0)
    assert fresh.height == 430


def test_two_processes_refreshing_leave_a_valid_entry(servers: Any, cache_dir: Path) -> None:
    records = small_records(300)
    server = servers(records, latency=0.01)
    load_versions(client_for(server), cache_dir=cache_dir)
    server.api.add_versions(
        small_records(
            40, id_offset=50_000_000, seed=5, days=1, end=synth.SNAPSHOT + timedelta(days=2)
        )
    )
    children = [_child(server, cache_dir, how) for how in ("refresh", "refresh", "max_age0")]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out.strip() == "340"
    df = load_versions(client_for(server), cache_dir=cache_dir, offline=True)
    assert_frame_equal(by_id(df), by_id(full_fetch(server)))
    names = sorted(p.name for p in dataset_dir(cache_dir, server).iterdir())
    assert len([n for n in names if n.endswith(".parquet")]) == 1
    assert not [n for n in names if n.endswith(".tmp")]


# -- one dataset per workspace: every query answered locally ----------------------------------


def test_filtered_loads_cost_no_more_than_an_unfiltered_one(servers: Any, cache_dir: Path) -> None:
    records = synth.simulate(3000, seed=11)
    server = servers(records)
    client = client_for(server, page_size=1000)
    everything = load_versions(client, cache_dir=cache_dir, workspace_id="*")
    unfiltered = server.api.requests
    assert unfiltered <= 6  # 1 workspace list + 1 page per workspace (+ an offset probe of 2)
    before = server.api.requests
    queries: list[dict[str, Any]] = [
        {"status": "failed"},
        {"status": ["failed", "succeeded"]},
        {"status": "RUNNING"},
        {"pool_id": sorted({r["pool_id"] for r in records})[0]},
    ]
    for query in queries:
        got = load_versions(client_for(server), cache_dir=cache_dir, workspace_id="*", **query)
        assert server.api.requests == before, query  # warm and fresh: no request at all
        # The same rows as the server's own filtered listing.
        expected = client_for(server, page_size=1000).list_versions(workspace_id="*", **query)
        before = server.api.requests
        assert got.height and got.height < everything.height
        assert_frame_equal(by_id(got), by_id(expected))
    # After a change, a filtered load refreshes exactly like an unfiltered one.
    running = everything.filter(pl.col("outcome") == "running")["version_id"][0]
    server.api.update_version(running, status=10, end_time=1, duration=1)
    before = server.api.requests
    failed = load_versions(client, cache_dir=cache_dir, workspace_id="*", status=10, max_age=0)
    refresh_cost = server.api.requests - before
    assert refresh_cost <= 4 and running in failed["version_id"].to_list()
    note = provenance(failed).note  # type: ignore[union-attr]
    assert "incremental refresh" in note
    before = server.api.requests
    load_versions(client, cache_dir=cache_dir, workspace_id="*", max_age=0)
    assert server.api.requests - before == refresh_cost


def test_flavor_and_time_range_filters_match_plain_python(servers: Any, cache_dir: Path) -> None:
    records = synth.simulate(1500, seed=5)
    server = servers(records)
    flavor = records[0]["flavor_code"]
    since = synth.SNAPSHOT - timedelta(days=30)
    until = synth.SNAPSHOT - timedelta(days=10)
    got = load_versions(
        client_for(server),
        cache_dir=cache_dir,
        workspace_id="*",
        flavor=flavor,
        since=since,
        until=until.replace(tzinfo=None),  # naive means UTC
    )
    lo, hi = since.timestamp() * 1000, until.timestamp() * 1000
    expected = sorted(
        r["version_id"]
        for r in records
        if r["flavor_code"] == flavor and lo <= r["create_time"] < hi
    )
    assert expected and sorted(got["version_id"].to_list()) == expected


def test_a_server_side_status_listing_stays_available(servers: Any, cache_dir: Path) -> None:
    """ "What runs right now" bypasses the cache: Client.list_versions asks the server."""
    server = servers(small_records(300, days=2))
    client = client_for(server)
    load_versions(client, cache_dir=cache_dir)
    before = server.api.requests
    live = client.list_versions(status="running")
    assert server.api.requests > before
    assert all("status=" in t for t in server.api.request_log[before:])
    assert live["outcome"].cast(pl.String).unique().to_list() == ["running"]


def test_the_dataset_is_hive_parquet_that_duckdb_reads_as_scan_cache(
    servers: Any, cache_dir: Path
) -> None:
    a = servers(synth.simulate(900, seed=3))
    b = servers(small_records(400), project_id=OTHER_PROJECT)
    clients = [client_for(a, region="eu-de"), client_for(b, region="eu-nl")]
    load_versions(clients, cache_dir=cache_dir, workspace_id="*")
    root = cache_dir / "versions"
    files = sorted(p.parent.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    assert files == sorted(
        f"region={r}/project_id={p}/workspace_id={w}"
        for r, p, ws in [("eu-de", PROJECT, synth.WORKSPACES), ("eu-nl", OTHER_PROJECT, ["0"])]
        for w in ws
    )
    lazy = scan_cache(cache_dir=cache_dir)
    mine = lazy.collect()
    sql = f"""
        SELECT * FROM read_parquet('{root}/**/*.parquet', hive_partitioning = true,
                                   hive_types_autocast = false)
    """
    theirs = pl.from_arrow(duckdb.sql(sql).arrow())
    assert isinstance(theirs, pl.DataFrame)
    assert theirs.height == mine.height == 1300
    for name in PARTITIONS:
        assert theirs.schema[name] == pl.String
    cols = ["region", "project_id", "workspace_id", "version_id", "status", "create_time"]
    assert_frame_equal(
        theirs.select(cols)
        .with_columns(pl.col("create_time").cast(pl.Datetime("ms", "UTC")))
        .sort(cols),
        mine.select(cols).with_columns(pl.col("workspace_id").cast(pl.String)).sort(cols),
    )
    # A filter in SQL and in polars agree: failed versions per region and project.
    per_project_sql = pl.from_arrow(
        duckdb.sql(
            f"SELECT region, project_id, count(*) AS n FROM ({sql}) "
            "WHERE status IN (3, 5, 11, 14, 16, 17, 21) GROUP BY ALL"
        ).arrow()
    )
    per_project = (
        scan_cache(cache_dir=cache_dir)
        .filter(pl.col("outcome") == "failed")
        .group_by("region", "project_id")
        .agg(n=pl.len())
        .collect()
    )
    assert isinstance(per_project_sql, pl.DataFrame)
    assert_frame_equal(
        per_project_sql.sort("region"), per_project.sort("region"), check_dtypes=False
    )
    assert scan_cache(OTHER_PROJECT, cache_dir=cache_dir).collect().height == 400
    assert scan_cache(region="eu-de", cache_dir=cache_dir).collect().height == 900
    assert scan_cache(cache_dir=cache_dir / "nowhere").collect().schema == VERSION_SCHEMA


def test_a_lazy_frame_taken_before_a_refresh_still_collects(servers: Any, cache_dir: Path) -> None:
    records = small_records(500, days=3)
    server = servers(records)
    load_versions(client_for(server), cache_dir=cache_dir)
    lazy = scan_cache(cache_dir=cache_dir)
    server.api.add_versions(
        small_records(
            20, id_offset=50_000_000, seed=9, days=1, end=synth.SNAPSHOT + timedelta(days=2)
        )
    )
    load_versions(client_for(server), cache_dir=cache_dir, max_age=0)
    load_versions(client_for(server), cache_dir=cache_dir, refresh=True)
    old = lazy.collect()  # the snapshot it was taken from, not an error
    assert old.height == 500 and old.schema == VERSION_SCHEMA
    assert scan_cache(cache_dir=cache_dir).collect().height == 520
    # Outside engines see exactly one file per workspace, never the superseded one.
    assert len(list((cache_dir / "versions").rglob("*.parquet"))) == 1
    from mavtools.cli import main

    assert main(["cache", "--cache-dir", str(cache_dir), "clear"]) == 0
    assert not list((cache_dir / "readers").iterdir())
    assert not list((cache_dir / "versions").rglob("*.parquet"))


def test_two_projects_in_two_regions_one_failing(servers: Any, cache_dir: Path) -> None:
    de = servers(synth.simulate(900, seed=3))
    nl = servers(small_records(300), project_id=OTHER_PROJECT)
    clients = [client_for(de, region="eu-de"), client_for(nl, region="eu-nl")]
    both = load_versions(clients, cache_dir=cache_dir, workspace_id="*")
    assert both.schema == VERSION_SCHEMA
    counts = {(r, p): n for r, p, n in both.group_by("region", "project_id").len().iter_rows()}
    assert counts == {("eu-de", PROJECT): 900, ("eu-nl", OTHER_PROJECT): 300}
    assert both["region"].null_count() == 0 and both["project_id"].null_count() == 0
    info = provenance(both)
    assert info is not None and PROJECT in info.project_id and OTHER_PROJECT in info.project_id
    assert info.extra["projects_failed"] == {}

    nl.api.expire_tokens()  # the eu-nl credential expired
    with pytest.warns(AccessWarning, match=f"Project {OTHER_PROJECT} \\(eu-nl\\).*401") as caught:
        partial = load_versions(clients, cache_dir=cache_dir, workspace_id="*", max_age=0)
    assert len([w for w in caught if issubclass(w.category, AccessWarning)]) == 1
    assert partial["project_id"].unique().to_list() == [PROJECT]
    assert partial.height == 900
    info = provenance(partial)
    assert info is not None and list(info.extra["projects_failed"]) == [f"eu-nl/{OTHER_PROJECT}"]
    assert "failed: eu-nl/" in info.note and TOKEN not in str(info)
    with pytest.raises(AuthError):
        load_versions(clients, cache_dir=cache_dir, workspace_id="*", max_age=0, strict=True)
    # The failed project's cached data is untouched and still served offline.
    offline = load_versions(clients, cache_dir=cache_dir, workspace_id="*", offline=True)
    assert offline.height == 1200


def test_old_layout_entries_are_dropped_with_one_note(
    servers: Any, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = servers(small_records(100))
    old = cache_dir / "versions" / PROJECT
    old.mkdir(parents=True)
    stale = build_frame([synth.bulk(5)], "0", region="x", project_id=PROJECT).drop(
        "region", "project_id"
    )
    stale.write_parquet(old / "0123456789abcdef-20261001T000000Z-abcd1234.parquet")
    (old / "0123456789abcdef.json").write_text(json.dumps({"format": "mavtools-versions-cache"}))
    (old / "0123456789abcdef.lock").write_text("")
    with caplog.at_level(logging.WARNING, logger="mavtools.cache"):
        df = load_versions(client_for(server), cache_dir=cache_dir)
    assert df.height == 100 and server.api.requests > 0  # fetched, never the 5 stale rows
    [note] = [r.getMessage() for r in caplog.records if r.name == "mavtools.cache"]
    assert "Dropped 1 cache entries of the old per-query layout" in note and "\n" not in note
    assert not old.exists()
    assert scan_cache(cache_dir=cache_dir).collect().height == 100


# -- damage -----------------------------------------------------------------------------------


def _rewrite(data: Path, frame: pl.DataFrame | None = None, **changes: Any) -> None:
    """Write the dataset file again with its description edited (or another frame)."""
    meta = pl.read_parquet_metadata(data)
    doc = json.loads(meta["mavtools"])
    doc.update(changes)
    body = pl.read_parquet(data) if frame is None else frame
    body.write_parquet(data, metadata={"mavtools": json.dumps(doc)})


def _damage_truncate(data: Path) -> None:
    data.write_bytes(data.read_bytes()[:-100])


def _damage_garble(data: Path) -> None:
    # Same size, broken bytes in the first column's compressed pages: only reading can tell.
    # (Parquet has no checksums here: zeroes in plain statistics would pass unnoticed.)
    raw = bytearray(data.read_bytes())
    start = len(raw) // 10
    raw[start : start + 400] = bytes(400)
    data.write_bytes(bytes(raw))


def _damage_no_description(data: Path) -> None:
    pl.read_parquet(data).write_parquet(data)


def _damage_bad_json(data: Path) -> None:
    pl.read_parquet(data).write_parquet(data, metadata={"mavtools": "{not json"})


def _edit(**changes: Any) -> Callable[[Path], None]:
    return lambda data: _rewrite(data, **changes)


def _damage_other_frame(data: Path) -> None:
    _rewrite(data, pl.DataFrame({"version_id": [1, 2]}), rows=2)


DAMAGES = {
    "truncated parquet": (_damage_truncate, "is damaged"),
    "garbled parquet": (_damage_garble, "is damaged"),
    "no description": (_damage_no_description, "has no valid description"),
    "description not json": (_damage_bad_json, "has no valid description"),
    "rows edited": (_edit(rows=5), "metadata says 5"),
    "moved from another workspace": (_edit(workspace_id="9"), "describes another dataset"),
    "old schema version": (_edit(schema_version=0), "schema version 0"),
    "schema mismatch": (_damage_other_frame, "does not have the versions schema"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_dataset_is_refetched_online(
    damage: str, servers: Any, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = servers(small_records())
    first = load_versions(client_for(server), cache_dir=cache_dir)
    do, reason = DAMAGES[damage]
    do(the_file(cache_dir, server))
    before = server.api.requests
    with caplog.at_level(logging.WARNING, logger="mavtools.cache"):
        df = load_versions(client_for(server), cache_dir=cache_dir, max_age=NEVER_EXPIRE)
    assert server.api.requests > before
    # The same versions, from a new fetch: its own snapshot time.
    assert_frame_equal(by_id(df), by_id(first))
    assert df["observed_at"].min() >= first["observed_at"].max()
    note = provenance(df).note  # type: ignore[union-attr]
    assert note.startswith("full fetch: ")
    assert re.search(reason, note), note
    [record] = [r for r in caplog.records if r.name == "mavtools.cache"]
    assert record.levelno == logging.WARNING and re.search(reason, record.getMessage())
    # Repaired: the next load is a plain hit.
    count = server.api.requests
    assert_frame_equal(load_versions(client_for(server), cache_dir=cache_dir), df)
    assert server.api.requests == count


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_dataset_offline_raises_one_sentence(
    damage: str, servers: Any, cache_dir: Path
) -> None:
    server = servers(small_records())
    load_versions(client_for(server), cache_dir=cache_dir)
    do, reason = DAMAGES[damage]
    do(the_file(cache_dir, server))
    before = server.api.requests
    with pytest.raises(CacheError, match=reason) as caught:
        load_versions(client_for(server), cache_dir=cache_dir, offline=True)
    assert server.api.requests == before
    assert "\n" not in str(caught.value)


# -- files ------------------------------------------------------------------------------------


def test_permissions_and_no_secret_on_disk(servers: Any, cache_dir: Path) -> None:
    server = servers(synth.simulate(300, seed=2))
    load_versions(client_for(server), cache_dir=cache_dir, workspace_id="*")
    scan_cache(cache_dir=cache_dir)  # pins a reader snapshot too
    for path in [cache_dir, *cache_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes()
    doc = json.loads(pl.read_parquet_metadata(the_file(cache_dir, server))["mavtools"])
    assert doc["workspace_id"] == "0" and doc["project_id"] == PROJECT
    assert doc["rows"] == pl.read_parquet(the_file(cache_dir, server)).height
    assert doc["offset_mode"] == "record" and doc["schema_version"] == SCHEMA_VERSION


def test_parquet_is_plain_and_compact(tmp_path: Path) -> None:
    frame = build_frame([synth.bulk(200_000)], "0", region="eu-de", project_id=PROJECT)
    store = CacheStore(tmp_path)
    dataset = DatasetId("eu-de", PROJECT, "0")
    with store.lock(dataset):
        snapshot = store.put(
            frame, dataset, endpoint="http://x", fetched_at=datetime.now(UTC), offset_mode="record"
        )
    assert snapshot.size / frame.height <= 30
    assert_frame_equal(store.read(snapshot), frame)
    # No mavtools needed to read it: the partition columns come from the path, Hive style.
    plain = pl.read_parquet(tmp_path / "versions", hive_partitioning=True)
    assert plain.height == 200_000 and set(PARTITIONS) <= set(plain.columns)
    import pyarrow.parquet as pq

    assert pq.read_metadata(snapshot.data).num_rows == 200_000


def test_entries_lists_and_delete(servers: Any, cache_dir: Path) -> None:
    server = servers(synth.simulate(300, seed=2))
    load_versions(client_for(server), cache_dir=cache_dir, workspace_id="*")
    load_versions(client_for(server), cache_dir=cache_dir, status="failed")  # no new dataset
    store = CacheStore(cache_dir)
    entries = store.entries()
    assert len(entries) == 3 and all(isinstance(e, Snapshot) for e in entries)
    first = entries[0]
    assert isinstance(first, Snapshot)
    store.delete(first.dataset)
    assert len(store.entries()) == 2
    assert not first.data.exists()


def test_cli_reads_several_clouds_into_one_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--cloud`` twice: both profiles' datasets in one CSV (offline: the clouds are not local)."""
    home = two_clouds_home(tmp_path)
    store = CacheStore(tmp_path / "cache")
    for region, project, n in (("eu-de", PROJECT, 30), ("eu-nl", OTHER_PROJECT, 20)):
        dataset = DatasetId(region, project, "0")
        frame = build_frame([synth.bulk(n)], "0", region=region, project_id=project)
        with store.lock(dataset):
            store.put(
                frame,
                dataset,
                endpoint=f"https://modelarts.{region}.otc.t-systems.com",
                fetched_at=datetime.now(UTC),
                offset_mode="record",
            )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELARTS_", "OS_"))}
    env |= {"HOME": str(home), "MAVTOOLS_CACHE_DIR": str(tmp_path / "cache")}
    clouds = ["--cloud", "team-a", "--cloud", "team-b"]
    done = subprocess.run(
        [sys.executable, "-m", "mavtools", "fetch", *clouds, "--offline", "--format", "csv"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    frame = pl.read_csv(done.stdout.encode())
    counts = dict(frame.group_by("region").len().iter_rows())
    assert counts == {"eu-de": 30, "eu-nl": 20}
    assert TOKEN not in done.stdout + done.stderr
