"""The local cache: one Hive-partitioned Parquet dataset per (region, project, workspace).

Storage (:mod:`mavtools.store.dataset`: files, layout, atomic writes, locks) is kept apart from
policy: the question and its max-age (:mod:`mavtools.store.query`), the incremental refresh of one
dataset (:mod:`mavtools.store.refresh`) and the cache object that serves queries
(:mod:`mavtools.store.cache`).
"""

from mavtools.api.protocol import VersionSource
from mavtools.store.cache import VersionCache, load_versions, scan_cache
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
from mavtools.store.query import DEFAULT_MAX_AGE, NEVER_EXPIRE, Query, parse_max_age

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
