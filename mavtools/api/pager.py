"""Paging a listing completely: offset meaning, concurrent page fetches, completeness checks.

The documented ``offset`` is ambiguous (record offset or page index) and records are created while
a client pages. The pager therefore always pages *oldest first*: new records land after the pages
already read instead of shifting them. It detects once how the server reads ``offset`` (a
two-record probe), fetches the remaining pages concurrently, de-duplicates on the endpoint's
identity key, and accepts the result only when the number of distinct records matches the server's
latest ``total_count`` (fetching the tail again when records were added meanwhile). Otherwise it
raises :class:`IncompleteError`.

What is paged is described by an :class:`Endpoint` (URL, sort parameters, body parser, identity
key), so the same pager reads any listing with ``offset``/``limit``/``total_count`` paging.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from mavtools.api.transport import Transport
from mavtools.errors import ConfigError, IncompleteError, ResponseFormatError

__all__ = [
    "MAX_TOTAL_COUNT",
    "OFFSET_MODES",
    "Batch",
    "Endpoint",
    "Paged",
    "Pager",
    "Progress",
    "unique_records",
]

log = logging.getLogger("mavtools")

#: A ``total_count`` above this is not believed (no project has a billion versions).
MAX_TOTAL_COUNT: Final = 100_000_000
#: How ``offset`` may be read: a record offset, a 0-based or a 1-based page index.
OFFSET_MODES: Final = ("record", "page", "page1")
#: Most reads of a volatile listing before two consecutive ones must have agreed.
STABLE_READS: Final = 4


@dataclass(frozen=True)
class Batch:
    """One parsed page: its records (one row each) and the ``total_count`` the server claims."""

    records: pl.DataFrame
    total_count: int | None


@dataclass(frozen=True)
class Endpoint:
    """One kind of paged listing: how to request a page, parse it and identify its records.

    Attributes:
        url: the listing's URL (without query).
        parse: ``parse(body, where)`` -> :class:`Batch`; raises :class:`ResponseFormatError` or
            :class:`~mavtools.api.transport.NotSuccessful`.
        key: the column that identifies a record (unique within the listing).
        empty: the records frame of an empty listing (the schema of ``Batch.records``).
        oldest_first: the query parameters that sort oldest first.
        newest_first: the query parameters that sort newest first.
        name: names the listing kind in messages ("versions").
        body: when set, pages are requested by POSTing ``body(params)`` as JSON instead of a GET
            with ``params`` as the query (the v2 job search takes offset, limit and filters so).
    """

    url: str
    parse: Callable[[bytes, str], Batch]
    key: str
    empty: pl.DataFrame
    oldest_first: Mapping[str, str]
    newest_first: Mapping[str, str]
    name: str = "versions"
    body: Callable[[Mapping[str, str]], dict[str, Any]] | None = None


@dataclass
class Paged:
    """Records of one listing and what the server said about them."""

    records: pl.DataFrame
    total_count: int
    requests: int
    offset_mode: str = ""
    extra: dict[str, object] = field(default_factory=dict)


class Progress:
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


def unique_records(
    frames: Sequence[pl.DataFrame], key: str, *, empty: pl.DataFrame, keep: str = "last"
) -> pl.DataFrame:
    """Concatenate frames, one row per ``key`` (``empty`` when there is nothing)."""
    frames = [f for f in frames if f.height]
    if not frames:
        return empty
    return pl.concat(frames, how="vertical").unique(key, keep=keep, maintain_order=True)  # type: ignore[arg-type]


class Pager:
    """Reads listings of one :class:`Endpoint` completely.

    Args:
        transport: sends the requests.
        endpoint: what is paged.
        page_size: records per request (``limit``).
        connections: pages fetched at once.
        offset_mode: ``"auto"`` (detect once, then remember) or one of :data:`OFFSET_MODES`.
    """

    def __init__(
        self,
        transport: Transport,
        endpoint: Endpoint,
        *,
        page_size: int,
        connections: int,
        offset_mode: str = "auto",
    ) -> None:
        if offset_mode != "auto" and offset_mode not in OFFSET_MODES:
            raise ConfigError("offset_mode is one of 'auto', 'record', 'page', 'page1'.")
        self.transport = transport
        self.endpoint = endpoint
        self.page_size = page_size
        self.connections = connections
        self.offset_mode = offset_mode
        self._lock = threading.Lock()

    # -- reading --------------------------------------------------------------------------------

    def read(
        self,
        query: Mapping[str, str],
        label: str,
        *,
        volatile: bool = False,
        progress: Progress | None = None,
    ) -> Paged:
        """Read one listing completely, oldest first, or raise :class:`IncompleteError`.

        A *volatile* listing (filtered by status) changes anywhere while it is paged: a record
        that finishes leaves it and one that starts joins it, so records shift across page
        boundaries both ways and, when as many leave as join, ``total_count`` does not move while
        a record is skipped. Such a listing is read until two consecutive reads list the same
        records.
        """
        if not volatile:
            return self._read_once(query, label, progress)
        before = self.transport.requests_made
        previous: set[object] | None = None
        for _ in range(STABLE_READS):
            try:
                result = self._read_once(query, label, progress)
            except IncompleteError:
                previous = None  # this read proved nothing; the next one starts afresh
                continue
            finally:
                progress = None  # only the first pass is shown
            ids = set(result.records[self.endpoint.key])
            if ids == previous:
                result.requests = self.transport.requests_made - before
                return result
            previous = ids
        raise IncompleteError(
            f"{self.endpoint.name.capitalize()} of {label} kept changing status while mavtools "
            f"was paging ({STABLE_READS} reads disagreed); fetch again, or without the status "
            "filter."
        )

    def _read_once(self, query: Mapping[str, str], label: str, progress: Progress | None) -> Paged:
        """One oldest-first pass over a listing, checked against ``total_count``."""
        progress = progress or Progress(None)
        limit = self.page_size
        base = {**query, **self.endpoint.oldest_first}
        requests_before = self.transport.requests_made
        first, total = self._first_page(base, label)
        progress.plan(math.ceil(total / limit) if total else 1)
        progress.done()
        frames = [first.records]
        if total > first.records.height and first.records.height > 0:
            mode = self._detect_offset_mode(base, first, label)
            pages = self._pages(
                base, limit, mode, range(1, math.ceil(total / limit)), label, progress
            )
            frames.extend(p.records for p in pages)
            totals = [total, *(p.total_count or 0 for p in pages)]
        else:
            mode = self.offset_mode
            totals = [total]
        merged = self._dedupe(frames)
        # Pages arrive concurrently, so totals are not in time order; the first one is the oldest.
        for _round in range(3):
            latest = max(totals)
            if min(totals) < totals[0]:
                raise IncompleteError(
                    f"{self.endpoint.name.capitalize()} of {label} disappeared while mavtools "
                    f"was paging (the total fell from {totals[0]} to {min(totals)}); fetch again."
                )
            if merged.height >= latest:
                break
            # Records created while paging sit after the pages already read: fetch the tail.
            if mode == "auto":  # one page seemed to hold everything: offset was never needed
                mode = self._detect_offset_mode(base, first, label)
            start_page = merged.height // limit
            tail = self._pages(
                base, limit, mode, range(start_page, math.ceil(latest / limit)), label, progress
            )
            merged = self._dedupe([merged, *(p.records for p in tail)])
            totals.extend(p.total_count or 0 for p in tail)
        if merged.height != max(totals):
            raise IncompleteError(
                f"The API listed {max(totals)} {self.endpoint.name} for {label} but paging "
                f"returned {merged.height} distinct ones; the data changed too fast or the server "
                "pages inconsistently. Fetch again, or use a larger page size."
            )
        return Paged(
            merged, max(totals), self.transport.requests_made - requests_before, offset_mode=mode
        )

    def read_newest(
        self, query: Mapping[str, str], label: str, depth: int | Callable[[int], int]
    ) -> Paged:
        """Read the ``depth`` newest records of a listing (newest first), for incremental refresh.

        ``depth`` may be a function of the server's ``total_count`` (known after the first page),
        so a caller that needs "everything new plus k more" pays no extra request.

        Returns the records read and the server's ``total_count``. The caller checks completeness.
        """
        limit = self.page_size
        base = {**query, **self.endpoint.newest_first}
        before = self.transport.requests_made
        first, total = self._first_page(base, label)
        if callable(depth):
            depth = depth(total)
        depth = min(depth, total)
        frames = [first.records]
        if depth > first.records.height and first.records.height > 0:
            mode = self._detect_offset_mode(base, first, label)
            pages = self._pages(base, limit, mode, range(1, math.ceil(depth / limit)), label, None)
            frames.extend(p.records for p in pages)
            totals = {p.total_count for p in pages} | {total}
            if len(totals) > 1:
                raise IncompleteError(
                    f"{self.endpoint.name.capitalize()} of {label} changed while mavtools was "
                    "paging."
                )
        return Paged(self._dedupe(frames), total, self.transport.requests_made - before)

    # -- pages ----------------------------------------------------------------------------------

    def _dedupe(self, frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
        """Records of one listing; a later page's copy of a record is the newer one."""
        return unique_records(frames, self.endpoint.key, empty=self.endpoint.empty, keep="last")

    def _page(self, params: dict[str, str], where: str) -> Batch:
        endpoint = self.endpoint
        if endpoint.body is not None:
            return self.transport.get_parsed(
                endpoint.url, {}, where, endpoint.parse, json_body=endpoint.body(params)
            )
        return self.transport.get_parsed(endpoint.url, params, where, endpoint.parse)

    def _first_page(self, base: dict[str, str], label: str) -> tuple[Batch, int]:
        """Page 1 of a listing and the ``total_count`` it claims (checked to be believable)."""
        first = self._page(
            base | {"offset": "0", "limit": str(self.page_size)}, f"page 1 of {label}"
        )
        return first, self._believable_total(first, label)

    def _believable_total(self, page: Batch, label: str) -> int:
        total = page.total_count
        if total is None:
            if page.records.height == 0:
                return 0
            raise ResponseFormatError(f"The API sent no 'total_count' for {label}.")
        if total > MAX_TOTAL_COUNT:
            raise ResponseFormatError(
                f"The API claims {total:,} {self.endpoint.name} for {label}, which is not "
                "believable; the answer is damaged. Retry later."
            )
        return total

    def _detect_offset_mode(self, base: dict[str, str], first: Batch, label: str) -> str:
        """Tell a record offset from a page index with a two-record probe at offset 1."""
        if self.offset_mode != "auto":
            return self.offset_mode
        key = self.endpoint.key
        ids = first.records[key].to_list()
        if len(ids) < 3:
            return "record"
        probe = self._page(base | {"offset": "1", "limit": "2"}, f"offset probe of {label}")
        got = probe.records[key].to_list()
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
        progress: Progress | None,
    ) -> list[Batch]:
        def one(index: int) -> Batch:
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
        # boasting 10^7 records but sending 30 costs one round, not 10^6 requests.
        pending = iter(indexes)
        round_size = 1 if self.connections == 1 else 4 * self.connections
        pages: list[Batch] = []
        pool = (
            ThreadPoolExecutor(self.connections, thread_name_prefix="mavtools-page")
            if self.connections > 1
            else None
        )
        try:
            while batch := list(itertools.islice(pending, round_size)):
                got = list(pool.map(one, batch)) if pool and len(batch) > 1 else map(one, batch)
                pages.extend(got)
                if any(page.records.height < limit for page in pages[-len(batch) :]):
                    break
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        return pages
