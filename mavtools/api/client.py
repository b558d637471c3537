"""The ModelArts API client: the facade over query rules, transport and pager.

:class:`Client` turns a user's question into listings (:mod:`mavtools.api.query`), reads each one
completely with the :mod:`mavtools.api.pager` (which sends its requests through the
:mod:`mavtools.api.transport`), and builds the typed frame (:mod:`mavtools.frame`). The order the
caller asked for is applied locally at the end: paging is always oldest first.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

import polars as pl
import requests

from mavtools.api.pager import Endpoint, Listing, Pager, Progress
from mavtools.api.query import (
    ALL_WORKSPACES,
    ListingQuery,
    as_list,
    check_id,
    check_order,
    check_sort,
    normalise_status,
)
from mavtools.api.transport import (
    NotSuccessful,
    RetryPolicy,
    Timeout,
    Transport,
)
from mavtools.api.v2 import POOL_SCHEMA, V2Api, optional_note, searches_for
from mavtools.api.workloads import QueueNow
from mavtools.errors import (
    AccessWarning,
    AuthError,
    ConfigError,
    NotFoundError,
    ResponseFormatError,
)
from mavtools.frame import (
    RAW_SCHEMA,
    ROW_KEY,
    Batch,
    build_frame,
    check_values,
    empty_frame,
    json_object,
    parse_page,
    stamp,
    unique_records,
)
from mavtools.provenance import Provenance, attach

__all__ = ["ALL_WORKSPACES", "Client", "RetryPolicy", "Timeout"]

DEFAULT_PAGE_SIZE: Final = 1000
DEFAULT_CONNECTIONS: Final = 16
DEFAULT_TIMEOUT: Final = Timeout()
DEFAULT_RETRY: Final = RetryPolicy()
#: The column that identifies a v1 record within its listing (the wire's ``version_id``). Rows of
#: the typed frame, v1 and v2 together, are identified by :data:`mavtools.frame.ROW_KEY`.
VERSION_KEY: Final = "version_id"


def parse_versions(body: bytes, where: str) -> Batch:
    """Parse one body of ``GET .../training-jobs/versions`` into a :class:`Batch`."""
    page = parse_page(body, where=where, check=False)  # values: once per listing (check_values)
    if page.is_success is False:
        raise NotSuccessful
    return page


class Client:
    """A client of one ModelArts project.

    Args:
        endpoint: ``https://modelarts.<region>.otc.t-systems.com`` (or a Huawei Cloud endpoint).
        project_id: the IAM project id.
        token: an IAM token (header ``X-Auth-Token``).
        ak: access key, with ``sk``, for ``SDK-HMAC-SHA256`` request signing.
        sk: secret key.
        auth: any ``requests`` auth object instead (for example :class:`mavtools.api.iam.PasswordAuth`).
        page_size: versions per request (``limit``).
        connections: the most pages fetched at once, over that many reused connections. How
            many are in flight adapts below it (:mod:`mavtools.api.concurrency`): a few at
            first, more while answers come fast, fewer on ``429`` or rising latency.
        timeout: time limits of every request.
        retry: retry policy.
        offset_mode: ``"auto"`` (detect), ``"record"``, ``"page"`` (0-based) or ``"page1"``.
        allow_http: accept an ``http://`` endpoint (local test servers only); None: when the
            environment sets ``MAVTOOLS_ALLOW_HTTP=1``.
        verify: TLS certificate verification (on by default; a CA bundle path also works).
        session: a ``requests.Session`` to use (tests mount in-process transports on it).
        max_body_bytes: the largest answer accepted.
        clock: the time a fetch is stamped with (default: now, UTC); a recorded snapshot
            freezes it, so its frames carry the same fetch time on every run.
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
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        offset_mode: str = "auto",
        allow_http: bool | None = None,
        verify: bool | str = True,
        session: requests.Session | None = None,
        max_body_bytes: int = 1 << 30,
        clock: Callable[[], datetime] | None = None,
        region: str | None = None,
        workspaces: Iterable[str] = (),
    ) -> None:
        from mavtools.api import auth as _auth
        from mavtools.api import config

        if allow_http is None:
            allow_http = config.allow_http_from_env()
        self.endpoint = config.validate_endpoint(endpoint, allow_http=allow_http)
        self.project_id = config.validate_project_id(project_id)
        self.region = config.region_of(self.endpoint) if region is None else region
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", self.region):
            raise ConfigError(f"The region {self.region!r} is not a region name such as 'eu-de'.")
        self.workspaces = [check_id(w, "workspace_id") for w in as_list(list(workspaces))]
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
        if isinstance(auth, _auth.AkSkAuth) and auth.project_id is None:
            auth = auth.for_project(self.project_id)  # X-Project-Id, as the SDK's signer sends
        if not 10 <= page_size <= 10_000:
            raise ConfigError(f"page_size must be between 10 and 10000, not {page_size}.")
        if not 1 <= connections <= 64:
            raise ConfigError(f"connections must be between 1 and 64, not {connections}.")
        self.page_size = page_size
        self.connections = connections
        self.timeout = timeout
        self.retry = retry
        self.max_body_bytes = max_body_bytes
        #: The time a fetch is stamped with (provenance ``fetched_at``, ``observed_at``).
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._auth = auth
        self._transport = Transport(
            session,
            auth,
            timeout=timeout,
            retry=retry,
            verify=verify,
            max_body_bytes=max_body_bytes,
            connections=connections,
        )
        self._pager = Pager(
            self._transport,
            Endpoint(
                url=self.versions_url,
                parse=parse_versions,
                key=VERSION_KEY,
                empty=pl.DataFrame(schema=RAW_SCHEMA),
                oldest_first={"sort_by": "create_time", "order": "asc"},
                newest_first={"sort_by": "create_time", "order": "desc"},
                check=check_values,
            ),
            page_size=page_size,
            connections=connections,
            offset_mode=offset_mode,
        )
        #: New-version training (job searches, flavors, pools) over the same transport.
        self.v2 = V2Api(
            self._transport,
            self.endpoint,
            self.project_id,
            connections=connections,
            page_size=page_size,  # capped at the search's 50
            region=self.region,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Client:
        """Build a client from ``MODELARTS_*`` variables, ``OS_*`` variables or ``clouds.yaml``.

        Raises:
            ConfigError: nothing is configured, or the configuration is incomplete.
        """
        from mavtools.api.env import settings_from_env

        settings = settings_from_env(environ)
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

    @property
    def offset_mode(self) -> str:
        """How the server reads ``offset``: ``"auto"`` until detected, then the detected mode."""
        return self._pager.offset_mode

    @offset_mode.setter
    def offset_mode(self, mode: str) -> None:
        self._pager.offset_mode = mode

    @property
    def transport(self) -> Transport:
        """The transport of this client (another endpoint's pager can share it)."""
        return self._transport

    @property
    def requests_made(self) -> int:
        """Requests sent so far (retries included)."""
        return self._transport.requests_made

    @property
    def versions_url(self) -> str:
        return f"{self.endpoint}/v1/{self.project_id}/training-jobs/versions"

    # -- public ---------------------------------------------------------------------------------

    def list_versions(
        self,
        status: int | str | Iterable[int | str] | None = None,
        pool_id: str | Iterable[str] | None = None,
        workspace_id: str | Iterable[str] = "0",
        sort_by: str = "create_time",
        order: str = "desc",
        *,
        api: str = "auto",
        progress: Callable[[int, int], None] | None = None,
    ) -> pl.DataFrame:
        """Fetch every version matching the filters as the typed frame (see :mod:`mavtools.frame`).

        Old-version (v1) versions and new-version (v2) training jobs come in one frame (column
        ``api``). With ``api="auto"`` a listing the server does not have (404: v1 retired on a
        current deployment, v2 missing on an old one) is skipped and named in the provenance's
        ``note`` and ``extra["skipped"]``; only when both are missing does the fetch fail.

        Args:
            status: a status code (``8``), name (``"RUNNING"``, upper case) or outcome
                (``"running"``, lower case: all its codes), or several.
            pool_id: one resource pool or several.
            workspace_id: one workspace, several, or :data:`ALL_WORKSPACES`.
            sort_by: ``create_time``, ``job_desc``, ``status``, ``duration`` or ``job_name``.
            order: ``asc`` or ``desc``.
            api: ``"auto"`` (both), ``"v1"`` or ``"v2"``.
            progress: called with (pages done, pages planned) as pages arrive.

        Returns:
            One row per version or job, unique (``api``, ``job_id``); its
            :func:`mavtools.provenance` says where it came from.

        Raises:
            MavtoolsError: a subclass naming what went wrong; never a partial frame.
        """
        column = check_sort(sort_by)
        descending = check_order(order)
        if api not in ("auto", "v1", "v2"):
            raise ConfigError(f"api must be 'auto', 'v1' or 'v2', not {api!r}.")
        with self.deadline_scope():
            listings = self.plan(status=status, pool_id=pool_id, workspace_id=workspace_id)
        frames = []
        skipped: dict[str, str] = {}
        counter = Progress(progress)
        with self.deadline_scope():
            if api in ("auto", "v1"):
                try:
                    for listing in listings:
                        frames.append(self.fetch_listing(listing, progress=counter).frame)
                except NotFoundError as exc:
                    if api == "v1":
                        raise
                    skipped["v1"] = f"HTTP {exc.http_status} {exc.error_code or ''}".strip()
                    frames = []
            if api in ("auto", "v2"):
                try:
                    for search in searches_for(listings):
                        frames.append(self.v2.read_jobs(search, progress=counter).frame)
                except NotFoundError as exc:
                    if api == "v2" or "v1" in skipped:
                        raise
                    skipped["v2"] = f"HTTP {exc.http_status} {exc.error_code or ''}".strip()
        frame = _merge(frames)
        frame = frame.sort([column, "version_id", "job_id"], descending=descending, nulls_last=True)
        query = {
            "workspace_id": sorted({ls.workspace_id for ls in listings}),
            "status": normalise_status(status),
            "pool_id": as_list(pool_id),
            "sort_by": sort_by,
            "order": order,
            "api": api,
        }
        extra: dict[str, Any] = {}
        if skipped:
            extra["note"] = "; ".join(
                f"{name} listing not available on this server ({why}), skipped"
                for name, why in skipped.items()
            )
            extra["extra"] = {"skipped": skipped}
        info = self.describe(query, frame.height, **extra)
        return attach(stamp(frame, info.fetched_at), info)  # one snapshot time per fetch

    def pools(
        self, workspace_id: str | Iterable[str] = ALL_WORKSPACES, *, strict: bool = False
    ) -> pl.DataFrame:
        """The resource pools with their sizes (``GET /v2/{project_id}/pools?workspaceId=``).

        Pools are bound to workspaces and listed per workspace, so every workspace read is
        asked (all of them by default, as far as they may be listed; see
        :meth:`resolve_workspaces`). Pools are context, not data: when the pool list or the
        resource flavors are refused (401/403) or not offered (404, a region without the v2 pool
        API), an empty table is returned and an :class:`~mavtools.errors.AccessWarning` says in
        one line what is missing and why; analyses then run without pool sizes.

        Args:
            workspace_id: the workspaces whose pools to read (``ALL_WORKSPACES``: every one).
            strict: raise the API's error instead of returning an empty table.

        Returns:
            One row per pool: ``pool_id``, ``pool_name``, ``accelerator``, ``accelerator_type``,
            ``units_per_node``, ``nodes`` and ``nodes_available``/``_creating``/``_abnormal``,
            ``units`` (cards on available nodes) and ``units_creating``. See
            :func:`mavtools.pool_sizes`.

        Raises:
            AuthError, NotFoundError: only with ``strict=True``.

        Example:
            >>> mt.utilization(df, capacity=mt.pool_sizes(client.pools()))
        """
        with self.deadline_scope():
            if workspace_id == ALL_WORKSPACES:
                workspaces = self.resolve_workspaces()[0]
            else:
                workspaces = [check_id(w, "workspace_id") for w in as_list(workspace_id)]
            try:
                return self.v2.pools(workspaces)
            except (AuthError, NotFoundError) as exc:
                if strict:
                    raise
                warnings.warn(
                    optional_note("pool sizes", "modelarts:pool:list", exc, self.project_id),
                    AccessWarning,
                    stacklevel=2,
                )
                return pl.DataFrame(schema=POOL_SCHEMA)

    def queue_now(self, pools: Iterable[str] | None = None) -> QueueNow:
        """The queue now: per pool units in use and free, and who waits, oldest first.

        From each pool's workloads API where it answers (dedicated pools), else from the job
        search's pending and running jobs (public pools); rows say which
        (:mod:`mavtools.api.workloads`). A refusal becomes a note, never an exception.

        Example:
            >>> now = client.queue_now()
            >>> now.pools, now.waiting, now.read_at, now.notes
        """
        from mavtools.api.workloads import client_queue_now

        with self.deadline_scope():
            return client_queue_now(self, pools)

    def describe(self, query: Mapping[str, Any], rows: int, **extra: Any) -> Provenance:
        """The provenance of a frame just fetched by this client."""
        fetched = extra.pop("fetched_at", None) or self.clock()
        return Provenance(
            source="live",
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
    ) -> list[ListingQuery]:
        """The listings (one per workspace x status x pool) a query needs."""
        codes: list[int | None] = [*normalise_status(status)] or [None]
        pools: list[str | None] = [check_id(p, "pool_id") for p in as_list(pool_id)] or [None]
        if workspace_id == ALL_WORKSPACES:
            workspaces, refusal = self.resolve_workspaces()
            if refusal:
                warnings.warn(refusal, AccessWarning, stacklevel=3)
        else:
            workspaces = [check_id(w, "workspace_id") for w in as_list(workspace_id)]
            if not workspaces:
                raise ConfigError("workspace_id names no workspace.")
        return [
            ListingQuery(ws, code, pool)
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
        return list(self.workspace_names()) or ["0"]

    def workspace_names(self) -> dict[str, str]:
        """Workspace id -> name, "0" first (``GET /v1/{project_id}/workspaces``).

        A workspace the API sends without a string ``name`` is named by its id.

        Example:
            >>> mt.samples_client().workspace_names()["0"]
            'default'
        """
        url = f"{self.endpoint}/v1/{self.project_id}/workspaces"
        names: dict[str, str] = {}
        for page in range(1000):
            where = f"workspaces page {page}"
            body = self._transport.get(url, {"offset": str(page), "limit": "1000"}, where)
            doc = json_object(body, where)
            items = doc.get("workspaces") or []
            if not isinstance(items, list):
                raise ResponseFormatError("The API sent 'workspaces' that is not a list.")
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    raise ResponseFormatError("The API sent a workspace without a string 'id'.")
                name = item.get("name")
                names[item["id"]] = name if isinstance(name, str) and name else item["id"]
            total = doc.get("total_count")
            if not items or not isinstance(total, int) or len(names) >= total:
                break
        return dict(sorted(names.items(), key=lambda kv: (kv[0] != "0", kv[0])))

    def deadline_scope(self) -> contextlib.AbstractContextManager[None]:
        """Bound everything this client sends inside by one ``Timeout.deadline``.

        ``list_versions``, ``fetch_listing`` and ``read_newest`` each open one; a caller making
        several of them for one answer (the cache) opens an outer one and they share it.

        Example:
            >>> with client.deadline_scope():
            ...     frames = [client.fetch_listing(ls).frame for ls in client.plan()]
        """
        return self._transport.deadline()

    def get(self, url: str, params: dict[str, str], where: str) -> bytes:
        """GET any URL of the endpoint with this client's retries and credentials."""
        return self._transport.get(url, params, where)

    # -- listings (the cache's refresh primitives) ---------------------------------------------

    def fetch_listing(self, listing: ListingQuery, *, progress: Progress | None = None) -> Listing:
        """Read one listing completely, oldest first, as the typed frame, or raise
        :class:`IncompleteError`."""
        with self.deadline_scope():
            read = self._pager.read(
                listing.params(), listing.label(), volatile=listing.volatile, progress=progress
            )
        return replace(read, frame=self._frame(read.frame, listing))

    def read_newest(self, listing: ListingQuery, depth: int | Callable[[int], int]) -> Listing:
        """Read the ``depth`` newest versions of a listing (newest first), for incremental refresh.

        ``depth`` may be a function of the server's ``total_count`` (known after the first page),
        so a caller that needs "everything new plus k more" pays no extra request.

        Returns the records read and the server's ``total_count``. The caller checks completeness.
        """
        with self.deadline_scope():
            read = self._pager.read_newest(listing.params(), listing.label(), depth)
        return replace(read, frame=self._frame(read.frame, listing))

    def _frame(self, records: pl.DataFrame, listing: ListingQuery) -> pl.DataFrame:
        return build_frame(
            [records], listing.workspace_id, region=self.region, project_id=self.project_id
        )


def _merge(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Typed frames of several listings (a version is in one workspace, so keep either)."""
    return unique_records(frames, list(ROW_KEY), empty=empty_frame(), keep="first")
