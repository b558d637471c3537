"""Shared fixtures: no network beyond loopback, a clean environment, a local ModelArts server."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mavtools.local import synth
from mavtools.local.fake import FakeModelArts, RunningServer, serve
from tests.ci_guard import pytest_runtest_makereport  # noqa: F401  (a hook: CI fails on missing deps)

PROJECT = "0123456789abcdef0123456789abcdef"
TOKEN = "tok-SECRET-4f1e2d3c"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX and friends
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """Unit and integration tests cannot reach the network by accident."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No credentials or cache of the developer's own leak into a test."""
    for name in list(os.environ):
        if name.startswith(("MODELARTS_", "OS_", "MAVTOOLS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MAVTOOLS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def records() -> list[dict[str, Any]]:
    """A realistic simulated project: 3,000 versions in three workspaces."""
    return synth.simulate(3000, seed=11)


@pytest.fixture
def start_server() -> Iterator[Callable[..., RunningServer]]:
    """Start FakeModelArts servers on 127.0.0.1; all are stopped after the test."""
    running: list[RunningServer] = []

    def start(records: Any = (), **options: Any) -> RunningServer:
        options.setdefault("project_id", PROJECT)
        options.setdefault("token", TOKEN)
        server = serve(FakeModelArts(records, **options))
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()
