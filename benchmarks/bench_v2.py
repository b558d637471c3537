"""Benchmark of reading new-version (v2) training jobs: creation-time windows vs a naive loop.

Usage: python benchmarks/bench_v2.py [--jobs 20000] [--big-jobs 100000] [--limited-jobs 5000]
       [--connections N]

Prints, measured in one run against the local server (in its own process, 50 ms added latency
per request, ``offset`` read as a page index as Huawei's SDK documents):

* 20,000 jobs: ``Client.list_versions(api="v2")`` (self-contained creation-time windows of one
  request each, adaptive concurrency) against a naive sequential loop (page index, 50 a page,
  requests + pandas). Target: >= 8x, every job exactly once.
* 100,000 jobs: the same read. Target: <= 15 s.
* a gateway allowing 10 requests a second (429 with ``Retry-After`` beyond it, as APIG flow
  control does), 5,000 jobs: the time against the bound (the naive loop's requests / rate), and
  the share of requests throttled. Targets: within 1.5x of the bound, < 20% throttled, exact.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time

PROJECT = "0123456789abcdef"
SERVER = """
import sys
from mavtools.local import synth
from mavtools.local.fake import FakeModelArts, FakeV2, serve
api = FakeModelArts((), project_id="{project}", token="bench-token", latency=0.05,
                    rate_limit={rate})
flavors = {{f.code: (f.gpu, f.npu) for f in synth.FLAVORS.values()}}
FakeV2(synth.bulk_v2({n}), flavors=flavors, v1_retired=True).attach(api)
server = serve(api)
print(server.url, flush=True)
for line in sys.stdin:  # "stats": requests answered and throttled so far
    print(api.requests, api.throttled, flush=True)
"""


class Server:
    """The local server with ``n`` v2 jobs in a process of its own."""

    def __init__(self, n: int, rate: float | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER.format(n=n, project=PROJECT, rate=rate)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def stats(self) -> tuple[int, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        requests, throttled = self.proc.stdout.readline().split()
        return int(requests), int(throttled)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def naive_fetch(url: str) -> tuple[int, int]:
    """What teams write by hand: one page index after another, 50 a page, JSON into pandas."""
    import pandas as pd
    import requests

    rows: list[dict] = []
    session = requests.Session()
    page = 0
    while True:
        response = session.post(
            f"{url}/v2/{PROJECT}/training-job-searches",
            json={"offset": page, "limit": 50, "workspace_id": "0"},
            headers={"X-Auth-Token": "bench-token"},
            timeout=60,
        )
        doc = response.json()
        rows.extend(doc["items"])
        page += 1
        if page * 50 >= doc["count"]:
            break
    return len(pd.json_normalize(rows)), page


def ours(url: str, connections: int, n: int) -> tuple[float, int, str]:
    import mavtools as mt

    client = mt.Client(url, PROJECT, token="bench-token", allow_http=True, connections=connections)
    started = time.perf_counter()
    df = client.list_versions(api="v2")
    took = time.perf_counter() - started
    assert df.height == n and df["job_id"].is_unique().all(), df.height
    aimd = client.v2.windows.last_aimd
    return took, client.requests_made, aimd.summary() if aimd else ""


def bench_ratio(n: int, connections: int) -> None:
    server = Server(n)
    try:
        took, requests, how = ours(server.url, connections, n)
        started = time.perf_counter()
        rows, pages = naive_fetch(server.url)
        naive = time.perf_counter() - started
        assert rows == n
    finally:
        server.stop()
    print(
        f"v2 {n:,} jobs, 50 ms latency: mavtools {took:.2f} s ({requests} requests, {how}); "
        f"naive sequential {naive:.2f} s ({pages} requests); speed-up {naive / took:.1f}x "
        "(target >= 8x, every job once)"
    )


def bench_big(n: int, connections: int) -> None:
    server = Server(n)
    try:
        took, requests, how = ours(server.url, connections, n)
    finally:
        server.stop()
    print(
        f"v2 {n:,} jobs, 50 ms latency: mavtools {took:.1f} s ({requests:,} requests, {how}) "
        "(target <= 15 s)"
    )


def bench_limited(n: int, connections: int, rate: float = 10.0) -> None:
    server = Server(n, rate)
    try:
        took, _requests, how = ours(server.url, connections, n)
        answered, throttled = server.stats()
    finally:
        server.stop()
    bound = math.ceil(n / 50) / rate
    print(
        f"v2 {n:,} jobs behind a gateway allowing {rate:g} requests/s: {took:.1f} s, "
        f"{took / bound:.2f}x the bound of {bound:.1f} s; {throttled} of {answered} requests "
        f"throttled ({throttled / answered:.0%}); {how} (targets: <= 1.5x, < 20%, exact)"
    )


def main() -> None:
    from mavtools.api.client import DEFAULT_CONNECTIONS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--big-jobs", type=int, default=100_000)
    parser.add_argument("--limited-jobs", type=int, default=5_000)
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    args = parser.parse_args()
    bench_ratio(args.jobs, args.connections)
    bench_limited(args.limited_jobs, args.connections)
    bench_big(args.big_jobs, args.connections)


if __name__ == "__main__":
    main()
