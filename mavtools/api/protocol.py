"""What the cache needs from a client, as a typed protocol.

:class:`mavtools.api.client.Client` satisfies it; so can a test double or a client of another API
version, without the cache importing the client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from mavtools.api.query import ListingQuery
from mavtools.provenance import Provenance

if TYPE_CHECKING:
    from mavtools.api.pager import Listing
    from mavtools.api.v2 import V2Api

__all__ = ["VersionSource"]


class VersionSource(Protocol):
    """A source of version listings: the client as the cache sees it."""

    endpoint: str
    project_id: str
    region: str
    offset_mode: str
    #: New-version training (job searches): read by the cache beside the v1 listing.
    v2: V2Api

    @property
    def requests_made(self) -> int: ...

    def list_versions(
        self,
        status: Any = None,
        pool_id: Any = None,
        workspace_id: Any = "0",
        sort_by: str = "create_time",
        order: str = "desc",
        *,
        api: str = "auto",
        progress: Callable[[int, int], None] | None = None,
    ) -> pl.DataFrame: ...

    def describe(self, query: Mapping[str, Any], rows: int, **extra: Any) -> Provenance: ...

    def list_workspaces(self) -> list[str]: ...

    def resolve_workspaces(self) -> tuple[list[str], str]: ...

    def plan(
        self,
        status: Any = None,
        pool_id: Any = None,
        workspace_id: str | Iterable[str] = "0",
    ) -> list[ListingQuery]: ...

    def fetch_listing(self, listing: ListingQuery) -> Listing: ...

    def deadline_scope(self) -> contextlib.AbstractContextManager[None]: ...

    def read_newest(self, listing: ListingQuery, depth: int | Callable[[int], int]) -> Listing: ...
