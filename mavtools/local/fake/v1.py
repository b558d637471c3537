"""The v1 versions listing of the stand-in server: the stored versions and how they are listed.

``GET /v1/{project}/training-jobs/versions`` as the API reference documents it: paging
(``offset`` as a record offset or, switchable, as a page index), filters (``status``,
``pool_id``, ``workspace_id``), ``sort_by`` and ``order``, ``limit=0`` for all. :class:`Versions`
is the part of :class:`~mavtools.local.fake.server.FakeModelArts` that holds the versions and
answers the listing; the gateway around it (credentials, faults, counts) is in ``server``.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from mavtools.frame import WIRE_FIELDS
from mavtools.local.fake.paging import Paging, PagingError
from mavtools.local.fake.wire import Answer, error

__all__ = ["Versions"]

_SORT_FIELDS: Final = {
    "create_time": "create_time",
    "job_desc": "version_desc",
    "status": "status",
    "duration": "duration",
    "job_name": "version_name",
}


class Versions:
    """The versions of a :class:`~mavtools.local.fake.server.FakeModelArts` and their listing.

    The server's ``__init__`` sets these attributes up; they are declared here for the type checker.
    """

    offset_mode: str
    max_limit: int | None
    at_request: dict[int, list[Callable[[], None]]]
    _lock: threading.RLock
    _records: dict[int, dict[str, Any]]
    _encoded: dict[int, bytes]
    _views: dict[tuple[Any, ...], list[int]]

    # -- data -----------------------------------------------------------------------------------

    def add_versions(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add (or replace) versions; each record needs ``version_id`` and ``workspace_id``."""
        with self._lock:
            for record in records:
                rec = dict(record)
                rec.setdefault("workspace_id", "0")
                vid = int(rec["version_id"])
                self._records[vid] = rec
                self._encoded.pop(vid, None)
            self._views.clear()

    def update_version(self, version_id: int, **fields: Any) -> None:
        """Change fields of one version (for example finish it)."""
        with self._lock:
            self._records[version_id].update(fields)
            self._encoded.pop(version_id, None)
            self._views.clear()

    def remove_version(self, version_id: int) -> None:
        with self._lock:
            self._records.pop(version_id)
            self._encoded.pop(version_id, None)
            self._views.clear()

    @property
    def versions(self) -> list[dict[str, Any]]:
        """A copy of every stored record."""
        with self._lock:
            return [dict(r) for r in self._records.values()]

    def churn(
        self, at: int, *, deleted: int = 30, created: int = 30, seed: int = 0, oldest: bool = False
    ) -> None:
        """Just before listing request ``at``: delete ``deleted`` random versions of workspace
        "0" and create ``created`` newer ones (an ordinary day on a busy project).

        ``oldest=True`` deletes every other one of the ``2 * deleted`` oldest instead, where an
        oldest-first reader has already been (the first page, the offset probe).
        """
        rng = random.Random(seed)

        def change() -> None:
            with self._lock:
                mine = sorted(
                    (v for v, r in self._records.items() if r["workspace_id"] == "0"),
                    key=lambda v: (self._records[v].get("create_time") or 0, v),
                )
                newest = max(self._records.values(), key=lambda r: r.get("create_time") or 0)
                top = max(self._records)
                gone = mine[: 2 * deleted : 2] if oldest else rng.sample(mine, deleted)
                for vid in gone:
                    self.remove_version(vid)
                self.add_versions(
                    dict(newest)
                    | {
                        "version_id": top + 1 + i,
                        "job_id": top + 1 + i,
                        "create_time": (newest.get("create_time") or 0) + 1 + i,
                    }
                    for i in range(created)
                )

        self.at_request.setdefault(at, []).append(change)

    # -- the listing ---------------------------------------------------------------------------

    def _list(self, query: Mapping[str, list[str]]) -> Answer:
        def one(name: str, default: str | None = None) -> str | None:
            values = query.get(name)
            return values[-1] if values else default

        # The documented default 20 and limit=0 for all; the cap is a gateway's, silent.
        paging = Paging(
            default_limit=20, max_limit=self.max_limit or None, offset_mode=self.offset_mode
        )
        try:
            offset = int(one("offset") or 0)
            limit = int(one("limit") or paging.default_limit)
        except ValueError:
            return error(400, "ModelArts.0104", "Parameter error.")
        sort_by = one("sort_by", "create_time") or "create_time"
        order = one("order", "desc") or "desc"
        if sort_by not in _SORT_FIELDS or order not in ("asc", "desc"):
            return error(400, "ModelArts.0104", "Parameter error.")
        status = one("status")
        if status is not None and not status.lstrip("-").isdigit():
            return error(400, "ModelArts.0104", "Parameter error.")
        key = (one("workspace_id", "0"), status, one("pool_id"), sort_by, order)
        with self._lock:
            ids = self._views.get(key)
            if ids is None:
                ids = self._select(*key)
                self._views[key] = ids
            total = len(ids)
            try:
                window = paging.window(offset, limit, total)
            except PagingError:
                return error(400, "ModelArts.0104", "Parameter error.")
            encoded = [self._encode(ids[i]) for i in window]
        head = f'{{"is_success":true,"total_count":{total},"offset":{offset},"limit":{limit},"versions":['
        body = head.encode() + b",".join(encoded) + b"]}"
        return Answer(200, body, {"Content-Type": "application/json"})

    def _select(
        self,
        workspace_id: str | None,
        status: str | None,
        pool_id: str | None,
        sort_by: str,
        order: str,
    ) -> list[int]:
        rows = [
            r
            for r in self._records.values()
            if r.get("workspace_id", "0") == workspace_id
            and (status is None or r.get("status") == int(status))
            and (pool_id is None or r.get("pool_id") == pool_id)
        ]
        field_name = _SORT_FIELDS[sort_by]
        rows.sort(
            key=lambda r: (
                (r.get(field_name) is not None, r.get(field_name) or 0, r["version_id"])
                if field_name not in ("version_desc", "version_name")
                else (r.get(field_name) is not None, r.get(field_name) or "", r["version_id"])
            ),
            reverse=order == "desc",
        )
        return [r["version_id"] for r in rows]

    def _encode(self, vid: int) -> bytes:
        data = self._encoded.get(vid)
        if data is None:
            rec = self._records[vid]
            data = json.dumps({k: rec.get(k) for k in WIRE_FIELDS if k in rec}).encode()
            self._encoded[vid] = data
        return data
