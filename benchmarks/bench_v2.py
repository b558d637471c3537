"""Benchmark of reading new-version (v2) training jobs: the search paged 50 at a time.

Usage: python benchmarks/bench_v2.py [--jobs 100000] [--connections N]

Prints, measured in one run: 100,000 v2 jobs from the local server (in its own process) with 50 ms
added latency per request, read by ``Client.list_versions(api="v2")`` in pages of 50 (the API's
cap), with the number of requests and the wall time at the default number of connections.
The lower bound of one pass is ``ceil(jobs / 50) / connections x 50 ms``: the cap, not the
client, sets it. The local server reads ``offset`` as a page index (what the current docs say),
and the pager trusts a page-index listing only after two passes agree (pages cannot overlap, so a
delete plus a create between two pages would go unseen): the requests double.
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
from mavtools.local.fake_api import FakeModelArts, serve
from mavtools.local.fake_v2 import FakeV2
api = FakeModelArts((), project_id="{project}", token="bench-token", latency=0.05)
flavors = {{f.code: (f.gpu, f.npu) for f in synth.FLAVORS.values()}}
FakeV2(synth.bulk_v2({n}), flavors=flavors, v1_retired=True).attach(api)
server = serve(api)
print(server.url, flush=True)
sys.stdin.read()
"""


def main() -> None:
    import mavtools as mt
    from mavtools.api.client import DEFAULT_CONNECTIONS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    args = parser.parse_args()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(n=args.jobs, project=PROJECT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        client = mt.Client(
            url, PROJECT, token="bench-token", allow_http=True, connections=args.connections
        )
        started = time.perf_counter()
        df = client.list_versions(api="v2")
        took = time.perf_counter() - started
        assert df.height == args.jobs, df.height
        pages = math.ceil(args.jobs / 50)
        floor = pages / args.connections * 0.05
        print(
            f"v2 fetch: {args.jobs:,} jobs in {took:.1f} s with {client.requests_made:,} requests "
            f"({pages:,} pages of 50 per pass), {args.connections} connections "
            f"(one pass at 50 ms latency takes at least {floor:.1f} s)"
        )
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
