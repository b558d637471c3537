"""The two ways the stand-in server is reached, both through :meth:`FakeModelArts.handle`.

* :func:`serve` runs it as a real HTTP server on 127.0.0.1 (never another interface), acting out
  the socket-level faults (``reset``, ``timeout``, ``truncate``, ``slow``, ``endless``,
  ``trickle``) that an :class:`~mavtools.local.fake.wire.Answer` can only ask for;
* :class:`FakeAdapter` mounts it on a ``requests.Session`` in-process (the bundled samples use this).
"""

from __future__ import annotations

import contextlib
import io
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from requests.adapters import BaseAdapter

from mavtools.local.fake.server import FakeModelArts

__all__ = ["FakeAdapter", "RunningServer", "serve"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see setup(): no delayed-ACK wait on two-write answers
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; with Nagle's algorithm the body then waits for
        # the client's delayed ACK (~40 ms per answer), which real gateways do not add.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header, on the server's (possibly skewed) clock."""
        now = time.time() if timestamp is None else timestamp
        return super().date_time_string(now + self.server.api.clock_skew)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.api.handle(self.command, self.path, dict(self.headers.items()), body)
        if answer.delay and answer.action in ("send", "slow"):
            time.sleep(answer.delay)
        if answer.action == "slow":
            answer = self.server.api._list(
                urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            )
        if answer.action == "reset":
            self._reset()
            return
        if answer.action == "timeout":
            self.server.sleep(answer.delay)
            self._reset()
            return
        if answer.action == "endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"is_success":true,"versions":[')
            deadline = time.monotonic() + answer.delay
            with contextlib.suppress(OSError):
                while time.monotonic() < deadline and not self.server.stopping.is_set():
                    self.wfile.write(b'{"version_id":1},' * 64)
                    time.sleep(0.001)
            self._reset()
            return
        if answer.action == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            every, until = answer.headers["every"], answer.headers["trickle_for"]
            deadline = time.monotonic() + float(until)
            with contextlib.suppress(OSError):
                self.wfile.write(b'{"is_success":true,')
                self.wfile.flush()
                while time.monotonic() < deadline and not self.server.stopping.is_set():
                    self.server.sleep(float(every))
                    self.wfile.write(b" ")
                    self.wfile.flush()
            self.server.sleep(answer.delay)
            self._reset()
            return
        if answer.action == "truncate":
            full = self.server.api._list(
                urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            ).body
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(full)))
            self.end_headers()
            self.wfile.write(full[: len(full) // 2])
            self._reset()
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def _reset(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    do_GET = _serve
    do_POST = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, api: FakeModelArts, port: int) -> None:
        self.api = api
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", port), _Handler)

    def sleep(self, seconds: float) -> None:
        self.stopping.wait(seconds)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, faults, tests ending) are expected: no traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


@dataclass
class RunningServer:
    """A :class:`FakeModelArts` listening on 127.0.0.1; stop it with :meth:`stop` or ``with``."""

    api: FakeModelArts
    url: str
    _server: _Server
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(api: FakeModelArts, port: int = 0, *, tls: ssl.SSLContext | None = None) -> RunningServer:
    """Start ``api`` on 127.0.0.1 (``port=0``: a free port) in a background thread.

    ``tls``: a server-side context (with its certificate loaded) to answer over HTTPS instead.
    """
    server = _Server(api, port)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="fake-modelarts", daemon=True)
    thread.start()
    host, bound = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else host
    scheme = "https" if tls is not None else "http"
    return RunningServer(api, f"{scheme}://{host}:{bound}", server, thread)


# -- in-process front end ---------------------------------------------------------------------


class FakeAdapter(BaseAdapter):
    """A ``requests`` transport adapter answering from a :class:`FakeModelArts` in-process.

    Only plain answers are supported (socket-level faults need :func:`serve`).
    """

    def __init__(self, api: FakeModelArts) -> None:
        super().__init__()
        self.api = api

    def send(  # type: ignore[override]  # the transport options do not apply in-process
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        parts = urllib.parse.urlsplit(request.url or "")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        raw_body = request.body or b""
        body = raw_body.encode() if isinstance(raw_body, str) else raw_body
        answer = self.api.handle(request.method or "GET", target, dict(request.headers), body)
        response = requests.Response()
        response.status_code = answer.status
        response.headers.update(answer.headers)
        response.raw = io.BytesIO(answer.body)  # requests reads .content from it (public API)
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass
