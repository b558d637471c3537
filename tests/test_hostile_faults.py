"""Hostile trials over real HTTP: random faults, data changing while paging, resource bounds.

Each trial is seeded and bounded in time; the counts it reaches are recorded in
``docs/reliability.md``. Heavier variants run with ``-m heavy`` (see that page).
"""

from __future__ import annotations

import collections
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

from mavtools.api.client import Client, RetryPolicy, Timeout
from mavtools.errors import (
    IncompleteError,
    MavtoolsError,
    ResponseFormatError,
    ServerError,
    ThrottledError,
    TransportError,
)
from mavtools.frame import VERSION_SCHEMA
from tests.conftest import PROJECT, TOKEN
from tests.hostile_support import wire_records

#: The faults of trial 1: throttling with and without Retry-After, server errors, and the
#: socket-level failures (reset, no answer within the read timeout, half a body).
TRIAL_FAULTS = ("429", "429-bare", "500", "502", "503", "reset", "timeout", "truncate")
TINY_RETRY = RetryPolicy(attempts=4, backoff=0.001, max_wait=0.05, total=2.0)
SHORT_TIMEOUT = Timeout(connect=2.0, read=0.15, total=5.0)


@pytest.fixture(scope="module")
def ten_thousand() -> list[dict[str, Any]]:
    return wire_records(10_000)


def _client(url: str, **options: Any) -> Client:
    options.setdefault("retry", TINY_RETRY)
    options.setdefault("timeout", SHORT_TIMEOUT)
    options.setdefault("page_size", 1000)
    return Client(url, PROJECT, token=TOKEN, allow_http=True, **options)


# -- trial 1: faults over real HTTP ---------------------------------------------------------------

#: What each error class must say about its cause (one clause of its one sentence).
CAUSES = {
    ThrottledError: "HTTP 429",
    ServerError: "HTTP 50",
    TransportError: ("did not answer", "failed or was cut", "took longer"),
    ResponseFormatError: ("not valid JSON", "HTML", "empty body"),
    IncompleteError: ("versions", "offset"),
}


def run_fault_trial(start_server: Any, records: list[dict[str, Any]], fetches: int, seed: int):
    """``fetches`` fetches of every version through 30 % random faults; returns the tally."""
    server = start_server(
        records,
        fault_rate=0.30,
        fault_kinds=TRIAL_FAULTS,
        seed=seed,
        stall=0.4,  # a "timeout" fault answers nothing for longer than the 0.15 s read timeout
        retry_after=0,
    )
    expected = {r["version_id"] for r in records}
    outcomes: collections.Counter[str] = collections.Counter()
    for _ in range(fetches):
        client = _client(server.url)
        try:
            df = client.list_versions()
        except MavtoolsError as exc:
            kind = type(exc)
            message = str(exc)
            assert message and "\n" not in message, message
            wanted = CAUSES.get(kind)
            assert wanted is not None, f"unexpected {kind.__name__}: {message}"
            wanted = (wanted,) if isinstance(wanted, str) else wanted
            assert any(w in message for w in wanted), message
            outcomes[kind.__name__] += 1
        else:
            # Never a partial frame: all or nothing, each version once, the promised dtypes.
            assert df.schema == VERSION_SCHEMA
            assert df.height == len(expected)
            assert set(df["version_id"]) == expected
            outcomes["complete"] += 1
    outcomes["requests"] = server.api.requests
    return outcomes


def test_trial1_random_faults_give_all_versions_or_a_named_error(start_server, ten_thousand):
    """200 fetches of 10,000 versions, 30 % of requests failing at random (seed 1)."""
    started = time.monotonic()
    tally = run_fault_trial(start_server, ten_thousand, fetches=200, seed=1)
    elapsed = time.monotonic() - started
    print(f"\ntrial 1 (200 fetches, seed 1): {dict(tally)} in {elapsed:.1f} s")
    assert tally["complete"] + sum(tally[k.__name__] for k in CAUSES) == 200
    assert tally["complete"] > 100, "with 4 attempts most fetches get through 30 % faults"


@pytest.mark.heavy
@pytest.mark.parametrize("seed", [2, 3, 4, 5])
def test_trial1_heavy_more_seeds(start_server, ten_thousand, seed):
    tally = run_fault_trial(start_server, ten_thousand, fetches=200, seed=seed)
    print(f"\ntrial 1 heavy (200 fetches, seed {seed}): {dict(tally)}")
    assert tally["complete"] + sum(tally[k.__name__] for k in CAUSES) == 200


