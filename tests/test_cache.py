"""The versions cache, over real HTTP to a local FakeModelArts, counting the server's requests."""

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

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from mavtools import cache as mcache
from mavtools.api.client import Client
from mavtools.cache import (
    NEVER_EXPIRE,
    CacheStore,
    VersionCache,
    cache_key,
    load_versions,
    normalise_query,
    parse_max_age,
    scan_cache,
)
from mavtools.errors import CacheError, CacheMissError, ConfigError, SamplesWarning, ServerError
from mavtools.frame import VERSION_SCHEMA, build_frame
from mavtools.local import synth
from mavtools.local.fake_api import RunningServer
from mavtools.provenance import provenance

PROJECT = "0123456789abcdef0123456789abcdef"
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
    return Client(server.url, PROJECT, token=TOKEN, allow_http=True, **options)


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


def the_entry(cache_dir: Path) -> tuple[Path, Path]:
    [sidecar] = (cache_dir / "versions" / PROJECT).glob("*.json")
    [data] = (cache_dir / "versions" / PROJECT).glob("*.parquet")
    return sidecar, data


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


def test_cache_key_is_pure_and_order_free() -> None:
    endpoint = "https://modelarts.eu-de.otc.t-systems.com"
    one = normalise_query(
        status=["RUNNING", "failed"], pool_id=["b", "a"], workspace_id=["w2", "0"]
    )
    two = normalise_query(
        status=["failed", 8, "RUNNING"], pool_id=["a", "b", "a"], workspace_id=["0", "w2"]
    )
    assert one == two
    assert cache_key(endpoint, "p1", one) == cache_key(endpoint + "/", "p1", two)
    assert len(cache_key(endpoint, "p1", one)) == 16
    assert cache_key(endpoint, "p1", one) != cache_key(endpoint, "p2", one)
    assert cache_key(endpoint, "p1", one) != cache_key(endpoint, "p1", normalise_query())
    assert normalise_query(workspace_id=["*", "0"])["workspace_id"] == ["*"]


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAVTOOLS_CACHE_DIR", str(tmp_path / "x"))
    assert mcache.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("MAVTOOLS_CACHE_DIR")
    assert mcache.default_cache_dir().name == "mavtools"


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
        df = load_versions(cache_dir=cache_dir)
    info = provenance(df)
    assert info is not None and info.is_sample and info.note == "bundled samples, not cached"
    assert not cache_dir.exists()
    with pytest.warns(SamplesWarning):
        again = load_versions(cache_dir=cache_dir, max_age=0)
    assert_frame_equal(again, df)
    assert provenance(again) == info  # same snapshot time: clock-free outputs


def test_status_filtered_queries_are_cached_and_refreshed(servers: Any, cache_dir: Path) -> None:
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
    assert provenance(df).note == f"incremental refresh: {used} requests"  # type: ignore[union-attr]
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
    assert provenance(df).note == "incremental refresh: 10 requests"  # type: ignore[union-attr]
    assert_frame_equal(by_id(df), by_id(full_fetch(server)))
    row = df.filter(pl.col("version_id") == old["version_id"])
    assert row["status_name"].cast(pl.String).item() == "FAILED"


# -- nothing lost -----------------------------------------------------------------------------


def test_failed_fetch_leaves_the_entry(servers: Any, cache_dir: Path) -> None:
    server = servers(small_records())
    first = load_versions(client_for(server), cache_dir=cache_dir)
    files = sorted(p.name for p in (cache_dir / "versions" / PROJECT).iterdir())
    server.api.inject("500", times=50)
    with pytest.raises(ServerError):
        load_versions(client_for(server), cache_dir=cache_dir, refresh=True)
    assert sorted(p.name for p in (cache_dir / "versions" / PROJECT).iterdir()) == files
    assert_frame_equal(load_versions(client_for(server), cache_dir=cache_dir, offline=True), first)


