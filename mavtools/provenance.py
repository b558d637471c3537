"""Where a frame of versions came from: source, query, fetch time, cache age.

Every frame that :meth:`mavtools.Client.list_versions` or :func:`mavtools.load_versions` returns
carries a :class:`Provenance`, reachable with :func:`provenance`. It holds no secret: the endpoint,
the project id and the query parameters only.

Example:
    >>> df = mt.load_versions()
    >>> print(mt.provenance(df))
    bundled sample data (synthetic) | project 0123... | fetched 2026-10-01 15:00 UTC | ...
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

__all__ = ["Provenance", "attach", "provenance"]

_ATTACHED: dict[int, Provenance] = {}


@dataclass(frozen=True)
class Provenance:
    """The origin of a frame of versions.

    Attributes:
        source: ``"live"`` (the API) or ``"samples"`` (the bundled synthetic responses).
        endpoint: the API endpoint (no credentials).
        project_id: the IAM project.
        query: the query parameters that selected the versions.
        fetched_at: when the data was read from the API (for samples: the snapshot time).
        rows: number of versions.
        from_cache: True when served from the local cache without asking the API.
        cache_age: how old the cached data was when served (None when not from cache).
        note: how it was obtained ("full fetch", "incremental refresh: 3 requests", ...).
    """

    source: str
    endpoint: str
    project_id: str
    query: dict[str, Any]
    fetched_at: datetime
    rows: int
    from_cache: bool = False
    cache_age: timedelta | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sample(self) -> bool:
        return self.source == "samples"

    def served_from_cache(self, now: datetime | None = None) -> Provenance:
        """Return a copy describing the same data served from the cache at ``now``."""
        now = now or datetime.now(UTC)
        return replace(self, from_cache=True, cache_age=max(now - self.fetched_at, timedelta(0)))

    def __str__(self) -> str:
        what = (
            "bundled sample data (synthetic, not your account)"
            if self.is_sample
            else f"ModelArts {self.endpoint}"
        )
        query = ", ".join(f"{k}={v}" for k, v in self.query.items() if v not in (None, [], ()))
        parts = [
            what,
            f"project {self.project_id}",
            f"query: {query or 'all versions'}",
            f"fetched {self.fetched_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
            f"{self.rows:,} versions",
        ]
        if self.from_cache and self.cache_age is not None:
            parts.append(f"from cache, {_human(self.cache_age)} old")
        if self.note:
            parts.append(self.note)
        return " | ".join(parts)


def _human(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def attach(df: pl.DataFrame, info: Provenance) -> pl.DataFrame:
    """Attach ``info`` to ``df`` (in place) and return ``df``."""
    key = id(df)
    _ATTACHED[key] = info
    weakref.finalize(df, _ATTACHED.pop, key, None)
    return df


def provenance(df: pl.DataFrame) -> Provenance | None:
    """Return the :class:`Provenance` of a frame mavtools returned, or None for other frames.

    Frames derived from it (``df.filter(...)``) are new objects and carry none.
    """
    return _ATTACHED.get(id(df))
