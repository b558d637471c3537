"""Benchmarks of the client: fetching over HTTP and parsing pages into the typed frame.

Usage: python benchmarks/bench_client.py [--versions 100000] [--parse-versions 1000000]

Prints, measured in one run (compare the ratios; this machine is noisy):

* fetch: 100,000 versions from the local server (in its own process) with 50 ms added latency per
  request and pages of 1,000, by ``Client.list_versions`` and by a naive sequential loop
  (requests + json + pandas.json_normalize). Targets: <= 2.0 s and >= 5x faster than naive.
* parse: pages of JSON (1,000,000 versions) into the typed frame. Targets: >= 150 MB/s of JSON
  and <= 150 bytes per version in memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

SERVER = """
import sys, time
from mavtools.local import synth
from mavtools.local.fake import FakeModelArts, serve
records = [dict(r, workspace_id="0") for r in synth.bulk({n}).to_dicts()]
api = FakeModelArts(records, project_id="0123456789abcdef", token="bench-token", latency=0.05)
api._list({{"limit": ["0"], "order": ["asc"]}})  # encode every record once, before timing
server = serve(api)
print(server.url, flush=True)
sys.stdin.read()
"""


def start_server(n: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(n=n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url


def naive_fetch(url: str) -> int:
    """What teams write by hand: one page after another, JSON into pandas."""
    import pandas as pd
    import requests

    rows: list[dict] = []
    offset = 0
    session = requests.Session()
    while True:
        response = session.get(
            f"{url}/v1/0123456789abcdef/training-jobs/versions",
            params={"offset": offset, "limit": 1000, "workspace_id": "0"},
            headers={"X-Auth-Token": "bench-token"},
            timeout=60,
        )
        doc = response.json()
        rows.extend(doc["versions"])
        offset += 1000
        if offset >= doc["total_count"]:
            break
    return len(pd.json_normalize(rows))


def bench_fetch(n: int) -> None:
    import mavtools as mt

    proc, url = start_server(n)
    try:
        client = mt.Client(url, "0123456789abcdef", token="bench-token", allow_http=True)
        started = time.perf_counter()
        df = client.list_versions()
        ours = time.perf_counter() - started
        assert df.height == n, df.height
        started = time.perf_counter()
        rows = naive_fetch(url)
        naive = time.perf_counter() - started
        assert rows == n
    finally:
        proc.kill()
    print(
        f"fetch {n:,} versions, 50 ms latency, pages of 1,000: mavtools {ours:.2f} s "
        f"({client.requests_made} requests, {client.connections} connections); "
        f"naive sequential {naive:.2f} s; speed-up {naive / ours:.1f}x "
        f"(targets: <= 2.0 s, >= 5x)"
    )


def bench_parse(n: int) -> None:
    import polars as pl

    from mavtools.frame import build_frame, check_values, parse_page
    from mavtools.local import synth

    raw = synth.bulk(n)
    bodies = []
    for start in range(0, n, 1000):
        versions = raw.slice(start, 1000).to_dicts()
        doc = {"is_success": True, "total_count": n, "versions": versions}
        bodies.append(json.dumps(doc).encode())
    total_bytes = sum(len(b) for b in bodies)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        # As the client reads a listing: pages parsed, then their values checked once.
        pages = [
            parse_page(b, where=f"page {i}", check=False).records for i, b in enumerate(bodies)
        ]
        check_values(pl.concat(pages), "the listing")
        frame = build_frame(pages, "0")
        best = min(best, time.perf_counter() - started)
    per_version = frame.estimated_size() / frame.height
    print(
        f"parse {n:,} versions ({total_bytes / 1e6:.0f} MB of JSON in {len(bodies)} pages): "
        f"{best:.2f} s = {total_bytes / 1e6 / best:.0f} MB/s; {per_version:.0f} bytes/version "
        f"in memory (targets: >= 150 MB/s, <= 150 bytes/version)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--parse-versions", type=int, default=1_000_000)
    args = parser.parse_args()
    bench_fetch(args.versions)
    bench_parse(args.parse_versions)


if __name__ == "__main__":
    main()