def test_failed_write_leaves_the_entry(
    servers: Any, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = servers(small_records())
    first = load_versions(client_for(server), cache_dir=cache_dir)
    real_replace = os.replace

    def crash_on_sidecar(src: Any, dst: Any) -> None:
        if str(dst).endswith(".json"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(mcache.os, "replace", crash_on_sidecar)
    with pytest.raises(CacheError, match="No space"):
        load_versions(client_for(server), cache_dir=cache_dir, refresh=True)
    monkeypatch.undo()
    assert not list((cache_dir / "versions" / PROJECT).glob(".*.tmp"))
    assert_frame_equal(load_versions(client_for(server), cache_dir=cache_dir, offline=True), first)


_CHILD = textwrap.dedent(
    """
    import sys
    from mavtools.cache import load_versions
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
    files = sorted(p.name for p in (cache_dir / "versions" / PROJECT).iterdir())
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
    assert sorted(p.name for p in (cache_dir / "versions" / PROJECT).iterdir()) == files
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
    names = sorted(p.name for p in (cache_dir / "versions" / PROJECT).iterdir())
    assert len([n for n in names if n.endswith(".parquet")]) == 1
    assert not [n for n in names if n.endswith(".tmp")]


# -- damage -----------------------------------------------------------------------------------


def _damage_truncate(sidecar: Path, data: Path) -> None:
    data.write_bytes(data.read_bytes()[:-100])


def _damage_garble(sidecar: Path, data: Path) -> None:
    # Same size, broken bytes in the middle: only reading the Parquet file can tell.
    raw = bytearray(data.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 400] = bytes(400)
    data.write_bytes(bytes(raw))


def _damage_delete_sidecar(sidecar: Path, data: Path) -> None:
    sidecar.unlink()


def _damage_bad_json(sidecar: Path, data: Path) -> None:
    sidecar.write_text("{not json")


def _edit(**changes: Any) -> Callable[[Path, Path], None]:
    def edit(sidecar: Path, data: Path) -> None:
        doc = json.loads(sidecar.read_text())
        doc.update(changes)
        sidecar.write_text(json.dumps(doc))

    return edit


def _damage_other_frame(sidecar: Path, data: Path) -> None:
    """A Parquet file of the right size story but another schema (rows and bytes updated)."""
    pl.DataFrame({"version_id": [1, 2]}).write_parquet(data)
    _edit(rows=2, bytes=data.stat().st_size)(sidecar, data)


DAMAGES = {
    "truncated parquet": (_damage_truncate, "bytes instead of"),
    "garbled parquet": (_damage_garble, "is damaged"),
    "missing sidecar": (_damage_delete_sidecar, "has data but no sidecar"),
    "sidecar not json": (_damage_bad_json, "sidecar of cache entry .* is not valid"),
    "sidecar rows edited": (_edit(rows=5), "sidecar says 5"),
    "sidecar query edited": (
        _edit(query={"workspace_id": ["9"], "status": [], "pool_id": []}),
        "was edited",
    ),
    "old schema version": (_edit(schema_version=0), "schema version 0"),
    "schema mismatch": (_damage_other_frame, "does not have the versions schema"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_entry_is_refetched_online(
    damage: str, servers: Any, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = servers(small_records())
    first = load_versions(client_for(server), cache_dir=cache_dir)
    do, reason = DAMAGES[damage]
    do(*the_entry(cache_dir))
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
def test_damaged_entry_offline_raises_one_sentence(
    damage: str, servers: Any, cache_dir: Path
) -> None:
    server = servers(small_records())
    load_versions(client_for(server), cache_dir=cache_dir)
    do, reason = DAMAGES[damage]
    do(*the_entry(cache_dir))
    before = server.api.requests
    with pytest.raises(CacheError, match=reason) as caught:
        load_versions(client_for(server), cache_dir=cache_dir, offline=True)
    assert server.api.requests == before
    assert "\n" not in str(caught.value)


# -- files ------------------------------------------------------------------------------------


def test_permissions_and_no_secret_on_disk(servers: Any, cache_dir: Path) -> None:
    server = servers(small_records())
    load_versions(client_for(server), cache_dir=cache_dir)
    for path in [cache_dir, *cache_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes()
    sidecar, data = the_entry(cache_dir)
    doc = json.loads(sidecar.read_text())
    assert doc["query"] == {"workspace_id": ["0"], "status": [], "pool_id": []}
    assert doc["rows"] == pl.read_parquet(data).height and doc["offset_mode"] == "record"
    assert doc["schema_version"] == mcache.SCHEMA_VERSION and doc["data"] == data.name


def test_parquet_is_plain_and_compact(tmp_path: Path) -> None:
    frame = build_frame([synth.bulk(200_000)], "0")
    store = CacheStore(tmp_path)
    entry = store.put(
        frame,
        key=cache_key("http://x", PROJECT, normalise_query()),
        endpoint="http://x",
        project_id=PROJECT,
        query=normalise_query(),
        fetched_at=datetime.now(UTC),
        offset_mode="record",
    )
    assert entry.size / frame.height <= 30
    assert_frame_equal(store.read(entry), frame)
    assert_frame_equal(pl.read_parquet(entry.data), frame)  # no mavtools needed to read it
    import pyarrow.parquet as pq

    assert pq.read_metadata(entry.data).num_rows == 200_000


def test_scan_cache_dedupes_newest_snapshot_wins(servers: Any, cache_dir: Path) -> None:
    records = small_records(500, days=3)
    server = servers(records)
    clock = Clock()
    vc = VersionCache(cache_dir, clock=clock)
    everything = vc.load(client_for(server))
    running = everything.filter(pl.col("outcome") == "running")["version_id"].to_list()
    assert running
    server.api.update_version(running[0], version_name="renamed")
    clock.now += timedelta(hours=1)
    vc.load(client_for(server), status="running")
    lazy = scan_cache(PROJECT, cache_dir=cache_dir)
    assert isinstance(lazy, pl.LazyFrame)
    df = lazy.collect()
    assert df.height == 500 and df["version_id"].n_unique() == 500
    assert df.schema == VERSION_SCHEMA
    row = df.filter(pl.col("version_id") == running[0])
    assert row["version_name"].item() == "renamed"
    assert scan_cache(cache_dir=cache_dir).collect().height == 500
    assert scan_cache("someotherproject", cache_dir=cache_dir).collect().height == 0
    assert scan_cache(cache_dir=cache_dir / "nowhere").collect().schema == VERSION_SCHEMA


def test_entries_lists_and_delete(servers: Any, cache_dir: Path) -> None:
    server = servers(small_records())
    load_versions(client_for(server), cache_dir=cache_dir)
    load_versions(client_for(server), cache_dir=cache_dir, status="failed")
    store = CacheStore(cache_dir)
    entries = store.entries()
    assert len(entries) == 2 and all(isinstance(e, mcache.Entry) for e in entries)
    first = entries[0]
    assert isinstance(first, mcache.Entry)
    store.delete(first.project_id, first.key)
    assert len(store.entries()) == 1
    assert not first.data.exists()
