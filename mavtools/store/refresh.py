"""Incremental refresh of one dataset: the v1 versions and the v2 jobs, each proven complete.

An old dataset is refreshed incrementally: the versions created since the last fetch and those
that were not finished yet, read newest first from the unfiltered listing
(:func:`_refresh_listing`). The merge is accepted only when its count equals the server's
``total_count``; otherwise everything is fetched again and the note says why. New-version (v2)
jobs live in the same dataset and are refreshed the same way on their own (:func:`_refresh_v2`:
the newest search page, then create-time windows for unfinished jobs), checked against the
search's own count. A listing that answers 404 (v1 retired, v2 not deployed) is skipped and named
in what :func:`refresh_dataset` returns; only both missing fail.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable, Sequence

import polars as pl

from mavtools import statuses
from mavtools.api.protocol import VersionSource
from mavtools.api.query import ListingQuery
from mavtools.api.v2 import JobSearch, V2Api
from mavtools.errors import IncompleteError, MavtoolsError, NotFoundError
from mavtools.frame import empty_frame
from mavtools.store.dataset import ROW_KEY, Snapshot

__all__ = ["newest_first", "refresh_dataset"]

log = logging.getLogger("mavtools.cache")


class _Unproven(Exception):
    """The merged versions could not be shown to be exactly the server's."""


def refresh_dataset(
    client: VersionSource,
    snapshot: Snapshot,
    cached: pl.DataFrame,
    progress: Callable[[int, int], None] | None,
) -> tuple[pl.DataFrame, str, dict[str, str]]:
    """Refresh both listings incrementally; read one fully (saying why) when unproven.

    v1 versions are refreshed newest first (:func:`_refresh_listing`), v2 jobs by
    :func:`_refresh_v2`; each is merged on ``ROW_KEY`` and checked against its own server
    count. A listing that answers 404 is skipped (both: the error). A v1 listing remembered
    as retired is not asked again (old-version training does not come back; ``refresh=True``
    asks), while a v2 search remembered as missing is asked every time: a deployment gains it.

    Returns the merged frame, the note and the listings skipped.
    """
    if client.offset_mode == "auto" and snapshot.offset_mode != "auto":
        client.offset_mode = snapshot.offset_mode  # the full fetch detected it: no probe
    if client.v2.offset_mode == "auto" and snapshot.v2_offset_mode != "auto":
        client.v2.offset_mode = snapshot.v2_offset_mode
    before = client.requests_made
    workspace = snapshot.dataset.workspace_id
    is_v1 = pl.col("api") == "v1"
    skipped: dict[str, str] = {}
    full: list[str] = []
    frames: list[pl.DataFrame] = []
    with client.deadline_scope():
        v1_rows = cached.filter(is_v1)
        if "v1" in snapshot.skipped and v1_rows.is_empty():
            skipped["v1"] = snapshot.skipped["v1"]
        else:
            [listing] = client.plan(workspace_id=workspace)
            try:
                try:
                    frames.append(_refresh_listing(client, listing, v1_rows))
                except (IncompleteError, _Unproven) as exc:
                    reason = str(exc).rstrip(".")
                    log.info("v1 refresh not proven complete (%s); reading all", reason)
                    full.append(
                        f"full fetch: incremental refresh could not prove completeness ({reason})"
                    )
                    frames.append(client.fetch_listing(listing).frame)
            except NotFoundError as exc:
                skipped["v1"] = _why(exc)
        try:
            try:
                frames.append(_refresh_v2(client.v2, workspace, cached.filter(~is_v1)))
            except (IncompleteError, _Unproven) as exc:
                reason = str(exc).rstrip(".")
                log.info("v2 refresh not proven complete (%s); reading all", reason)
                full.append(
                    "full v2 read: incremental refresh of v2 jobs could not prove "
                    f"completeness ({reason})"
                )
                frames.append(client.v2.read_jobs(JobSearch(workspace)).frame)
        except NotFoundError as exc:
            if "v1" in skipped:
                raise  # neither listing: the load fails, the dataset stays as it was
            skipped["v2"] = _why(exc)
    if progress is not None:
        progress(1, 1)
    used = client.requests_made - before
    note = "; ".join(full) or f"incremental refresh: {used} request{'' if used == 1 else 's'}"
    merged = pl.concat(frames, how="vertical") if frames else empty_frame()
    return merged, note, skipped


