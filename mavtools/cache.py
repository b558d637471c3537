"""A local cache of fetched versions: Parquet files plus JSON sidecars, refreshed incrementally.

:func:`load_versions` answers a query from the cache while the entry is younger than ``max_age``,
and otherwise refreshes it, reading from the API only what can have changed since the last fetch:
the versions created since, and the versions that were not finished yet. The result is accepted
only when the merged count equals the server's ``total_count``; otherwise mavtools fetches
everything again and says so in the frame's :func:`~mavtools.provenance.provenance`.

Three parts, kept apart:

* policy: :func:`cache_key` (a pure function of the normalised query, endpoint and project; never
  a secret) and :func:`parse_max_age` (``"15m"``, ``"1h"``, ``"2d"``, a timedelta, ``0`` or
  :data:`NEVER_EXPIRE`);
* storage: :class:`CacheStore` with ``get``/``put``/``delete``/``entries``; each entry is one
  Parquet file and a sidecar ``<key>.json`` naming it. Writing the sidecar (temp file, fsync,
  rename) is the commit point, so a fetch that fails or is killed leaves the previous entry
  readable; a lock file per entry (``filelock``) serialises processes refreshing the same entry;
* :class:`VersionCache` ties both to a :class:`~mavtools.api.client.Client`.

The on-disk layout is plain Parquet (see ``docs/cache.md``) so DuckDB or Spark can read it::

    <cache_dir>/versions/<project_id>/<key>.json                  sidecar (the commit point)
    <cache_dir>/versions/<project_id>/<key>-<fetched>-<rand>.parquet   the versions

Example:
    >>> import mavtools as mt
    >>> df = mt.load_versions(max_age="1h")      # env credentials, else the bundled samples
    >>> print(mt.provenance(df))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import filelock
import polars as pl

from mavtools import statuses
from mavtools.api.protocol import VersionSource
from mavtools.api.query import Listing, as_list, check_id, normalise_status
from mavtools.errors import CacheError, CacheMissError, ConfigError, IncompleteError
from mavtools.frame import VERSION_SCHEMA, empty_frame
from mavtools.provenance import attach, provenance

__all__ = [
    "NEVER_EXPIRE",
    "SCHEMA_VERSION",
    "CacheStore",
    "Entry",
    "EntryDamaged",
    "EntryError",
    "EntryOutdated",
    "VersionCache",
    "cache_key",
    "default_cache_dir",
    "default_client",
    "load_versions",
    "parse_max_age",
    "scan_cache",
]

log = logging.getLogger("mavtools.cache")

#: ``max_age`` that never expires an entry (it is still refreshed with ``refresh=True``).
NEVER_EXPIRE: Final = timedelta.max
DEFAULT_MAX_AGE: Final = "1h"
#: Bump whenever :data:`~mavtools.frame.VERSION_SCHEMA` or the meaning of a column changes;
#: entries written under another version are refetched, never read.
SCHEMA_VERSION: Final = 1
#: How long a process waits for another one refreshing the same entry.
DEFAULT_LOCK_TIMEOUT: Final = 900.0
_FORMAT: Final = "mavtools-versions-cache"
_DATASET: Final = "versions"
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
_KEY: Final = re.compile(r"[0-9a-f]{16}")
_SAFE_DIR: Final = re.compile(r"[A-Za-z0-9-]{1,64}")
_QUERY_FIELDS: Final = ("workspace_id", "status", "pool_id")
_PARQUET_OPTIONS: Final[dict[str, Any]] = {"compression": "zstd", "statistics": False}


# -- policy -------------------------------------------------------------------------------------


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


def normalise_query(
    status: Any = None, pool_id: Any = None, workspace_id: Any = "0"
) -> dict[str, list[Any]]:
    """The query as sorted, de-duplicated lists (status names turned into codes); no network."""
    workspaces = sorted({str(w) for w in as_list(workspace_id)})
    if "*" in workspaces:
        workspaces = ["*"]
    if not workspaces:
        raise ConfigError("workspace_id names no workspace.")
    return {
        "workspace_id": [w if w == "*" else check_id(w, "workspace_id") for w in workspaces],
        "status": normalise_status(status),
        "pool_id": sorted({check_id(p, "pool_id") for p in as_list(pool_id)}),
    }


def cache_key(endpoint: str, project_id: str, query: Mapping[str, Any]) -> str:
    """The entry name of a query: a short hash of the endpoint, project and normalised query.

    The same question always maps to the same key, whatever the order of the filters; no
    credential takes part.

    Example:
        >>> cache_key("https://modelarts.eu-de.otc.t-systems.com", "p1", normalise_query())
        '...'
    """
    doc = {
        "endpoint": endpoint.rstrip("/").lower(),
        "project_id": project_id,
        "query": {name: sorted(query.get(name) or [], key=str) for name in _QUERY_FIELDS},
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """``MAVTOOLS_CACHE_DIR``, else the platform's user cache directory for mavtools.

    Nothing is created here: the directory appears on the first write.
    """
    explicit = os.environ.get("MAVTOOLS_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("mavtools", appauthor=False))


def _schema_fingerprint() -> str:
    text = json.dumps([[name, str(dtype)] for name, dtype in VERSION_SCHEMA.items()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- storage ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One cached query: where its data is and what its sidecar says.

    Attributes:
        key: the :func:`cache_key`.
        project_id: the IAM project.
        endpoint: the API endpoint.
        query: the normalised query (``workspace_id``, ``status``, ``pool_id`` lists).
        fetched_at: when the data was complete on the server.
        rows: versions stored.
        offset_mode: how the server reads ``offset`` (``record``, ``page``...), or ``auto``.
        data: the Parquet file.
        size: its size in bytes.
        schema_version: the :data:`SCHEMA_VERSION` it was written with.
        note: how it was obtained.
    """

    key: str
    project_id: str
    endpoint: str
    query: dict[str, Any]
    fetched_at: datetime
    rows: int
    offset_mode: str
    data: Path
    size: int
    schema_version: int
    note: str = ""


