"""When to refresh a dataset, how, and how a query is answered from the datasets.

:func:`load_versions` keeps one dataset per (region, project, workspace) holding every version of
that workspace (:mod:`mavtools.store.dataset`). A dataset younger than ``max_age`` is served as it
is; an older one is refreshed incrementally: the versions created since the last fetch and those
that were not finished yet, read newest first from the unfiltered listing. The merge is accepted
only when its count equals the server's ``total_count``; otherwise everything is fetched again and
the frame's :func:`~mavtools.provenance.provenance` says why. New-version (v2) jobs live in the
same dataset and are refreshed the same way on their own (:func:`_refresh_v2`: the newest search
page, then create-time windows for unfinished jobs), checked against the search's own count. A
listing that answers 404 (v1 retired, v2 not deployed) is skipped, kept in the dataset's
description and in the provenance's ``extra["skipped"]``; only both missing fail the load.

Every filter (status, outcome, pool, flavor, time range) is then applied locally by polars, so
``load_versions(status="failed")`` costs exactly the requests of ``load_versions()`` (none on a
fresh dataset) and returns the rows a server-side filtered listing would. For "what is running
right now" without the cache, call ``Client.list_versions(status="RUNNING")``: it asks the server.

Several clients (projects, regions) load into one frame with ``region`` and ``project_id``
columns. A project that fails (an expired credential, an unreachable region) or a workspace that
refuses to list training jobs (HTTP 403) is left out with an :class:`~mavtools.errors.AccessWarning`
naming it, and listed in the provenance's ``extra``; ``strict=True`` turns either into an error.
A refused workspace is never cached: the next load asks again.

Example:
    >>> import mavtools as mt
    >>> df = mt.load_versions(max_age="1h")      # env credentials, else the bundled samples
    >>> print(mt.provenance(df))
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import polars as pl

from mavtools import statuses
from mavtools.api.protocol import VersionSource
from mavtools.api.query import ListingQuery, as_list, check_id, normalise_status
from mavtools.api.v2 import JobSearch, V2Api
from mavtools.errors import (
    AccessWarning,
    AuthError,
    CacheError,
    CacheMissError,
    ConfigError,
    IncompleteError,
    MavtoolsError,
    NotFoundError,
)
from mavtools.frame import VERSION_SCHEMA, empty_frame
from mavtools.provenance import Provenance, attach, provenance
from mavtools.store.dataset import (
    DEFAULT_LOCK_TIMEOUT,
    PARTITIONS,
    ROW_KEY,
    CacheStore,
    DatasetId,
    EntryDamaged,
    EntryOutdated,
    Snapshot,
    stored_schema,
)

__all__ = [
    "DEFAULT_MAX_AGE",
    "NEVER_EXPIRE",
    "Query",
    "VersionCache",
    "VersionSource",
    "load_versions",
    "parse_max_age",
    "scan_cache",
]

log = logging.getLogger("mavtools.cache")

#: ``max_age`` that never expires a dataset (it is still refreshed with ``refresh=True``).
NEVER_EXPIRE: Final = timedelta.max
DEFAULT_MAX_AGE: Final = "1h"
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
#: 403 codes that refuse the credentials as a whole, not one workspace.
_WHOLE_PROJECT_CODES: Final = frozenset({"ModelArts.0206", "ModelArts.0210"})


def parse_max_age(value: str | int | float | timedelta) -> timedelta:
    """Read ``"15m"``, ``"1h"``, ``"2d"``, ``"1w"``, seconds, a timedelta or ``"never"`` as an age.

    Raises:
        ConfigError: the value is not one of those.

    Example:
        >>> parse_max_age("90m")
        datetime.timedelta(seconds=5400)
    """
    if isinstance(value, timedelta):
        age = value
    elif isinstance(value, bool):
        raise ConfigError(f"max_age must be like '15m', '1h', '2d' or a timedelta, not {value!r}.")
    elif isinstance(value, int | float):
        age = timedelta(seconds=value)
    elif isinstance(value, str) and value.strip().lower() in ("never", "inf", "infinite"):
        return NEVER_EXPIRE
    elif isinstance(value, str) and value.strip() == "0":
        age = timedelta(0)
    elif isinstance(value, str) and (match := _AGE.fullmatch(value.lower())):
        age = timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    else:
        raise ConfigError(
            f"max_age must be like '15m', '1h', '2d', 0, a timedelta or 'never', not {value!r}."
        )
    if age < timedelta(0):
        raise ConfigError(f"max_age cannot be negative ({value!r}).")
    return age


# -- the client, as the policy sees it (mavtools.api.protocol.VersionSource) ----------------------


def _is_workspace_refusal(exc: AuthError) -> bool:
    """A 403 for one listing (a permission not granted there), not for the credentials."""
    return exc.http_status == 403 and exc.error_code not in _WHOLE_PROJECT_CODES


def _label(client: VersionSource) -> str:
    return f"{client.region}/{client.project_id}"


# -- the query ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A normalised question: every filter is applied locally to the datasets.

    Attributes:
        workspace_id: workspace ids, or ``["*"]`` for all.
        status: status codes (names and outcomes already expanded); empty: any.
        pool_id: pool ids; empty: any.
        flavor: flavor codes; empty: any.
        since: versions created at or after this moment (UTC), or None.
        until: versions created before this moment (UTC), or None.
    """

    workspace_id: list[str]
    status: list[int] = field(default_factory=list)
    pool_id: list[str] = field(default_factory=list)
    flavor: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(
        cls,
        status: Any = None,
        pool_id: Any = None,
        workspace_id: Any = "0",
        flavor: Any = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> Query:
        """Normalise the arguments of :func:`load_versions` (no network).

        Raises:
            ConfigError: a value is not valid.
        """
        workspaces = sorted({str(w) for w in as_list(workspace_id)})
        if "*" in workspaces:
            workspaces = ["*"]
        if not workspaces:
            raise ConfigError("workspace_id names no workspace.")
        return cls(
            workspace_id=[w if w == "*" else check_id(w, "workspace_id") for w in workspaces],
            status=normalise_status(status),
            pool_id=sorted({check_id(p, "pool_id") for p in as_list(pool_id)}),
            flavor=sorted({str(f) for f in as_list(flavor)}),
            since=_moment(since, "since"),
            until=_moment(until, "until"),
        )

    def select(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows of ``frame`` this query asks for (polars, no network)."""
        conditions = []
        if self.status:
            conditions.append(pl.col("status").is_in(self.status))
        if self.pool_id:
            conditions.append(pl.col("pool_id").cast(pl.String).is_in(self.pool_id))
        if self.flavor:
            conditions.append(pl.col("flavor_code").cast(pl.String).is_in(self.flavor))
        if self.since is not None:
            conditions.append(pl.col("create_time") >= self.since)
        if self.until is not None:
            conditions.append(pl.col("create_time") < self.until)
        return frame.filter(*conditions) if conditions else frame

    def for_provenance(self, workspaces: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workspace_id": sorted(set(workspaces)) or self.workspace_id,
            "status": self.status,
            "pool_id": self.pool_id,
        }
        if self.flavor:
            out["flavor"] = self.flavor
        if self.since is not None:
            out["since"] = self.since.isoformat()
        if self.until is not None:
            out["until"] = self.until.isoformat()
        return out | {"sort_by": "create_time", "order": "desc"}


def _moment(value: datetime | str | None, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{name} must be a datetime or ISO date, not {value!r}.") from None
    if not isinstance(value, datetime):
        raise ConfigError(f"{name} must be a datetime or ISO date, not {value!r}.")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- loading ------------------------------------------------------------------------------------


@dataclass
class _Part:
    """One dataset as served: its frame and how it was obtained."""

    frame: pl.DataFrame
    fetched_at: datetime
    from_cache: bool
    note: str
    skipped: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Project:
    """What one client contributed."""

    frame: pl.DataFrame
    parts: dict[str, _Part]
    refused: dict[str, str]
    workspace_note: str = ""


class _Unproven(Exception):
    """The merged versions could not be shown to be exactly the server's."""


class VersionCache:
    """Serve queries of clients from a :class:`~mavtools.store.dataset.CacheStore`.

    Args:
        cache_dir: the cache directory (default: ``MAVTOOLS_CACHE_DIR``, else the user cache).
        clock: returns the current time (tests pass a fake one).
        lock_timeout: seconds to wait for another process refreshing the same dataset.

    Example:
        >>> cache = VersionCache("/tmp/mavtools-cache")
        >>> df = cache.load([client_de, client_nl], status="failed", max_age="15m")
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self.store = CacheStore(cache_dir, lock_timeout=lock_timeout)
        self.clock = clock or (lambda: datetime.now(UTC))

    def load(
        self,
        clients: VersionSource | Sequence[VersionSource],
        *,
        status: Any = None,
        pool_id: Any = None,
        workspace_id: Any = "0",
        flavor: Any = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        max_age: str | int | float | timedelta = DEFAULT_MAX_AGE,
        refresh: bool = False,
        offline: bool = False,
        strict: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> pl.DataFrame:
        """See :func:`load_versions`."""
        if refresh and offline:
            raise ConfigError("refresh=True and offline=True exclude each other; choose one.")
        age_limit = parse_max_age(max_age)
        query = Query.of(status, pool_id, workspace_id, flavor, since, until)
        many = isinstance(clients, Sequence)
        group: list[VersionSource] = list(clients) if many else [clients]  # type: ignore[list-item, arg-type]
        if not group:
            raise ConfigError("No client given: pass a Client or a list of them.")
        if any(getattr(c, "source", "live") != "samples" for c in group):
            self.store.drop_legacy()
        results: dict[str, _Project] = {}
        failed: dict[str, str] = {}
        first_error: MavtoolsError | None = None
        for client in group:
            label = _label(client)
            try:
                with client.deadline_scope():  # one deadline for a project's whole load
                    results[label] = self._project(
                        client, query, age_limit, refresh, offline, strict, progress
                    )
            except MavtoolsError as exc:
                if strict or len(group) == 1:
                    raise
                first_error = first_error or exc
                failed[label] = str(exc)
                warnings.warn(
                    f"Project {client.project_id} ({client.region}) could not be loaded and is "
                    f"left out: {exc}",
                    AccessWarning,
                    stacklevel=3,
                )
        if not results and first_error is not None:
            raise first_error
        frames = [query.select(p.frame) for p in results.values()]
        frame = _ordered(pl.concat(frames, how="vertical")) if frames else empty_frame()
        return attach(frame, self._provenance(group, results, failed, query, frame.height))

    # -- one project ----------------------------------------------------------------------------

    def _project(
        self,
        client: VersionSource,
        query: Query,
        age_limit: timedelta,
        refresh: bool,
        offline: bool,
        strict: bool,
        progress: Callable[[int, int], None] | None,
    ) -> _Project:
        if getattr(client, "source", "live") == "samples":
            # Local already, and notebook outputs must not depend on the clock: never cached.
            workspace: Any = "*" if query.workspace_id == ["*"] else query.workspace_id
            frame = client.list_versions(workspace_id=workspace, progress=progress)
            info = provenance(frame)
            fetched = info.fetched_at if info else self.clock()
            part = _Part(frame, fetched, False, "bundled samples, not cached")
            read = sorted(set(frame["workspace_id"].cast(pl.String)))
            return _Project(frame, dict.fromkeys(read, part), {})
        workspaces, note = self._workspaces(client, query, age_limit, refresh, offline, strict)
        parts: dict[str, _Part] = {}
        refused: dict[str, str] = {}
        first_refusal: AuthError | None = None
        for ws in workspaces:
            dataset = DatasetId(client.region, client.project_id, ws)
            try:
                parts[ws] = self._dataset(client, dataset, age_limit, refresh, offline, progress)
            except AuthError as exc:
                if strict or not _is_workspace_refusal(exc):
                    raise
                refused[ws] = f"HTTP 403 {exc.error_code or ''}".strip()
                first_refusal = first_refusal or exc
        if first_refusal is not None and not parts:
            raise first_refusal  # nothing readable: an error, not an empty frame
        for ws, why in refused.items():
            warnings.warn(
                f"Workspace {ws} of project {client.project_id} ({client.region}) refused to "
                f"list training jobs ({why}: modelarts:trainJob:list is not granted there); "
                "it is left out. Pass strict=True to make this an error.",
                AccessWarning,
                stacklevel=4,
            )
        frames = [p.frame for p in parts.values()]
        frame = pl.concat(frames, how="vertical") if frames else empty_frame()
        return _Project(frame, parts, refused, note)

    def _workspaces(
        self,
        client: VersionSource,
        query: Query,
        age_limit: timedelta,
        refresh: bool,
        offline: bool,
        strict: bool,
    ) -> tuple[list[str], str]:
        """The workspaces to read: as asked, or all of them (listed once per ``max_age``)."""
        if query.workspace_id != ["*"]:
            return query.workspace_id, ""
        known = self.store.read_workspaces(client.region, client.project_id)
        if known is not None:
            ids, listed_at, note = known
            young = max(self.clock() - listed_at, timedelta(0)) < age_limit
            if offline or (young and not refresh and not (strict and note)):
                if note:
                    warnings.warn(note, AccessWarning, stacklevel=4)
                return ids, note
        if offline:
            on_disk = [
                d.workspace_id for d in self.store.datasets(client.region, client.project_id)
            ]
            if not on_disk:
                raise CacheMissError(
                    f"Nothing is cached for project {client.project_id} ({client.region}); run "
                    "once online (without offline) to fill the cache."
                )
            return on_disk, ""
        if strict:
            ids, note = client.list_workspaces(), ""  # a refusal raises
        else:
            ids, note = client.resolve_workspaces()
        if note:
            warnings.warn(note, AccessWarning, stacklevel=4)
        self.store.write_workspaces(client.region, client.project_id, ids, self.clock(), note)
        return ids, note

    # -- one dataset ----------------------------------------------------------------------------

    def _dataset(
        self,
        client: VersionSource,
        dataset: DatasetId,
        age_limit: timedelta,
        refresh: bool,
        offline: bool,
        progress: Callable[[int, int], None] | None,
    ) -> _Part:
        """One workspace's versions: served, refreshed or fetched (then written atomically)."""
        started = self.clock()
        problem = ""
        try:
            snapshot, cached = self._current(client, dataset)
        except (EntryDamaged, EntryOutdated) as exc:
            if offline:
                reason = str(exc).rstrip(".")
                raise CacheError(
                    f"{reason}; go online (without offline) to fetch it again."
                ) from None
            problem = str(exc)
            log.warning("%s It is fetched again.", problem)
            snapshot = cached = None
        if offline:
            if snapshot is None or cached is None:
                raise CacheMissError(
                    f"Nothing is cached for {dataset}; run once online (without offline) to "
                    "fill the cache."
                )
            return self._served(snapshot, cached, "offline")
        fresh = snapshot is not None and not refresh and self._age(snapshot) < age_limit
        if fresh and snapshot is not None and cached is not None:
            return self._served(snapshot, cached, "")

        with self.store.lock(dataset):
            # Another process may have refreshed the dataset while this one waited for the lock.
            try:
                snapshot, cached = self._current(client, dataset)
            except (EntryDamaged, EntryOutdated) as exc:
                if not problem:
                    problem = str(exc)
                    log.warning("%s It is fetched again.", problem)
                snapshot = cached = None
            if snapshot is not None and cached is not None:
                fresh = snapshot.fetched_at >= started or (
                    not refresh and self._age(snapshot) < age_limit
                )
                if fresh:
                    return self._served(snapshot, cached, "")
            fetched_at = self.clock()
            if snapshot is not None and cached is not None and not refresh:
                frame, note, skipped = self._refresh(client, snapshot, cached, progress)
            else:
                frame = client.list_versions(workspace_id=dataset.workspace_id, progress=progress)
                info = provenance(frame)
                skipped = dict(info.extra.get("skipped", {})) if info else {}
                note = "full fetch"
                if problem:
                    note = f"full fetch: {problem.rstrip('.')}"
                elif refresh and snapshot is not None:
                    note = "full fetch (refresh requested)"
            frame = _stamped(_ordered(frame), fetched_at)
            new = self.store.put(
                frame,
                dataset,
                endpoint=client.endpoint,
                fetched_at=fetched_at,
                offset_mode=client.offset_mode,
                note=note,
                skipped=skipped,
                v2_offset_mode=client.v2.offset_mode,
            )
        return _Part(frame, new.fetched_at, False, note, skipped)

    def _current(
        self, client: VersionSource, dataset: DatasetId
    ) -> tuple[Snapshot | None, pl.DataFrame | None]:
        snapshot = self.store.get(dataset)
        if snapshot is not None and snapshot.endpoint != client.endpoint:
            # Same region name, another endpoint: not this client's data.
            return None, None
        for _attempt in range(3):
            if snapshot is None:
                return None, None
            try:
                return snapshot, self.store.read(snapshot)
            except FileNotFoundError:
                snapshot = self.store.get(dataset)  # replaced between metadata and data
        raise CacheError(f"The cache of {dataset} keeps changing while being read; try again.")

    def _age(self, snapshot: Snapshot) -> timedelta:
        return max(self.clock() - snapshot.fetched_at, timedelta(0))

    def _served(self, snapshot: Snapshot, frame: pl.DataFrame, how: str) -> _Part:
        note = f"{how}: cached, {snapshot.note}" if how else f"cached: {snapshot.note}"
        return _Part(frame, snapshot.fetched_at, True, note, snapshot.skipped)

    def _refresh(
        self,
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
                            "full fetch: incremental refresh could not prove completeness "
                            f"({reason})"
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

    # -- provenance -----------------------------------------------------------------------------

    def _provenance(
        self,
        group: list[VersionSource],
        results: dict[str, _Project],
        failed: dict[str, str],
        query: Query,
        rows: int,
    ) -> Provenance:
        parts = [p for project in results.values() for p in project.parts.values()]
        read = [f"{label}/{ws}" for label, p in results.items() for ws in p.parts]
        refused = {
            f"{label}/{ws}": why for label, p in results.items() for ws, why in p.refused.items()
        }
        workspaces = [ws for p in results.values() for ws in p.parts]
        notes = sorted({p.note for p in parts})
        note = (
            notes[0]
            if len(notes) == 1
            else "; ".join(
                f"{label} workspace {ws}: {part.note}"
                for label, project in results.items()
                for ws, part in project.parts.items()
            )
        )
        if refused:
            note += "; refused: " + ", ".join(f"{k} ({v})" for k, v in refused.items())
        narrowed = [p.workspace_note for p in results.values() if p.workspace_note]
        if narrowed:
            note += "; workspace list not permitted, read " + ", ".join(
                f"{label}: {', '.join(p.parts)}" for label, p in results.items() if p.workspace_note
            )
        if failed:
            note += "; failed: " + ", ".join(failed)
        from_cache = bool(parts) and all(p.from_cache for p in parts)
        fetched = min((p.fetched_at for p in parts), default=self.clock())
        extra: dict[str, Any] = {"workspaces_read": read, "workspaces_refused": refused}
        skipped = {api: why for p in parts for api, why in p.skipped.items()}
        if skipped:
            extra["skipped"] = skipped  # as Client.list_versions names them
        if len(group) > 1:
            extra["projects_failed"] = failed
        loaded = [c for c in group if _label(c) in results]
        describe = loaded[0].describe
        info = describe(
            query.for_provenance(workspaces),
            rows,
            fetched_at=fetched,
            from_cache=from_cache,
            cache_age=max(self.clock() - fetched, timedelta(0)) if from_cache else None,
            note=note,
        )
        info = replace(info, extra=info.extra | extra)
        if len(group) > 1:
            info = replace(
                info,
                endpoint=", ".join(dict.fromkeys(c.endpoint for c in group)),
                project_id=", ".join(dict.fromkeys(c.project_id for c in group)),
            )
        return info


def _refresh_listing(
    client: VersionSource, listing: ListingQuery, cached: pl.DataFrame
) -> pl.DataFrame:
    """Refresh one unfiltered listing from its newest versions."""
    mine = _ordered(cached)
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
    mine = _ordered(cached)
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
        oldest_read = _ordered(read).select(keys).tail(1)
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


def _ordered(frame: pl.DataFrame) -> pl.DataFrame:
    """Newest first, as :meth:`Client.list_versions` returns by default."""
    return frame.sort(["create_time", "version_id", "job_id"], descending=True, nulls_last=True)


def _stamped(frame: pl.DataFrame, fetched_at: datetime) -> pl.DataFrame:
    """Every row of a snapshot carries its time in ``observed_at`` (when the frame has one)."""
    if "observed_at" not in frame.columns:
        return frame
    return frame.with_columns(
        pl.lit(fetched_at).cast(VERSION_SCHEMA["observed_at"]).alias("observed_at")
    )


# -- public entry points ------------------------------------------------------------------------


def load_versions(
    client: Any = None,
    *,
    status: Any = None,
    pool_id: Any = None,
    workspace_id: str | Iterable[str] = "0",
    flavor: Any = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    max_age: str | int | float | timedelta = DEFAULT_MAX_AGE,
    refresh: bool = False,
    offline: bool = False,
    strict: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """The versions matching a query, answered from the local datasets refreshed when too old.

    Args:
        client: a :class:`~mavtools.api.client.Client`, or a list of them (projects, regions);
            :func:`mavtools.load_versions` picks one when none is given (``mavtools.load``).
        status: status code(s), name(s) or outcome(s), as for ``Client.list_versions``.
        pool_id: one resource pool or several.
        workspace_id: one workspace, several, or ``"*"`` for all (as far as permitted: without
            ``modelarts:workspace:list``, workspace ``0`` plus ``MODELARTS_WORKSPACES``).
        flavor: one flavor code or several.
        since: only versions created at or after this time (datetime or ISO text; naive is UTC).
        until: only versions created before this time.
        max_age: reuse a dataset younger than this (``"15m"``, ``"1h"``, ``"2d"``, a timedelta,
            ``0``: always refresh, :data:`NEVER_EXPIRE`).
        refresh: fetch everything again whatever the dataset's age.
        offline: never touch the network; serve the datasets whatever their age.
        strict: all or nothing: a refused workspace or a failing project raises instead of being
            left out with an :class:`~mavtools.errors.AccessWarning`.
        cache_dir: the cache directory (default: ``MAVTOOLS_CACHE_DIR``, else the user cache dir).
        progress: called with (pages done, pages planned) while fetching.

    Returns:
        The typed frame, newest first; :func:`mavtools.provenance` says when it was fetched,
        whether it came from the cache, how old it was, how it was obtained, and in ``extra``
        the workspaces read and refused and the projects that failed.

    Raises:
        CacheMissError: offline and nothing cached.
        CacheError: offline and the dataset is damaged or from another schema version; or the
            cache directory is unusable.
        MavtoolsError: the fetch failed (the previous dataset is left as it was); with several
            clients only when every one failed, or with ``strict=True``.

    Example:
        >>> df = mt.load_versions(status="failed", max_age="15m")       # no request when fresh
        >>> both = mt.load_versions([mt.Client.from_cloud("de"), mt.Client.from_cloud("nl")])
        >>> both.group_by("region", "project_id").len()
    """
    if client is None:  # the "no credentials -> samples" choice is mavtools.load's, not the store's
        raise ConfigError("No client given: pass a Client, or call mavtools.load_versions().")
    return VersionCache(cache_dir).load(
        client,
        status=status,
        pool_id=pool_id,
        workspace_id=workspace_id,
        flavor=flavor,
        since=since,
        until=until,
        max_age=max_age,
        refresh=refresh,
        offline=offline,
        strict=strict,
        progress=progress,
    )


def scan_cache(
    project_id: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    region: str | None = None,
) -> pl.LazyFrame:
    """Every cached version (of one project and/or region, or all) as one lazy frame.

    The frame reads a pinned snapshot (hard links): it still collects after any number of
    refreshes, for :data:`~mavtools.store.dataset.READER_GRACE` or until ``mavtools cache clear``.

    Example:
        >>> mt.scan_cache().filter(pl.col("outcome") == "failed").collect()
    """
    store = CacheStore(cache_dir)
    store.drop_legacy()
    snapshots = [e for e in store.entries(region, project_id) if isinstance(e, Snapshot)]
    folder = store.pin(snapshots)
    if folder is None:
        return empty_frame().lazy()
    lazy = pl.scan_parquet(
        folder,
        hive_partitioning=True,
        hive_schema=dict.fromkeys(PARTITIONS, pl.String),
        schema=stored_schema(),
    )
    return lazy.select([pl.col(name).cast(dtype) for name, dtype in VERSION_SCHEMA.items()])
