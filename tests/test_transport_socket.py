"""The one thing mavtools relies on below requests' public API: reaching a streamed answer's socket.

A body that trickles one byte per read timeout would hang ``iter_content`` past
``Timeout.total``; the transport's watchdog then shuts the socket down
(:func:`mavtools.api.transport.cut_socket`). No public API of requests or urllib3 names the socket
of a response, so ``cut_socket`` goes through the response's file descriptor. These tests hold a
real server's body open and prove, for keep-alive and ``Connection: close`` answers, over HTTP and
TLS, that the cut ends the blocked read at once: a requests or urllib3 upgrade that breaks the
way in fails here.
"""

from __future__ import annotations

import io
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from mavtools.api.transport import cut_socket
from tests.test_hostile_inputs import certificate  # noqa: F401 (a fixture used below)

HELD_FOR = 10.0  # seconds the server holds the body open: far longer than a cut may take


class HeldBody:
    """A server that sends the headers and 10 of 1000 bytes, then holds the connection open."""

    def __init__(self, close: bool, tls: ssl.SSLContext | None) -> None:
        self.close, self.tls = close, tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.listener.getsockname()[1]}/held"

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        if self.tls is not None:
            conn = self.tls.wrap_socket(conn, server_side=True)
        with conn:
            conn.recv(65536)  # the request (small, one read)
            connection = "close" if self.close else "keep-alive"
            conn.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: {connection}\r\n"
                "Content-Type: application/json\r\n\r\n".encode()
                + b"0123456789"
            )
            self.released.wait(HELD_FOR)

    def stop(self) -> None:
        self.released.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def tls_context(certificate) -> ssl.SSLContext:  # noqa: F811
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture(params=["http", "https"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[False, True], ids=["keep-alive", "close"])
def held(
    request: pytest.FixtureRequest, scheme: str, tls_context: ssl.SSLContext
) -> Iterator[HeldBody]:
    server = HeldBody(close=request.param, tls=tls_context if scheme == "https" else None)
    yield server
    server.stop()


def test_cutting_the_socket_ends_a_read_blocked_on_a_held_body(held: HeldBody, certificate):  # noqa: F811
    verify = str(certificate[0]) if held.tls else True
    with requests.Session() as session:
        response = session.get(held.url, stream=True, timeout=(5, HELD_FOR * 2), verify=verify)
        found: list[bool] = []
        timer = threading.Timer(0.3, lambda: found.append(cut_socket(response)))
        started = time.monotonic()
        timer.start()
        received = b""
        try:
            for chunk in response.iter_content(chunk_size=1 << 16):
                received += chunk
        except (requests.exceptions.RequestException, OSError):
            pass  # how the cut read ends (an incomplete body) is the transport's to name
        finally:
            timer.cancel()
            timer.join()  # the cut ends the read before cut_socket returns: wait for its answer
            response.close()
        elapsed = time.monotonic() - started
    assert found == [True], "cut_socket found no socket to shut down"
    assert elapsed < 3.0, f"the read stayed blocked {elapsed:.1f} s after the cut"
    assert len(received) < 1000


def test_a_response_without_a_socket_is_left_alone():
    """In-process transports (tests mount them on the session) answer from memory."""
    response = requests.Response()
    response.raw = io.BytesIO(b"{}")
    assert cut_socket(response) is False
    assert response.raw.read() == b"{}"
