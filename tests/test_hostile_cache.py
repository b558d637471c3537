"""Trials 4-6: the cache killed mid-write, shared by processes, damaged on disk.

Each trial runs real processes against a real local server (``mavtools.local.fake.serve``).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from mavtools.api.client import Client, RetryPolicy
from mavtools.errors import CacheError
from mavtools.frame import VERSION_SCHEMA
from mavtools.local.fake import FakeModelArts, RunningServer, serve
from mavtools.store import CacheStore, DatasetId, load_versions
from mavtools.store.dataset import SCHEMA_VERSION
from tests.conftest import PROJECT, TOKEN
from tests.hostile_support import wire_records

ADDED_BASE = 90_000_000  # ids of versions added during a trial: ADDED_BASE + j, j = 0, 1, ...


@pytest.fixture
def server() -> Iterator[RunningServer]:
    running = serve(FakeModelArts(wire_records(6_000), project_id=PROJECT, token=TOKEN))
    yield running
    running.stop()


def client_for(server: RunningServer) -> Client:
    return Client(
        server.url,
        PROJECT,
        token=TOKEN,
        allow_http=True,
        page_size=1000,
        retry=RetryPolicy(attempts=1),
    )


def add_version(server: RunningServer, j: int) -> None:
    newest = max(r["create_time"] for r in server.api.versions)
    template = server.api.versions[0]
    server.api.add_versions(
        [dict(template, version_id=ADDED_BASE + j, create_time=newest + 1000, status=8)]
    )


def by_id(frame: pl.DataFrame) -> pl.DataFrame:
    """The versions, in id order; without the snapshot time, which differs between fetches."""
    return frame.sort("version_id").drop("observed_at")


# -- trial 4: SIGKILL at random moments -----------------------------------------------------------

_REFRESHER = textwrap.dedent(
    """
    import sys
    from mavtools.store import load_versions
    from mavtools.api.client import Client, RetryPolicy
    url, project, token, cache_dir = sys.argv[1:]
    client = Client(url, project, token=token, allow_http=True, page_size=1000,
                    retry=RetryPolicy(attempts=1))
    print("ready", flush=True)
    sys.stdin.readline()
    load_versions(client, cache_dir=cache_dir, refresh=True)
    print("done", flush=True)
    """
)


def _refresher(server: RunningServer, cache_dir: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _REFRESHER, server.url, PROJECT, TOKEN, str(cache_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def run_kill_trial(server: RunningServer, cache_dir: Path, runs: int, seed: int) -> dict[str, int]:
    """``runs`` refreshes, each SIGKILLed after a random delay; checks the entry after each."""
    rng = random.Random(seed)
    old = load_versions(client_for(server), cache_dir=cache_dir)
    # How long an unkilled refresh takes, from "go" to its end: the window kills are drawn from.
    child = _refresher(server, cache_dir)
    started = time.monotonic()
    child.communicate("go\n", timeout=60)
    window = (time.monotonic() - started) * 1.2
    old = load_versions(client_for(server), cache_dir=cache_dir, offline=True)
    tally = {"old": 0, "new": 0, "finished before the kill": 0}
    next_child = _refresher(server, cache_dir)
    for run in range(runs):
        add_version(server, run)  # the new snapshot differs from the old one by this version
        new = client_for(server).list_versions()
        child, next_child = next_child, (_refresher(server, cache_dir) if run + 1 < runs else None)
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(rng.uniform(0, window))
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        if child.returncode == 0:
            tally["finished before the kill"] += 1
        else:
            assert child.returncode == -signal.SIGKILL
        got = load_versions(client_for(server), cache_dir=cache_dir, offline=True)
        assert got.schema == VERSION_SCHEMA
        if got.height == old.height:
            assert_frame_equal(by_id(got), by_id(old))
            tally["old"] += 1
        else:
            assert_frame_equal(by_id(got), by_id(new))
            tally["new"] += 1
            old = got
    if next_child is not None:
        next_child.kill()
        next_child.communicate()
    return tally


def test_trial4_sigkill_at_random_moments_leaves_old_or_new(server, tmp_path):
    """50 refreshing processes killed at random moments of their run (seed 4)."""
    started = time.monotonic()
    tally = run_kill_trial(server, tmp_path / "cache", runs=50, seed=4)
    print(f"\ntrial 4 (50 kills, seed 4): {tally} in {time.monotonic() - started:.1f} s")
    assert tally["old"] + tally["new"] == 50
    leftovers = [p.name for p in (tmp_path / "cache").rglob("*.tmp")]
    # A killed writer may leave a temporary file; the next committed refresh removes it.
    load_versions(client_for(server), cache_dir=tmp_path / "cache", refresh=True)
    assert not list((tmp_path / "cache").rglob("*.tmp")), leftovers


@pytest.mark.heavy
def test_trial4_heavy_200_kills(server, tmp_path):
    tally = run_kill_trial(server, tmp_path / "cache", runs=200, seed=40)
    print(f"\ntrial 4 heavy (200 kills, seed 40): {tally}")
    assert tally["old"] + tally["new"] == 200


# -- trial 5: processes refreshing and reading the same entry -----------------------------------

_WORKER = textwrap.dedent(
    """
    import json, random, sys
    from mavtools.store import load_versions
    from mavtools.api.client import Client, RetryPolicy
    from mavtools.frame import VERSION_SCHEMA
    url, project, token, cache_dir, rounds, seed, base = sys.argv[1:]
    rng = random.Random(int(seed))
    out = []
    for i in range(int(rounds)):
        client = Client(url, project, token=token, allow_http=True, page_size=1000,
                        retry=RetryPolicy(attempts=3, backoff=0.01))
        how = rng.choice(["refresh", "read", "offline", "max_age0"])
        kwargs = {"refresh": {"refresh": True}, "read": {"max_age": "never"},
                  "offline": {"offline": True}, "max_age0": {"max_age": 0}}[how]
        df = load_versions(client, cache_dir=cache_dir, **kwargs)
        ids = df["version_id"]
        added = sorted(v for v in ids.to_list() if v >= int(base))
        out.append({
            "how": how,
            "rows": df.height,
            "unique": bool(ids.is_unique().all()),
            "schema": df.schema == VERSION_SCHEMA,
            "added": len(added),
            "prefix": added == list(range(int(base), int(base) + len(added))),
        })
    print(json.dumps(out))
    """
)


def run_concurrency_trial(server: RunningServer, cache_dir: Path, workers: int, rounds: int):
    base_rows = len(server.api.versions)
    load_versions(client_for(server), cache_dir=cache_dir)  # offline readers need an entry
    added = [0]

    def grow(n: int) -> None:  # a new version every 7th request, while the processes run
        if n % 7 == 0:
            add_version(server, added[0])
            added[0] += 1

    server.api.before_request = grow
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                server.url,
                PROJECT,
                TOKEN,
                str(cache_dir),
                str(rounds),
                str(seed),
                str(ADDED_BASE),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(workers)
    ]
    results: list[dict[str, Any]] = []
    for child in children:
        out, err = child.communicate(timeout=240)  # a deadlock fails here
        assert child.returncode == 0, err
        results.extend(json.loads(out))
    server.api.before_request = None
    for r in results:
        assert r["schema"] and r["unique"] and r["prefix"], r
        assert r["rows"] == base_rows + r["added"], r  # a whole snapshot, never part of one
    final = load_versions(client_for(server), cache_dir=cache_dir, offline=True)
    assert final["version_id"].is_unique().all()
    names = [p.name for p in dataset_dir(server, cache_dir).iterdir()]
    assert len([n for n in names if n.endswith(".parquet")]) == 1, names
    return {
        how: sum(r["how"] == how for r in results) for how in sorted({r["how"] for r in results})
    }


def test_trial5_four_processes_refresh_and_read_one_entry(server, tmp_path):
    started = time.monotonic()
    tally = run_concurrency_trial(server, tmp_path / "cache", workers=4, rounds=25)
    print(f"\ntrial 5 (4 processes x 25): {tally} in {time.monotonic() - started:.1f} s")
    assert sum(tally.values()) == 100


# -- trial 6: damaged cache -------------------------------------------------------------------------


def dataset_dir(server: RunningServer, cache_dir: Path) -> Path:
    client = client_for(server)
    return CacheStore(cache_dir).directory(DatasetId(client.region, PROJECT, "0"))


def the_entry(server: RunningServer, cache_dir: Path) -> Path:
    """The one dataset file (its description is in its Parquet metadata)."""
    [data] = dataset_dir(server, cache_dir).glob("*.parquet")
    return data


def _rewrite(data: Path, text: str | None = None, frame: pl.DataFrame | None = None) -> None:
    body = pl.read_parquet(data) if frame is None else frame
    meta = pl.read_parquet_metadata(data)["mavtools"] if text is None else text
    body.write_parquet(data, metadata={"mavtools": meta})


def _edit(**changes: Any):
    def edit(data: Path) -> None:
        doc = json.loads(pl.read_parquet_metadata(data)["mavtools"])
        doc.update(changes)
        _rewrite(data, json.dumps(doc))

    return edit


def _empty_description(data: Path) -> None:
    _rewrite(data, "")


def _data_is_a_directory(data: Path) -> None:
    data.unlink()
    data.mkdir()


def _empty_data(data: Path) -> None:
    data.write_bytes(b"")


def _data_missing(data: Path) -> None:
    data.unlink()


def _data_is_json(data: Path) -> None:
    data.write_bytes(b'{"versions": []}')


def _other_dtypes(data: Path) -> None:
    """The right column names, one dtype changed (status Int32), the description kept."""
    _rewrite(data, frame=pl.read_parquet(data).with_columns(pl.col("status").cast(pl.Int32)))


# Damage test_cache.py does not already cover (it covers truncated and garbled data, a missing or
# non-JSON description, edited rows or workspace, schema version 0 and another schema). The
# description lives inside the Parquet file, so "a sidecar naming another file" cannot happen;
# its equivalents are descriptions naming another region, project or workspace.
DAMAGES = {
    "empty description": _empty_description,
    "data file is a directory": _data_is_a_directory,
    "description rows as text": _edit(rows="6000"),
    "description rows negative": _edit(rows=-1),
    "description without fetched_at": _edit(fetched_at=None),
    "description fetched_at garbage": _edit(fetched_at="yesterday"),
    "description region escapes": _edit(region="../../../../etc"),
    "description names another project": _edit(project_id="0" * 32),
    "description from a future schema": _edit(schema_version=SCHEMA_VERSION + 1),
    "description fingerprint edited": _edit(schema="0" * 16),
    "description format missing": _edit(format=None),
    "description a JSON list": lambda d: _rewrite(d, "[]"),
    "data empty": _empty_data,
    "data missing": _data_missing,
    "data is not parquet": _data_is_json,
    "data has another dtype": _other_dtypes,
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_trial6_damage_online_refetches_and_offline_says_one_sentence(server, tmp_path, damage):
    cache_dir = tmp_path / "cache"
    first = load_versions(client_for(server), cache_dir=cache_dir)
    DAMAGES[damage](the_entry(server, cache_dir))
    try:
        offline = load_versions(client_for(server), cache_dir=cache_dir, offline=True)
    except CacheError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)
    else:
        pytest.fail(f"a damaged entry was served offline ({offline.height} rows)")
    before = server.api.requests
    try:
        again = load_versions(client_for(server), cache_dir=cache_dir, max_age="never")
    except CacheError as exc:  # e.g. a directory where the data file belongs: cannot be repaired
        assert "\n" not in str(exc)
        assert damage == "data file is a directory", str(exc)
        return
    assert server.api.requests > before, "the damaged entry was served instead of refetched"
    assert_frame_equal(by_id(again), by_id(first))  # a new fetch: a new snapshot time


def test_trial6_files_outside_the_layout_are_never_read(server, tmp_path):
    """Parquet files beside the layout (a stray copy, a name that is no partition) read nothing."""
    cache_dir = tmp_path / "cache"
    load_versions(client_for(server), cache_dir=cache_dir)
    data = the_entry(server, cache_dir)
    stray = cache_dir / "versions" / "region=../project_id=x/workspace_id=0"
    stray.mkdir(parents=True)
    (stray / "part-0.parquet").write_bytes(data.read_bytes())
    (data.parent / "part-1.parquet").write_bytes(data.read_bytes())
    assert [e.dataset for e in CacheStore(cache_dir).entries()] == [
        DatasetId(client_for(server).region, PROJECT, "0")
    ]
    data.unlink()
    with pytest.raises(CacheError):
        load_versions(client_for(server), cache_dir=cache_dir, offline=True)


@pytest.mark.parametrize(
    "where",
    ["parent is a file", "cache dir is a file", "project dir is a file", "under /sys"],
)
def test_trial6_unwritable_cache_directory_is_one_sentence(server, tmp_path, where):
    """Root ignores permission bits, so "not writable" is made honestly: a path whose parent is a
    regular file (ENOTDIR), a file where a directory belongs, or sysfs (EPERM even for root)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    if where == "parent is a file":
        cache_dir = blocker / "cache"
    elif where == "cache dir is a file":
        cache_dir = blocker
    elif where == "project dir is a file":
        cache_dir = tmp_path / "cache"
        region_dir = cache_dir / "versions" / f"region={client_for(server).region}"
        region_dir.mkdir(parents=True)
        (region_dir / f"project_id={PROJECT}").write_text("x")
    else:
        if not Path("/sys").is_dir():
            pytest.skip("no sysfs here")
        cache_dir = Path("/sys/mavtools-hostile-cache")
    before = {p for p in tmp_path.rglob("*")}
    with pytest.raises(CacheError) as info:
        load_versions(client_for(server), cache_dir=cache_dir)
    message = str(info.value)
    assert "\n" not in message and "MAVTOOLS_CACHE_DIR" in message, message
    assert {p for p in tmp_path.rglob("*")} == before
    assert not Path("/sys/mavtools-hostile-cache").exists()


def test_trial6_cache_store_never_returns_a_frame_with_another_schema(server, tmp_path):
    cache_dir = tmp_path / "cache"
    load_versions(client_for(server), cache_dir=cache_dir)
    store = CacheStore(cache_dir)
    entries = store.entries()
    assert entries
    for entry in entries:
        assert not isinstance(entry, CacheError)
        assert store.read(entry).schema == VERSION_SCHEMA