# -- trial 9: resource bounds ---------------------------------------------------------------------


class RawServer:
    """A TCP server on 127.0.0.1 whose every connection is handled by ``behaviour(sock)``."""

    def __init__(self, behaviour: Any) -> None:
        self.behaviour = behaviour
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stopping = threading.Event()
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(10)
                conn.recv(65536)
                self.behaviour(conn, self.stopping)
            except OSError:
                pass

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def raw_server() -> Iterator[Any]:
    started: list[RawServer] = []

    def start(behaviour: Any) -> RawServer:
        server = RawServer(behaviour)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _trickle(header: bytes):
    def behaviour(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(header)
        while not stopping.wait(0.05):
            conn.sendall(b" ")

    return behaviour


@pytest.mark.parametrize(
    "header",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000\r\n",
    ],
    ids=["content-length", "until-close", "chunked"],
)
def test_trial9_a_trickled_body_is_cut_at_the_total_timeout(raw_server, header):
    """One byte every 50 ms: no read timeout ever fires, only the total deadline can stop it."""
    server = raw_server(_trickle(header))
    client = _client(
        server.url,
        timeout=Timeout(connect=1, read=1, total=0.6),
        retry=RetryPolicy(attempts=2, backoff=0.01),
    )
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"took longer than 0\.6 s"):
        client.list_versions()
    assert time.monotonic() - started < 2 * 0.6 + 1.0
    assert server.connections == 2


