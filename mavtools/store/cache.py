"""The cache object: when a dataset is served, refreshed or fetched, and a query answered from them.

:func:`load_versions` keeps one dataset per (region, project, workspace) holding every version of
that workspace (:mod:`mavtools.store.dataset`). A dataset younger than ``max_age`` is served as it
is; an older one is refreshed incrementally: the versions created since the last fetch and those
that were not finished yet, read newest first from the unfiltered listing. The merge is accepted
only when its count equals the server's ``total_count``; otherwise everything is fetched again and
the frame's :func:`~mavtools.provenance.provenance` says why. New-version (v2) jobs live in the
same dataset and are refreshed the same way on their own, checked against the search's own count
(both in :mod:`mavtools.store.refresh`). A
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

import logging
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import polars as pl

from mavtools.api.protocol import VersionSource
from mavtools.errors import (
    AccessWarning,
    AuthError,
    CacheError,
    CacheMissError,
    ConfigError,
    MavtoolsError,
)
from mavtools.frame import VERSION_SCHEMA, empty_frame
from mavtools.provenance import Provenance, attach, provenance
from mavtools.store.dataset import (
    DEFAULT_LOCK_TIMEOUT,
    PARTITIONS,
    CacheStore,
    DatasetId,
    EntryDamaged,
    EntryOutdated,
    Snapshot,
    stored_schema,
)
from mavtools.store.query import DEFAULT_MAX_AGE, Query, parse_max_age
from mavtools.store.refresh import newest_first, refresh_dataset

__all__ = ["VersionCache", "load_versions", "scan_cache"]

log = logging.getLogger("mavtools.cache")

#: 403 codes that refuse the credentials as a whole, not one workspace.
_WHOLE_PROJECT_CODES: Final = frozenset({"ModelArts.0206", "ModelArts.0210"})

# -- the client, as the policy sees it (mavtools.api.protocol.VersionSource) ----------------------


def _is_workspace_refusal(exc: AuthError) -> bool:
    """A 403 for one listing (a permission not granted there), not for the credentials."""
    return exc.http_status == 403 and exc.error_code not in _WHOLE_PROJECT_CODES


def _label(client: VersionSource) -> str:
    return f"{client.region}/{client.project_id}"


# -- loading ------------------------------------------------------------------------------------


@dataclass
class _ServedDataset:
    """One dataset as served: its frame and how it was obtained."""

    frame: pl.DataFrame
    fetched_at: datetime
    from_cache: bool
    note: str
    skipped: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _ProjectRead:
    """What one client (one project) contributed: its frame, each dataset as served, and what it refused."""

    frame: pl.DataFrame
    parts: dict[str, _ServedDataset]
    refused: dict[str, str]
    workspace_note: str = ""


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
        direct: str = "",
    ) -> pl.DataFrame:
        """See :func:`load_versions`.

        ``direct`` (what the data are, for the note: ``"<direct>, not cached"``) reads every
        client straight through and stores nothing, whatever ``max_age``, ``refresh`` or
        ``offline`` say: for data that are local and frozen in time already, so the frame and its
        provenance do not depend on the clock. Which sources those are is decided above the store
        (:mod:`mavtools.load`).
        """
        if refresh and offline:
            raise ConfigError("refresh=True and offline=True exclude each other; choose one.")
        age_limit = parse_max_age(max_age)
        query = Query.of(status, pool_id, workspace_id, flavor, since, until)
        many = isinstance(clients, Sequence)
        group: list[VersionSource] = list(clients) if many else [clients]  # type: ignore[list-item, arg-type]
        if not group:
            raise ConfigError("No client given: pass a Client or a list of them.")
        if not direct:
            self.store.drop_legacy()
        results: dict[str, _ProjectRead] = {}
        failed: dict[str, str] = {}
        first_error: MavtoolsError | None = None
        for client in group:
            label = _label(client)
            try:
                with client.deadline_scope():  # one deadline for a project's whole load
                    if direct:
                        results[label] = self._direct(client, query, direct, progress)
                    else:
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
        frame = newest_first(pl.concat(frames, how="vertical")) if frames else empty_frame()
        return attach(frame, self._provenance(group, results, failed, query, frame.height))

    # -- one project ----------------------------------------------------------------------------

    def _direct(
        self,
        client: VersionSource,
        query: Query,
        what: str,
        progress: Callable[[int, int], None] | None,
    ) -> _ProjectRead:
        """A project read straight through, never cached (``load(direct=...)``)."""
        workspace: Any = "*" if query.workspace_id == ["*"] else query.workspace_id
        frame = client.list_versions(workspace_id=workspace, progress=progress)
        info = provenance(frame)
        fetched = info.fetched_at if info else self.clock()
        part = _ServedDataset(frame, fetched, False, f"{what}, not cached")
        read = sorted(set(frame["workspace_id"].cast(pl.String)))
        return _ProjectRead(frame, dict.fromkeys(read, part), {})

    def _project(
        self,
        client: VersionSource,
        query: Query,
        age_limit: timedelta,
        refresh: bool,
        offline: bool,
        strict: bool,
        progress: Callable[[int, int], None] | None,
    ) -> _ProjectRead:
        workspaces, note = self._workspaces(client, query, age_limit, refresh, offline, strict)
        parts: dict[str, _ServedDataset] = {}
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
        return _ProjectRead(frame, parts, refused, note)

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
    ) -> _ServedDataset:
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
                frame, note, skipped = refresh_dataset(client, snapshot, cached, progress)
            else:
                frame = client.list_versions(workspace_id=dataset.workspace_id, progress=progress)
                info = provenance(frame)
                skipped = dict(info.extra.get("skipped", {})) if info else {}
                note = "full fetch"
                if problem:
                    note = f"full fetch: {problem.rstrip('.')}"
                elif refresh and snapshot is not None:
                    note = "full fetch (refresh requested)"
            frame = _stamped(newest_first(frame), fetched_at)
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
        return _ServedDataset(frame, new.fetched_at, False, note, skipped)

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

    def _served(self, snapshot: Snapshot, frame: pl.DataFrame, how: str) -> _ServedDataset:
        note = f"{how}: cached, {snapshot.note}" if how else f"cached: {snapshot.note}"
        return _ServedDataset(frame, snapshot.fetched_at, True, note, snapshot.skipped)

    # -- provenance -----------------------------------------------------------------------------

    def _provenance(
        self,
        group: list[VersionSource],
        results: dict[str, _ProjectRead],
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