class EntryError(CacheError):
    """A cache entry that cannot be served; the message is one sentence saying why.

    Attributes:
        key: the entry's key (set when listing entries).
        project_id: its project (set when listing entries).
    """

    key: str = ""
    project_id: str = ""


class EntryDamaged(EntryError):
    """A cache entry cannot be trusted (damaged or edited files)."""


class EntryOutdated(EntryError):
    """A cache entry was written with another schema version."""


class CacheStore:
    """Parquet entries with JSON sidecars under ``root/versions/<project_id>/``.

    Args:
        root: the cache directory (default: :func:`default_cache_dir`); created, mode 0700, on
            the first write only.
        lock_timeout: seconds to wait for another process refreshing the same entry.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"CacheStore({str(self.root)!r})"

    def directory(self, project_id: str) -> Path:
        if not _SAFE_DIR.fullmatch(project_id):
            raise ConfigError(f"project_id {project_id!r} cannot name a cache directory.")
        return self.root / _DATASET / project_id

    def sidecar(self, project_id: str, key: str) -> Path:
        return self.directory(project_id) / f"{key}.json"

    @contextlib.contextmanager
    def lock(self, project_id: str, key: str) -> Iterator[None]:
        """Hold the entry's lock (across processes) while refreshing it."""
        self._make_dirs(project_id)
        path = self.directory(project_id) / f"{key}.lock"
        lock = filelock.FileLock(path, timeout=self.lock_timeout, mode=0o600)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise CacheError(
                f"Another process has been refreshing cache entry {key} for over "
                f"{self.lock_timeout:g} s; wait for it, or delete {path} if no process runs."
            ) from None
        except OSError as exc:
            raise _unwritable(path.parent, exc) from None
        try:
            yield
        finally:
            lock.release()

    def get(self, project_id: str, key: str, *, strict: bool = True) -> Entry | None:
        """Read the sidecar of an entry; None when there is none.

        Args:
            project_id: the project.
            key: the :func:`cache_key`.
            strict: report data without a sidecar as damage (False while another process may
                be between writing the data and committing its sidecar, i.e. without the lock).

        Raises:
            EntryDamaged: the sidecar is unreadable, edited, or names a missing or resized file.
            EntryOutdated: the entry was written with another :data:`SCHEMA_VERSION`.
        """
        path = self.sidecar(project_id, key)
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            if strict and any(self.directory(project_id).glob(f"{key}-*.parquet")):
                raise EntryDamaged(
                    f"Cache entry {key} has data but no sidecar (deleted, or a write was "
                    "interrupted)."
                ) from None
            return None
        except OSError as exc:
            raise EntryDamaged(f"The sidecar {path} cannot be read ({exc.strerror}).") from None
        entry = _parse_sidecar(text, path, project_id, key)
        try:
            size = entry.data.stat().st_size
        except FileNotFoundError:
            raise EntryDamaged(
                f"The data file {entry.data.name} of cache entry {key} is missing."
            ) from None
        if size != entry.size:
            raise EntryDamaged(
                f"The data file of cache entry {key} has {size:,} bytes instead of "
                f"{entry.size:,} (truncated or overwritten)."
            )
        return entry

    def read(self, entry: Entry) -> pl.DataFrame:
        """Read an entry's versions, checking schema and row count on the one read.

        Raises:
            EntryDamaged: the Parquet file cannot be read or does not hold what the sidecar says.
        """
        try:
            frame = pl.read_parquet(entry.data)
        except FileNotFoundError:
            raise
        except Exception as exc:  # polars raises several error types for damaged files
            raise EntryDamaged(
                f"The data file of cache entry {entry.key} is damaged ({type(exc).__name__})."
            ) from None
        if frame.schema != VERSION_SCHEMA:
            raise EntryDamaged(
                f"The data file of cache entry {entry.key} does not have the versions schema."
            )
        if frame.height != entry.rows:
            raise EntryDamaged(
                f"The data file of cache entry {entry.key} holds {frame.height:,} versions, its "
                f"sidecar says {entry.rows:,}."
            )
        return frame

    def put(
        self,
        frame: pl.DataFrame,
        *,
        key: str,
        endpoint: str,
        project_id: str,
        query: Mapping[str, Any],
        fetched_at: datetime,
        offset_mode: str,
        note: str = "",
    ) -> Entry:
        """Write an entry atomically: data file, then the sidecar naming it (the commit point).

        Call it holding :meth:`lock`. A crash at any point leaves the previous entry readable.
        """
        if frame.schema != VERSION_SCHEMA:
            raise CacheError("Only frames with the versions schema can be cached.")
        directory = self._make_dirs(project_id)
        try:
            return self._put(
                frame, directory, key, endpoint, project_id, query, fetched_at, offset_mode, note
            )
        except OSError as exc:  # full disk, read-only file system, a directory in the way
            raise _unwritable(directory, exc) from None

    def _put(
        self,
        frame: pl.DataFrame,
        directory: Path,
        key: str,
        endpoint: str,
        project_id: str,
        query: Mapping[str, Any],
        fetched_at: datetime,
        offset_mode: str,
        note: str,
    ) -> Entry:
        stamp = fetched_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        data = directory / f"{key}-{stamp}-{uuid.uuid4().hex[:8]}.parquet"
        temp = directory / f".{data.name}.tmp"  # not *.parquet: globs never see half a file
        try:
            _create_private(temp)
            frame.write_parquet(temp, **_PARQUET_OPTIONS)
            _fsync(temp)
            os.replace(temp, data)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        doc = {
            "format": _FORMAT,
            "schema_version": SCHEMA_VERSION,
            "schema": _schema_fingerprint(),
            "key": key,
            "endpoint": endpoint,
            "project_id": project_id,
            "query": {name: list(query.get(name) or []) for name in _QUERY_FIELDS},
            "fetched_at": fetched_at.astimezone(UTC).isoformat(),
            "rows": frame.height,
            "offset_mode": offset_mode,
            "data": data.name,
            "bytes": data.stat().st_size,
            "note": note,
        }
        sidecar = self.sidecar(project_id, key)
        _write_atomic(sidecar, json.dumps(doc, indent=1).encode())
        _fsync_dir(directory)
        # Superseded data (and leftovers of killed writers) of this entry only: we hold its lock.
        for old in directory.glob(f"{key}-*.parquet"):
            if old != data:
                old.unlink(missing_ok=True)
        for old in directory.glob(f".{key}-*.tmp"):
            old.unlink(missing_ok=True)
        return _parse_sidecar(sidecar.read_bytes(), sidecar, project_id, key)

    def delete(self, project_id: str, key: str) -> None:
        """Remove an entry: the sidecar first (so it is never half there), then its data."""
        directory = self.directory(project_id)
        self.sidecar(project_id, key).unlink(missing_ok=True)
        for path in directory.glob(f"{key}-*.parquet"):
            path.unlink(missing_ok=True)
        for path in directory.glob(f".{key}-*.tmp"):
            path.unlink(missing_ok=True)

    def entries(self, project_id: str | None = None) -> list[Entry | EntryError]:
        """Every entry (of one project, or all), oldest first; unusable ones as their error.

        The errors carry ``key`` and ``project_id`` attributes.
        """
        base = self.root / _DATASET
        dirs = [self.directory(project_id)] if project_id else sorted(base.glob("*"))
        out: list[Entry | EntryError] = []
        for directory in dirs:
            keys = {p.name.split("-", 1)[0] for p in directory.glob("*.parquet")}
            keys |= {p.stem for p in directory.glob("*.json")}
            for key in sorted(k for k in keys if _KEY.fullmatch(k)):
                try:
                    entry = self.get(directory.name, key)
                except EntryError as exc:
                    exc.key, exc.project_id = key, directory.name
                    out.append(exc)
                else:
                    if entry is not None:
                        out.append(entry)
        unknown = datetime.min.replace(tzinfo=UTC)
        return sorted(out, key=lambda e: e.fetched_at if isinstance(e, Entry) else unknown)

    def _make_dirs(self, project_id: str) -> Path:
        directory = self.directory(project_id)
        for path in (self.root, self.root / _DATASET, directory):
            try:
                path.mkdir(mode=0o700)
            except FileExistsError:
                if path.is_dir():
                    continue
                raise CacheError(
                    f"The cache directory {path} is a file, not a directory; remove it or set "
                    "MAVTOOLS_CACHE_DIR to a writable directory."
                ) from None
            except OSError as exc:
                raise CacheError(
                    f"The cache directory {path} cannot be created ({exc.strerror}); set "
                    "MAVTOOLS_CACHE_DIR to a writable directory."
                ) from None
            os.chmod(path, 0o700)  # mkdir's mode is reduced by the umask
        return directory


