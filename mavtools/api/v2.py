"""New-version (v2) training: job searches, flavor cards and pool sizes.

Jobs. ``POST /v2/{project_id}/training-job-searches`` is read as self-contained creation-time
windows (:class:`~mavtools.api.windows.WindowReader`): each window fits one page and is read with
one request, so no delete or create between requests can hide a job at a page seam, and one pass
is enough; the windows' counts must add up to the listing's ``count``. A server that ignores the
``create_time`` filter is read by the same :class:`~mavtools.api.pager.Pager` as the v1 listing
instead (remembered per client), through an :class:`~mavtools.api.pager.Endpoint` that POSTs the
page parameters as the JSON body: oldest first, ``limit`` at most 50 (the API's cap), ``offset``
read as the page index Huawei's SDK documents, proven by the second page's contents (a probe only
when they disagree). Requests go through the client's :class:`~mavtools.api.transport.Transport`:
the same retries, deadlines and errors as v1; how many are in flight adapts
(:mod:`mavtools.api.concurrency`).

Filters that save requests go to the server: a status filter becomes a ``phase in [...]`` filter
(:func:`mavtools.statuses.v2_phases_for_codes`; the exact codes are then kept locally), and a status
no v2 job can have costs no request at all. ``pool_id`` has no documented server filter: local.

Flavor cards. Jobs on dedicated pools come without ``flavor_detail``; their cards per node come from
``GET /v2/{project_id}/training-job-flavors``, read once per client, and only when a job needs it.

Pools. :meth:`V2Api.pools` reads ``GET /v2/{project_id}/pools`` and the resource flavors
(``GET /v1/{project_id}/resourceflavors``, paged by ``continue``) into :data:`POOL_SCHEMA`;
:func:`pool_sizes` turns that into the ``capacity`` mapping analyses take.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urlsplit

import polars as pl

from mavtools.api.pager import Endpoint, Listing, Pager, Progress
from mavtools.api.query import ListingQuery
from mavtools.api.transport import Transport
from mavtools.api.windows import MAX_EPOCH_MS, FilterIgnored, WindowReader
from mavtools.errors import (
    AccessWarning,
    ApiError,
    AuthError,
    ConfigError,
    NotFoundError,
    ResponseFormatError,
)
from mavtools.frame import empty_frame, json_object
from mavtools.frame_v2 import V2_RAW_SCHEMA, Cards, build_v2_frame, parse_search_page
from mavtools.statuses import v2_phases_for_codes

__all__ = [
    "MAX_V2_LIMIT",
    "POOL_SCHEMA",
    "JobSearch",
    "V2Api",
    "optional_note",
    "pool_sizes",
    "searches_for",
]

log = logging.getLogger("mavtools")

#: The largest ``limit`` the search accepts.
MAX_V2_LIMIT: Final = 50

POOL_SCHEMA: Final = pl.Schema(
    {
        "pool_id": pl.String,
        "pool_name": pl.String,
        "accelerator": pl.String,  # "gpu", "npu" or "cpu"
        "accelerator_type": pl.String,  # e.g. "nvidia-v100"
        "units_per_node": pl.Int32,
        "nodes": pl.Int32,  # nodes the pool is specified with
        "nodes_available": pl.Int32,
        "nodes_creating": pl.Int32,
        "nodes_abnormal": pl.Int32,
        "units": pl.Int32,  # accelerator cards on available nodes: the capacity jobs can use
        "units_creating": pl.Int32,  # cards on nodes still being created
    }
)


@dataclass(frozen=True)
class JobSearch:
    """One v2 search: a workspace, optionally phases and a creation window (epoch ms)."""

    workspace_id: str
    codes: tuple[int, ...] = ()
    pool_ids: tuple[str, ...] = ()
    created_from_ms: int | None = None
    created_to_ms: int | None = None

    @property
    def phases(self) -> list[str] | None:
        """The server-side phase filter (None: none; ``[]``: no v2 job can match)."""
        return v2_phases_for_codes(self.codes) if self.codes else None

    def params(self) -> dict[str, str]:
        """The pager's query: the workspace and the filters (JSON), sent in the search body."""
        filters: list[dict[str, Any]] = []
        if self.phases:
            filters.append({"key": "phase", "operator": "in", "value": self.phases})
        if self.created_from_ms is not None or self.created_to_ms is not None:
            lo = self.created_from_ms or 0
            hi = self.created_to_ms if self.created_to_ms is not None else MAX_EPOCH_MS
            filters.append(
                {"key": "create_time", "operator": "between", "value": [str(lo), str(hi)]}
            )
        out = {"workspace_id": self.workspace_id}
        if filters:
            out["filters"] = json.dumps(filters)
        return out

    @property
    def filtered(self) -> bool:
        """Whether the server-side result can change membership while paged (phase filter)."""
        return bool(self.phases)

    def label(self) -> str:
        parts = [f"v2 jobs of workspace {self.workspace_id}"]
        if self.phases:
            parts.append("phase " + "/".join(self.phases))
        return ", ".join(parts)


