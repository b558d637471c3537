"""One request to ModelArts: sending, retries, time limits and error mapping.

:meth:`Transport._request` (behind ``get``, ``get_parsed`` and ``post_parsed``) is the one place
that reaches the network. It retries 429, 5xx, connection failures, timeouts and damaged bodies
with exponential backoff and jitter (honouring ``Retry-After``), bounded in attempts and in total
time, and turns what is left into the :mod:`mavtools.errors` tree (through
:mod:`mavtools.api.http_errors`).

Why not urllib3's ``Retry``: it cannot retry failures that surface while the body is read or parsed
(a truncated body, an HTML page with status 200), so one loop here covers all of them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import requests
from requests.adapters import HTTPAdapter

from mavtools.api.http_errors import api_error, auth_hint, connection_error, full_url, safe_url
from mavtools.errors import MavtoolsError, ResponseFormatError, TransportError

__all__ = ["NotSuccessful", "RetryPolicy", "Timeout", "Transport"]

log = logging.getLogger("mavtools")

T = TypeVar("T")
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How failing requests are retried.

    Attributes:
        attempts: tries per request, the first included.
        backoff: seconds before the first retry; doubled each time, with jitter (x0.5 to x1.0).
        max_wait: longest single wait; a ``Retry-After`` above it ends the retries.
        total: the most seconds one request may spend waiting between retries.
    """

    attempts: int = 6
    backoff: float = 0.5
    max_wait: float = 30.0
    total: float = 120.0


@dataclass(frozen=True)
class Timeout:
    """Time limits, in seconds.

    Attributes:
        connect: to open a connection.
        read: between two bytes of the answer.
        total: for one whole answer, so an endless or trickling body cannot hang a request.
        deadline: for one whole call (``list_versions``, a cache load): every page, retry and
            wait included. When it passes, the call raises :class:`TransportError`.

    A stalled answer (no byte for ``read`` seconds, or not finished within ``total``) is retried
    at most once. With the defaults, a server that sends headers, trickles a body and then goes
    silent costs at most two attempts of at most ``total`` = 85 s each plus one backoff wait
    (at most 0.5 s): a :class:`TransportError` within 171 s, under three minutes.
    """

    connect: float = 10.0
    read: float = 60.0
    total: float = 85.0
    deadline: float = 600.0


class NotSuccessful(Exception):
    """Raised by a body parser for a well-formed answer that says ``is_success: false``."""


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    token: str | None  # the X-Auth-Token the request carried (for single-flight renewal)


