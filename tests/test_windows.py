"""Issue 22: self-contained creation-time windows, churn, adaptive concurrency (real HTTP).

Every test here runs the client against the local server on 127.0.0.1 and asserts what a user
cares about: every job that existed throughout the read listed exactly once, no error, and the
requests it took (timings live in benchmarks/bench_v2.py).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

import mavtools as mt
from mavtools.api.concurrency import Aimd
from mavtools.api.transport import RetryPolicy
from mavtools.local import synth
from mavtools.local.fake import FakeV2, RunningServer
from tests.conftest import PROJECT, TOKEN
from tests.test_v2 import FLAVORS, make_jobs

FAST_RETRY = RetryPolicy(attempts=6, backoff=0.01, max_wait=5.0, total=60.0)


def v2_server(
    start_server: Callable[..., RunningServer], jobs: Any, **options: Any
) -> tuple[RunningServer, FakeV2]:
    server = start_server((), **options.pop("v1_options", {}))
    fake = FakeV2(jobs, flavors=FLAVORS, v1_retired=True, **options).attach(server.api)
    return server, fake


def client(server: RunningServer, **options: Any) -> mt.Client:
    options.setdefault("retry", FAST_RETRY)
    return mt.Client(server.url, PROJECT, token=TOKEN, allow_http=True, **options)


def ids_of(fake: FakeV2) -> set[str]:
    return {j["metadata"]["id"] for j in fake.jobs}


@pytest.mark.parametrize("n", [1, 50, 51, 99, 100, 101, 2_000])
def test_windows_read_every_job_once_in_about_one_request_per_page(
    start_server: Callable[..., RunningServer], n: int
) -> None:
    server, fake = v2_server(start_server, make_jobs(n))
    df = client(server).list_versions(api="v2")
    assert df["job_id"].is_unique().all()
    assert set(df["job_id"]) == ids_of(fake)
    bodies = fake.searches
    assert {b["offset"] for b in bodies} == {0}  # no offset: its meaning never matters
    pages = math.ceil(n / 50)
    # The two ends, windows of ~40 jobs between them, one count check; the flavor list aside.
    assert len(bodies) <= (1 if n <= 50 else pages + math.ceil(pages / 4) + 3)


def test_jobs_created_in_one_millisecond_beyond_a_page_are_paged(
    start_server: Callable[..., RunningServer],
) -> None:
    jobs = make_jobs(400)
    for job in jobs[100:220]:  # 120 jobs in one instant: no time window can split them
        job["metadata"]["create_time"] = jobs[100]["metadata"]["create_time"]
    server, fake = v2_server(start_server, jobs)
    df = client(server).list_versions(api="v2")
    assert df["job_id"].is_unique().all() and set(df["job_id"]) == ids_of(fake)


@pytest.mark.parametrize("offset_mode", ["page", "record"])
def test_a_server_ignoring_the_time_filter_is_paged_instead(
    start_server: Callable[..., RunningServer], offset_mode: str
) -> None:
    """Paged then; ``offset`` read as the SDK documents it (a page index) unless the pages show
    otherwise, with no probe and no error asking the user."""
    server, fake = v2_server(
        start_server, make_jobs(333), ignore_time_filter=True, offset_mode=offset_mode
    )
    c = client(server)
    df = c.list_versions(api="v2")
    assert df["job_id"].is_unique().all() and set(df["job_id"]) == ids_of(fake)
    assert c.v2.filters_time is False  # remembered: the next read pages at once
    assert c.v2.offset_mode == offset_mode
    probes = [b for b in fake.searches if b["limit"] < 50]
    assert len(probes) == (0 if offset_mode == "page" else 2)  # page 2 showed it: probed
    before = len(fake.searches)
    assert c.list_versions(api="v2").height == 333
    assert not any(b.get("filters") for b in fake.searches[before:])


@pytest.mark.parametrize("oldest", [False, True])
@pytest.mark.parametrize("at", [2, 3, 5, 9])
def test_v2_churn_between_searches_lists_every_job_that_existed_throughout(
    start_server: Callable[..., RunningServer], at: int, oldest: bool
) -> None:
    """30 jobs deleted and 30 created between two searches (the total unchanged)."""
    server, fake = v2_server(start_server, make_jobs(1_000))
    before = ids_of(fake)
    fake.churn(at, deleted=30, created=30, seed=at, oldest=oldest)
    df = client(server).list_versions(api="v2")
    after = ids_of(fake)
    assert len(after) == len(before)
    got = set(df["job_id"])
    assert df["job_id"].is_unique().all()
    assert before & after <= got <= before | after


@pytest.mark.parametrize("oldest", [False, True])
@pytest.mark.parametrize("offset_mode", ["record", "page", "page1"])
@pytest.mark.parametrize("at", [2, 3, 4, 7])
def test_v1_churn_between_pages_lists_every_version_that_existed_throughout(
    start_server: Callable[..., RunningServer], offset_mode: str, at: int, oldest: bool
) -> None:
    records = [r for r in synth.simulate(1_500, seed=5) if r["workspace_id"] == "0"]
    server = start_server(records, offset_mode=offset_mode)
    before = {r["version_id"] for r in server.api.versions}
    server.api.churn(at, deleted=30, created=30, seed=at, oldest=oldest)
    df = client(server, page_size=100).list_versions(api="v1", workspace_id="0")
    after = {r["version_id"] for r in server.api.versions}
    assert len(after) == len(before)
    got = set(df["version_id"])
    assert df["version_id"].is_unique().all()
    assert before & after <= got <= before | after


def test_a_rate_limited_gateway_is_not_stormed(start_server: Callable[..., RunningServer]) -> None:
    """A gateway allowing 10 requests a second: exact, and fewer than 20% of requests refused."""
    server, fake = v2_server(
        start_server, make_jobs(2_500), v1_options={"rate_limit": 10, "latency": 0.05}
    )
    c = client(server, connections=16)
    df = c.list_versions(api="v2")
    assert df["job_id"].is_unique().all() and set(df["job_id"]) == ids_of(fake)
    assert server.api.throttled < 0.2 * server.api.requests


def test_connections_cap_the_adaptive_window(start_server: Callable[..., RunningServer]) -> None:
    server, _fake = v2_server(start_server, make_jobs(3_000), v1_options={"latency": 0.02})
    c = client(server, connections=3)
    assert c.list_versions(api="v2").height == 3_000
    aimd = c.v2.windows.last_aimd
    assert aimd is not None and aimd.peak == 3
    c = client(server, connections=16)
    assert c.list_versions(api="v2").height == 3_000
    aimd = c.v2.windows.last_aimd
    assert aimd is not None and aimd.peak > 4  # grew past the start while answers were fast


def test_aimd_halves_on_429_and_paces_to_the_rate_seen() -> None:
    now = [0.0]
    aimd = Aimd(32, start=2, clock=lambda: now[0])
    for _ in range(30):  # fast answers: slow start grows the window
        now[0] += 0.01
        aimd.observe(200, 0.05, None)
    assert aimd.size == 32
    aimd.observe(429, 0.01, 2.0)
    assert aimd.size == 16 and aimd.throttled == 1 and aimd.interval == 0  # a lone 429
    aimd.observe(429, 0.01, 2.0)  # a second one: a rate limit
    assert aimd.size == 16 and aimd.throttled == 2  # one cut per round trip
    assert aimd.next_start() == pytest.approx(2.0)  # Retry-After is honoured by every request
    # 30 answers came in the 0.3 s since the first one: counted over half a second at least.
    assert 1 / aimd.interval == pytest.approx(30 / 0.5 * 0.95, rel=0.01)
    now[0] += 1.0
    aimd.observe(200, 0.5, None)  # ten times the lowest latency: shrink
    assert aimd.size == 12


def test_warm_refresh_of_100000_v2_jobs_after_5_new_and_3_finished_takes_4_requests(
    start_server: Callable[..., RunningServer], tmp_path: Any
) -> None:
    """The newest page (the 5 new jobs, the server's count), the flavor list of a new client,
    and the create-time windows of the cached unfinished jobs that page did not reach."""
    from tests.test_v2 import finish, fresh, settled_jobs

    n = 100_000
    server, fake = v2_server(start_server, settled_jobs(n, running=(20, 25, 50_000, n - 3)))
    from tests.test_v2 import V2

    V2[server.api] = fake  # the helpers of test_v2 find the FakeV2 there
    first = mt.load_versions(client(server), cache_dir=tmp_path)
    assert first.height == n
    finish(server, 20, 50_000, n - 3)
    fake.add_jobs(settled_jobs(5, start=n + 10))
    before = server.api.requests
    again = mt.load_versions(fresh(client(server)), cache_dir=tmp_path, max_age=0)
    assert server.api.requests - before <= 4
    assert set(again["job_id"]) == ids_of(fake) and again.height == n + 5
    running = again.filter(pl.col("outcome") == "running")["job_id"].to_list()
    assert running == [fake_id for fake_id in running if fake_id.startswith("00000019")]


def test_the_adaptive_window_is_visible_in_the_log(
    start_server: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    """What ``-v`` shows: the windows, the requests and the connections the read grew to."""
    server, _fake = v2_server(start_server, make_jobs(500))
    with caplog.at_level("INFO", logger="mavtools"):
        client(server, connections=6).list_versions(api="v2")
    [line] = [r.getMessage() for r in caplog.records if "windows" in r.getMessage()]
    assert re.search(r"500 jobs in \d+ windows, \d+ requests, up to [2-6] connections", line)


def test_a_window_counted_but_sent_empty_is_a_named_error(
    start_server: Callable[..., RunningServer],
) -> None:
    server = start_server(())
    fake = FakeV2(make_jobs(200), flavors=FLAVORS, v1_retired=True)
    original = fake._search

    def lying(request: Any) -> tuple[int, bytes]:
        status, body = original(request)
        doc = json.loads(body)
        if doc["items"] and doc["order"] == "asc" and b"between" in (request.body or b""):
            doc["items"] = []  # a window's count, without its jobs
        return status, json.dumps(doc).encode()

    fake._search = lying  # type: ignore[method-assign]
    fake.attach(server.api)
    with pytest.raises(mt.IncompleteError, match=r"counted \d+ v2 jobs .* but sent none"):
        client(server).list_versions(api="v2")


def test_a_status_filtered_v2_listing_is_read_in_windows_too(
    start_server: Callable[..., RunningServer],
) -> None:
    """The phase filter goes with every window; one pass, no second read to agree with."""
    server, fake = v2_server(start_server, make_jobs(3_000))
    df = client(server).list_versions(status="running", api="v2")
    expected = {j["metadata"]["id"] for j in fake.jobs if j["status"]["phase"] == "Running"}
    assert df["job_id"].is_unique().all() and set(df["job_id"]) == expected
    phase = {"key": "phase", "operator": "in", "value": ["Running", "Terminating"]}
    assert all(phase in b["filters"] for b in fake.searches)
    assert {b["offset"] for b in fake.searches} == {0}
    assert len(fake.searches) <= math.ceil(len(expected) / 45) + 4
