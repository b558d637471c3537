"""New-version (v2) training: job searches, flavor cards and pool sizes.

Jobs. ``POST /v2/{project_id}/training-job-searches`` is paged the way the v1 listing is (see
:mod:`mavtools.api.client`): oldest first (``order=asc``, so jobs created meanwhile land after the
pages already read), ``limit`` at most 50 (the API's cap), the meaning of ``offset`` detected once
per client with a two-record probe (the docs disagree: record offset or page index), remaining
pages fetched concurrently in rounds, and the result accepted only when the distinct jobs match the
server's latest ``count``; jobs added while paging are fetched from the tail, and a listing
filtered by phase is read until two reads agree. Every request goes through
:meth:`Client._request`, so retries, deadlines and error mapping are those of v1.

Filters that save requests go to the server: a status filter becomes a ``phase in [...]`` filter
(a superset, see :func:`mavtools.statuses.v2_phases_for_codes`; the exact codes are kept locally),
a creation window a ``create_time between`` filter. ``pool_id`` has no documented server filter and
is applied locally.

Flavor cards. Jobs on dedicated pools come without ``flavor_detail``; their cards per node come from
``GET /v2/{project_id}/training-job-flavors``, read once per client (only when a job needs it).

Pools. :func:`read_pools` reads ``GET /v2/{project_id}/pools`` and the resource flavors
(``GET /v1/{project_id}/resourceflavors``, paged by ``continue``) into :data:`POOL_SCHEMA`.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from mavtools.errors import ConfigError, IncompleteError, ResponseFormatError
from mavtools.frame import empty_frame
from mavtools.frame_v2 import V2_RAW_SCHEMA, Cards, SearchPage, build_v2_frame, parse_search_page
from mavtools.statuses import v2_phases_for_codes

if TYPE_CHECKING:
    from mavtools.api.client import Client

__all__ = [
    "MAX_V2_LIMIT",
    "POOL_SCHEMA",
    "JobSearch",
    "V2Result",
    "flavor_cards",
    "pool_sizes",
    "read_jobs",
    "read_pools",
    "searches_for",
]

log = logging.getLogger("mavtools")

#: The largest ``limit`` the search accepts.
MAX_V2_LIMIT: Final = 50
#: Most reads of a phase-filtered search before two consecutive ones must have agreed.
_FILTERED_READS: Final = 4
_MAX_TOTAL: Final = 100_000_000

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

    def body(self, offset: int, limit: int, order: str = "asc") -> dict[str, Any]:
        filters: list[dict[str, Any]] = []
        if self.phases:
            filters.append({"key": "phase", "operator": "in", "value": self.phases})
        if self.created_from_ms is not None or self.created_to_ms is not None:
            lo = self.created_from_ms or 0
            hi = self.created_to_ms if self.created_to_ms is not None else 253_402_300_799_000
            filters.append(
                {"key": "create_time", "operator": "between", "value": [str(lo), str(hi)]}
            )
        doc: dict[str, Any] = {
            "offset": offset,
            "limit": limit,
            "sort_by": "create_time",
            "order": order,
            "workspace_id": self.workspace_id,
        }
        if filters:
            doc["filters"] = filters
        return doc

    @property
    def filtered(self) -> bool:
        """Whether the server-side result can change membership while paged (phase filter)."""
        return bool(self.phases)

    def label(self) -> str:
        parts = [f"v2 jobs of workspace {self.workspace_id}"]
        if self.phases:
            parts.append("phase " + "/".join(self.phases))
        return ", ".join(parts)


@dataclass
class V2Result:
    """The typed rows of one search, the server's count and the requests spent."""

    frame: pl.DataFrame
    total: int
    requests: int
    offset_mode: str


def searches_for(listings: Iterable[Any]) -> list[JobSearch]:
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


def _search_url(client: Client) -> str:
    return f"{client.endpoint}/v2/{client.project_id}/training-job-searches"


def _limit(client: Client) -> int:
    return min(client.page_size, MAX_V2_LIMIT)


def _page(client: Client, search: JobSearch, offset: int, limit: int, where: str) -> SearchPage:
    page: SearchPage = client._request(
        _search_url(client),
        {},
        where,
        parse=lambda body, at: parse_search_page(body, where=at),
        json_body=search.body(offset, limit),
    )
    return page


def _believable(page: SearchPage, label: str) -> int:
    if page.total is None:
        if page.jobs.height == 0:
            return 0
        raise ResponseFormatError(f"The API sent no 'count' or 'total' for {label}.")
    if page.total > _MAX_TOTAL:
        raise ResponseFormatError(
            f"The API claims {page.total:,} jobs for {label}, which is not believable; retry later."
        )
    return page.total


