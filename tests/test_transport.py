"""mavtools.api.transport over real HTTP: one deadline per call, stalls retried once, single-flight
token renewal, errors that name their cause, and 401/403 hints fitting the credentials in use."""

from __future__ import annotations

import pickle
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mavtools.api.auth import AkSkAuth
from mavtools.api.client import Client, RetryPolicy, Timeout
from mavtools.api.iam import PasswordAuth
from mavtools.errors import AuthError, ConfigError, TransportError
from tests.conftest import PROJECT, TOKEN
from tests.hostile_support import wire_records

FAST = RetryPolicy(attempts=6, backoff=0.01, max_wait=0.05, total=5.0)


def _client(url: str, **options: Any) -> Client:
    options.setdefault("retry", FAST)
    if "auth" not in options:
        options.setdefault("token", TOKEN)
    return Client(url, PROJECT, allow_http=True, **options)


# -- one deadline per call; a stall is retried once ---------------------------------------------


def test_the_default_time_limits_end_a_trickle_then_stall_within_three_minutes():
    """The documented math: two attempts of at most Timeout.total, plus one first backoff."""
    timeout, retry = Timeout(), RetryPolicy()
    assert 2 * timeout.total + retry.backoff < 180
    assert timeout.read < timeout.total


def test_a_trickle_then_stall_is_retried_once_then_named(start_server):
    """Headers, a trickled body, then silence: small settings, same rule as the defaults."""
    server = start_server(wire_records(50), stall=30.0)
    server.api.inject("trickle", times=100, every=0.05, trickle_for=0.3)
    client = _client(server.url, timeout=Timeout(connect=1, read=0.3, total=0.8, deadline=20))
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        client.list_versions()
    elapsed = time.monotonic() - started
    assert info.value.cause == "stalled"
    assert "timeout" in str(info.value)
    assert server.api.requests == 2  # the stall was retried once, not 6 times
    assert elapsed < 2 * 0.8 + 0.5


def test_one_deadline_bounds_the_whole_call(start_server):
    """Every page answers, slowly: the call as a whole must end at its deadline."""
    server = start_server(wire_records(300), latency=0.25)
    client = _client(
        server.url, page_size=50, connections=1, timeout=Timeout(read=5, total=5, deadline=0.6)
    )
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"deadline of 0\.6 s") as info:
        client.list_versions()  # 7 requests of 0.25 s each
    assert info.value.cause == "deadline"
    assert time.monotonic() - started < 0.6 + 0.5
    # The next call gets a deadline of its own.
    server.api.latency = 0.0
    assert client.list_versions().height == 300


# -- errors that name their cause (issue 13) -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_fails_at_once():
    client = _client(f"http://127.0.0.1:{_free_port()}", retry=RetryPolicy())
    started = time.monotonic()
    with pytest.raises(TransportError, match="refused") as info:
        client.list_versions()
    assert info.value.cause == "refused"
    assert client.requests_made == 1
    assert time.monotonic() - started < 0.4  # the default policy would wait 0.5 s first


def test_an_unknown_host_names_dns(monkeypatch):
    def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    client = Client(
        "https://modelarts.eu-xx.example.invalid", PROJECT, token=TOKEN, retry=RetryPolicy(1)
    )
    with pytest.raises(TransportError, match=r"could not be resolved \(DNS\)") as info:
        client.list_versions()
    assert info.value.cause == "dns"


def test_a_reset_names_the_cut_and_pickles(start_server):
    server = start_server(wire_records(10))
    server.api.inject("reset", times=100)
    with pytest.raises(TransportError, match="failed or was cut") as info:
        _client(server.url, retry=RetryPolicy(2, backoff=0.001)).list_versions()
    assert info.value.cause == "reset"
    copy = pickle.loads(pickle.dumps(info.value))
    assert (str(copy), copy.cause) == (str(info.value), "reset")


def test_plain_http_is_refused_naming_the_opt_in(monkeypatch):
    with pytest.raises(ConfigError, match="MAVTOOLS_ALLOW_HTTP=1"):
        Client("http://modelarts.internal.example", PROJECT, token=TOKEN)
    monkeypatch.setenv("MAVTOOLS_ALLOW_HTTP", "1")
    client = Client("http://modelarts.internal.example", PROJECT, token=TOKEN)
    assert client.endpoint == "http://modelarts.internal.example"


# -- token renewal: single flight ------------------------------------------------------------------


def test_one_expiry_seen_by_eight_connections_renews_the_token_once(start_server):
    server = start_server(wire_records(2_000), token=None, users={("dom", "alice"): "pw"})

    def expire_mid_fetch(n: int) -> None:
        if n == 12:  # pages are in flight on every connection
            server.api.expire_tokens()

    server.api.before_request = expire_mid_fetch
    auth = PasswordAuth(f"{server.url}/v3", "alice", "pw", "dom", project_id=PROJECT)
    client = _client(server.url, auth=auth, page_size=10, connections=8)
    df = client.list_versions()
    assert df.height == 2_000
    assert len(server.api.iam_scopes) == 2  # the first token and exactly one renewal


# -- 401/403 hints by kind of credentials ------------------------------------------------------------


def _aksk_client(server: Any, clock_offset: timedelta = timedelta(0), sk: str = "SK") -> Client:
    auth = AkSkAuth("AK", sk, clock=lambda: datetime.now(UTC) + clock_offset)
    return _client(server.url, auth=auth)


@pytest.mark.parametrize(
    ("local", "server_skew", "words"),
    [
        (timedelta(minutes=20), 0.0, "20 minutes ahead of"),
        (timedelta(0), 30 * 60.0, "30 minutes behind"),
    ],
    ids=["local-clock-ahead", "server-clock-ahead"],
)
def test_aksk_refused_for_a_skewed_clock_says_so(start_server, local, server_skew, words):
    server = start_server(wire_records(10), aksk={"AK": "SK"}, clock_skew=server_skew)
    with pytest.raises(AuthError) as info:
        _aksk_client(server, local).list_versions()
    message = str(info.value)
    assert words in message and "clock" in message
    assert "token" not in message.lower()


def test_aksk_refused_with_a_right_clock_points_at_the_keys(start_server):
    server = start_server(wire_records(10), aksk={"AK": "SK"})
    with pytest.raises(AuthError) as info:
        _aksk_client(server, sk="wrong").list_versions()
    message = str(info.value)
    assert "secret key (SK)" in message and "clock" not in message
    assert "token" not in message.lower()


def test_token_refused_talks_about_tokens(start_server):
    server = start_server(wire_records(10))
    with pytest.raises(AuthError, match="token is missing, expired") as info:
        _client(server.url, token="tok-not-valid").list_versions()
    assert info.value.http_status == 401


def test_one_deadline_bounds_a_whole_cache_load(start_server, records, tmp_path):
    """An incremental refresh makes several calls (workspaces, then each listing's newest
    pages); each alone would fit the deadline, together they must not exceed it."""
    from mavtools.store import load_versions

    server = start_server(records)
    fast = _client(server.url)
    load_versions(fast, workspace_id="*", cache_dir=tmp_path)
    server.api.latency = 0.25
    slow = _client(server.url, timeout=Timeout(read=5, total=5, deadline=0.6))
    slow.offset_mode = fast.offset_mode
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"deadline of 0\.6 s"):
        load_versions(slow, workspace_id="*", cache_dir=tmp_path, max_age=0)
    assert time.monotonic() - started < 0.6 + 0.5
