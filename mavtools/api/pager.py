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
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from mavtools.api.concurrency import Aimd
from mavtools.api.transport import Transport
from mavtools.errors import ConfigError, IncompleteError, ResponseFormatError
from mavtools.frame import Batch, unique_records

__all__ = [
    "MAX_TOTAL_COUNT",
    "OFFSET_MODES",
    "Endpoint",
    "Listing",
    "Pager",
    "Progress",
]

log = logging.getLogger("mavtools")

#: A ``total_count`` above this is not believed (no project has a billion versions).
MAX_TOTAL_COUNT: Final = 100_000_000
#: How ``offset`` may be read: a record offset, a 0-based or a 1-based page index.
OFFSET_MODES: Final = ("record", "page", "page1")
#: Offset probes before giving up on a listing whose head keeps changing.
PROBES: Final = 5
#: Most reads of a volatile listing before two consecutive ones must have agreed.
STABLE_READS: Final = 4


@dataclass(frozen=True)
class Endpoint:
    """One kind of paged listing: how to request a page, parse it and identify its records.

    Attributes:
        url: the listing's URL (without query).
        parse: ``parse(body, where)`` -> :class:`~mavtools.frame.Batch`; raises :class:`ResponseFormatError` or
            :class:`~mavtools.api.transport.NotSuccessful`.
        key: the column that identifies a record (unique within the listing).
        empty: the records frame of an empty listing (the schema of its pages' records).
        oldest_first: the query parameters that sort oldest first.
        newest_first: the query parameters that sort newest first.
        name: names the listing kind in messages ("versions").
        body: when set, pages are requested by POSTing ``body(params)`` as JSON instead of a GET
            with ``params`` as the query (the v2 job search takes offset, limit and filters so).
        check: ``check(records, label)`` run once on a listing's records (the value checks a
            parser may skip per page); raises :class:`ResponseFormatError`.
    """

    url: str
    parse: Callable[[bytes, str], Batch]
    key: str
    empty: pl.DataFrame
    oldest_first: Mapping[str, str]
    newest_first: Mapping[str, str]
    name: str = "versions"
    body: Callable[[Mapping[str, str]], dict[str, Any]] | None = None
    check: Callable[[pl.DataFrame, str], None] | None = None


@dataclass
class Listing:
    """The records of one whole listing and what the server said about them.

    The one result of every listing read: the pager's, the v2 windows' and the clients' (the same
    read, typed). A page of it is a :class:`~mavtools.frame.Batch`; a listing also says what the
    read cost and how it paged.

    Attributes:
        frame: one row per record (wire fields from the pager and the windows, rows of
            :data:`mavtools.frame.VERSION_SCHEMA` from ``Client`` and ``V2Api``).
        total_count: the records the server says it holds (v1 ``total_count``, v2 ``count``).
        requests: requests the read sent, retries included.
        offset_mode: how ``offset`` was read (:data:`OFFSET_MODES`), ``"windows"`` (v2 windows),
            ``""`` when not recorded (a newest-first read).
    """

    frame: pl.DataFrame
    total_count: int
    requests: int
    offset_mode: str = ""


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


