"""The stand-in ModelArts server: routing, credentials, faults, IAM and workspaces.

:class:`FakeModelArts` answers ``GET /v1/{project}/training-jobs/versions`` from versions held in
memory (the listing itself is :class:`~mavtools.local.fake.v1.Versions`), with token and AK/SK
checks, documented error bodies, and faults on demand. It also answers the IAM call
``POST /v3/auth/tokens`` so password authentication can be tested end to end, and
``GET /v1/{project}/workspaces``. Extra tokens with narrowed :class:`Permissions` (``grants=``)
stand in for least-privilege IAM users: one that may not list workspaces, one refused in a given
workspace (403 ``ModelArts.0108``). Other APIs plug in with :meth:`FakeModelArts.route` and answer
through :meth:`FakeModelArts.counted` (``v2``, ``workloads``).

It is reached two ways, through one :meth:`FakeModelArts.handle` (see ``frontends``): a real HTTP
server on 127.0.0.1 (:func:`~mavtools.local.fake.frontends.serve`), or in-process on a
``requests.Session`` (:class:`~mavtools.local.fake.frontends.FakeAdapter`).

Faults (:meth:`FakeModelArts.inject` for the next requests, or ``fault_rate`` for random ones):
``429`` (with ``Retry-After``), ``429-bare`` (without), ``500``, ``502`` (an HTML gateway page),
``503``, ``reset`` (connection closed without an answer), ``timeout`` (no answer for ``stall``
seconds), ``truncate`` (half a body), ``html`` (200 with an HTML page), ``slow`` (answer after
``stall`` seconds), ``endless`` (a body that never ends), ``trickle`` (headers and a few bytes of
body, one every ``every`` seconds for ``trickle_for`` seconds, then silence for ``stall`` seconds).
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from mavtools.local.fake.paging import OFFSET_MODES, Paging
from mavtools.local.fake.v1 import Versions
from mavtools.local.fake.wire import (
    GATEWAY_PAGE,
    NOT_FOUND,
    Answer,
    Handler,
    Request,
    error,
    not_authorized,
)

__all__ = ["FAULT_KINDS", "FakeModelArts", "Permissions"]

FAULT_KINDS: Final = (
    "429",
    "429-bare",
    "500",
    "502",
    "503",
    "reset",
    "timeout",
    "truncate",
    "html",
    "slow",
    "endless",
    "trickle",
)


@dataclass(frozen=True)
class Permissions:
    """What one extra token may do, for least-privilege tests (see ``FakeModelArts(grants=)``).

    Attributes:
        list_workspaces: ``modelarts:workspace:list`` granted (else 403 ``ModelArts.0108``).
        refused_workspaces: workspaces where ``modelarts:trainJob:list`` is not granted.
        list_pools: ``modelarts:pool:list`` granted: the v2 pool list and resource flavors.
        list_flavors: the v2 training flavor list may be read.
    """

    list_workspaces: bool = True
    refused_workspaces: frozenset[str] = frozenset()
    list_pools: bool = True
    list_flavors: bool = True


class FakeModelArts(Versions):
    """An in-memory ModelArts versions API.

    Args:
        records: wire records (API field names) each with a ``workspace_id`` key.
        project_id: the project the server answers for; others get 403 ``ModelArts.0210``.
        token: the token accepted in ``X-Auth-Token`` (None: no token accepted unless AK/SK given).
        aksk: AK -> SK pairs accepted for signed requests.
        users: ``(domain, user) -> password`` accepted by the IAM endpoint.
        offset_mode: ``"record"`` (offset counts records), ``"page"`` (a 0-based page index) or
            ``"page1"`` (a 1-based page index).
        latency: seconds added to every answer.
        fault_rate: share of versions requests answered by a random fault (seeded by ``seed``).
        fault_kinds: the kinds random faults are drawn from.
        stall: seconds a ``timeout`` or ``slow`` fault waits.
        retry_after: the ``Retry-After`` seconds of a ``429`` fault (``inject`` may override it).
        before_request: called with the request number before each versions request is answered,
            to change data while a client pages.
        auth_required: when False (the bundled samples) requests need no credentials.
        max_limit: like many API gateways, silently serve at most this many versions per page
            (the body still echoes the ``limit`` asked for, and the true ``total_count``; see
            :mod:`~mavtools.local.fake.paging` for why the v1 cap is silent).
        clock_skew: seconds added to the server's clock in the ``Date`` header and in the AK/SK
            signature check (a gateway whose clock, or rather the user's, is off).
        workspace_names: workspace id -> name served by ``GET /v1/{project}/workspaces``
            (default: "default" for "0", else "ws-" and the id's first 6 characters).
        rate_limit: like APIG flow control, answer at most this many listing requests a second
            (a token bucket holding one second's worth); beyond it ``429`` with ``Retry-After``
            (whole seconds until a request is allowed again). ``throttled`` counts them.

    Example:
        >>> api = FakeModelArts(records, project_id="p1", token="t")
        >>> with serve(api) as server:
        ...     client = Client(server.url, "p1", token="t", allow_http=True)
    """

    def __init__(
        self,
        records: Iterable[Mapping[str, Any]] = (),
        *,
        project_id: str = "0123456789abcdef0123456789abcdef",
        token: str | None = None,
        aksk: Mapping[str, str] | None = None,
        users: Mapping[tuple[str, str], str] | None = None,
        offset_mode: str = "record",
        latency: float = 0.0,
        fault_rate: float = 0.0,
        fault_kinds: Iterable[str] = FAULT_KINDS,
        seed: int = 0,
        stall: float = 30.0,
        retry_after: float = 1,
        before_request: Callable[[int], None] | None = None,
        auth_required: bool = True,
        max_limit: int | None = None,
        clock_skew: float = 0.0,
        workspace_names: Mapping[str, str] | None = None,
        grants: Mapping[str, Permissions] | None = None,
        rate_limit: float | None = None,
    ) -> None:
        if offset_mode not in OFFSET_MODES:
            raise ValueError("offset_mode is 'record', 'page' (0-based) or 'page1' (1-based)")
        self.project_id = project_id
        self.token = token
        self.aksk = dict(aksk or {})
        self.users = dict(users or {})
        self.offset_mode = offset_mode
        self.latency = latency
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.stall = stall
        self.retry_after = retry_after
        self.before_request = before_request
        self.auth_required = auth_required
        #: Extra tokens with narrowed permissions (the fixed ``token`` may do everything).
        self.grants = dict(grants or {})
        self.max_limit = max_limit
        self.clock_skew = clock_skew
        self.workspace_names = dict(workspace_names or {})
        #: Act as an IAM sub-project: AK/SK requests need a signed ``X-Project-Id``.
        self.sub_project = False
        self.rate_limit = rate_limit
        self.throttled = 0  # requests refused by the rate limit
        self._bucket = (float(rate_limit or 0), time.monotonic())
        #: request number -> changes made just before that request is answered (see churn).
        self.at_request: dict[int, list[Callable[[], None]]] = {}
        self.requests = 0  # versions requests answered (faults included)
        self.request_log: list[str] = []
        self.issued_tokens: dict[str, datetime] = {}
        #: The project scope of every token request IAM answered (``{"id": ...}`` or by name).
        self.iam_scopes: list[Any] = []
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._faults: list[tuple[str, dict[str, Any]]] = []
        self._records: dict[int, dict[str, Any]] = {}
        self._encoded: dict[int, bytes] = {}
        self._views: dict[tuple[Any, ...], list[int]] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        #: Extensions holding jobs of their own add the workspaces they know here.
        self.workspace_sources: list[Callable[[], Iterable[str]]] = []
        self.route("POST", r"/v3/auth/tokens", self._route_iam)
        self.route("GET", r"/v1/(?P<project>[^/]+)/workspaces", self._route_workspaces)
        self.route("GET", r"/v1/(?P<project>[^/]+)/training-jobs/versions", self._route_versions)
        self.add_versions(records)

    # -- faults ---------------------------------------------------------------------------------

    def inject(self, kind: str, times: int = 1, **params: Any) -> None:
        """Answer the next ``times`` versions requests with fault ``kind`` (see module docstring)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.extend([(kind, params)] * times)

    def _next_fault(self) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            if self._faults:
                return self._faults.pop(0)
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.fault_kinds), {}
        return None

    def _fault_answer(self, kind: str, params: Mapping[str, Any]) -> Answer:
        if kind == "429":
            retry_after = str(params.get("retry_after", self.retry_after))
            return error(429, "ModelArts.0120", "Too many requests.", {"Retry-After": retry_after})
        if kind == "429-bare":
            return error(429, "APIGW.0308", "The throttling threshold has been reached.")
        if kind in ("500", "503"):
            return error(int(kind), "ModelArts.0010", "Internal error.")
        if kind == "502":
            return Answer(502, GATEWAY_PAGE, {"Content-Type": "text/html"})
        if kind == "html":
            return Answer(200, GATEWAY_PAGE, {"Content-Type": "text/html"})
        if kind == "slow":
            return Answer(0, b"", action="slow", delay=float(params.get("stall", self.stall)))
        if kind == "trickle":
            timing = {
                "every": str(params.get("every", 0.05)),
                "trickle_for": str(params.get("trickle_for", 0.5)),
            }
            return Answer(
                0, b"", timing, action="trickle", delay=float(params.get("stall", self.stall))
            )
        return Answer(0, b"", action=kind, delay=float(params.get("stall", self.stall)))

    # -- requests -------------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Answer ``method`` requests whose path fully matches the regex ``pattern`` with ``handler``.

        Routes added later win over earlier ones, so an extension (another API version, a new
        resource) plugs in without touching :meth:`handle`. ``handler(request, match)`` returns
        the :class:`Answer`; :meth:`authorise` checks credentials and the project id.
        """
        with self._lock:
            self._routes.insert(0, (method, re.compile(pattern), handler))

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Answer:
        """Answer one request (``target`` is the path with its query string)."""
        parts = urllib.parse.urlsplit(target)
        request = Request(
            method,
            target,
            parts.path.rstrip("/") or "/",
            urllib.parse.parse_qs(parts.query, keep_blank_values=True),
            headers,
            body,
        )
        with self._lock:
            routes = list(self._routes)
        for route_method, pattern, handler in routes:
            match = pattern.fullmatch(request.path)
            if match is not None and route_method == method:
                return handler(request, match)
        return Answer(404, NOT_FOUND, {"Content-Type": "application/json"})

    def authorise(self, request: Request, project: str | None = None) -> Answer | None:
        """The refusal of a request with bad credentials or another project's id, else None."""
        denied = self._check_auth(request.method, request.target, request.headers, request.body)
        if denied is not None:
            return denied
        if project is not None and urllib.parse.unquote(project) != self.project_id:
            return error(
                403, "ModelArts.0210", "The project id in the request URL does not match the token."
            )
        return None

    def _route_iam(self, request: Request, match: re.Match[str]) -> Answer:
        return self._iam(request.body)

    def _route_workspaces(self, request: Request, match: re.Match[str]) -> Answer:
        denied = self.authorise(request)
        if denied is None and not self._grant(request.headers).list_workspaces:
            denied = not_authorized("modelarts:workspace:list")
        return denied or self._workspaces(request.query)

    def _route_versions(self, request: Request, match: re.Match[str]) -> Answer:
        return self.counted(request, match["project"], lambda: self._list(request.query))

    def counted(self, request: Request, project: str, respond: Callable[[], Answer]) -> Answer:
        """Answer a listing request with ``respond()``, as every listing is answered.

        Counts it (``requests``, ``request_log``, ``before_request``), checks credentials and the
        project, answers an injected or random fault instead when one is due, and adds latency.
        Extensions (``mavtools.local.fake.v2``) serve their listings through it.
        """
        with self._lock:
            self.requests += 1
            number = self.requests
            self.request_log.append(request.target)
            limited = self._over_rate()
            due = self.at_request.pop(number, [])
        if limited is not None:
            return limited
        for change in due:
            change()
        if self.before_request is not None:
            self.before_request(number)
        denied = self.authorise(request, project)
        if denied is not None:
            return denied
        workspace = (request.query.get("workspace_id") or ["0"])[-1]
        if workspace in self._grant(request.headers).refused_workspaces:
            return not_authorized("modelarts:trainJob:list")
        fault = self._next_fault()
        answer = self._fault_answer(*fault) if fault else respond()
        if self.latency:
            answer.delay += self.latency
        return answer

    def _over_rate(self) -> Answer | None:
        """The ``429`` of the rate limit when this request is over it (called under the lock)."""
        if not self.rate_limit:
            return None
        tokens, then = self._bucket
        now = time.monotonic()
        tokens = min(self.rate_limit, tokens + (now - then) * self.rate_limit)
        if tokens >= 1:
            self._bucket = (tokens - 1, now)
            return None
        self._bucket = (tokens, now)
        self.throttled += 1
        wait = max(1, math.ceil((1 - tokens) / self.rate_limit))
        return error(
            429,
            "APIGW.0308",
            "The request is throttled.",
            {"Retry-After": str(wait)},
        )

    def _check_auth(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Answer | None:
        if not self.auth_required:
            return None
        lower = {k.lower(): v for k, v in headers.items()}
        token = lower.get("x-auth-token")
        if token is not None:
            with self._lock:
                expires = self.issued_tokens.get(token)
            if token == self.token or (expires is not None and expires > datetime.now(UTC)):
                return None
            if token in self.grants:
                return None
            return error(401, "ModelArts.0203", "Invalid token.")
        if lower.get("authorization", "").startswith("SDK-HMAC-SHA256") and self.aksk:
            from mavtools.api.auth import (
                verify_request,  # the server checks signatures like the gateway
            )

            url = f"http://{lower.get('host', 'localhost')}{target}"
            now = datetime.now(UTC) + timedelta(seconds=self.clock_skew)
            if not verify_request(method, url, dict(headers), body, self.aksk.get, now=now):
                return error(403, "ModelArts.0206", "Invalid AK/SK.")
            if self.sub_project and lower.get("x-project-id") != self.project_id:
                # An IAM sub-project: AK/SK calls must name the project (the SDK always does).
                return error(403, "ModelArts.0210", "X-Project-Id is missing or wrong.")
            return None
        return error(401, "ModelArts.0203", "Invalid token.")

    def grant(self, headers: Mapping[str, str]) -> Permissions:
        """What the token of a request may do (extensions check their own actions)."""
        return self._grant(headers)

    def _grant(self, headers: Mapping[str, str]) -> Permissions:
        lower = {k.lower(): v for k, v in headers.items()}
        return self.grants.get(lower.get("x-auth-token") or "", Permissions())

    def expire_tokens(self) -> None:
        """Make every token issued so far (and the fixed token) invalid, as after 24 hours."""
        with self._lock:
            self.issued_tokens.clear()
            self.grants.clear()
            self.token = None

    def _iam(self, body: bytes) -> Answer:
        try:
            auth = json.loads(body)["auth"]
            user = auth["identity"]["password"]["user"]
            key = (user["domain"]["name"], user["name"])
            password = user["password"]
            scope = auth.get("scope", {}).get("project")
        except (ValueError, KeyError, TypeError):
            return Answer(400, b'{"error": {"code": 400, "message": "Bad request"}}')
        if self.users.get(key) != password:
            body_401 = {
                "error": {
                    "code": 401,
                    "title": "Unauthorized",
                    "message": "The request you have made requires authentication.",
                }
            }
            return Answer(401, json.dumps(body_401).encode(), {"Content-Type": "application/json"})
        token = "MII" + uuid.uuid4().hex * 4
        expires = datetime.now(UTC) + timedelta(hours=24)
        with self._lock:
            self.iam_scopes.append(scope)
            self.issued_tokens[token] = expires
        doc = {
            "token": {
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "project": {"id": self.project_id, "name": "eu-de"},
                "user": {"name": key[1], "domain": {"name": key[0]}},
            }
        }
        return Answer(
            201,
            json.dumps(doc).encode(),
            {"Content-Type": "application/json", "X-Subject-Token": token},
        )

    def _workspaces(self, query: Mapping[str, list[str]]) -> Answer:
        """``GET /v1/{project}/workspaces``: here ``offset`` is documented as a page index."""
        with self._lock:
            known = {str(r.get("workspace_id", "0")) for r in self._records.values()} | {"0"}
            for more in self.workspace_sources:
                known.update(more())
            ids = sorted(known)
        paging = Paging(default_limit=1000, offset_mode="page")  # documented: limit 1000, pages
        try:
            page = int((query.get("offset") or ["0"])[-1])
            limit = int((query.get("limit") or [""])[-1] or paging.default_limit)
            chunk = [ids[i] for i in paging.window(page, limit, len(ids))]
        except ValueError:
            return error(400, "ModelArts.0104", "Parameter error.")
        default = {"0": "default"}
        items = [
            {"id": w, "name": self.workspace_names.get(w) or default.get(w, f"ws-{w[:6]}")}
            for w in chunk
        ]
        body = json.dumps({"total_count": len(ids), "workspaces": items}).encode()
        return Answer(200, body, {"Content-Type": "application/json"})
