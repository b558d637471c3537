"""Time the versions cache: warm load, size on disk, incremental refresh over HTTP.

Run: ``python benchmarks/bench_cache.py [n_versions]`` (default 1,000,000). Targets from the issue:

* warm load of a cached ``n_versions`` entry at most 0.3 s and at most 3x a bare
  ``pl.read_parquet`` of the same file (measured in the same run, best of 5);
* at most 30 bytes per version on disk;
* incremental refresh of 100,000 cached versions after 100 were created and 50 cached unfinished
  ones finished, against a local server answering each request after 50 ms: at most 3 requests
  and 0.5 s.

The exit code is 1 when a target is missed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from mavtools.local import synth
from mavtools.cache import CacheStore, cache_key, load_versions, normalise_query
from mavtools.api.client import Client
from mavtools.local.fake_api import FakeModelArts, serve
from mavtools.frame import build_frame
from mavtools.provenance import provenance

PROJECT = "0123456789abcdef0123456789abcdef"
TOKEN = "bench-token"


def best(fn: Callable[[], Any], repeats: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def records(n: int, id_offset: int = 0, **options: Any) -> list[dict[str, Any]]:
    frame = synth.bulk(n, **options).with_columns(pl.col("version_id") + id_offset)
    return [dict(r, workspace_id="0") for r in frame.to_dicts()]


def warm_load(n: int, root: Path) -> bool:
    frame = build_frame([synth.bulk(n)], "0")
    # The cache is read without any request: the endpoint need not answer.
    client = Client("http://127.0.0.1:9", PROJECT, token=TOKEN, allow_http=True)
    query = normalise_query()
    t0 = time.perf_counter()
    entry = CacheStore(root).put(
        frame,
        key=cache_key(client.endpoint, PROJECT, query),
        endpoint=client.endpoint,
        project_id=PROJECT,
        query=query,
        fetched_at=datetime.now(UTC),
        offset_mode="record",
    )
    written = time.perf_counter() - t0
    bare, _ = best(lambda: pl.read_parquet(entry.data))
    warm, loaded = best(lambda: load_versions(client, cache_dir=root, max_age="1d"))
    assert_frame_equal(loaded, frame)
    assert provenance(loaded).from_cache  # type: ignore[union-attr]
    per_version = entry.size / n
    ratio = warm / bare
    print(f"entry of {n:,} versions written in {written:.3f} s (atomic, fsync)")
    print(f"bytes on disk: {entry.size:,} = {per_version:.1f} bytes/version  [target <= 30]")
    print(f"bare pl.read_parquet:      {bare:.3f} s")
    print(f"warm load_versions:        {warm:.3f} s = {ratio:.2f}x bare  [target <= 0.3 s, <= 3x]")
    return per_version <= 30 and warm <= 0.3 and ratio <= 3


def incremental(root: Path) -> bool:
    data = records(100_000)
    reopened = data[::-1][1900:1950]  # 50 unfinished versions among the newest 2,000
    for rec in reopened:
        rec.update(status=8, end_time=0)
    api = FakeModelArts(data, project_id=PROJECT, token=TOKEN)
    with serve(api) as server:

        def client() -> Client:
            return Client(server.url, PROJECT, token=TOKEN, allow_http=True, page_size=1000)

        load_versions(client(), cache_dir=root)
        api.latency = 0.05
        for rec in reopened:
            api.update_version(
                rec["version_id"], status=10, end_time=rec["start_time"] + 60_000, duration=60_000
            )
        later = synth.SNAPSHOT + timedelta(hours=25)
        api.add_versions(records(100, id_offset=50_000_000, days=1, seed=7, end=later))
        api._list({"limit": ["1"]})  # warm the server's sorted view so it is not timed
        api._list({"limit": ["1"], "order": ["desc"]})

        before = api.requests
        t0 = time.perf_counter()
        refreshed = load_versions(client(), cache_dir=root, max_age=0)
        wall = time.perf_counter() - t0
        used = api.requests - before

        before = api.requests
        t0 = time.perf_counter()
        full = client().list_versions()
        full_wall = time.perf_counter() - t0
        full_used = api.requests - before
    assert_frame_equal(refreshed.sort("version_id"), full.sort("version_id"))
    print("incremental refresh of 100,000 cached (+100 new, 50 finished), 50 ms per request:")
    print(f"  {used} requests, {wall:.3f} s  [target <= 3 requests, <= 0.5 s]")
    print(f"  note: {provenance(refreshed).note}")  # type: ignore[union-attr]
    print(f"  a full fetch instead: {full_used} requests, {full_wall:.3f} s (equal frames)")
    return used <= 3 and wall <= 0.5


def main(n: int = 1_000_000) -> int:
    with tempfile.TemporaryDirectory(prefix="mavtools-bench-") as tmp:
        ok = warm_load(n, Path(tmp) / "warm")
        ok = incremental(Path(tmp) / "incremental") and ok
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:2])))