def _unwritable(directory: Path, exc: OSError) -> CacheError:
    return CacheError(
        f"The cache entry cannot be written in {directory} ({exc.strerror or type(exc).__name__}); "
        "free some space or set MAVTOOLS_CACHE_DIR to a writable directory."
    )


def _parse_sidecar(text: bytes, path: Path, project_id: str, key: str) -> Entry:
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ValueError
        version = doc["schema_version"]
        if version != SCHEMA_VERSION or doc.get("schema") != _schema_fingerprint():
            raise EntryOutdated(
                f"Cache entry {key} was written with schema version {version}, this mavtools "
                f"uses {SCHEMA_VERSION}."
            )
        query = {name: list(doc["query"][name]) for name in _QUERY_FIELDS}
        entry = Entry(
            key=str(doc["key"]),
            project_id=str(doc["project_id"]),
            endpoint=str(doc["endpoint"]),
            query=query,
            fetched_at=datetime.fromisoformat(doc["fetched_at"]).astimezone(UTC),
            rows=_count(doc["rows"]),
            offset_mode=str(doc["offset_mode"]),
            data=path.parent / Path(str(doc["data"])).name,
            size=_count(doc["bytes"]),
            schema_version=version,
            note=str(doc.get("note", "")),
        )
    except EntryOutdated:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise EntryDamaged(f"The sidecar of cache entry {key} is not valid.") from None
    if (
        entry.key != key
        or entry.project_id != project_id
        or cache_key(entry.endpoint, entry.project_id, entry.query) != key
        or not entry.data.name.startswith(f"{key}-")
    ):
        raise EntryDamaged(f"The sidecar of cache entry {key} was edited (it names another query).")
    return entry


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError
    return value