class Transport:
    """Sends GET and POST requests with retries and maps every failure to a :class:`MavtoolsError`.

    Args:
        session: the ``requests.Session`` (None: a new one with ``connections`` pooled sockets).
        auth: the ``requests`` auth object sent with every request.
        timeout: time limits of every request and of every call.
        retry: retry policy.
        verify: TLS certificate verification (True, False or a CA bundle path).
        max_body_bytes: the largest answer accepted.
        connections: the most sockets kept open to the endpoint.
    """

    def __init__(
        self,
        session: requests.Session | None,
        auth: requests.auth.AuthBase | None,
        *,
        timeout: Timeout,
        retry: RetryPolicy,
        verify: bool | str,
        max_body_bytes: int,
        connections: int,
    ) -> None:
        self.timeout = timeout
        self.retry = retry
        self.max_body_bytes = max_body_bytes
        self.auth = auth
        self.requests_made = 0
        #: Called with (HTTP status, seconds the answer took, ``Retry-After`` or None) after
        #: every answer: how adaptive concurrency (:mod:`mavtools.api.concurrency`) hears of
        #: throttling and latency without a second retry loop of its own.
        self.observers: list[Callable[[int, float, float | None], None]] = []
        #: Called before a throttled request is sent again; returns the seconds to wait first
        #: (the pacing of :mod:`mavtools.api.concurrency`, so retries do not storm a gateway).
        self.gates: list[Callable[[], float]] = []
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._deadline_at: float | None = None
        self.session = session or requests.Session()
        if session is None:
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=connections, max_retries=0)
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)
        # An explicit verify= must win over REQUESTS_CA_BUNDLE from the environment.
        self.verify = verify
        # requests reads the proxy and CA-bundle variables (walking the whole environment) on
        # every request. On a session of our own, read them once instead: the same settings,
        # without a per-request cost.
        self._proxies: dict[str, dict[str, str]] = {}
        self._env_once = session is None and self.session.trust_env
        if self._env_once:
            self.session.trust_env = False
            if verify is True:
                bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                self.verify = bundle or True
        self.session.headers["User-Agent"] = "mavtools/0.1"

    @contextlib.contextmanager
    def deadline(self) -> Iterator[None]:
        """Bound everything sent inside by one :attr:`Timeout.deadline` (nested calls share it)."""
        with self._lock:
            outer = self._deadline_at is not None
            if not outer:
                self._deadline_at = time.monotonic() + self.timeout.deadline
        try:
            yield
        finally:
            if not outer:
                with self._lock:
                    self._deadline_at = None

    def _past_deadline(self, url: str) -> TransportError:
        return TransportError(
            f"The call to {safe_url(url)} did not finish within its deadline of "
            f"{self.timeout.deadline:g} s; the server is slow or stalled: retry later, or raise "
            "Timeout(deadline=...).",
            cause="deadline",
        )

    def get(self, url: str, params: dict[str, str], where: str) -> bytes:
        """GET ``url`` with retries; the body of a successful answer, or raise."""
        return self._request("GET", url, params, where, None)  # type: ignore[arg-type]

    def get_parsed(
        self, url: str, params: dict[str, str], where: str, parse: Callable[[bytes, str], T]
    ) -> T:
        """GET ``url`` with retries and return ``parse(body, where)``, or raise (:meth:`_request`)."""
        return self._request("GET", url, params, where, parse)

    def post_parsed(
        self, url: str, json_body: Mapping[str, Any], where: str, parse: Callable[[bytes, str], T]
    ) -> T:
        """POST ``json_body`` as JSON to ``url`` with retries and return ``parse(body, where)``.

        The v2 job search takes its offset, limit and filters so; retried like a GET (the
        search only reads). See :meth:`_request`.
        """
        return self._request("POST", url, {}, where, parse, json_body)

    def _request(
        self,
        method: str,
        url: str,
        params: dict[str, str],
        where: str,
        parse: Callable[[bytes, str], T],
        json_body: Mapping[str, Any] | None = None,
    ) -> T:
        """Send ``method`` to ``url`` with retries and return ``parse(body, where)``, or raise.

        ``parse`` raising a transient :class:`ResponseFormatError` (a damaged body) is retried like
        a failed request; :class:`NotSuccessful` becomes the :class:`ApiError` of the answer.
        A refused connection is not retried (nothing listens there), a stalled answer once.
        """
        policy = self.retry
        waited = 0.0
        renewed = False
        stalls = 0
        attempt = 0
        while True:
            attempt += 1
            deadline_at = self._deadline_at
            if deadline_at is not None and time.monotonic() >= deadline_at:
                raise self._past_deadline(url)
            retry_after: float | None = None
            failure: MavtoolsError
            try:
                sent = time.monotonic()
                reply = self._send(method, url, params, deadline_at, json_body)
                for observe in list(self.observers):
                    observe(reply.status, time.monotonic() - sent, _retry_after(reply.headers))
            except TransportError as exc:
                failure = exc
                if exc.cause in ("refused", "deadline", "too-large"):
                    raise
                if exc.cause == "stalled":
                    stalls += 1
                    if stalls > 1:
                        raise
            else:
                status, body = reply.status, reply.body
                invalidate = getattr(self.auth, "invalidate", None)
                if status == 401 and not renewed and invalidate is not None:
                    renewed = True  # a cached IAM token expired early: get a new one, once
                    invalidate(reply.token)
                    continue
                if status < 400 and parse is None:
                    return body  # type: ignore[return-value]
                if status >= 400:
                    failure = api_error(
                        status,
                        body,
                        full_url(url, params),
                        attempt,
                        auth_hint(self.auth, reply.status, reply.headers, reply.body),
                    )
                    if status not in RETRY_STATUSES:
                        raise failure
                    retry_after = _retry_after(reply.headers)
                else:
                    try:
                        return parse(body, where)
                    except NotSuccessful:
                        raise api_error(status, body, full_url(url, params), attempt) from None
                    except ResponseFormatError as exc:
                        failure = exc
                        if not exc.transient:
                            raise
            if attempt >= policy.attempts:
                raise failure
            wait = policy.backoff * 2 ** (attempt - 1) * self._rng.uniform(0.5, 1.0)
            if retry_after is not None:
                if retry_after > policy.max_wait:
                    raise failure
                wait = max(wait, retry_after)
            wait = min(wait, policy.max_wait)
            if waited + wait > policy.total:
                raise failure
            if deadline_at is not None and time.monotonic() + wait >= deadline_at:
                raise failure
            log.debug("retrying %s in %.2f s after: %s", where, wait, failure)
            time.sleep(wait)
            waited += wait
            if retry_after is not None:
                for gate in list(self.gates):
                    time.sleep(gate())  # a throttled request waits its turn like a new one

    def _proxies_for(self, url: str) -> dict[str, str]:
        """The environment's proxies for ``url`` (cached; explicit session proxies win)."""
        if not self._env_once:
            return {}  # requests merges the environment itself
        proxies = self._proxies.get(url)
        if proxies is None:
            proxies = dict(requests.utils.get_environ_proxies(url))
            self._proxies[url] = proxies
        return proxies

    def _send(
        self,
        method: str,
        url: str,
        params: dict[str, str],
        deadline_at: float | None,
        json_body: Mapping[str, Any] | None = None,
    ) -> _Reply:
        """The one place that touches the network; maps transport failures to TransportError."""
        with self._lock:
            self.requests_made += 1
        started = time.monotonic()
        cutoff = started + self.timeout.total
        by_deadline = deadline_at is not None and deadline_at < cutoff
        if deadline_at is not None:
            cutoff = min(cutoff, deadline_at)
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                auth=self.auth,
                timeout=(self.timeout.connect, self.timeout.read),
                stream=True,
                verify=self.verify,
                allow_redirects=False,
                proxies=self._proxies_for(url),
            )
            # iter_content blocks until a whole chunk has arrived, so a body trickling one byte
            # per read timeout would never reach the deadline check: cut the socket at the deadline.
            guard = _Guard(response)
            watchdog = threading.Timer(max(cutoff - time.monotonic(), 0.0), guard.cut)
            watchdog.daemon = True
            watchdog.start()
            try:
                with response:
                    chunks = []
                    size = 0
                    for chunk in response.iter_content(chunk_size=1 << 16):
                        size += len(chunk)
                        if size > self.max_body_bytes:
                            raise TransportError(
                                f"The answer from {safe_url(url)} exceeded "
                                f"{self.max_body_bytes:,} bytes; use a smaller page size.",
                                cause="too-large",
                            )
                        if time.monotonic() > cutoff:
                            raise _TooLong
                        chunks.append(chunk)
                    if not guard.finish():
                        raise _TooLong
                    sent = response.request.headers.get("X-Auth-Token")
                    return _Reply(
                        response.status_code,
                        response.headers,
                        b"".join(chunks),
                        sent if isinstance(sent, str) else None,
                    )
            except Exception:
                if guard.finish():
                    raise
                raise _TooLong from None  # whatever the cut socket made the read raise
            finally:
                watchdog.cancel()
        except _TooLong:
            if by_deadline:
                raise self._past_deadline(url) from None
            raise TransportError(
                f"The answer from {safe_url(url)} took longer than {self.timeout.total:g} s "
                "(a stalled or trickling server, timeout); retry later or raise Timeout.total.",
                cause="stalled",
            ) from None
        except TransportError:
            raise
        except requests.exceptions.SSLError:
            raise TransportError(
                f"The TLS certificate of {safe_url(url)} could not be verified; check the "
                "endpoint, or point REQUESTS_CA_BUNDLE at your company's CA bundle.",
                cause="tls",
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise TransportError(
                f"{safe_url(url)} did not accept a connection within {self.timeout.connect:g} s "
                "(timeout); check the endpoint and your network or proxy, then retry.",
                cause="timeout",
            ) from None
        except requests.exceptions.Timeout:
            raise TransportError(
                f"{safe_url(url)} did not answer within {self.timeout.read:g} s (timeout: a "
                "stalled server); retry later.",
                cause="stalled",
            ) from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise connection_error(exc, url) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(
                f"The request to {safe_url(url)} failed ({type(exc).__name__}); retry later."
            ) from None


class _TooLong(Exception):
    """The answer was still arriving at the total deadline."""


class _Guard:
    """Cuts a response's socket at the deadline unless the body was read first (no race)."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self._lock = threading.Lock()
        self._state = "reading"

    def cut(self) -> None:
        """Shut the socket down so a blocked read returns at once (runs in the watchdog)."""
        with self._lock:
            if self._state != "reading":
                return
            self._state = "cut"
            cut_socket(self._response)

    def finish(self) -> bool:
        """Mark the body as read; False when the watchdog has already cut it."""
        with self._lock:
            if self._state == "cut":
                return False
            self._state = "done"
            return True


def cut_socket(response: requests.Response) -> bool:
    """Shut down the socket a streamed response reads from, so a blocked read returns at once.

    Neither requests nor urllib3 offers "the socket of a response"; the public way to it is its
    file descriptor, io's ``fileno()``, which urllib3's ``HTTPResponse`` passes on to http.client's
    socket file. It holds for ``Connection: close`` answers too (their connection object has
    already let go of the socket; the response's file still holds it) and over TLS (the
    descriptor is the TCP socket's). ``tests/test_transport_socket.py`` proves this over real
    sockets, so a requests or urllib3 release that changes it fails a test, not a user.

    Returns:
        Whether a socket was found and shut down (False: an in-process transport, or the body
        is already closed).
    """
    try:
        # A duplicate descriptor: shutdown acts on the connection, so the read blocked on the
        # original returns, and closing the duplicate leaves the original to its owner. The
        # plain socket's shutdown: SSLSocket.shutdown would also drop its TLS object under the
        # reading thread's feet.
        duplicate = socket.dup(response.raw.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    try:
        copy = socket.socket(fileno=duplicate)
    except OSError:  # not a socket
        os.close(duplicate)
        return False
    with copy, contextlib.suppress(OSError):
        copy.shutdown(socket.SHUT_RDWR)
    return True


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