class Pager:
    """Reads listings of one :class:`Endpoint` completely.

    Args:
        transport: sends the requests.
        endpoint: what is paged.
        page_size: records per request (``limit``).
        connections: pages fetched at once.
        offset_mode: ``"auto"`` (detect once, then remember) or one of :data:`OFFSET_MODES`.
        default_mode: with ``"auto"``, the meaning to assume first (the one the API's SDK
            documents) instead of probing; the second page read proves it or, when it holds most
            of the first page again, sends the pager to detect the meaning after all.
    """

    def __init__(
        self,
        transport: Transport,
        endpoint: Endpoint,
        *,
        page_size: int,
        connections: int,
        offset_mode: str = "auto",
        default_mode: str | None = None,
    ) -> None:
        if offset_mode != "auto" and offset_mode not in OFFSET_MODES:
            raise ConfigError("offset_mode is one of 'auto', 'record', 'page', 'page1'.")
        self.transport = transport
        self.endpoint = endpoint
        self.page_size = page_size
        self.connections = connections
        self.offset_mode = offset_mode
        self._configured_mode = offset_mode
        self.default_mode = default_mode
        self._lock = threading.Lock()

    # -- reading --------------------------------------------------------------------------------

    def read(
        self,
        query: Mapping[str, str],
        label: str,
        *,
        volatile: bool = False,
        progress: Progress | None = None,
    ) -> Listing:
        """Read one listing completely, oldest first, or raise :class:`IncompleteError`.

        One pass is trusted when nothing can have shifted unseen: a listing that fits on one
        page, or a record-offset listing whose pages overlap by one record and all join up (a
        record deleted before a page boundary shows as a seam that does not match).

        Otherwise the listing is read until two consecutive passes list the same records, at
        most :data:`STABLE_READS` passes: a page-index listing (pages cannot overlap, so a delete
        plus a create between two pages would go unseen), a *volatile* listing (filtered by
        status: records join and leave it anywhere) and a pass whose seams did not join. The
        records returned are those of the last pass, so every record that existed from the start
        to the end of the read is in it once.
        """
        before = self.transport.requests_made
        previous: set[object] | None = None
        reason = ""
        for _ in range(STABLE_READS):
            try:
                result, trusted = self._read_once(query, label, progress)
            except _Shifted as exc:
                previous, reason = None, str(exc)  # this pass proved nothing; start afresh
                continue
            except IncompleteError:
                self._forget_mode()
                raise
            finally:
                progress = None  # only the first pass is shown
            ids = set(result.frame[self.endpoint.key])
            # Two passes agree when nothing was lost between them (records created meanwhile
            # land at the end); a status listing must list exactly the same records twice.
            agreed = previous is not None and (ids == previous if volatile else previous <= ids)
            if (trusted and not volatile) or agreed:
                result.requests = self.transport.requests_made - before
                return result
            previous = ids
            reason = "records changed between passes"
        self._forget_mode()
        what = "kept changing status" if volatile else "kept changing"
        hint = ", or without the status filter" if volatile else ""
        raise IncompleteError(
            f"{self.endpoint.name.capitalize()} of {label} {what} while mavtools was paging "
            f"({STABLE_READS} passes disagreed: {reason}); fetch again{hint}."
        )

    def _forget_mode(self) -> None:
        """After an incomplete read the detected offset meaning is suspect: detect it again."""
        if self._configured_mode == "auto":
            with self._lock:
                self.offset_mode = "auto"

    def _read_once(
        self, query: Mapping[str, str], label: str, progress: Progress | None
    ) -> tuple[Listing, bool]:
        """One oldest-first pass over a listing, checked against ``total_count``.

        Returns the records and whether the pass alone is trustworthy (see :meth:`read`).

        Raises:
            _Shifted: two overlapping pages did not join up (records moved between them).
            IncompleteError: the pass cannot be completed.
        """
        progress = progress or Progress(None)
        base = {**query, **self.endpoint.oldest_first}
        requests_before = self.transport.requests_made
        first, total = self._first_page(base, label)
        limit = self._served_size(first, total, label)
        mode = self.offset_mode
        assumed = mode == "auto" and self.default_mode is not None
        if assumed:
            mode = str(self.default_mode)  # the documented meaning, checked on page 2 below
        elif total > first.records.height and first.records.height > 0:
            mode = self._detect_offset_mode(base, first, label)
        # "auto" still: one page held everything and offset was never needed.
        plan = _Plan(mode if mode != "auto" else "record", limit)
        progress.plan(plan.pages_for(total))
        progress.done()
        pages: dict[int, Batch] = {0: first}
        totals = [total]
        for _round in range(4):
            if min(totals) < totals[0]:
                raise _Shifted(f"the total fell from {totals[0]} to {min(totals)}")
            latest = max(totals)
            last = max(pages)
            if pages[last].records.height < limit:  # the end of the listing was read
                if self._count(pages) >= latest:
                    break
                start = last  # it grew after that short page was read: read it again, and on
            else:
                if last + 1 >= plan.pages_for(latest):
                    break
                start = last + 1
            if mode == "auto":
                mode = self._detect_offset_mode(base, first, label)
                plan = _Plan(mode, limit)
            got = self._pages(
                base, plan, range(start, max(plan.pages_for(latest), start + 1)), label, progress
            )
            if assumed and 1 in got:
                assumed = False
                self._check_assumed(first, got[1], mode, label)
            pages.update(got)
            totals.extend(p.total_count or 0 for p in got.values())
        plan.check_seams(pages, self.endpoint.key)
        merged = self._dedupe([pages[i].records for i in sorted(pages)])
        if self.endpoint.check is not None:
            self.endpoint.check(merged, label)
        if merged.height < max(totals) and plan.repeats(pages, self.endpoint.key) > 0:
            # A record read on two pages (beyond the planned overlaps): records moved between
            # requests (a delete before a page boundary). Another pass can read them in place.
            raise _Shifted("a version came on two pages")
        if merged.height != max(totals):
            raise IncompleteError(
                f"The API listed {max(totals)} {self.endpoint.name} for {label} but paging "
                f"returned {merged.height} distinct ones; the server pages inconsistently (for "
                "example it ignores 'offset' or repeats records). Fetch again; if it persists, "
                "the server does not page consistently."
            )
        trusted = len(pages) == 1 or plan.mode == "record"
        listing = Listing(
            merged, max(totals), self.transport.requests_made - requests_before, offset_mode=mode
        )
        return listing, trusted

    def _check_assumed(self, first: Batch, second: Batch, mode: str, label: str) -> None:
        """Verify the assumed offset meaning on what pages 1 and 2 hold.

        Read as a page index, page 2 shares no record with page 1 (a few at most, when records
        were deleted in between). Most of page 1 again means ``offset`` was read otherwise (a
        record offset, or a 1-based index): detect it, and read the listing again.

        Raises:
            _Shifted: the assumption was wrong.
        """
        key = self.endpoint.key
        shared = len(set(first.records[key]) & set(second.records[key]))
        if first.records.height > 1 and shared > first.records.height // 2:
            log.debug("offset is not a %s for %s: detecting it", mode, label)
            self.default_mode = None
            raise _Shifted(f"offset is not read as a {mode}")
        with self._lock:
            self.offset_mode = mode  # proven by the data

    def _count(self, pages: Mapping[int, Batch]) -> int:
        return self._dedupe([pages[i].records for i in sorted(pages)]).height

    def _served_size(self, first: Batch, total: int, label: str) -> int:
        """The page size the server really serves: ``page_size``, or less when it caps ``limit``.

        A gateway that caps ``limit`` silently sends a short first page with the true
        ``total_count``; the rest of the listing is then read with the size it gave.
        """
        got = first.records.height
        if got >= min(self.page_size, total) or got == 0:
            return self.page_size
        if got < 2:
            raise IncompleteError(
                f"The API sent {got} of {total} {self.endpoint.name} on the first page of "
                f"{label} although {self.page_size} were asked for; it cannot be paged."
            )
        log.debug("the server caps limit at %d (asked for %d)", got, self.page_size)
        return got

    def read_newest(
        self, query: Mapping[str, str], label: str, depth: int | Callable[[int], int]
    ) -> Listing:
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
            limit = self._served_size(first, total, label)
            assumed = self.offset_mode == "auto" and self.default_mode is not None
            if assumed:
                mode = str(self.default_mode)
            else:
                # Never probe newest first: a record created meanwhile would shift the probe.
                oldest = {**query, **self.endpoint.oldest_first}
                mode = self._detect_offset_mode(oldest, None, label)
            plan = _Plan(mode, limit, overlap=False)
            pages = self._pages(base, plan, range(1, math.ceil(depth / limit)), label, None)
            if assumed and 1 in pages:
                try:
                    self._check_assumed(first, pages[1], mode, label)
                except _Shifted:
                    raise IncompleteError(
                        f"{self.endpoint.name.capitalize()} of {label}: the API does not read "
                        "'offset' as documented; read the listing in full."
                    ) from None
            frames.extend(p.records for p in pages.values())
            totals = {p.total_count for p in pages.values()} | {total}
            if len(totals) > 1:
                raise IncompleteError(
                    f"{self.endpoint.name.capitalize()} of {label} changed while mavtools was "
                    "paging."
                )
        merged = self._dedupe(frames)
        if self.endpoint.check is not None:
            self.endpoint.check(merged, label)
        return Listing(merged, total, self.transport.requests_made - before)

    # -- pages ----------------------------------------------------------------------------------

    def _dedupe(self, frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
        """Records of one listing; a later page's copy of a record is the newer one."""
        return unique_records(frames, self.endpoint.key, empty=self.endpoint.empty, keep="last")

    def _page(self, params: dict[str, str], where: str) -> Batch:
        endpoint = self.endpoint
        if endpoint.body is not None:
            return self.transport.post_parsed(
                endpoint.url, endpoint.body(params), where, endpoint.parse
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

    def _detect_offset_mode(self, base: dict[str, str], first: Batch | None, label: str) -> str:
        """Tell a record offset from a page index with a two-record probe at offset 1.

        ``base`` must sort oldest first, so records created meanwhile land after the probed
        ones. Deletions can still shift the probe (30 deleted and 30 created keep the total, so
        the total proves nothing): the probe is bracketed by two reads of the first records, and
        trusted only when both list the same ones. Records can leave the head of an oldest-first
        listing but never join it, so equal brackets prove the head was the same when the probe
        was answered. A head that changed, or a probe that matches no meaning, is probed again.
        """
        if self.offset_mode != "auto":
            return self.offset_mode
        key = self.endpoint.key
        for _attempt in range(PROBES):
            if first is None:
                first = self._page(base | {"offset": "0", "limit": "4"}, f"offset probe of {label}")
            ids = first.records[key].to_list()
            if len(ids) < 3:
                return "record"
            probe = self._page(base | {"offset": "1", "limit": "2"}, f"offset probe of {label}")
            after = self._page(base | {"offset": "0", "limit": "4"}, f"offset probe of {label}")
            if after.records[key].to_list() != ids[:4]:
                first = after  # the head changed around the probe: it proves nothing
                continue
            got = probe.records[key].to_list()

            def at(start: int, got: list[object] = got, ids: list[object] = ids) -> bool:
                """Whether the probed records are the reference's from ``start`` on."""
                seen = ids[start : start + len(got)]
                return bool(seen) and got[: len(seen)] == seen

            # offset=1, limit=2 reads records 1-2 (record offset), 2-3 (0-based page index of
            # 2 records) or 0-1 (1-based page index).
            mode = "record" if at(1) else "page" if at(2) else "page1" if at(0) else ""
            if not mode:
                first = after
                continue
            log.debug("offset is read as %s", mode)
            with self._lock:
                self.offset_mode = mode
            return mode
        raise IncompleteError(
            f"{self.endpoint.name.capitalize()} of {label} kept changing while mavtools probed "
            f"how the API reads 'offset' ({PROBES} probes disturbed); fetch again."
        )

    def _pages(
        self,
        base: dict[str, str],
        plan: _Plan,
        indexes: Iterable[int],
        label: str,
        progress: Progress | None,
    ) -> dict[int, Batch]:
        """Pages ``indexes`` of a listing, by index; stops after a round with a short page."""

        def one(index: int) -> tuple[int, Batch]:
            offset, limit = plan.request(index)
            page = self._page(
                base | {"offset": str(offset), "limit": str(limit)},
                f"page {index + 1} of {label} (offset={offset})",
            )
            if progress is not None:
                progress.done()
            return index, page

        # At most a few pages per connection are in flight, and no page is sent after a short one
        # came back: the end of the listing is there, whatever total_count claimed. A server
        # boasting 10^7 records but sending 30 costs a few requests, not 10^6. A sliding window,
        # not rounds: a slow page does not hold the other connections back.
        pending = iter(indexes)
        pages: dict[int, Batch] = {}
        if self.connections == 1:
            for index in pending:
                pages[index] = one(index)[1]
                if pages[index].records.height < plan.limit:
                    break
            return pages
        # How many are in flight adapts (mavtools.api.concurrency): few at first, more while
        # answers come fast, fewer on 429 or rising latency; never more than ``connections``.
        aimd = Aimd(self.connections)
        self.transport.observers.append(aimd.observe)
        self.transport.gates.append(aimd.next_start)
        pool = ThreadPoolExecutor(self.connections, thread_name_prefix="mavtools-page")

        def submit(index: int) -> Future[tuple[int, Batch]]:
            delay = aimd.next_start()
            if delay > 0:
                time.sleep(delay)
            return pool.submit(one, index)

        try:
            flying = {submit(i) for i in itertools.islice(pending, aimd.size)}
            ended = False
            while flying:
                done, flying = wait(flying, return_when=FIRST_COMPLETED)
                for future in done:
                    index, page = future.result()
                    pages[index] = page
                    ended = ended or page.records.height < plan.limit
                if not ended:
                    more = itertools.islice(pending, max(aimd.size - len(flying), 0))
                    flying |= {submit(i) for i in more}
        finally:
            self.transport.observers.remove(aimd.observe)
            self.transport.gates.remove(aimd.next_start)
            pool.shutdown(wait=True, cancel_futures=True)
        log.debug("%s: %s", label, aimd.summary())
        return pages


class _Shifted(Exception):
    """Records moved while a listing was paged (a seam between pages did not join)."""


@dataclass(frozen=True)
class _Plan:
    """Where page ``index`` starts, for one offset meaning and page size.

    With record offsets, page ``i`` starts at record ``i * (limit - 1)``: consecutive pages share
    one record, and a seam whose shared record differs proves that records moved between the two
    requests. Page indexes cannot overlap.
    """

    mode: str
    limit: int
    overlap: bool = True

    @property
    def stride(self) -> int:
        return self.limit - 1 if self.mode == "record" and self.overlap else self.limit

    def request(self, index: int) -> tuple[int, int]:
        """The ``offset`` and ``limit`` of page ``index``."""
        offset = {"record": index * self.stride, "page": index, "page1": index + 1}[self.mode]
        return offset, self.limit

    def pages_for(self, total: int) -> int:
        """Pages needed to read ``total`` records."""
        if total <= self.limit:
            return 1
        return 1 + math.ceil((total - self.limit) / self.stride)

    def repeats(self, pages: Mapping[int, Batch], key: str) -> int:
        """Records read more than once, beyond the one each overlapping seam shares."""
        read = sum(p.records.height for p in pages.values())
        seams = 0
        if self.stride < self.limit:
            seams = sum(
                1
                for i, page in pages.items()
                if i + 1 in pages and page.records.height >= self.limit
            )
        keys = pl.concat([p.records.select(key) for p in pages.values()]).n_unique()
        return read - seams - keys

    def check_seams(self, pages: Mapping[int, Batch], key: str) -> None:
        """Raise :class:`_Shifted` when two overlapping neighbours do not share their record."""
        if self.stride == self.limit:
            return
        for index in sorted(pages):
            after = pages.get(index + 1)
            here = pages[index].records
            if after is None or here.height < self.limit or after.records.height == 0:
                continue
            if here[key][-1] != after.records[key][0]:
                raise _Shifted(f"pages {index + 1} and {index + 2} do not join up")
