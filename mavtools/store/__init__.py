"""The local cache: one Hive-partitioned Parquet dataset per (region, project, workspace).

Storage (:mod:`mavtools.store.dataset`: files, layout, atomic writes, locks) is kept apart from
policy (:mod:`mavtools.store.policy`: expiry, refresh planning, provenance).
"""

from mavtools.store.dataset import (
    PARTITIONS,
    READER_GRACE,
    ROW_KEY,
    SCHEMA_VERSION,
    CacheStore,
    DatasetId,
    EntryDamaged,
    EntryError,
    EntryOutdated,
    Snapshot,
    default_cache_dir,
)
from mavtools.store.policy import (
    DEFAULT_MAX_AGE,
    NEVER_EXPIRE,
    Query,
    VersionCache,
    VersionSource,
    load_versions,
    parse_max_age,
    scan_cache,
)

__all__ = [
    "DEFAULT_MAX_AGE",
    "NEVER_EXPIRE",
    "PARTITIONS",
    "READER_GRACE",
    "ROW_KEY",
    "SCHEMA_VERSION",
    "CacheStore",
    "DatasetId",
    "EntryDamaged",
    "EntryError",
    "EntryOutdated",
    "Query",
    "Snapshot",
    "VersionCache",
    "VersionSource",
    "default_cache_dir",
    "load_versions",
    "parse_max_age",
    "scan_cache",
]