def test_trial9_silence_after_the_headers_is_a_read_timeout(raw_server):
    def behaviour(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        stopping.wait(30)

    server = raw_server(behaviour)
    client = _client(
        server.url, timeout=Timeout(connect=1, read=0.3, total=30), retry=RetryPolicy(attempts=1)
    )
    started = time.monotonic()
    with pytest.raises(TransportError):
        client.list_versions()
    assert time.monotonic() - started < 2


def test_trial9_a_huge_body_is_refused_past_max_body_bytes(start_server, ten_thousand):
    server = start_server(ten_thousand)
    client = _client(server.url, max_body_bytes=100_000, retry=RetryPolicy(attempts=1))
    with pytest.raises(TransportError, match="exceeded 100,000 bytes"):
        client.list_versions()


@pytest.mark.parametrize("claimed", [10**12, 2**62, 10**20])
def test_trial9_an_absurd_total_count_neither_allocates_nor_loops(start_server, claimed):
    server = start_server(wire_records(50))
    original = server.api._list

    def boasting(query: Any) -> Any:
        answer = original(query)
        answer.body = answer.body.replace(b'"total_count":50', f'"total_count":{claimed}'.encode())
        return answer

    server.api._list = boasting
    client = _client(server.url, page_size=10)
    started = time.monotonic()
    with pytest.raises(ResponseFormatError, match=r"not believable|total_count"):
        client.list_versions()
    assert time.monotonic() - started < 5
    assert server.api.requests <= TINY_RETRY.attempts


def test_trial9_a_large_but_believable_total_count_is_bounded_by_what_arrives(start_server):
    """A server claiming 10^7 versions but sending 30: the client stops, it does not page 10^6 times."""
    server = start_server(wire_records(30))
    original = server.api._list

    def boasting(query: Any) -> Any:
        answer = original(query)
        answer.body = answer.body.replace(b'"total_count":30', b'"total_count":10000000')
        return answer

    server.api._list = boasting
    client = _client(server.url, page_size=10, connections=4)
    started = time.monotonic()
    with pytest.raises(IncompleteError):
        client.list_versions()
    elapsed = time.monotonic() - started
    print(f"\n10^7 claimed, 30 sent: {server.api.requests} requests in {elapsed:.1f} s")
    assert elapsed < 30
    assert server.api.requests < 100, server.api.requests


# -- trial 2: data changing while paging ----------------------------------------------------------


def _change_schedule(server: Any, base: list[dict[str, Any]], rng: random.Random, mode: str):
    """A ``before_request`` hook creating versions and finishing running ones at random."""
    newest = max(r["create_time"] for r in base)
    running = [r["version_id"] for r in base if r.get("status") in (7, 8)]
    created = [0]

    def hook(n: int) -> None:
        if rng.random() < 0.5:
            k = rng.randint(1, 25)
            server.api.add_versions(
                dict(
                    base[0],
                    version_id=70_000_000 + created[0] + j,
                    create_time=newest + 1000 * (created[0] + j + 1),
                    status=8,
                    end_time=0,
                )
                for j in range(k)
            )
            created[0] += k
        if running and rng.random() < 0.5:
            for _ in range(rng.randint(1, 10)):
                if running:
                    vid = running.pop(rng.randrange(len(running)))
                    server.api.update_version(vid, status=10, end_time=newest + 5)

    return hook


def _check_snapshot(df: pl.DataFrame, before: set[int], after: set[int]) -> None:
    ids = df["version_id"]
    assert ids.is_unique().all(), "a version came twice"
    got = set(ids)
    assert before <= got, f"{len(before - got)} versions that existed throughout are missing"
    assert got <= after, "versions that never existed"
    assert df.schema == VERSION_SCHEMA


@pytest.mark.parametrize("offset_mode", ["record", "page", "page1"])
@pytest.mark.parametrize("seed", range(3))
def test_trial2_creating_and_finishing_while_paging(start_server, offset_mode, seed):
    """All versions, unfiltered: versions are created and finished between any two requests."""
    base = wire_records(2_000, seed=seed + 10)
    rng = random.Random(seed)
    server = start_server(base, offset_mode=offset_mode)
    server.api.before_request = _change_schedule(server, base, rng, offset_mode)
    before = {r["version_id"] for r in base}
    client = _client(server.url, page_size=100, connections=1 + seed % 4)
    try:
        df = client.list_versions()
    except IncompleteError as exc:
        assert "fetch again" in str(exc).lower() or "could not" in str(exc).lower()
        print(f"\ntrial 2 all/{offset_mode}/{seed}: IncompleteError")
        return
    print(f"\ntrial 2 all/{offset_mode}/{seed}: complete, {server.api.requests} requests")
    _check_snapshot(df, before, {r["version_id"] for r in server.api.versions})


@pytest.mark.parametrize("burst", [True, False], ids=["burst", "endless"])
@pytest.mark.parametrize("balanced", [False, True], ids=["random", "balanced"])
@pytest.mark.parametrize("offset_mode", ["record", "page", "page1"])
@pytest.mark.parametrize("seed", range(2))
def test_trial2_status_listing_while_versions_finish_and_start(
    start_server, offset_mode, seed, balanced, burst
):
    """RUNNING only: versions leave the listing (finish) and join it (start) anywhere in it.

    ``balanced``: each version that finishes is matched by one that starts, so total_count never
    moves and only the records themselves can show the shift. ``burst``: changes stop after the
    eighth request (else they go on all along). The result must hold every version
    that was running throughout, nothing that never ran, each once; or be an IncompleteError.
    """
    base = wire_records(2_000, seed=seed + 20)
    for i, r in enumerate(base):  # a third running, a third queued, the rest finished
        r["status"] = (8, 7, 10)[i % 3]
    rng = random.Random(seed)
    server = start_server(base, offset_mode=offset_mode)
    by_id = {r["version_id"]: r for r in base}
    running = [r["version_id"] for r in base if r["status"] == 8]
    queued = [r["version_id"] for r in base if r["status"] == 7]
    always_running = set(running)

    def hook(n: int) -> None:
        if n < 2 or (burst and n > 8):
            return  # let the first page and the offset probe see a stable listing
        for _ in range(rng.randint(0, 3)):
            if balanced and running and queued:
                gone = running.pop(rng.randrange(len(running)))
                server.api.update_version(gone, status=10)
                always_running.discard(gone)
                vid = queued.pop(rng.randrange(len(queued)))
                server.api.update_version(vid, status=8)
                by_id[vid]["status"] = 8
                continue
            if running and rng.random() < 0.5:
                vid = running.pop(rng.randrange(len(running)))
                server.api.update_version(vid, status=10)
                always_running.discard(vid)
            if queued and rng.random() < 0.5:
                vid = queued.pop(rng.randrange(len(queued)))
                server.api.update_version(vid, status=8)
                by_id[vid]["status"] = 8

    server.api.before_request = hook
    ever_running = {r["version_id"] for r in base if r["status"] == 8} | set(by_id)
    client = _client(server.url, page_size=100, connections=1 + seed % 4)
    try:
        df = client.list_versions(status="RUNNING")
    except IncompleteError:
        print(f"\ntrial 2 running/{balanced}/{burst}/{offset_mode}/{seed}: IncompleteError")
        return
    print(
        f"\ntrial 2 running/{balanced}/{burst}/{offset_mode}/{seed}: complete, {server.api.requests} requests"
    )
    ids = df["version_id"]
    assert ids.is_unique().all()
    got = set(ids)
    missing = always_running - got
    assert not missing, f"{len(missing)} versions running throughout the fetch are missing"
    assert got <= ever_running