def read_jobs(client: Client, search: JobSearch) -> V2Result:
    """Read every job of ``search`` completely, as typed rows, or raise IncompleteError."""
    before = client.requests_made
    if search.phases == []:  # the statuses asked for are v1-only: nothing to ask the server
        return V2Result(empty_frame(), 0, 0, _known_mode(client))
    if not search.filtered:
        result = _read_once(client, search)
    else:
        previous: set[str] | None = None
        for _ in range(_FILTERED_READS):
            try:
                result = _read_once(client, search)
            except IncompleteError:
                previous = None
                continue
            ids = set(result.frame["job_id"])
            if ids == previous:
                break
            previous = ids
        else:
            raise IncompleteError(
                f"Jobs of {search.label()} kept changing phase while mavtools was paging "
                f"({_FILTERED_READS} reads disagreed); fetch again, or without the status filter."
            )
    frame = result.frame
    if search.codes:
        frame = frame.filter(pl.col("status").is_in(list(search.codes)))
    if search.pool_ids:
        frame = frame.filter(pl.col("pool_id").cast(pl.String).is_in(list(search.pool_ids)))
    result.frame = frame
    result.requests = client.requests_made - before
    return result


def _read_once(client: Client, search: JobSearch) -> V2Result:
    """One oldest-first pass, checked against the server's count."""
    limit = _limit(client)
    label = search.label()
    before = client.requests_made
    first = _page(client, search, 0, limit, f"page 1 of {label}")
    total = _believable(first, label)
    frames = [first.jobs]
    totals = [total]
    mode = _known_mode(client)
    if total > first.jobs.height and first.jobs.height > 0:
        mode = _detect_mode(client, search, first, label)
        pages = _pages(client, search, limit, mode, range(1, math.ceil(total / limit)), label)
        frames.extend(p.jobs for p in pages)
        totals.extend(p.total or 0 for p in pages)
    merged = _dedupe(frames)
    for _round in range(3):
        if min(totals) < totals[0]:
            raise IncompleteError(
                f"Jobs of {label} disappeared while mavtools was paging (the count fell from "
                f"{totals[0]} to {min(totals)}); fetch again."
            )
        latest = max(totals)
        if merged.height >= latest:
            break
        if mode == "auto":
            mode = _detect_mode(client, search, first, label)
        tail = _pages(
            client,
            search,
            limit,
            mode,
            range(merged.height // limit, math.ceil(latest / limit)),
            label,
        )
        merged = _dedupe([merged, *(p.jobs for p in tail)])
        totals.extend(p.total or 0 for p in tail)
    if merged.height != max(totals):
        raise IncompleteError(
            f"The API counted {max(totals)} jobs for {label} but paging returned {merged.height} "
            "distinct ones; the data changed too fast or the server pages inconsistently. "
            "Fetch again."
        )
    cards = _cards_for(client, merged)
    frame = build_v2_frame([merged], search.workspace_id, cards)
    return V2Result(frame, max(totals), client.requests_made - before, mode)


def _dedupe(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """One row per job id; a later page's copy is the newer one."""
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema=V2_RAW_SCHEMA)
    return pl.concat(frames, how="vertical").unique("job_id", keep="last", maintain_order=True)


# The detected meaning of offset for v2 is kept per client, apart from v1's: the two APIs are
# different services and need not agree.
_MODES_LOCK: Final = threading.Lock()


def _known_mode(client: Client) -> str:
    return getattr(client, "_v2_offset_mode", "auto")


def _detect_mode(client: Client, search: JobSearch, first: SearchPage, label: str) -> str:
    known = _known_mode(client)
    if known != "auto":
        return known
    ids = first.ids
    if len(ids) < 3:
        return "record"
    probe = _page(client, search, 1, 2, f"offset probe of {label}").ids
    mode = ""
    if probe[:1] == ids[1:2]:
        mode = "record"
    elif probe[:1] == ids[2:3]:
        mode = "page"
    elif probe[:1] == ids[0:1]:
        mode = "page1"
    if not mode:
        raise IncompleteError(
            f"Could not tell whether the API reads 'offset' as a record offset or a page index "
            f"for {label}; fetch again."
        )
    log.debug("v2 search offset is read as %s", mode)
    with _MODES_LOCK:
        client._v2_offset_mode = mode  # type: ignore[attr-defined]
    return mode


def _pages(
    client: Client, search: JobSearch, limit: int, mode: str, indexes: Iterable[int], label: str
) -> list[SearchPage]:
    def one(index: int) -> SearchPage:
        offset = {"record": index * limit, "page": index, "page1": index + 1}[mode]
        return _page(
            client, search, offset, limit, f"page {index + 1} of {label} (offset={offset})"
        )

    # Rounds of a few pages per connection; a short page ends the listing whatever the count said.
    pending = iter(indexes)
    round_size = 1 if client.connections == 1 else 4 * client.connections
    pages: list[SearchPage] = []
    with ThreadPoolExecutor(client.connections, thread_name_prefix="mavtools-v2") as pool:
        while batch := list(itertools.islice(pending, round_size)):
            got = list(pool.map(one, batch)) if len(batch) > 1 else [one(batch[0])]
            pages.extend(got)
            if any(p.jobs.height < limit for p in got):
                break
    return pages


# -- flavors ---------------------------------------------------------------------------------


def _cards_for(client: Client, raw: pl.DataFrame) -> dict[str, Cards]:
    """Cards of the flavors of jobs without ``flavor_detail`` (reads the flavor list only then)."""
    missing = raw.filter(pl.col("gpu_cards").is_null() & pl.col("npu_cards").is_null())
    if missing.is_empty():
        return {}
    return flavor_cards(client)


def flavor_cards(client: Client) -> dict[str, Cards]:
    """Flavor id -> (gpu, npu) cards per node, from ``GET /v2/{project}/training-job-flavors``.

    Read once per client and kept (flavors do not change while a notebook runs).
    """
    cached: dict[str, Cards] | None = getattr(client, "_v2_flavor_cards", None)
    if cached is not None:
        return cached
    url = f"{client.endpoint}/v2/{client.project_id}/training-job-flavors"
    doc = _json(client._request(url, {}, "the training flavor list", parse=False), "flavor list")
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
    client._v2_flavor_cards = cards  # type: ignore[attr-defined]
    return cards


def _units(device: Any) -> int:
    if not isinstance(device, dict):
        return 0
    value = device.get("unit_num", device.get("size"))
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        raise ResponseFormatError(f"The API sent a card count {str(value)[:20]!r}.") from None


def _json(body: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise ResponseFormatError(
            f"The API sent a body that is not JSON for the {where}."
        ) from None
    if not isinstance(doc, dict):
        raise ResponseFormatError(f"The API sent JSON that is not an object for the {where}.")
    return doc


# -- pools -----------------------------------------------------------------------------------


def _resource_flavors(client: Client) -> dict[str, tuple[str, str, int]]:
    """Resource flavor name -> (accelerator, type, cards per node), following ``continue``."""
    url = f"{client.endpoint}/v1/{client.project_id}/resourceflavors"
    out: dict[str, tuple[str, str, int]] = {}
    token = ""
    for n in range(1000):
        params = {"continue": token} if token else {}  # the server's page size
        doc = _json(
            client._request(url, params, f"resource flavors page {n + 1}", parse=False),
            "resource flavors",
        )
        for item in doc.get("items") or []:
            name = (item.get("metadata") or {}).get("name")
            spec = item.get("spec") or {}
            if not isinstance(name, str):
                raise ResponseFormatError("The API sent a resource flavor without a name.")
            kind = (
                "gpu"
                if isinstance(spec.get("gpu"), dict)
                else "npu"
                if isinstance(spec.get("npu"), dict)
                else "cpu"
            )
            device: dict[str, Any] = spec[kind] if kind != "cpu" else {}
            out[name] = (kind, str(device.get("type") or ""), _units(device))
        token = str((doc.get("metadata") or {}).get("continue") or "")
        if not token:
            break
    return out


def read_pools(client: Client) -> pl.DataFrame:
    """The project's resource pools and their sizes (:data:`POOL_SCHEMA`), one row per pool."""
    url = f"{client.endpoint}/v2/{client.project_id}/pools"
    doc = _json(client._request(url, {}, "the pool list", parse=False), "pool list")
    flavors = _resource_flavors(client)
    rows = []
    for item in doc.get("items") or []:
        if not isinstance(item, dict):
            raise ResponseFormatError("The API sent a pool that is not an object.")
        meta = item.get("metadata") or {}
        spec_resources = (item.get("spec") or {}).get("resources") or []
        state = (item.get("status") or {}).get("resources") or {}

        def count(entries: Any) -> int:
            return sum(int(e.get("count") or 0) for e in entries or [] if isinstance(e, dict))

        kinds = [flavors.get(str(r.get("flavor")), ("cpu", "", 0)) for r in spec_resources]
        main = max(kinds, key=lambda k: k[2], default=("cpu", "", 0))
        per_flavor = {
            str(r.get("flavor")): flavors.get(str(r.get("flavor")), ("cpu", "", 0))[2]
            for r in spec_resources
        }
        units = sum(
            int(e.get("count") or 0) * per_flavor.get(str(e.get("flavor")), 0)
            for e in state.get("available") or []
            if isinstance(e, dict)
        )
        rows.append(
            {
                "pool_id": meta.get("name"),
                "pool_name": (meta.get("labels") or {}).get("os.modelarts/name")
                or meta.get("name"),
                "accelerator": main[0],
                "accelerator_type": main[1] or None,
                "units_per_node": main[2],
                "nodes": count(spec_resources),
                "nodes_available": count(state.get("available")),
                "nodes_creating": count(state.get("creating")),
                "nodes_abnormal": count(state.get("abnormal")),
                "units": units,
            }
        )
    return pl.DataFrame(rows, schema=POOL_SCHEMA).sort("pool_id")


def pool_sizes(pools: pl.DataFrame | Client) -> dict[str, int]:
    """Pool id -> accelerator units on available nodes, the ``capacity`` analyses take.

    CPU pools (no cards) are left out: their size in GPUs or NPUs is not meaningful.

    Example:
        >>> mt.utilization(df, capacity=mt.pool_sizes(client))
    """
    table = pools if isinstance(pools, pl.DataFrame) else read_pools(pools)
    if not set(POOL_SCHEMA).issubset(table.columns):
        raise ConfigError("pool_sizes needs the table from Client.pools().")
    usable = table.filter(pl.col("units") > 0)
    return dict(zip(usable["pool_id"].to_list(), usable["units"].to_list(), strict=True))
