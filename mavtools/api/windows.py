"""Reading a v2 job search in self-contained creation-time windows.

Paging a listing by ``offset`` has seams: a job deleted or created between two pages shifts the
ones after it, so a job can hide at a seam and a page-index listing has to be read twice to be
trusted. The v2 search takes a ``create_time`` ``between`` filter (Huawei's SDK model ``Filter``:
``{"key": "create_time", "operator": "between", "value": ["<from ms>", "<to ms>"]}``), and a
window read with *one* request has no seam: the server answered it from one state of its data.

:class:`WindowReader` therefore reads a listing as disjoint windows that each fit one page
(``offset`` is always 0, so its meaning never matters):

1. The oldest page and the newest page of the whole listing (two requests) give the listing's
   ``count`` and its time span, and are windows of their own: every job older than the oldest
   page's last one, every job newer than the newest page's last one.
2. The span between is cut into windows by time. A window whose answer holds all its ``count``
   is done; one that comes back full keeps the jobs older than its last one (complete: the page
   is sorted oldest first) and continues from there, its remainder cut again into as many
   windows as there are free connections. Every job returned must lie in its window and come
   sorted; a server that ignores the filter raises :class:`FilterIgnored` (the caller then pages).
3. At the end the windows' counts must add up to the listing's ``count``. When they do not (jobs
   were deleted or created meanwhile), the windows are checked in halves with one count request
   each, down to those that changed, and only those are read again.

So every job that existed from the start to the end of the read is listed exactly once, in one
pass: about ``count / 49`` requests plus one per chain of windows and two for the ends.
Requests go out through :class:`~mavtools.api.concurrency.Aimd` (adaptive concurrency).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from mavtools.api.concurrency import Aimd
from mavtools.api.pager import Listing, Progress
from mavtools.api.transport import Transport
from mavtools.errors import IncompleteError, ResponseFormatError
from mavtools.frame import _MAX_EPOCH_MS, Batch, unique_records
from mavtools.frame_v2 import V2_RAW_SCHEMA, parse_search_page

__all__ = ["MAX_EPOCH_MS", "FilterIgnored", "WindowReader", "between"]

log = logging.getLogger("mavtools")

#: The end of time for a window (9999-12-31, epoch ms): the bound the record reader accepts.
MAX_EPOCH_MS: Final = _MAX_EPOCH_MS
#: The share of a page a window is cut to hold (room for jobs spread unevenly in time).
FILL: Final = 0.9
#: Rounds of "count, find what changed, read it again" before giving up.
VERIFY_ROUNDS: Final = 4


class FilterIgnored(Exception):
    """The server answered a window with a job outside it (or unsorted): it ignores the filter."""


def between(lo: int, hi: int) -> dict[str, Any]:
    """The search filter for jobs created from ``lo`` to ``hi`` (epoch ms, inclusive)."""
    return {"key": "create_time", "operator": "between", "value": [str(lo), str(hi)]}


@dataclass
class _Window:
    lo: int
    hi: int
    jobs: pl.DataFrame


class WindowReader:
    """Reads one v2 search as creation-time windows of at most one page each.

    Args:
        transport: sends the requests (retries, deadline).
        url: the search's URL.
        page_size: jobs per request (``limit``, at most 50).
        connections: the most requests in flight (the cap of the adaptive window).
        paged: ``paged(workspace_id, lo, hi)`` reads a window by offset paging (raw rows); used only for more
            than a page of jobs created in the same millisecond, which no window can split.
    """

    def __init__(
        self,
        transport: Transport,
        url: str,
        *,
        page_size: int,
        connections: int,
        paged: Callable[[str, int, int], pl.DataFrame],
    ) -> None:
        self.transport = transport
        self.url = url
        self.page_size = page_size
        self.connections = connections
        self.paged = paged
        self.last_aimd: Aimd | None = None

    def read(
        self,
        workspace_id: str,
        label: str,
        *,
        lo: int = 0,
        hi: int = MAX_EPOCH_MS,
        filters: list[dict[str, Any]] | None = None,
        progress: Progress | None = None,
    ) -> Listing:
        """Every job of the workspace created in ``[lo, hi]`` (and matching ``filters``, for
        example ``phase in [...]``), or raise.

        Raises:
            FilterIgnored: the server does not apply the ``create_time`` filter.
            IncompleteError: the windows' counts kept disagreeing with the listing's.
        """
        run = _Run(self, workspace_id, label, lo, hi, progress or Progress(None))
        run.filters = list(filters or [])
        self.transport.observers.append(run.aimd.observe)
        self.transport.gates.append(run.aimd.next_start)
        self.last_aimd = run.aimd
        try:
            return run.read()
        finally:
            self.transport.observers.remove(run.aimd.observe)
            self.transport.gates.remove(run.aimd.next_start)
            run.close()


class _Run:
    """One windowed read: its windows, its executor and its adaptive window."""

    def __init__(
        self,
        reader: WindowReader,
        workspace_id: str,
        label: str,
        lo: int,
        hi: int,
        progress: Progress,
    ) -> None:
        self.r = reader
        self.workspace_id = workspace_id
        self.label = label
        self.lo, self.hi = lo, hi
        self.progress = progress
        self.aimd = Aimd(reader.connections)
        self.pool = ThreadPoolExecutor(reader.connections, thread_name_prefix="mavtools-window")
        self.requests_before = reader.transport.requests_made
        self.filters: list[dict[str, Any]] = []

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    # -- requests ---------------------------------------------------------------------------------

    def ask(self, lo: int, hi: int, order: str, limit: int) -> Batch:
        """One search of the window ``[lo, hi]``, checked to lie in it and to be sorted."""
        timed = (lo, hi) != (0, MAX_EPOCH_MS)
        body: dict[str, Any] = {
            "offset": 0,
            "limit": limit,
            "sort_by": "create_time",
            "order": order,
            "workspace_id": self.workspace_id,
        }
        filters = self.filters + ([between(lo, hi)] if timed else [])
        if filters:
            body["filters"] = filters
        where = f"window {lo}..{hi} of {self.label}"
        page = self.r.transport.post_parsed(self.r.url, body, where, parse_search_page)
        self.progress.done()
        if page.total_count is None:
            raise ResponseFormatError(f"The API sent no 'count' for {where}.")
        created = page.records["create_time"]
        if created.null_count():
            raise ResponseFormatError(f"The API sent a job without 'create_time' for {where}.")
        if page.records.height:
            if timed and (created.min() < lo or created.max() > hi):  # type: ignore[operator]
                raise FilterIgnored(f"a job outside {where}")
            ordered = created.is_sorted(descending=order == "desc")
            if not ordered:
                raise FilterIgnored(f"jobs not sorted by create_time in {where}")
        if page.records.height > page.total_count:
            raise FilterIgnored(f"more jobs than 'count' in {where}")
        return page

    def run(
        self,
        tasks: Iterable[tuple[Callable[[], Any], Any]],
        handle: Callable[[Any, Any], list[tuple[Callable[[], Any], Any]]],
    ) -> None:
        """Run ``tasks`` (function, context) through the adaptive window; ``handle(context,
        result)`` may return more tasks."""
        pending = deque(tasks)
        flying: dict[Future[Any], Any] = {}
        self.pending = pending
        self.flying = flying
        try:
            while pending or flying:
                while pending and len(flying) < self.aimd.size:
                    delay = self.aimd.next_start()
                    if delay > 0:
                        self.sleep(delay)
                    fn, context = pending.popleft()
                    flying[self.pool.submit(fn)] = context
                done, _ = wait(list(flying), return_when=FIRST_COMPLETED)
                for future in done:
                    context = flying.pop(future)
                    pending.extend(handle(context, future.result()))
        finally:
            for future in flying:
                future.cancel()

    def sleep(self, seconds: float) -> None:
        deadline = self.r.transport._deadline_at
        if deadline is not None and time.monotonic() + seconds >= deadline:
            raise self.r.transport._past_deadline(self.r.url)
        time.sleep(seconds)

    def free(self) -> int:
        return max(self.aimd.size - len(self.flying) - len(self.pending), 0)

    # -- the read ---------------------------------------------------------------------------------

    def read(self) -> Listing:
        size = self.r.page_size
        first = self.ask(self.lo, self.hi, "asc", size)
        self.progress.plan(max(math.ceil(first.total_count / size), 1) if first.total_count else 1)  # type: ignore[operator]
        windows: list[_Window] = []
        if first.records.height >= first.total_count:  # type: ignore[operator]
            windows.append(_Window(self.lo, self.hi, first.records))
        else:
            done, rest = self.step(self.lo, self.hi, first)
            windows.extend(done)
            chains: list[tuple[int, int, int]] = []
            if rest is not None:
                chains = self.ends(rest, windows)
            self.chains(chains, windows)
        windows = self.verify(windows)
        records = unique_records([w.jobs for w in windows], "job_id", empty=EMPTY)
        requests = self.r.transport.requests_made - self.requests_before
        log.info(
            "%s: %d jobs in %d windows, %d requests, %s",
            self.label,
            records.height,
            len(windows),
            requests,
            self.aimd.summary(),
        )
        return Listing(records, records.height, requests, "windows")

    def ends(
        self, rest: tuple[int, int, int], windows: list[_Window]
    ) -> list[tuple[int, int, int]]:
        """The newest page as a window of its own; the span left between, as chain starts."""
        lo, hi, remaining = rest
        last = self.ask(lo, hi, "desc", self.r.page_size)
        if last.records.height >= last.total_count:  # type: ignore[operator]
            windows.append(_Window(lo, hi, last.records))
            return []
        t_b = int(last.records["create_time"].min())  # type: ignore[arg-type]
        top_lo = max(t_b + 1, lo)
        if top_lo <= hi:
            top = last.records.filter(pl.col("create_time") >= top_lo)
            windows.append(_Window(top_lo, hi, top))
            remaining = max(last.total_count - top.height, 0)  # type: ignore[operator]
        if lo > min(t_b, hi):
            return []
        return self.split(lo, min(t_b, hi), remaining, 2 * self.r.connections)

    def step(
        self, lo: int, hi: int, page: Batch
    ) -> tuple[list[_Window], tuple[int, int, int] | None]:
        """The windows a page of ``[lo, hi]`` completes, and the remainder (lo, hi, count)."""
        count = page.total_count or 0
        if page.records.height >= count:
            return [_Window(lo, hi, page.records)], None
        if page.records.is_empty():
            raise IncompleteError(
                f"The API counted {count} v2 jobs created in {lo}..{hi} for {self.label} but "
                "sent none; it pages inconsistently. Fetch again later."
            )
        last = int(page.records["create_time"].max())  # type: ignore[arg-type]
        if last == lo:  # more than a page created in one millisecond: page that instant
            jobs = self.r.paged(self.workspace_id, lo, lo)
            rest = (lo + 1, hi, max(count - jobs.height, 0)) if lo < hi else None
            return [_Window(lo, lo, jobs)], rest
        kept = page.records.filter(pl.col("create_time") < last)
        return [_Window(lo, last - 1, kept)], (last, hi, count - kept.height)

    def split(self, lo: int, hi: int, count: int, pieces: int) -> list[tuple[int, int, int]]:
        """``[lo, hi]`` (about ``count`` jobs) cut into at most ``pieces`` windows.

        Each window is cut to hold a whole number of pages at :data:`FILL` of a page each
        (assuming jobs spread evenly in time), so that jobs spread a little unevenly still fit
        the requests its chain makes: a window that overflows costs one more request.
        """
        size = self.r.page_size
        pages = 1 if count <= size else math.ceil(count / (size * FILL))
        pieces = max(1, min(pieces, pages, hi - lo + 1))
        share = [pages // pieces + (1 if k < pages % pieces else 0) for k in range(pieces)]
        span = hi - lo + 1
        edges = [lo]
        done = 0
        for k in range(pieces - 1):
            done += share[k]
            edges.append(lo + span * done // pages)
        edges.append(hi + 1)
        return [
            (edges[k], edges[k + 1] - 1, math.ceil(count * share[k] / pages))
            for k in range(pieces)
            if edges[k] <= edges[k + 1] - 1
        ]

    def chains(self, starts: list[tuple[int, int, int]], windows: list[_Window]) -> None:
        """Read windows until none is left over, splitting remainders over free connections."""
        size = self.r.page_size

        def task(lo: int, hi: int) -> tuple[Callable[[], Any], Any]:
            return (lambda: self.ask(lo, hi, "asc", size)), (lo, hi)

        def handle(context: tuple[int, int], page: Batch) -> list[Any]:
            lo, hi = context
            done, rest = self.step(lo, hi, page)
            windows.extend(done)
            if rest is None:
                return []
            r_lo, r_hi, remaining = rest
            if r_lo > r_hi:
                return []
            pieces = self.split(r_lo, r_hi, remaining, self.free() + 1)
            self.progress.plan(len(pieces))
            return [task(a, b) for a, b, _n in pieces]

        self.run([task(lo, hi) for lo, hi, _n in starts], handle)

    def changed(self, windows: list[_Window]) -> list[int]:
        """The windows whose count on the server differs from what they hold, found by halves.

        One count request per group of windows, halving the groups that disagree: about
        ``changes x log2(windows)`` requests, none for the groups that still add up.
        """
        changed: list[int] = []
        prefix = [0]
        for w in windows:
            prefix.append(prefix[-1] + w.jobs.height)

        def group(i: int, j: int) -> tuple[Callable[[], Any], Any]:
            lo, hi = windows[i].lo, windows[j - 1].hi
            return (lambda: self.ask(lo, hi, "asc", 1)), (i, j)

        def handle(context: tuple[int, int], page: Batch) -> list[Any]:
            i, j = context
            if page.total_count == prefix[j] - prefix[i]:
                return []
            if j - i == 1:
                changed.append(i)
                return []
            mid = (i + j) // 2
            return [group(i, mid), group(mid, j)]

        n = len(windows)
        self.run([group(0, n // 2), group(n // 2, n)] if n > 1 else [group(0, 1)], handle)
        return changed

    def verify(self, windows: list[_Window]) -> list[_Window]:
        """Check that the windows add up to the listing's count; re-read the ones that changed."""
        for _round in range(VERIFY_ROUNDS):
            windows.sort(key=lambda w: w.lo)
            held = sum(w.jobs.height for w in windows)
            if len(windows) == 1 and windows[0].lo == self.lo and windows[0].hi == self.hi:
                return windows  # one request read the whole listing: nothing to add up
            root = self.ask(self.lo, self.hi, "desc", 1)
            if root.total_count == held:
                return windows
            log.debug(
                "%s: windows hold %d jobs, the listing %s", self.label, held, root.total_count
            )
            changed = self.changed(windows)
            if not changed:
                continue  # the counts moved while they were taken: count again
            again: list[_Window] = []
            self.chains([(windows[i].lo, windows[i].hi, 0) for i in changed], again)
            gone = set(changed)
            windows = [w for k, w in enumerate(windows) if k not in gone] + again
        raise IncompleteError(
            f"The v2 jobs of {self.label} kept changing while mavtools read them "
            f"({VERIFY_ROUNDS} counts disagreed with the windows read); fetch again."
        )


EMPTY: Final = pl.DataFrame(schema=V2_RAW_SCHEMA)