def searches_for(listings: Iterable[ListingQuery]) -> list[JobSearch]:
    """The v2 searches answering the same query as v1 listings (one per workspace).

    v1 plans one listing per workspace x status x pool; a v2 search takes all statuses of a
    workspace at once (one ``phase in`` filter) and filters pools locally.
    """
    by_ws: dict[str, tuple[set[int], set[str]]] = {}
    for listing in listings:
        codes, pools = by_ws.setdefault(listing.workspace_id, (set(), set()))
        if listing.status is not None:
            codes.add(listing.status)
        if listing.pool_id is not None:
            pools.add(listing.pool_id)
    return [
        JobSearch(ws, tuple(sorted(codes)), tuple(sorted(pools)))
        for ws, (codes, pools) in by_ws.items()
    ]


class V2Api:
    """The v2 endpoints of one project, sharing a client's transport.

    Args:
        transport: the client's transport (credentials, retries, deadlines).
        endpoint: the API endpoint.
        project_id: the IAM project.
        connections: pages fetched at once.
        page_size: jobs per request; capped at :data:`MAX_V2_LIMIT`.
        region: the client's region; with ``project_id`` it tags every row.
    """

    def __init__(
        self,
        transport: Transport,
        endpoint: str,
        project_id: str,
        *,
        connections: int,
        page_size: int = MAX_V2_LIMIT,
        region: str | None = None,
    ) -> None:
        self.transport = transport
        self.endpoint = endpoint
        self.project_id = project_id
        self.region = region
        self.pager = Pager(
            transport,
            Endpoint(
                url=f"{endpoint}/v2/{project_id}/training-job-searches",
                parse=parse_search_page,
                key="job_id",
                empty=pl.DataFrame(schema=V2_RAW_SCHEMA),
                oldest_first={"order": "asc"},
                newest_first={"order": "desc"},
                name="v2 jobs",
                body=_search_body,
            ),
            page_size=min(page_size, MAX_V2_LIMIT),
            connections=connections,
            default_mode="page",  # Huawei's SDK: "the page number, from 0"; checked on page 2
        )
        self.windows = WindowReader(
            transport,
            f"{endpoint}/v2/{project_id}/training-job-searches",
            page_size=min(page_size, MAX_V2_LIMIT),
            connections=connections,
            paged=self._paged_window,
        )
        #: Whether the server applies the ``create_time`` filter (None: not known yet).
        self.filters_time: bool | None = None
        self._cards: dict[str, Cards] | None = None
        self._lock = threading.Lock()

    def read_jobs(self, search: JobSearch, progress: Progress | None = None) -> Listing:
        """Read every job of ``search`` completely, as typed rows, or raise IncompleteError."""
        before = self.transport.requests_made
        if search.phases == []:  # the statuses asked for are v1-only: nothing to ask the server
            return Listing(empty_frame(), 0, 0, self.pager.offset_mode)
        if self.filters_time is not False:
            try:
                got = self.windows.read(
                    search.workspace_id,
                    search.label(),
                    lo=search.created_from_ms or 0,
                    hi=MAX_EPOCH_MS if search.created_to_ms is None else search.created_to_ms,
                    filters=(
                        [{"key": "phase", "operator": "in", "value": search.phases}]
                        if search.phases
                        else None
                    ),
                    progress=progress,
                )
            except (FilterIgnored, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.http_status != 400:
                    raise
                # A server that does not apply the create_time filter: page instead, and
                # do not try windows again with this client.
                log.info("%s: windows not usable (%s); paging", search.label(), exc)
                self.filters_time = False
            else:
                self.filters_time = True
                return self._result(got, search, before)
        paged = self.pager.read(
            search.params(), search.label(), volatile=search.filtered, progress=progress
        )
        return self._result(paged, search, before)

    def read_newest(self, search: JobSearch, depth: int | Callable[[int], int]) -> Listing:
        """The ``depth`` newest jobs of ``search`` (whole pages, newest first), for refreshes.

        ``depth`` may be a function of the server's ``count`` (known after the first page), as
        for :meth:`mavtools.api.client.Client.read_newest`. The caller checks completeness
        against :attr:`Listing.total_count <mavtools.api.pager.Listing.total_count>`.
        """
        before = self.transport.requests_made
        paged = self.pager.read_newest(search.params(), search.label(), depth)
        return self._result(replace(paged, offset_mode=self.pager.offset_mode), search, before)

    def _paged_window(self, workspace_id: str, lo: int, hi: int) -> pl.DataFrame:
        """Raw rows of one creation-time window read by offset paging (a crowded instant)."""
        search = JobSearch(workspace_id, created_from_ms=lo, created_to_ms=hi)
        return self.pager.read(search.params(), search.label()).frame

    @property
    def offset_mode(self) -> str:
        """How the search reads ``offset``: ``"auto"`` until detected (kept apart from v1's)."""
        return self.pager.offset_mode

    @offset_mode.setter
    def offset_mode(self, mode: str) -> None:
        self.pager.offset_mode = mode

    @property
    def page_size(self) -> int:
        """Jobs per search page."""
        return self.pager.page_size

    def _result(self, read: Listing, search: JobSearch, before: int) -> Listing:
        """``read`` with its records typed and every request since ``before`` counted."""
        frame = self._typed(read.frame, search)  # may ask for the flavor list: count it too
        return replace(read, frame=frame, requests=self.transport.requests_made - before)

    def _typed(self, records: pl.DataFrame, search: JobSearch) -> pl.DataFrame:
        cards = self.flavor_cards() if _needs_cards(records) else {}
        frame = build_v2_frame(
            [records],
            search.workspace_id,
            cards,
            region=self.region,
            project_id=self.project_id,
        )
        if search.codes:
            frame = frame.filter(pl.col("status").is_in(list(search.codes)))
        if search.pool_ids:
            frame = frame.filter(pl.col("pool_id").cast(pl.String).is_in(list(search.pool_ids)))
        return frame

    def flavor_cards(self) -> dict[str, Cards]:
        """Flavor id -> (gpu, npu) cards per node (``GET /v2/{project}/training-job-flavors``).

        Read once and kept: flavors do not change while a notebook runs. A refused (401/403)
        or missing (404) list is context, not data: an :class:`~mavtools.errors.AccessWarning`
        says so and the jobs that needed it keep unknown (null) card counts.
        """
        with self._lock:
            if self._cards is None:
                try:
                    self._cards = _read_flavor_cards(self)
                except (AuthError, NotFoundError) as exc:
                    # Context: jobs whose cards only the list knows keep unknown (null) counts.
                    warnings.warn(
                        optional_note(
                            "the training flavor list",
                            "permission to list training flavors",
                            exc,
                            self.project_id,
                        ),
                        AccessWarning,
                        stacklevel=2,
                    )
                    self._cards = {}
            return self._cards

    def pools(self, workspaces: Iterable[str] = ("0",)) -> pl.DataFrame:
        """The resource pools bound to ``workspaces`` and their sizes (:data:`POOL_SCHEMA`)."""
        return _read_pools(self, workspaces)

    def get(self, path: str, params: dict[str, str], where: str) -> dict[str, Any]:
        body = self.transport.get(f"{self.endpoint}{path}", params, where)
        return json_object(body, where)


def _search_body(params: Mapping[str, str]) -> dict[str, Any]:
    """The search's JSON body from the pager's parameters (offset, limit, order, search)."""
    doc: dict[str, Any] = {
        "offset": int(params["offset"]),
        "limit": int(params["limit"]),
        "sort_by": "create_time",
        "order": params.get("order", "asc"),
        "workspace_id": params.get("workspace_id", "0"),
    }
    if params.get("filters"):
        doc["filters"] = json.loads(params["filters"])
    return doc


def _needs_cards(raw: pl.DataFrame) -> bool:
    return bool(
        raw.select(
            (
                (pl.col("gpu_cards").is_null() | pl.col("npu_cards").is_null())
                & pl.col("gpu_total").is_null()
            ).any()
        ).item()
    )


# -- flavors and pools ------------------------------------------------------------------------


def _read_flavor_cards(api: V2Api) -> dict[str, Cards]:
    doc = api.get(f"/v2/{api.project_id}/training-job-flavors", {}, "the training flavor list")
    flavors = doc.get("flavors") or []
    if not isinstance(flavors, list):
        raise ResponseFormatError("The API sent 'flavors' that is not a list.")
    cards: dict[str, Cards] = {}
    for item in flavors:
        if not isinstance(item, dict) or not isinstance(item.get("flavor_id"), str):
            raise ResponseFormatError("The API sent a flavor without a string 'flavor_id'.")
        raw_info = item.get("flavor_info")
        info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
        cards[item["flavor_id"]] = (_units(info.get("gpu")), _units(info.get("npu")))
    return cards


def _units(device: Any) -> int:
    """Cards of a device entry.

    ``card`` (resource flavors: the card count) first, then ``unit_num`` (flavor list; a string
    for NPUs), then ``size`` (resource flavors: the chip count, kept by the API for backwards
    compatibility, which differs from the cards on multi-chip NPU cards).
    """
    if not isinstance(device, dict):
        return 0
    value = next(
        (device[k] for k in ("card", "unit_num", "size") if device.get(k) not in (None, "")), None
    )
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        raise ResponseFormatError(f"The API sent a card count {str(value)[:20]!r}.") from None


def _resource_flavors(api: V2Api) -> dict[str, tuple[str, str, int]]:
    """Resource flavor name -> (accelerator, type, cards per node), following ``continue``."""
    out: dict[str, tuple[str, str, int]] = {}
    token = ""
    for n in range(1000):
        params = {"continue": token} if token else {}  # the server's page size
        where = f"resource flavors page {n + 1}"
        doc = api.get(f"/v1/{api.project_id}/resourceflavors", params, where)
        for item in doc.get("items") or []:
            name = (item.get("metadata") or {}).get("name")
            spec = item.get("spec") or {}
            if not isinstance(name, str):
                raise ResponseFormatError("The API sent a resource flavor without a name.")
            kind = next((k for k in ("gpu", "npu") if isinstance(spec.get(k), dict)), "cpu")
            device: dict[str, Any] = spec[kind] if kind != "cpu" else {}
            out[name] = (kind, str(device.get("type") or ""), _units(device))
        token = str((doc.get("metadata") or {}).get("continue") or "")
        if not token:
            break
    return out


def _entries(state: Any) -> list[dict[str, Any]]:
    """The flavor counts of one node state.

    The SDK (``PoolStatusResources``) types each state as one ``PoolResourceFlavorCount`` object;
    older documentation shows a list of them. Both are read.
    """
    if isinstance(state, dict):
        return [state]
    if isinstance(state, list):
        return [e for e in state if isinstance(e, dict)]
    if state is None:
        return []
    raise ResponseFormatError(
        f"The API sent a pool node state as {type(state).__name__}, not an object."
    )


def _count(state: Any) -> int:
    return sum(int(e.get("count") or 0) for e in _entries(state))


def _read_pools(api: V2Api, workspaces: Iterable[str] = ("0",)) -> pl.DataFrame:
    """The pools bound to each of ``workspaces`` (``ListPools`` takes ``workspaceId``)."""
    items: dict[str, dict[str, Any]] = {}
    for ws in dict.fromkeys(workspaces):
        where = f"the pool list of workspace {ws}"
        doc = api.get(f"/v2/{api.project_id}/pools", {"workspaceId": ws}, where)
        for item in doc.get("items") or []:
            if not isinstance(item, dict):
                raise ResponseFormatError("The API sent a pool that is not an object.")
            name = (item.get("metadata") or {}).get("name")
            items.setdefault(str(name), item)  # a pool seen from two workspaces counts once
    flavors = _resource_flavors(api) if items else {}
    unknown = ("cpu", "", 0)
    rows = []
    for item in items.values():
        meta = item.get("metadata") or {}
        specified = _entries((item.get("spec") or {}).get("resources"))
        state = (item.get("status") or {}).get("resources") or {}
        kinds = {
            str(r.get("flavor")): flavors.get(str(r.get("flavor")), unknown) for r in specified
        }
        main = max(kinds.values(), key=lambda k: k[2], default=unknown)

        def units(name: str, state: Mapping[str, Any] = state) -> int:
            return sum(
                int(e.get("count") or 0) * flavors.get(str(e.get("flavor")), unknown)[2]
                for e in _entries(state.get(name))
            )

        rows.append(
            {
                "pool_id": meta.get("name"),
                "pool_name": (meta.get("labels") or {}).get("os.modelarts/name")
                or meta.get("name"),
                "accelerator": main[0],
                "accelerator_type": main[1] or None,
                "units_per_node": main[2],
                "nodes": _count(specified),
                "nodes_available": _count(state.get("available")),
                "nodes_creating": _count(state.get("creating")),
                "nodes_abnormal": _count(state.get("abnormal")),
                "units": units("available"),
                "units_creating": units("creating"),
            }
        )
    return pl.DataFrame(rows, schema=POOL_SCHEMA).sort("pool_id")


def optional_note(what: str, permission: str, exc: ApiError, project_id: str) -> str:
    """One line saying which context endpoint could not be read, why, and what follows.

    Pools, flavors and workspace names are context: without them the analyses still run.
    """
    path = urlsplit(exc.url).path or exc.url
    if exc.http_status == 404:
        why = "is not offered by this server (HTTP 404)"
    elif exc.http_status == 401:
        why = "was refused (HTTP 401: check the credentials)"
    else:
        why = f"is not permitted (HTTP {exc.http_status}; needs {permission})"
    return (
        f"{what.capitalize()} of project {project_id} unavailable: GET {path} {why}; "
        f"going on without {what}. Pass strict=True to make this an error."
    )


def pool_sizes(pools: pl.DataFrame) -> dict[str, int]:
    """Pool id -> accelerator units on available nodes: the ``capacity`` analyses take.

    CPU pools (no cards) are left out: a size in GPUs or NPUs means nothing for them.

    Example:
        >>> mt.utilization(df, capacity=mt.pool_sizes(client.pools()))
    """
    if not set(POOL_SCHEMA).issubset(pools.columns):
        raise ConfigError("pool_sizes takes the table Client.pools() returns.")
    usable = pools.filter(pl.col("units") > 0)
    return dict(zip(usable["pool_id"].to_list(), usable["units"].to_list(), strict=True))