def _create_private(path: Path) -> None:
    """Create an empty file readable by its owner only (writers then truncate it, keeping 0600)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system can fsync a directory
        _fsync(directory)


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.parent / f".{path.stem}-{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# -- the cache of a client ----------------------------------------------------------------------


@dataclass
class _Outcome:
    frame: pl.DataFrame
    note: str
    requests: int


class VersionCache:
    """Serve queries of a client from a :class:`CacheStore`, refreshing them when needed.

    Args:
        cache_dir: the cache directory (default: :func:`default_cache_dir`).
        clock: returns the current time (tests pass a fake one).
        lock_timeout: seconds to wait for another process refreshing the same entry.

    Example:
        >>> cache = VersionCache("/tmp/mavtools-cache")
        >>> df = cache.load(client, status="RUNNING", max_age="15m")
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
        client: VersionSource,
        *,
        status: Any = None,
        pool_id: Any = None,
        workspace_id: Any = "0",
        max_age: str | int | float | timedelta = DEFAULT_MAX_AGE,
        refresh: bool = False,
        offline: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> pl.DataFrame:
        """See :func:`load_versions`."""
        if refresh and offline:
            raise ConfigError("refresh=True and offline=True exclude each other; choose one.")
        age_limit = parse_max_age(max_age)
        query = normalise_query(status, pool_id, workspace_id)
        if query["workspace_id"] == ["*"]:
            workspace_id = "*"  # the client's ALL_WORKSPACES
        if getattr(client, "source", "live") == "samples":
            # Local already, and notebook outputs must not depend on the clock: never cached.
            frame = client.list_versions(
                status=status, pool_id=pool_id, workspace_id=workspace_id, progress=progress
            )
            info = provenance(frame)
            if info is not None:
                attach(frame, replace(info, note="bundled samples, not cached"))
            return frame
        project = client.project_id
        key = cache_key(client.endpoint, project, query)
        started = self.clock()

        problem = ""
        try:
            entry = self.store.get(project, key, strict=offline)
            cached = self._read(entry)
        except (EntryDamaged, EntryOutdated) as exc:
            if offline:
                reason = str(exc).rstrip(".")
                raise CacheError(
                    f"{reason}; go online (without offline) to fetch it again."
                ) from None
            problem = str(exc)
            log.warning("%s It is fetched again.", problem)
            entry = cached = None
        if offline:
            if entry is None or cached is None:
                raise CacheMissError(
                    f"Nothing is cached for {_describe_query(query)} of project {project}; "
                    "run once online (without offline) to fill the cache."
                )
            return self._served(client, entry, cached, "offline")
        if (
            entry is not None
            and cached is not None
            and not refresh
            and self._age(entry) < age_limit
        ):
            return self._served(client, entry, cached, "")

        with self.store.lock(project, key):
            # Another process may have refreshed the entry while this one waited for the lock.
            try:
                entry = self.store.get(project, key)
                cached = self._read(entry)
            except (EntryDamaged, EntryOutdated) as exc:
                if not problem:
                    problem = str(exc)
                    log.warning("%s It is fetched again.", problem)
                entry = cached = None
            fresh = entry is not None and (
                entry.fetched_at >= started or (not refresh and self._age(entry) < age_limit)
            )
            if fresh and entry is not None and cached is not None:
                return self._served(client, entry, cached, "")
            fetched_at = self.clock()
            if entry is not None and cached is not None and not refresh:
                result = self._refresh(
                    client, entry, cached, status, pool_id, workspace_id, progress
                )
            else:
                frame = client.list_versions(
                    status=status, pool_id=pool_id, workspace_id=workspace_id, progress=progress
                )
                why = "full fetch"
                if problem:
                    why = f"full fetch: {problem.rstrip('.')}"
                elif refresh and entry is not None:
                    why = "full fetch (refresh requested)"
                result = _Outcome(frame, why, 0)
            frame = _ordered(result.frame)
            new = self.store.put(
                frame,
                key=key,
                endpoint=client.endpoint,
                project_id=project,
                query=query,
                fetched_at=fetched_at,
                offset_mode=client.offset_mode,
                note=result.note,
            )
        info = client.describe(
            _provenance_query(query), frame.height, fetched_at=new.fetched_at, note=result.note
        )
        return attach(frame, info)

    def _read(self, entry: Entry | None) -> pl.DataFrame | None:
        if entry is None:
            return None
        try:
            return self.store.read(entry)
        except FileNotFoundError:
            # A writer replaced the entry between our reading its sidecar and its data.
            fresh = self.store.get(entry.project_id, entry.key)
            return self.store.read(fresh) if fresh is not None else None

    def _age(self, entry: Entry) -> timedelta:
        return max(self.clock() - entry.fetched_at, timedelta(0))

    def _served(
        self, client: VersionSource, entry: Entry, frame: pl.DataFrame, how: str
    ) -> pl.DataFrame:
        note = f"{how}: cached, {entry.note}" if how else f"cached: {entry.note}"
        info = client.describe(
            _provenance_query(entry.query),
            frame.height,
            fetched_at=entry.fetched_at,
            from_cache=True,
            cache_age=self._age(entry),
            note=note,
        )
        return attach(frame, info)

    def _refresh(
        self,
        client: VersionSource,
        entry: Entry,
        cached: pl.DataFrame,
        status: Any,
        pool_id: Any,
        workspace_id: Any,
        progress: Callable[[int, int], None] | None,
    ) -> _Outcome:
        """Refresh incrementally; fetch everything (saying why) when completeness is unproven."""
        if client.offset_mode == "auto" and entry.offset_mode != "auto":
            client.offset_mode = entry.offset_mode  # the full fetch detected it: no probe needed
        before = client.requests_made
        listings = client.plan(status=status, pool_id=pool_id, workspace_id=workspace_id)
        frames = []
        try:
            for done, listing in enumerate(listings):
                if listing.status is not None:
                    # Versions leave and join a status listing anywhere in it: no newest-first
                    # shortcut exists, so such a listing is always read in full.
                    frames.append(client.fetch_listing(listing).frame)
                else:
                    frames.append(_refresh_listing(client, listing, cached))
                if progress is not None:
                    progress(done + 1, len(listings))
        except (IncompleteError, _Unproven) as exc:
            reason = str(exc).rstrip(".")
            log.info("incremental refresh not proven complete (%s); fetching everything", reason)
            frame = client.list_versions(
                status=status, pool_id=pool_id, workspace_id=workspace_id, progress=progress
            )
            return _Outcome(
                frame,
                f"full fetch: incremental refresh could not prove completeness ({reason})",
                client.requests_made - before,
            )
        used = client.requests_made - before
        merged = pl.concat(frames, how="vertical") if frames else empty_frame()
        merged = merged.unique("version_id", keep="first", maintain_order=True)
        plural = "" if used == 1 else "s"
        return _Outcome(merged, f"incremental refresh: {used} request{plural}", used)


