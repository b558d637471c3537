"""The on-disk dataset: one Parquet file per (region, project, workspace), in a Hive layout.

Layout (see ``docs/cache.md``)::

    <cache_dir>/versions/region=<region>/project_id=<project>/workspace_id=<ws>/
        part-<ns>-<hex>.parquet
    <cache_dir>/versions/region=<region>/project_id=<project>/_workspaces.json
    <cache_dir>/readers/<stamp>-<rand>/...      hard links pinned by :func:`scan_cache` readers

Decisions:

* **One file, a new name per snapshot.** A dataset is one ``part-<ns>-<hex>.parquet`` (the
  time it was written and a random tag). Its description (endpoint, snapshot time, rows, schema
  version, how it was obtained) lives in the Parquet file's key-value metadata under
  ``mavtools``, so data and description change together. A refresh writes the new file under a
  hidden temp name, renames it to its own new name (the commit point), then moves the old file
  out of the dataset tree into the pins (``readers/<stamp>-retired-<rand>/``) with one rename:
  a writer killed at any moment leaves the old file or the new one, and no name ever holds two
  contents, so a reader that listed the dataset before a refresh (Spark remembers names and
  sizes) reads the old snapshot or fails with file-not-found, never a mix. Between the two
  renames (microseconds) a lister could see both files; mavtools itself reads the newest.
* **Hive convention.** Partition columns (``region``, ``project_id``, ``workspace_id``) are in the
  directory names, not in the files (Spark refuses a column present in both). Values are strings.
  Files starting with ``_`` or ``.`` (lock, workspace list, temp files) are ignored by Spark, Trino
  and a ``*.parquet`` glob.
* **Readers never break.** :meth:`CacheStore.pin` hard-links the current files into a private
  ``readers/`` folder and a lazy frame reads those links; a refresh replaces the dataset's file
  without touching the links. Pins older than :data:`READER_GRACE` are removed on the next pin,
  and ``mavtools cache clear`` removes them all.
* **Locks.** ``_dataset.lock`` (``filelock``) serialises processes refreshing the same dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import filelock
import polars as pl

from mavtools.errors import CacheError, ConfigError
from mavtools.frame import ROW_KEY, VERSION_SCHEMA
from mavtools.store.files import (
    create_private,
    fsync,
    fsync_dir,
    mkdirs,
    unwritable,
    write_atomic,
)

__all__ = [
    "PARTITIONS",
    "READER_GRACE",
    "ROW_KEY",
    "SCHEMA_VERSION",
    "CacheStore",
    "DatasetId",
    "EntryDamaged",
    "EntryError",
    "EntryOutdated",
    "Snapshot",
    "default_cache_dir",
    "stored_schema",
]

log = logging.getLogger("mavtools.cache")

#: Bump whenever :data:`~mavtools.frame.VERSION_SCHEMA` or the meaning of a column changes;
#: datasets written under another version are refetched, never read.
SCHEMA_VERSION: Final = 4  # 3: observed_at, api, job_id, user_name, node_count
# 4: priority, preemptible, restarts, segments, node_counts; v2 hours count run segments only
#: The columns that name a dataset: directory levels, not columns inside the files.
PARTITIONS: Final = ("region", "project_id", "workspace_id")
#: How long a lazy frame from :func:`scan_cache` keeps its snapshot after a refresh.
READER_GRACE: Final = timedelta(days=1)
DEFAULT_LOCK_TIMEOUT: Final = 900.0
PART: Final = "part-0.parquet"  # the one name of the layout before snapshot-named files
#: A snapshot's file: ``part-<ns since epoch, 20 digits>-<8 hex>.parquet`` (or the legacy name).
_PART_NAME: Final = re.compile(r"part-(?:\d{20}-[0-9a-f]{8}|0)\.parquet")
_RETIRED: Final = "retired"
_FORMAT: Final = "mavtools-versions-dataset"
_META_KEY: Final = "mavtools"
_DATASET: Final = "versions"
_READERS: Final = "readers"
_WORKSPACES: Final = "_workspaces.json"
_LOCK: Final = "_dataset.lock"
_SAFE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PARQUET_OPTIONS: Final[dict[str, Any]] = {"compression": "zstd", "statistics": True}


def default_cache_dir() -> Path:
    """``MAVTOOLS_CACHE_DIR``, else the platform's user cache directory for mavtools.

    Nothing is created here: the directory (with its parents) appears on the first write.
    """
    explicit = os.environ.get("MAVTOOLS_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("mavtools", appauthor=False))


def stored_schema() -> pl.Schema:
    """The columns inside a dataset file: the frame contract without the partition columns."""
    return pl.Schema({k: v for k, v in VERSION_SCHEMA.items() if k not in PARTITIONS})


def _schema_fingerprint() -> str:
    text = json.dumps([[name, str(dtype)] for name, dtype in VERSION_SCHEMA.items()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, order=True)
class DatasetId:
    """Which dataset: a workspace of a project in a region (all three are partition values)."""

    region: str
    project_id: str
    workspace_id: str

    def __post_init__(self) -> None:
        for name in PARTITIONS:
            value = getattr(self, name)
            if not isinstance(value, str) or not _SAFE.fullmatch(value):
                raise ConfigError(f"{name} {value!r} cannot name a cache directory.")

    def parts(self) -> tuple[str, str, str]:
        return (
            f"region={self.region}",
            f"project_id={self.project_id}",
            f"workspace_id={self.workspace_id}",
        )

    def __str__(self) -> str:
        return f"{self.region}/{self.project_id}/workspace {self.workspace_id}"


@dataclass(frozen=True)
class Snapshot:
    """What a dataset file holds, read from its Parquet metadata.

    Attributes:
        dataset: which dataset.
        endpoint: the API endpoint it was read from.
        fetched_at: when the data was complete on the server.
        rows: versions stored.
        offset_mode: how the server reads ``offset`` (``record``, ``page``...), or ``auto``.
        data: the Parquet file.
        size: its size in bytes.
        note: how it was obtained ("full fetch", "incremental refresh: 2 requests").
        skipped: listings the server did not have when this was fetched (``{"v1": "HTTP 404"}``:
            v1 retired; ``"v2"``: an old deployment), so a refresh knows what not to expect.
        v2_offset_mode: how the v2 job search reads ``offset``, or ``auto`` (not detected).
    """

    dataset: DatasetId
    endpoint: str
    fetched_at: datetime
    rows: int
    offset_mode: str
    data: Path
    size: int
    note: str = ""
    skipped: Mapping[str, str] = field(default_factory=dict)
    v2_offset_mode: str = "auto"


class EntryError(CacheError):
    """A dataset that cannot be served; the message is one sentence saying why.

    Attributes:
        dataset: the dataset concerned (set when listing).
    """

    dataset: DatasetId | None = None


class EntryDamaged(EntryError):
    """A dataset file cannot be trusted (damaged or edited)."""


class EntryOutdated(EntryError):
    """A dataset file was written with another schema version."""


class CacheStore:
    """The datasets under ``root/versions/`` (see the module docstring for the layout).

    Args:
        root: the cache directory (default: :func:`default_cache_dir`); created with its
            parents, mode 0700, on the first write only.
        lock_timeout: seconds to wait for another process refreshing the same dataset.
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

    @property
    def base(self) -> Path:
        """The root of the Hive dataset: what DuckDB, Spark or Trino are pointed at."""
        return self.root / _DATASET

    def directory(self, dataset: DatasetId) -> Path:
        return self.base.joinpath(*dataset.parts())

    @contextlib.contextmanager
    def lock(self, dataset: DatasetId) -> Iterator[None]:
        """Hold the dataset's lock (across processes) while refreshing it."""
        directory = self._make_dirs(dataset)
        path = directory / _LOCK
        lock = filelock.FileLock(path, timeout=self.lock_timeout, mode=0o600)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise CacheError(
                f"Another process has been refreshing the cache of {dataset} for over "
                f"{self.lock_timeout:g} s; wait for it, or delete {path} if no process runs."
            ) from None
        except OSError as exc:
            raise unwritable(directory, exc) from None
        try:
            yield
        finally:
            lock.release()

    def get(self, dataset: DatasetId) -> Snapshot | None:
        """Describe a dataset from its file's metadata; None when there is none.

        Raises:
            EntryDamaged: the file is unreadable or its description was edited.
            EntryOutdated: it was written with another :data:`SCHEMA_VERSION`.
        """
        path = _current(self.directory(dataset))
        if path is None:
            return None
        try:
            size = path.stat().st_size
            meta = pl.read_parquet_metadata(path)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except Exception:  # polars raises several error types for damaged files
            raise EntryDamaged(
                f"The cache file of {dataset} is damaged (not a readable Parquet file)."
            ) from None
        return _parse_meta(meta.get(_META_KEY), dataset, path, size)

    def read(self, snapshot: Snapshot) -> pl.DataFrame:
        """Read a dataset as the typed frame, checking schema and row count on the one read.

        Raises:
            FileNotFoundError: a writer replaced the file in between (callers look again).
            EntryDamaged: the file cannot be read or does not hold what its metadata says.
        """
        try:
            frame = pl.read_parquet(snapshot.data)
        except FileNotFoundError:
            raise
        except Exception:  # polars raises several error types for damaged files
            raise EntryDamaged(f"The cache file of {snapshot.dataset} is damaged.") from None
        if frame.schema != stored_schema():
            raise EntryDamaged(
                f"The cache file of {snapshot.dataset} does not have the versions schema."
            )
        if frame.height != snapshot.rows:
            raise EntryDamaged(
                f"The cache file of {snapshot.dataset} holds {frame.height:,} versions, its "
                f"metadata says {snapshot.rows:,}."
            )
        return with_partitions(frame, snapshot.dataset)

    def put(
        self,
        frame: pl.DataFrame,
        dataset: DatasetId,
        *,
        endpoint: str,
        fetched_at: datetime,
        offset_mode: str,
        note: str = "",
        skipped: Mapping[str, str] | None = None,
        v2_offset_mode: str = "auto",
    ) -> Snapshot:
        """Replace a dataset atomically (temp file, fsync, rename: the commit point).

        Call it holding :meth:`lock`. A crash at any point leaves the previous file readable.
        """
        if frame.schema != VERSION_SCHEMA:
            raise CacheError("Only frames with the versions schema can be cached.")
        directory = self._make_dirs(dataset)
        doc = {
            "format": _FORMAT,
            "schema_version": SCHEMA_VERSION,
            "schema": _schema_fingerprint(),
            "endpoint": endpoint,
            **{name: getattr(dataset, name) for name in PARTITIONS},
            "fetched_at": fetched_at.astimezone(UTC).isoformat(),
            "rows": frame.height,
            "offset_mode": offset_mode,
            "note": note,
            "skipped": dict(skipped or {}),
            "v2_offset_mode": v2_offset_mode,
        }
        # A new name for every snapshot: a reader that listed the old file (and its size, as
        # Spark does) never finds other bytes under that name.
        path = directory / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        temp = directory / f".part-{uuid.uuid4().hex[:12]}.tmp"  # never matched by *.parquet
        try:
            try:
                create_private(temp)
                frame.drop(PARTITIONS).write_parquet(
                    temp, metadata={_META_KEY: json.dumps(doc)}, **_PARQUET_OPTIONS
                )
                fsync(temp)
                os.replace(temp, path)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            self._retire(directory, dataset, keep=path)
            fsync_dir(directory)
            for old in directory.glob(
                ".part-*.tmp"
            ):  # leftovers of killed writers: we hold the lock
                old.unlink(missing_ok=True)
        except OSError as exc:  # full disk, read-only file system, a directory in the way
            raise unwritable(directory, exc) from None
        snapshot = self.get(dataset)
        assert snapshot is not None
        return snapshot

    def delete(self, dataset: DatasetId) -> None:
        """Remove a dataset's file (readers holding a pin keep their copy)."""
        directory = self.directory(dataset)
        for path in _parts(directory):
            path.unlink(missing_ok=True)
        for path in directory.glob(".part-*.tmp"):
            path.unlink(missing_ok=True)

    def datasets(self, region: str | None = None, project_id: str | None = None) -> list[DatasetId]:
        """Every dataset on disk (optionally of one region and/or project)."""
        found = []
        if not self.base.is_dir():
            return []
        for path in self.base.glob(f"region={region or '*'}/project_id={project_id or '*'}/*"):
            if not path.is_dir() or not path.name.startswith("workspace_id="):
                continue
            values = [path.parent.parent.name, path.parent.name, path.name]
            try:
                dataset = DatasetId(*(v.split("=", 1)[1] for v in values))
            except ConfigError:
                continue  # not written by mavtools: never read
            if _current(path) is not None:
                found.append(dataset)
        return sorted(found)

    def entries(
        self, region: str | None = None, project_id: str | None = None
    ) -> list[Snapshot | EntryError]:
        """Every dataset (of one region/project, or all), oldest first; unusable ones as errors."""
        out: list[Snapshot | EntryError] = []
        for dataset in self.datasets(region, project_id):
            try:
                snapshot = self.get(dataset)
            except EntryError as exc:
                exc.dataset = dataset
                out.append(exc)
            else:
                if snapshot is not None:
                    out.append(snapshot)
        unknown = datetime.min.replace(tzinfo=UTC)
        return sorted(out, key=lambda e: e.fetched_at if isinstance(e, Snapshot) else unknown)

    # -- the workspace list of a project --------------------------------------------------------

    def read_workspaces(
        self, region: str, project_id: str
    ) -> tuple[list[str], datetime, str] | None:
        """The workspace ids last listed for a project, when, and the warning given then (or
        ""); None when unknown or unusable."""
        path = self.base / f"region={region}" / f"project_id={project_id}" / _WORKSPACES
        try:
            doc = json.loads(path.read_bytes())
            ids = [str(w) for w in doc["workspaces"]]
            listed = datetime.fromisoformat(doc["listed_at"]).astimezone(UTC)
            note = str(doc.get("note", ""))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if not ids or not all(_SAFE.fullmatch(w) for w in ids):
            return None
        return ids, listed, note

    def write_workspaces(
        self, region: str, project_id: str, ids: list[str], listed_at: datetime, note: str = ""
    ) -> None:
        """Remember a project's workspace list (and the warning that narrowed it, if any)."""
        directory = self._make_dirs(DatasetId(region, project_id, "0")).parent
        doc = {"workspaces": ids, "listed_at": listed_at.astimezone(UTC).isoformat(), "note": note}
        try:
            write_atomic(directory / _WORKSPACES, json.dumps(doc).encode())
        except OSError as exc:
            raise unwritable(directory, exc) from None

    # -- readers --------------------------------------------------------------------------------

    def pin(self, snapshots: list[Snapshot]) -> Path | None:
        """Hard-link the given files into a new reader folder (Hive layout); None if empty.

        A lazy frame over the folder keeps its snapshot however often the datasets are refreshed.
        Folders older than :data:`READER_GRACE` are removed here.
        """
        self.prune_readers(READER_GRACE)
        if not snapshots:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        folder = self.root / _READERS / f"{stamp}-{uuid.uuid4().hex[:8]}"
        try:
            for snapshot in snapshots:
                target = folder.joinpath(*snapshot.dataset.parts())
                mkdirs(target)
                try:
                    os.link(snapshot.data, target / snapshot.data.name)
                except FileNotFoundError:
                    continue  # deleted meanwhile: the dataset is gone for this reader too
                except OSError:  # a file system without hard links: copy instead
                    shutil.copyfile(snapshot.data, target / snapshot.data.name)
        except OSError as exc:
            raise unwritable(folder, exc) from None
        return folder

    def _retire(self, directory: Path, dataset: DatasetId, *, keep: Path) -> None:
        """Move the dataset's other files out of the dataset tree, into the pins.

        One rename each (the same file system): a reader that listed the old file finds it gone
        (file not found, never other bytes), and a reader that opened it keeps reading it. The
        retired files are removed with the pins, after :data:`READER_GRACE`.
        """
        old = [p for p in _parts(directory) if p != keep]
        if not old:
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        folder = self.root / _READERS / f"{stamp}-{_RETIRED}-{uuid.uuid4().hex[:8]}"
        target = folder.joinpath(*dataset.parts())
        mkdirs(target)
        for path in old:
            try:
                os.replace(path, target / path.name)
            except FileNotFoundError:
                continue
            except OSError:
                path.unlink(missing_ok=True)

    def prune_readers(self, older_than: timedelta = timedelta(0)) -> int:
        """Remove reader folders pinned longer ago than ``older_than``; return how many."""
        folder = self.root / _READERS
        if not folder.is_dir():
            return 0
        limit = time.time() - older_than.total_seconds()
        removed = 0
        for path in folder.iterdir():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime <= limit:
                    shutil.rmtree(path)
                    removed += 1
        return removed

    # -- the layout before per-project datasets -------------------------------------------------

    def drop_legacy(self) -> int:
        """Delete entries of the old per-query layout (``versions/<project>/<key>.json``).

        They are never read: the per-project datasets are fetched again. Returns how many files
        were removed and logs one line when there were any.
        """
        if not self.base.is_dir():
            return 0
        removed = 0
        for path in self.base.iterdir():
            if "=" in path.name or not path.is_dir():
                continue
            legacy = [p for p in path.iterdir() if p.suffix in (".json", ".parquet", ".lock")]
            if not legacy or len(legacy) != len(list(path.iterdir())):
                continue  # not ours: leave it
            shutil.rmtree(path, ignore_errors=True)
            removed += sum(p.suffix == ".json" for p in legacy)
        if removed:
            log.warning(
                "Dropped %d cache entries of the old per-query layout from %s; the "
                "per-project datasets are fetched again.",
                removed,
                self.base,
            )
        return removed

    def _make_dirs(self, dataset: DatasetId) -> Path:
        directory = self.directory(dataset)
        mkdirs(directory)
        return directory