def _refresh_listing(
    client: VersionSource, listing: ListingQuery, cached: pl.DataFrame
) -> pl.DataFrame:
    """Refresh one unfiltered listing from its newest versions."""
    mine = newest_first(cached)
    unfinished = mine.select(
        pl.arg_where(pl.col("outcome").is_in(sorted(statuses.UNFINISHED_OUTCOMES)))
    ).to_series()
    # Newest-first rank of the oldest version that could still change (-1: none).
    oldest_open = int(unfinished[-1]) if unfinished.len() else -1  # indices come sorted

    def depth(total: int) -> int:
        # Everything new, down to the oldest cached version that could still change, and at
        # least one cached version: the overlap that proves nothing was missed in between (with
        # none, a number of new versions that fills whole pages read no cached one and fell back
        # to a full fetch).
        return max(total - mine.height, 0) + max(oldest_open, 0) + 1

    result = client.read_newest(listing, depth)
    new = result.frame
    keys = list(ROW_KEY)
    merged = pl.concat(
        [new, mine.join(new.select(keys), on=keys, how="anti", nulls_equal=True)],
        how="vertical",
    )
    if merged.height != result.total_count:
        raise _Unproven(
            f"{merged.height} versions after merging, the server lists {result.total_count}"
        )
    if 0 < new.height < result.total_count and mine.height:
        # The read must reach back into what was cached, or versions in between were missed.
        oldest_read = new.select(keys).tail(1)
        if oldest_read.join(mine.select(keys), on=keys, how="semi").height == 0:
            raise _Unproven("the newest versions read do not overlap the cached ones")
    return merged


def _refresh_v2(v2: V2Api, workspace: str, cached: pl.DataFrame) -> pl.DataFrame:
    """Refresh a workspace's v2 jobs: the new ones, and the cached ones that were unfinished.

    1. The unfiltered search, newest first, to ``count - cached + 1`` jobs (whole pages): every
       job created since the newest cached one, plus one cached job proving the read reached the
       cached ones, and the server's ``count`` for the completeness check, in one request when
       fewer than a page of jobs are new.
    2. The cached unfinished jobs (pending, running, unknown) that page did not reach, re-read
       with the server-side create-time filter: a window from one such job's creation to
       another's, joined while the window holds at most a page of cached jobs (one request).
    3. Merged on ``ROW_KEY``: a re-read window replaces the cached jobs created in it (a job gone
       from the server goes from the dataset too); the result must count what the server counts.

    A dataset without v2 jobs (v1 only, or none yet) reads them all. Raises :class:`_Unproven`
    or :class:`~mavtools.errors.IncompleteError` when completeness cannot be shown.
    """
    if cached.is_empty():
        return v2.read_jobs(JobSearch(workspace)).frame
    keys = list(ROW_KEY)
    mine = newest_first(cached)
    newest = v2.read_newest(JobSearch(workspace), lambda total: max(total - mine.height, 0) + 1)
    read = newest.frame
    stale = mine.filter(pl.col("outcome").is_in(sorted(statuses.UNFINISHED_OUTCOMES))).join(
        read.select(keys), on=keys, how="anti", nulls_equal=True
    )
    if stale["create_time"].null_count():
        raise _Unproven("an unfinished v2 job has no create_time to search it by")
    created = mine["create_time"].drop_nulls().dt.epoch("ms").sort().to_list()
    windows = _windows(created, stale["create_time"].dt.epoch("ms").to_list(), v2.page_size)
    again = [
        v2.read_jobs(JobSearch(workspace, created_from_ms=lo, created_to_ms=hi)).frame
        for lo, hi in windows
    ]
    epoch = pl.col("create_time").dt.epoch("ms")
    in_windows = pl.any_horizontal([epoch.is_between(lo, hi) for lo, hi in windows] or [False])
    fresh = pl.concat([read, *again], how="vertical").unique(
        keys, keep="first", maintain_order=True
    )
    kept = mine.filter(~in_windows.fill_null(False)).join(
        fresh.select(keys), on=keys, how="anti", nulls_equal=True
    )
    merged = pl.concat([fresh, kept], how="vertical")
    if merged.height != newest.total_count:
        raise _Unproven(
            f"{merged.height} v2 jobs after merging, the server lists {newest.total_count}"
        )
    if 0 < read.height < newest.total_count:
        oldest_read = newest_first(read).select(keys).tail(1)
        if oldest_read.join(mine.select(keys), on=keys, how="semi").height == 0:
            raise _Unproven("the newest v2 jobs read do not overlap the cached ones")
    return merged


def _windows(created: Sequence[int], stale: Iterable[int], size: int) -> list[tuple[int, int]]:
    """Create-time windows (epoch ms, inclusive) covering ``stale``, a page of cached jobs each.

    ``created`` are the cached jobs' create times, sorted. A stale job joins the previous window
    while that window would hold at most ``size`` cached jobs (one request instead of two).
    """
    windows: list[tuple[int, int]] = []
    for moment in sorted(set(stale)):
        if windows:
            lo, _hi = windows[-1]
            inside = bisect.bisect_right(created, moment) - bisect.bisect_left(created, lo)
            if inside <= size:
                windows[-1] = (lo, moment)
                continue
        windows.append((moment, moment))
    return windows


def _why(exc: MavtoolsError) -> str:
    """How a skipped listing answered, as ``Client.list_versions`` words it (``HTTP 404``)."""
    status = getattr(exc, "http_status", None)
    code = getattr(exc, "error_code", None) or ""
    return f"HTTP {status} {code}".strip()


def newest_first(frame: pl.DataFrame) -> pl.DataFrame:
    """Newest first, as :meth:`Client.list_versions` returns by default."""
    return frame.sort(["create_time", "version_id", "job_id"], descending=True, nulls_last=True)