class _Unproven(Exception):
    """The merged versions could not be shown to be exactly the server's."""


def _refresh_listing(client: VersionSource, listing: Listing, cached: pl.DataFrame) -> pl.DataFrame:
    """Refresh one listing without status filter from its newest versions."""
    mine = cached.filter(pl.col("workspace_id") == listing.workspace_id)
    if listing.pool_id is not None:
        mine = mine.filter(pl.col("pool_id") == listing.pool_id)
    mine = _ordered(mine)
    unfinished = mine.select(
        pl.arg_where(pl.col("outcome").is_in(sorted(statuses.UNFINISHED_OUTCOMES)))
    ).to_series()
    # Newest-first rank of the oldest version that could still change (-1: none).
    oldest_open = int(unfinished[-1]) if unfinished.len() else -1  # indices come sorted

    def depth(total: int) -> int:
        return max(total - mine.height, 0) + oldest_open + 1

    result = client.read_newest(listing, depth)
    new = result.frame
    merged = pl.concat(
        [new, mine.filter(~pl.col("version_id").is_in(new["version_id"].implode()))],
        how="vertical",
    )
    if merged.height != result.total_count:
        raise _Unproven(
            f"{merged.height} versions after merging, the server lists {result.total_count}"
        )
    if 0 < new.height < result.total_count and mine.height:
        # The read must reach back into what was cached, or versions in between were missed.
        oldest_read = new["version_id"][-1]
        if not mine["version_id"].is_in([oldest_read]).any():
            raise _Unproven("the newest versions read do not overlap the cached ones")
    return merged


