"""Listing queries: the one place that knows statuses, outcomes, ids and sort columns.

A user's filters (status codes, names or outcomes; pools; workspaces) are turned here into
validated, sorted, de-duplicated values, and a query is split into :class:`ListingQuery` objects: one
workspace, at most one status and at most one pool each, which is what one paged request of the
versions API can express. The cache builds its keys from the same helpers, so a query means the
same thing to the client and to the cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from mavtools import statuses
from mavtools.errors import ConfigError

__all__ = [
    "ALL_WORKSPACES",
    "SORT_COLUMNS",
    "ListingQuery",
    "as_list",
    "check_id",
    "check_order",
    "check_sort",
    "normalise_status",
]

#: Pass as ``workspace_id`` to list every workspace of the project.
ALL_WORKSPACES: Final = "*"
#: ``sort_by`` values of the API -> the frame column they sort on.
SORT_COLUMNS: Final = {
    "create_time": "create_time",
    "job_desc": "version_desc",
    "status": "status",
    "duration": "duration",
    "job_name": "version_name",
}
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def as_list(value: Any) -> list[Any]:
    """``None`` -> ``[]``, a scalar -> ``[value]``, an iterable -> a list of it."""
    if value is None:
        return []
    if isinstance(value, str | int):
        return [value]
    return list(value)


def normalise_status(status: Any) -> list[int]:
    """Status codes, names (upper case) or outcomes (lower case) as sorted unique codes.

    Raises:
        ConfigError: a value that is neither a known status nor an outcome.
    """
    codes: list[int] = []
    for value in as_list(status):
        # Lower-case outcome names ("failed") select outcomes; upper-case names ("FAILED") codes.
        if isinstance(value, str) and value.strip() in statuses.OUTCOMES:
            codes.extend(statuses.codes_for_outcome(value.strip()))
            continue
        try:
            codes.append(statuses.status_code(value))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return sorted(set(codes))


def check_id(value: Any, name: str) -> str:
    """``value`` as text when it is a valid id (workspace, pool), else :class:`ConfigError`."""
    text = str(value)
    if not ID_PATTERN.fullmatch(text):
        raise ConfigError(
            f"{name} {text!r} is not a valid id: use letters, digits, '.', '_' and '-' only."
        )
    return text


def check_sort(sort_by: str) -> str:
    """The frame column ``sort_by`` sorts on, or :class:`ConfigError`."""
    if sort_by not in SORT_COLUMNS:
        raise ConfigError(f"sort_by must be one of {', '.join(SORT_COLUMNS)}, not {sort_by!r}.")
    return SORT_COLUMNS[sort_by]


def check_order(order: str) -> bool:
    """True for ``"desc"``, False for ``"asc"``, else :class:`ConfigError`."""
    if order not in ("asc", "desc"):
        raise ConfigError(f"order must be 'asc' or 'desc', not {order!r}.")
    return order == "desc"


@dataclass(frozen=True)
class ListingQuery:
    """The query of one paged listing (one workspace, at most one status and one pool).

    What is asked; what comes back is a :class:`mavtools.api.pager.Listing`.
    """

    workspace_id: str
    status: int | None = None
    pool_id: str | None = None

    def params(self) -> dict[str, str]:
        """The filter parameters of the request (paging and order are the pager's)."""
        out = {"workspace_id": self.workspace_id}
        if self.status is not None:
            out["status"] = str(self.status)
        if self.pool_id is not None:
            out["pool_id"] = self.pool_id
        return out

    @property
    def volatile(self) -> bool:
        """Whether versions move in and out of it while it is paged (a status filter)."""
        return self.status is not None

    def label(self) -> str:
        """Names the listing in messages."""
        parts = [f"workspace {self.workspace_id}"]
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.pool_id is not None:
            parts.append(f"pool {self.pool_id}")
        return ", ".join(parts)