def _parts(directory: Path) -> list[Path]:
    """The snapshot files in a dataset's directory, oldest first (names sort by time)."""
    try:
        names = sorted(p.name for p in directory.iterdir() if _PART_NAME.fullmatch(p.name))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [directory / name for name in names]


def _current(directory: Path) -> Path | None:
    """The dataset's file: the newest snapshot file (only for an instant is there another)."""
    parts = _parts(directory)
    return parts[-1] if parts else None


def with_partitions(frame: pl.DataFrame | pl.LazyFrame, dataset: DatasetId) -> Any:
    """Add the partition columns of ``dataset`` and order the columns as the frame contract."""
    return frame.with_columns(
        **{name: pl.lit(getattr(dataset, name)) for name in PARTITIONS}
    ).select([pl.col(name).cast(dtype) for name, dtype in VERSION_SCHEMA.items()])


def _parse_meta(text: str | None, dataset: DatasetId, path: Path, size: int) -> Snapshot:
    try:
        doc = json.loads(text or "")
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ValueError
        version = doc["schema_version"]
        if version != SCHEMA_VERSION or doc.get("schema") != _schema_fingerprint():
            raise EntryOutdated(
                f"The cache of {dataset} was written with schema version {version}, this "
                f"mavtools uses {SCHEMA_VERSION}."
            )
        snapshot = Snapshot(
            dataset=DatasetId(*(str(doc[name]) for name in PARTITIONS)),
            endpoint=str(doc["endpoint"]),
            fetched_at=datetime.fromisoformat(doc["fetched_at"]).astimezone(UTC),
            rows=_count(doc["rows"]),
            offset_mode=str(doc["offset_mode"]),
            data=path,
            size=size,
            note=str(doc.get("note", "")),
            skipped={str(k): str(v) for k, v in dict(doc.get("skipped") or {}).items()},
            v2_offset_mode=str(doc.get("v2_offset_mode", "auto")),
        )
    except EntryOutdated:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, ConfigError):
        raise EntryDamaged(f"The cache file of {dataset} has no valid description.") from None
    if snapshot.dataset != dataset:
        raise EntryDamaged(f"The cache file of {dataset} describes another dataset (moved?).")
    return snapshot


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError
    return value