def _ordered(frame: pl.DataFrame) -> pl.DataFrame:
    """Newest first, as :meth:`Client.list_versions` returns by default."""
    return frame.sort(["create_time", "version_id"], descending=True, nulls_last=True)


def _provenance_query(query: Mapping[str, Any]) -> dict[str, Any]:
    return {**query, "sort_by": "create_time", "order": "desc"}


def _describe_query(query: Mapping[str, Any]) -> str:
    parts = [f"{name}={','.join(map(str, values))}" for name, values in query.items() if values]
    return "the query " + " ".join(parts) if parts else "that query"


# -- public entry points ------------------------------------------------------------------------


def default_client(environ: Mapping[str, str] | None = None) -> VersionSource:
    """``Client.from_env()`` when credentials are configured, else the bundled samples.

    ``MAVTOOLS_ALLOW_HTTP=1`` lets the configured endpoint be plain ``http://`` (a local server
    such as ``mavtools serve-samples``).
    """
    from mavtools.api import config
    from mavtools.api.client import Client
    from mavtools.local.samples import samples_client, warn_samples_fallback

    env = os.environ if environ is None else environ
    if config.settings_from_env(env) is None:
        warn_samples_fallback()  # never a surprise: say so, and where credentials were looked for
        return samples_client()
    allow_http = env.get("MAVTOOLS_ALLOW_HTTP", "").strip() == "1"
    return Client.from_env(env, allow_http=allow_http) if allow_http else Client.from_env(env)


