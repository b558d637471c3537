"""The question a load asks, and how old a dataset may be before it is refreshed.

:class:`Query` normalises the arguments of :func:`~mavtools.load.load_versions` (no network) and
selects its rows from a frame with polars: every filter (status, outcome, pool, flavor, time
range) is applied locally, so ``load_versions(status="failed")`` costs exactly the requests of
``load_versions()``. :func:`parse_max_age` reads ``max_age`` (``"15m"``, ``"1h"``, ``"never"``).

Example:
    >>> parse_max_age("90m")
    datetime.timedelta(seconds=5400)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import polars as pl

from mavtools.api.query import as_list, check_id, normalise_status
from mavtools.errors import ConfigError

__all__ = ["DEFAULT_MAX_AGE", "NEVER_EXPIRE", "Query", "parse_max_age"]

#: ``max_age`` that never expires a dataset (it is still refreshed with ``refresh=True``).
NEVER_EXPIRE: Final = timedelta.max
DEFAULT_MAX_AGE: Final = "1h"
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")


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
