"""The ModelArts API client: authentication, retries, paging, and the typed frame.

Every request goes through :meth:`Client._request`, the one place that reaches the network. It
retries 429, 5xx, connection failures, timeouts and damaged bodies with exponential backoff and
jitter (honouring ``Retry-After``), bounded in attempts and in total time, and turns what is left
into the :mod:`mavtools.errors` tree.

Paging. The documented ``offset`` is ambiguous (record offset or page index) and versions are
created while a client pages. mavtools therefore always pages *oldest first* (``sort_by=create_time``,
``order=asc``): new versions land after the pages already read instead of shifting them. It detects
once per client how the server reads ``offset`` (a two-record probe), fetches the remaining pages
concurrently, de-duplicates on ``version_id``, and accepts the result only when the number of distinct
versions matches the server's latest ``total_count`` (fetching the tail again when versions were
added meanwhile). Otherwise it raises :class:`IncompleteError`. The order the caller asked for is
applied locally at the end.

Why not urllib3's ``Retry``: it cannot retry failures that surface while the body is read or parsed
(a truncated body, an HTML page with status 200), so one loop here covers all of them.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import itertools
import logging
import math
import os
import random
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final, Literal

import polars as pl
import requests
from requests.adapters import HTTPAdapter

from mavtools import statuses
from mavtools.errors import (
    AccessWarning,
    ApiError,
    AuthError,
    ConfigError,
    IncompleteError,
    MavtoolsError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
    ThrottledError,
    TransportError,
)
from mavtools.frame import _RAW_SCHEMA, Page, build_frame, empty_frame, parse_page
from mavtools.provenance import Provenance, attach

__all__ = ["ALL_WORKSPACES", "Client", "RetryPolicy", "Timeout"]

log = logging.getLogger("mavtools")

#: Pass as ``workspace_id`` to list every workspace of the project.
ALL_WORKSPACES: Final = "*"
DEFAULT_PAGE_SIZE: Final = 1000
DEFAULT_CONNECTIONS: Final = 4
#: A ``total_count`` above this is not believed (no project has a billion versions).
MAX_TOTAL_COUNT: Final = 100_000_000
_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SORT_COLUMNS: Final = {
    "create_time": "create_time",
    "job_desc": "version_desc",
    "status": "status",
    "duration": "duration",
    "job_name": "version_name",
}
_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: Most reads of a status-filtered listing before two consecutive ones must have agreed.
_STATUS_READS: Final = 4


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
    """Time limits of one request, in seconds.

    Attributes:
        connect: to open a connection.
        read: between two bytes of the answer.
        total: for the whole answer, so an endless body cannot hang a fetch.
    """

    connect: float = 10.0
    read: float = 60.0
    total: float = 300.0


@dataclass
class _Listing:
    """The query of one paged listing (one workspace, at most one status and one pool)."""

    workspace_id: str
    status: int | None
    pool_id: str | None

    def params(self) -> dict[str, str]:
        out = {"workspace_id": self.workspace_id, "sort_by": "create_time", "order": "asc"}
        if self.status is not None:
            out["status"] = str(self.status)
        if self.pool_id is not None:
            out["pool_id"] = self.pool_id
        return out

    def label(self) -> str:
        parts = [f"workspace {self.workspace_id}"]
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.pool_id is not None:
            parts.append(f"pool {self.pool_id}")
        return ", ".join(parts)


@dataclass
class ListingResult:
    """Records of one listing and what the server said about them."""

    frame: pl.DataFrame
    total_count: int
    requests: int
    offset_mode: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Client:
    """A client of one ModelArts project.

    Args:
        endpoint: ``https://modelarts.<region>.otc.t-systems.com`` (or a Huawei Cloud endpoint).
        project_id: the IAM project id.
        token: an IAM token (header ``X-Auth-Token``).
        ak: access key, with ``sk``, for ``SDK-HMAC-SHA256`` request signing.
        sk: secret key.
        auth: any ``requests`` auth object instead (for example :class:`mavtools.api.auth.PasswordAuth`).
        page_size: versions per request (``limit``).
        connections: pages fetched at once, over that many reused connections.
        timeout: time limits of every request.
        retry: retry policy.
        offset_mode: ``"auto"`` (detect), ``"record"``, ``"page"`` (0-based) or ``"page1"``.
        allow_http: accept an ``http://`` endpoint (local test servers only).
        verify: TLS certificate verification (on by default; a CA bundle path also works).
        session: a ``requests.Session`` to use (tests mount in-process transports on it).
        max_body_bytes: the largest answer accepted.
        source: ``"live"`` or ``"samples"``, recorded in the frames' provenance.
        region: the region, a column of every frame and a level of the cache (default: named
            by the endpoint, see :func:`mavtools.api.config.region_of`).
        workspaces: workspace ids to read as "all workspaces" when listing workspaces is not
            permitted (default: ``MODELARTS_WORKSPACES`` for :meth:`from_env`, else none).

    Example:
        >>> client = mt.Client("https://modelarts.eu-de.otc.t-systems.com", "0a1b...", token="...")
        >>> df = client.list_versions(status="RUNNING")
    """

    def __init__(
        self,
        endpoint: str,
        project_id: str,
        token: str | None = None,
        ak: str | None = None,
        sk: str | None = None,
        *,
        auth: requests.auth.AuthBase | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        connections: int = DEFAULT_CONNECTIONS,
        timeout: Timeout = Timeout(),
        retry: RetryPolicy = RetryPolicy(),
        offset_mode: str = "auto",
        allow_http: bool = False,
        verify: bool | str = True,
        session: requests.Session | None = None,
        max_body_bytes: int = 1 << 30,
        source: str = "live",
        region: str | None = None,
        workspaces: Iterable[str] = (),
    ) -> None:
        from mavtools.api import auth as _auth
        from mavtools.api import config

        self.endpoint = config.validate_endpoint(endpoint, allow_http=allow_http)
        self.project_id = config.validate_project_id(project_id)
        self.region = config.region_of(self.endpoint) if region is None else region
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", self.region):
            raise ConfigError(f"The region {self.region!r} is not a region name such as 'eu-de'.")
        self.workspaces = [_check_id(w, "workspace_id") for w in _as_list(list(workspaces))]
        given = [x for x in (token, auth) if x is not None] + ([ak] if ak or sk else [])
        if len(given) > 1:
            raise ConfigError(
                "Give one kind of credentials: a token, an AK/SK pair or an auth object."
            )
        if (ak is None) != (sk is None):
            raise ConfigError(
                "AK/SK signing needs both the access key (ak) and the secret key (sk)."
            )
        if token is not None:
            auth = _auth.TokenAuth(token)
        elif ak is not None and sk is not None:
            auth = _auth.AkSkAuth(ak, sk)
        if not 10 <= page_size <= 10_000:
            raise ConfigError(f"page_size must be between 10 and 10000, not {page_size}.")
        if not 1 <= connections <= 64:
            raise ConfigError(f"connections must be between 1 and 64, not {connections}.")
        if offset_mode not in ("auto", "record", "page", "page1"):
            raise ConfigError("offset_mode is one of 'auto', 'record', 'page', 'page1'.")
        self.page_size = page_size
        self.connections = connections
        self.timeout = timeout
        self.retry = retry
        self.offset_mode = offset_mode
        self.max_body_bytes = max_body_bytes
        self.source = source
        #: For sample data: the moment the samples were "fetched" (keeps outputs clock-free).
        self.snapshot: datetime | None = None
        self._auth = auth
        self._rng = random.Random()
        self._lock = threading.Lock()
        self.requests_made = 0
        self._session = session or requests.Session()
        if session is None:
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=connections, max_retries=0)
            self._session.mount("https://", adapter)
            self._session.mount("http://", adapter)
        # An explicit verify= must win over REQUESTS_CA_BUNDLE from the environment.
        self._verify = verify
        self._session.headers["User-Agent"] = "mavtools/0.1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Client:
        """Build a client from ``MODELARTS_*`` variables, ``OS_*`` variables or ``clouds.yaml``.

        Raises:
            ConfigError: nothing is configured, or the configuration is incomplete.
        """
        from mavtools.api import config

        settings = config.settings_from_env(environ)
        if settings is None:
            raise ConfigError(
                "No ModelArts credentials are configured: set MODELARTS_ENDPOINT, "
                "MODELARTS_PROJECT_ID and MODELARTS_TOKEN (or MODELARTS_AK and MODELARTS_SK), "
                "or OS_CLOUD naming a clouds.yaml profile."
            )
        session = options.pop("session", None) or requests.Session()
        auth = settings.credentials.to_auth(session=session)
        # A password profile scoped by project name learns the project id from IAM.
        project_id = settings.project_id or auth.resolve_project_id()  # type: ignore[attr-defined]
        env = os.environ if environ is None else environ
        options.setdefault("region", settings.region)
        options.setdefault(
            "workspaces", env.get("MODELARTS_WORKSPACES", "").replace(",", " ").split()
        )
        return cls(settings.endpoint, project_id, auth=auth, session=session, **options)

    @classmethod
    def from_cloud(
        cls, cloud: str, environ: Mapping[str, str] | None = None, **options: Any
    ) -> Client:
        """Build a client from the ``clouds.yaml`` profile ``cloud`` (as ``OS_CLOUD=cloud`` would).

        Example:
            >>> clients = [mt.Client.from_cloud("otc-de-team-a"), mt.Client.from_cloud("otc-nl-b")]
        """
        env = dict(os.environ if environ is None else environ)
        for name in [n for n in env if n.startswith("MODELARTS_") and n != "MODELARTS_WORKSPACES"]:
            del env[name]  # the profile, not the variables of another project, decides
        env["OS_CLOUD"] = cloud
        return cls.from_env(env, **options)

    def __repr__(self) -> str:
        kind = type(self._auth).__name__ if self._auth is not None else "no auth"
        return (
            f"Client(endpoint={self.endpoint!r}, project_id={self.project_id!r}, "
            f"region={self.region!r}, auth={kind})"
        )

    # -- public ---------------------------------------------------------------------------------

    def list_versions(
        self,
        status: int | str | Iterable[int | str] | None = None,
        pool_id: str | Iterable[str] | None = None,
        workspace_id: str | Iterable[str] = "0",
        sort_by: str = "create_time",
        order: str = "desc",
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> pl.DataFrame:
        """Fetch every version matching the filters as the typed frame (see :mod:`mavtools.frame`).

        Args:
            status: a status code (``8``), name (``"RUNNING"``, upper case) or outcome
                (``"running"``, lower case: all its codes), or several.
            pool_id: one resource pool or several.
            workspace_id: one workspace, several, or :data:`ALL_WORKSPACES`.
            sort_by: ``create_time``, ``job_desc``, ``status``, ``duration`` or ``job_name``.
            order: ``asc`` or ``desc``.
            progress: called with (pages done, pages planned) as pages arrive.

        Returns:
            One row per version, unique ``version_id``; its :func:`mavtools.provenance` says
            where it came from.

        Raises:
            MavtoolsError: a subclass naming what went wrong; never a partial frame.
        """
        if sort_by not in _SORT_COLUMNS:
            raise ConfigError(
                f"sort_by must be one of {', '.join(_SORT_COLUMNS)}, not {sort_by!r}."
            )
        if order not in ("asc", "desc"):
            raise ConfigError(f"order must be 'asc' or 'desc', not {order!r}.")
        listings = self.plan(status=status, pool_id=pool_id, workspace_id=workspace_id)
        frames = []
        counter = _Progress(progress)
        for listing in listings:
            frames.append(self.fetch_listing(listing, progress=counter).frame)
        frame = _merge(frames)
        frame = frame.sort(
            [_SORT_COLUMNS[sort_by], "version_id"], descending=order == "desc", nulls_last=True
        )
        query = {
            "workspace_id": sorted({ls.workspace_id for ls in listings}),
            "status": _normalise_status(status),
            "pool_id": _as_list(pool_id),
            "sort_by": sort_by,
            "order": order,
        }
        return attach(frame, self.describe(query, frame.height))

    def describe(self, query: Mapping[str, Any], rows: int, **extra: Any) -> Provenance:
        """The provenance of a frame just fetched by this client."""
        fetched = extra.pop("fetched_at", None) or self.snapshot or datetime.now(UTC)
        return Provenance(
            source=self.source,
            endpoint=self.endpoint,
            project_id=self.project_id,
            query=dict(query),
            fetched_at=fetched,
            rows=rows,
            **extra,
        )

    def plan(
        self,
        status: int | str | Iterable[int | str] | None = None,
        pool_id: str | Iterable[str] | None = None,
        workspace_id: str | Iterable[str] = "0",
    ) -> list[_Listing]:
        """The listings (one per workspace x status x pool) a query needs."""
        codes: list[int | None] = [*_normalise_status(status)] or [None]
        pools: list[str | None] = [_check_id(p, "pool_id") for p in _as_list(pool_id)] or [None]
        if workspace_id == ALL_WORKSPACES:
            workspaces, refusal = self.resolve_workspaces()
            if refusal:
                warnings.warn(refusal, AccessWarning, stacklevel=3)
        else:
            workspaces = [_check_id(w, "workspace_id") for w in _as_list(workspace_id)]
            if not workspaces:
                raise ConfigError("workspace_id names no workspace.")
        return [
            _Listing(ws, code, pool)
            for ws, code, pool in itertools.product(workspaces, codes, pools)
        ]

    def resolve_workspaces(self) -> tuple[list[str], str]:
        """What "all workspaces" means for these credentials, and a warning when it is narrowed.

        When listing workspaces is refused (403, ``modelarts:workspace:list`` not granted) or not
        offered (404), all workspaces are the default workspace ``0`` plus :attr:`workspaces`
        (``MODELARTS_WORKSPACES``), and the second item says so; otherwise it is empty.
        """
        try:
            return self.list_workspaces(), ""
        except (AuthError, NotFoundError) as exc:
            if isinstance(exc, AuthError) and exc.http_status != 403:
                raise
            ids = sorted({"0", *self.workspaces}, key=lambda w: (w != "0", w))
            why = "is not permitted" if isinstance(exc, AuthError) else "is not offered"
            return ids, (
                f"Listing the workspaces of project {self.project_id} {why} "
                f"(modelarts:workspace:list); reading workspace(s) {', '.join(ids)} only. "
                "Add workspace ids by hand with MODELARTS_WORKSPACES=id1,id2 or "
                "workspace_id=[...]."
            )

    def list_workspaces(self) -> list[str]:
        """Ids of the project's workspaces (``GET /v1/{project_id}/workspaces``), "0" first."""
        url = f"{self.endpoint}/v1/{self.project_id}/workspaces"
        ids: list[str] = []
        for page in range(1000):
            body = self._get(url, {"offset": str(page), "limit": "1000"}, f"workspaces page {page}")
            doc = _json_object(body, f"workspaces page {page}")
            items = doc.get("workspaces") or []
            if not isinstance(items, list):
                raise ResponseFormatError("The API sent 'workspaces' that is not a list.")
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    raise ResponseFormatError("The API sent a workspace without a string 'id'.")
                ids.append(item["id"])
            total = doc.get("total_count")
            if not items or not isinstance(total, int) or len(set(ids)) >= total:
                break
        unique = sorted(set(ids), key=lambda w: (w != "0", w))
        return unique or ["0"]

    # -- paging ---------------------------------------------------------------------------------

    def fetch_listing(
        self, listing: _Listing, *, progress: _Progress | None = None
    ) -> ListingResult:
        """Read one listing completely, oldest first, or raise :class:`IncompleteError`.

        A listing filtered by status changes anywhere while it is paged: a version that finishes
        leaves it and one that starts joins it, so records shift across page boundaries both ways
        and, when as many leave as join, ``total_count`` does not move while a version is skipped.
        Such a listing is therefore read until two consecutive reads list the same versions.
        """
        if listing.status is None:
            # Oldest first: new versions land after the pages already read.
            return self._read_listing(listing, progress)
        before = self.requests_made
        previous: set[int] | None = None
        for _ in range(_STATUS_READS):
            try:
                result = self._read_listing(listing, progress)
            except IncompleteError:
                previous = None  # this read proved nothing; the next one starts afresh
                continue
            finally:
                progress = None  # only the first pass is shown
            ids = set(result.frame["version_id"])
            if ids == previous:
                result.requests = self.requests_made - before
                return result
            previous = ids
        raise IncompleteError(
            f"Versions of {listing.label()} kept changing status while mavtools was paging "
            f"({_STATUS_READS} reads disagreed); fetch again, or without the status filter."
        )

    def _read_listing(self, listing: _Listing, progress: _Progress | None) -> ListingResult:
        """One oldest-first pass over a listing, checked against ``total_count``."""
        progress = progress or _Progress(None)
        limit = self.page_size
        base = listing.params()
        label = listing.label()
        requests_before = self.requests_made
        first, total = self._first_page(base, label)
        progress.plan(math.ceil(total / limit) if total else 1)
        progress.done()
        frames = [first.versions]
        if total > first.versions.height and first.versions.height > 0:
            mode = self._detect_offset_mode(base, first, label)
            pages = self._pages(
                base, limit, mode, range(1, math.ceil(total / limit)), label, progress
            )
            frames.extend(p.versions for p in pages)
            totals = [total, *(p.total_count or 0 for p in pages)]
        else:
            mode = self.offset_mode
            totals = [total]
        merged = _dedupe(frames)
        # Pages arrive concurrently, so totals are not in time order; the first one is the oldest.
        for _round in range(3):
            latest = max(totals)
            if min(totals) < totals[0]:
                raise IncompleteError(
                    f"Versions of {label} disappeared while mavtools was paging (the total fell "
                    f"from {totals[0]} to {min(totals)}); fetch again."
                )
            if merged.height >= latest:
                break
            # Versions created while paging sit after the pages already read: fetch the tail.
            if mode == "auto":  # one page seemed to hold everything: offset was never needed
                mode = self._detect_offset_mode(base, first, label)
            start_page = merged.height // limit
            tail = self._pages(
                base, limit, mode, range(start_page, math.ceil(latest / limit)), label, progress
            )
            merged = _dedupe([merged, *(p.versions for p in tail)])
            totals.extend(p.total_count or 0 for p in tail)
        if merged.height != max(totals):
            raise IncompleteError(
                f"The API listed {max(totals)} versions for {label} but paging returned "
                f"{merged.height} distinct ones; the data changed too fast or the server pages "
                "inconsistently. Fetch again, or use a larger page size."
            )
        frame = self._frame(merged, listing)
        return ListingResult(
            frame, max(totals), self.requests_made - requests_before, offset_mode=mode
        )

    def read_newest(self, listing: _Listing, depth: int | Callable[[int], int]) -> ListingResult:
        """Read the ``depth`` newest versions of a listing (newest first), for incremental refresh.

        ``depth`` may be a function of the server's ``total_count`` (known after the first page),
        so a caller that needs "everything new plus k more" pays no extra request.

        Returns the records read and the server's ``total_count``. The caller checks completeness.
        """
        limit = self.page_size
        base = listing.params() | {"order": "desc"}
        label = listing.label()
        before = self.requests_made
        first, total = self._first_page(base, label)
        if callable(depth):
            depth = depth(total)
        depth = min(depth, total)
        frames = [first.versions]
        if depth > first.versions.height and first.versions.height > 0:
            mode = self._detect_offset_mode(base, first, label)
            pages = self._pages(base, limit, mode, range(1, math.ceil(depth / limit)), label, None)
            frames.extend(p.versions for p in pages)
            totals = {p.total_count for p in pages} | {total}
            if len(totals) > 1:
                raise IncompleteError(f"Versions of {label} changed while mavtools was paging.")
        merged = _dedupe(frames)
        return ListingResult(self._frame(merged, listing), total, self.requests_made - before)

    def _frame(self, records: pl.DataFrame, listing: _Listing) -> pl.DataFrame:
        return build_frame(
            [records], listing.workspace_id, region=self.region, project_id=self.project_id
        )

    def _first_page(self, base: dict[str, str], label: str) -> tuple[Page, int]:
        """Page 1 of a listing and the ``total_count`` it claims (checked to be believable)."""
        first = self._page(
            base | {"offset": "0", "limit": str(self.page_size)}, f"page 1 of {label}"
        )
        return first, _believable_total(first, label)

    def _detect_offset_mode(self, base: dict[str, str], first: Page, label: str) -> str:
        """Tell a record offset from a page index with a two-record probe at offset 1."""
        if self.offset_mode != "auto":
            return self.offset_mode
        ids = first.versions["version_id"].to_list()
        if len(ids) < 3:
            return "record"
        probe = self._page(base | {"offset": "1", "limit": "2"}, f"offset probe of {label}")
        got = probe.versions["version_id"].to_list()
        mode = ""
        if got[:1] == ids[1:2]:
            mode = "record"
        elif got[:1] == ids[2:3]:
            mode = "page"
        elif got[:1] == ids[0:1]:
            mode = "page1"
        if not mode:
            raise IncompleteError(
                f"Could not tell whether the API reads 'offset' as a record offset or a page index "
                f"for {label}; pass offset_mode='record' or 'page' to the Client."
            )
        log.debug("offset is read as %s", mode)
        with self._lock:
            self.offset_mode = mode
        return mode

    def _pages(
        self,
        base: dict[str, str],
        limit: int,
        mode: str,
        indexes: Iterable[int],
        label: str,
        progress: _Progress | None,
    ) -> list[Page]:
        def one(index: int) -> Page:
            offset = {"record": index * limit, "page": index, "page1": index + 1}[mode]
            page = self._page(
                base | {"offset": str(offset), "limit": str(limit)},
                f"page {index + 1} of {label} (offset={offset})",
            )
            if progress is not None:
                progress.done()
            return page

        # Pages go out in rounds of a few per connection, and paging stops after a round with a
        # short page: the end of the listing is there, whatever total_count claimed. A server
        # boasting 10^7 versions but sending 30 costs one round, not 10^6 requests.
        pending = iter(indexes)
        round_size = 1 if self.connections == 1 else 4 * self.connections
        pages: list[Page] = []
        pool = (
            ThreadPoolExecutor(self.connections, thread_name_prefix="mavtools-page")
            if self.connections > 1
            else None
        )
        try:
            while batch := list(itertools.islice(pending, round_size)):
                got = list(pool.map(one, batch)) if pool and len(batch) > 1 else map(one, batch)
                pages.extend(got)
                if any(page.versions.height < limit for page in pages[-len(batch) :]):
                    break
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        return pages

    # -- requests -------------------------------------------------------------------------------

    @property
    def versions_url(self) -> str:
        return f"{self.endpoint}/v1/{self.project_id}/training-jobs/versions"

    def _page(self, params: dict[str, str], where: str) -> Page:
        return self._request(self.versions_url, params, where, parse=True)  # type: ignore[return-value]

    def _get(self, url: str, params: dict[str, str], where: str) -> bytes:
        return self._request(url, params, where, parse=False)  # type: ignore[return-value]

    def _request(
        self, url: str, params: dict[str, str], where: str, *, parse: bool
    ) -> Page | bytes:
        """GET ``url`` with retries; return the parsed page (or the body) or raise."""
        policy = self.retry
        waited = 0.0
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            failure: MavtoolsError
            try:
                status, headers, body = self._send(url, params)
            except TransportError as exc:
                failure = exc
            else:
                invalidate = getattr(self._auth, "invalidate", None)
                if status == 401 and not renewed and invalidate is not None:
                    renewed = True  # a cached IAM token expired early: get a new one, once
                    invalidate()
                    continue
                if status < 400 and not parse:
                    return body
                if status >= 400:
                    failure = _api_error(status, body, _full_url(url, params), attempt)
                    if status not in _RETRY_STATUSES:
                        raise failure
                    retry_after = _retry_after(headers)
                else:
                    try:
                        page = parse_page(body, where=where)
                    except ResponseFormatError as exc:
                        failure = exc
                        if not exc.transient:
                            raise
                    else:
                        if page.is_success is False:
                            raise _api_error(status, body, _full_url(url, params), attempt)
                        return page
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
            log.debug("retrying %s in %.2f s after: %s", where, wait, failure)
            time.sleep(wait)
            waited += wait

    def _send(self, url: str, params: dict[str, str]) -> tuple[int, Mapping[str, str], bytes]:
        """The one place that touches the network; maps transport failures to TransportError."""
        with self._lock:
            self.requests_made += 1
        deadline = time.monotonic() + self.timeout.total
        try:
            response = self._session.get(
                url,
                params=params,
                auth=self._auth,
                timeout=(self.timeout.connect, self.timeout.read),
                stream=True,
                verify=self._verify,
                allow_redirects=False,
            )
            # iter_content blocks until a whole chunk has arrived, so a body trickling one byte
            # per read timeout would never reach the deadline check: cut the socket at the deadline.
            guard = _Guard(response)
            watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), guard.cut)
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
                                f"The answer from {_safe(url)} exceeded {self.max_body_bytes:,} "
                                "bytes; use a smaller page size."
                            )
                        if time.monotonic() > deadline:
                            raise _TooLong
                        chunks.append(chunk)
                    if not guard.finish():
                        raise _TooLong
                    return response.status_code, response.headers, b"".join(chunks)
            except Exception:
                if guard.finish():
                    raise
                raise _TooLong from None  # whatever the cut socket made the read raise
            finally:
                watchdog.cancel()
        except _TooLong:
            raise TransportError(
                f"The answer from {_safe(url)} took longer than "
                f"{self.timeout.total:g} s; retry later or raise Timeout.total."
            ) from None
        except TransportError:
            raise
        except requests.exceptions.SSLError:
            raise TransportError(
                f"The TLS certificate of {_safe(url)} could not be verified; check the endpoint, "
                "or point REQUESTS_CA_BUNDLE at your company's CA bundle."
            ) from None
        except requests.exceptions.Timeout:
            raise TransportError(
                f"{_safe(url)} did not answer within {self.timeout.read:g} s; retry later."
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError):
            raise TransportError(
                f"The connection to {_safe(url)} failed or was cut; check the endpoint and your "
                "network, then retry."
            ) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(
                f"The request to {_safe(url)} failed ({type(exc).__name__}); retry later."
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
            sock = _socket_of(self._response)
            if sock is not None:
                with contextlib.suppress(OSError):
                    # The plain socket method: SSLSocket.shutdown would also drop its TLS object
                    # under the reading thread's feet.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def finish(self) -> bool:
        """Mark the body as read; False when the watchdog has already cut it."""
        with self._lock:
            if self._state == "cut":
                return False
            self._state = "done"
            return True


def _socket_of(response: requests.Response) -> Any:
    """The socket a streamed response reads from (None for in-process transports)."""
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        # "Connection: close" answers: http.client drops the connection's socket at once and
        # only the response's file object still holds it.
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class _Progress:
    """Counts pages for a progress callback (thread-safe)."""

    def __init__(self, callback: Callable[[int, int], None] | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self.finished = 0
        self.planned = 0

    def plan(self, pages: int) -> None:
        with self._lock:
            self.planned += pages
        self._emit()

    def done(self) -> None:
        with self._lock:
            self.finished += 1
            self.planned = max(self.planned, self.finished)
        self._emit()

    def _emit(self) -> None:
        if self._callback is not None:
            self._callback(self.finished, self.planned)


def _full_url(url: str, params: Mapping[str, str]) -> str:
    """The URL with its query, for error messages (built only when an error needs it)."""
    return requests.Request("GET", url, params=dict(params)).prepare().url or url


def _safe(url: str) -> str:
    """The URL without its query string (shorter in messages; never carries secrets anyway)."""
    return url.split("?", 1)[0]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | int):
        return [value]
    return list(value)


def _normalise_status(status: Any) -> list[int]:
    codes: list[int] = []
    for value in _as_list(status):
        # Lower-case outcome names ("failed") select outcomes; upper-case names ("FAILED") codes.
        if isinstance(value, str) and value.strip() in statuses.OUTCOMES:
            codes.extend(statuses.codes_for_outcome(value.strip()))
            continue
        try:
            codes.append(statuses.status_code(value))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return sorted(set(codes))


def _check_id(value: Any, name: str) -> str:
    text = str(value)
    if not _ID_PATTERN.fullmatch(text):
        raise ConfigError(
            f"{name} {text!r} is not a valid id: use letters, digits, '.', '_' and '-' only."
        )
    return text


def _believable_total(page: Page, label: str) -> int:
    total = page.total_count
    if total is None:
        if page.versions.height == 0:
            return 0
        raise ResponseFormatError(f"The API sent no 'total_count' for {label}.")
    if total > MAX_TOTAL_COUNT:
        raise ResponseFormatError(
            f"The API claims {total:,} versions for {label}, which is not believable; "
            "the answer is damaged. Retry later."
        )
    return total


def _unique_versions(
    frames: Sequence[pl.DataFrame], *, empty: pl.DataFrame, keep: Literal["first", "last"]
) -> pl.DataFrame:
    """Concatenate frames, one row per ``version_id`` (``empty`` when there is nothing)."""
    frames = [f for f in frames if f.height]
    if not frames:
        return empty
    return pl.concat(frames, how="vertical").unique("version_id", keep=keep, maintain_order=True)


def _dedupe(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Raw page records of one listing; a later page's copy of a version is the newer one."""
    return _unique_versions(frames, empty=pl.DataFrame(schema=_RAW_SCHEMA), keep="last")


def _merge(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Typed frames of several listings (a version is in one workspace, so keep either)."""
    return _unique_versions(frames, empty=empty_frame(), keep="first")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _json_object(body: bytes, where: str) -> dict[str, Any]:
    import json

    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise ResponseFormatError(f"The API sent a body that is not JSON for {where}.") from None
    if not isinstance(doc, dict):
        raise ResponseFormatError(f"The API sent JSON that is not an object for {where}.")
    return doc


@functools.cache
def _documented_errors() -> dict[str, str]:
    with resources.files("mavtools").joinpath("error_codes.csv").open(encoding="utf-8") as fh:
        return {row["error_code"]: row["message"] for row in csv.DictReader(fh)}


def _api_error(status: int, body: bytes, url: str, attempt: int) -> ApiError:
    """Build the error for an answer with an error status or ``is_success: false``."""
    code = message = None
    try:
        doc = _json_object(body, url)
    except ResponseFormatError:
        doc = {}
    raw_code = doc.get("error_code")
    raw_message = doc.get("error_message", doc.get("error_msg"))
    if isinstance(doc.get("error"), dict):  # Keystone style
        raw_message = doc["error"].get("message")
    code = str(raw_code)[:64] if raw_code is not None else None
    message = str(raw_message)[:300] if raw_message is not None else None
    if message is None and code is not None:
        message = _documented_errors().get(code)
    tries = f" after {attempt} attempts" if attempt > 1 else ""
    if status == 401:
        return AuthError(
            status,
            code,
            message,
            url,
            "The token is missing, expired or for another project: get a new token (or use "
            "AK/SK or a password) and check MODELARTS_PROJECT_ID.",
        )
    if status == 403:
        hint = (
            "The AK/SK pair was refused: check both keys."
            if code == "ModelArts.0206"
            else "The credentials are not allowed here: check that the project id matches the "
            "token's project and your IAM permissions for ModelArts."
        )
        return AuthError(status, code, message, url, hint)
    if status == 404:
        return NotFoundError(
            status,
            code,
            message,
            url,
            "Check the endpoint (https://modelarts.<region>.otc.t-systems.com) and the project id.",
        )
    if status == 429:
        return ThrottledError(
            status,
            code,
            message,
            url,
            f"The API kept throttling{tries}; wait a minute, or lower `connections`.",
        )
    if status >= 500:
        return ServerError(
            status, code, message, url, f"ModelArts kept failing{tries}; retry later."
        )
    if status == 400:
        return ApiError(
            status,
            code,
            message,
            url,
            "A query parameter was refused: check the status, pool and workspace values.",
        )
    return ApiError(status, code, message, url, "")