def load_versions(
    client: VersionSource | None = None,
    *,
    status: Any = None,
    pool_id: Any = None,
    workspace_id: str | Iterable[str] = "0",
    max_age: str | int | float | timedelta = DEFAULT_MAX_AGE,
    refresh: bool = False,
    offline: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """The versions matching a query, from the local cache when it is fresh enough.

    Args:
        client: a :class:`~mavtools.api.client.Client`; None: :func:`default_client` (credentials
            from the environment, else the bundled samples, which are never cached).
        status: status code(s), name(s) or outcome(s), as for ``Client.list_versions``.
        pool_id: one resource pool or several.
        workspace_id: one workspace, several, or ``"*"`` for all.
        max_age: reuse an entry younger than this (``"15m"``, ``"1h"``, ``"2d"``, a timedelta,
            ``0``: always refresh, :data:`NEVER_EXPIRE`).
        refresh: fetch everything again whatever the entry's age.
        offline: never touch the network; serve the entry whatever its age.
        cache_dir: the cache directory (default: ``MAVTOOLS_CACHE_DIR``, else the user cache dir).
        progress: called with (pages done, pages planned) while fetching.

    Returns:
        The typed frame, newest first; :func:`mavtools.provenance` says when it was fetched,
        whether it came from the cache, how old it was and how it was obtained.

    Raises:
        CacheMissError: offline and nothing cached for that query.
        CacheError: offline and the entry is damaged or from another schema version; or the
            cache directory is unusable.
        MavtoolsError: the fetch failed (the previous entry is left as it was).

    Example:
        >>> df = mt.load_versions(status="RUNNING", max_age="15m")
        >>> mt.provenance(df).from_cache
        True
    """
    client = client if client is not None else default_client()
    with client.deadline_scope():  # one deadline for the whole load, however many requests
        return VersionCache(cache_dir).load(
            client,
            status=status,
            pool_id=pool_id,
            workspace_id=workspace_id,
            max_age=max_age,
            refresh=refresh,
            offline=offline,
            progress=progress,
        )


def scan_cache(
    project_id: str | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> pl.LazyFrame:
    """Every cached version of a project (or of all projects) as one lazy frame.

    A version cached by several queries appears once, from the newest snapshot.

    Example:
        >>> mt.scan_cache().filter(pl.col("outcome") == "failed").collect()
    """
    store = CacheStore(cache_dir)
    entries = [e for e in store.entries(project_id) if isinstance(e, Entry)]
    if not entries:
        return empty_frame().lazy()
    newest_first = sorted(entries, key=lambda e: e.fetched_at, reverse=True)
    frames = [pl.scan_parquet(e.data) for e in newest_first]
    return pl.concat(frames, how="vertical").unique("version_id", keep="first", maintain_order=True)
