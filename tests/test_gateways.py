"""Issue 10: real gateways, over real HTTP to the local server behaving as they do.

Capped pages, versions deleted and created between pages under every offset meaning, the offset
probe racing with changes, and a detected offset meaning that must be forgotten when it fails.
Each case failed before the fix it documents.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from mavtools.api.client import Client, RetryPolicy
from mavtools.api.query import ListingQuery
from mavtools.errors import IncompleteError
from tests.conftest import PROJECT, TOKEN
from tests.hostile_support import wire_records

FAST = RetryPolicy(attempts=2, backoff=0.001, max_wait=0.01, total=1.0)
MODES = ["record", "page", "page1"]


def _client(server: Any, **options: Any) -> Client:
    options.setdefault("retry", FAST)
    return Client(server.url, PROJECT, token=TOKEN, allow_http=True, **options)


def _ids(records: list[dict[str, Any]]) -> set[int]:
    return {r["version_id"] for r in records}


@pytest.mark.parametrize("mode", MODES)
def test_a_gateway_capping_limit_is_read_at_the_size_it_serves(start_server, mode):
    """Asked for 100 per page, the gateway serves 30 and the true total: every version once."""
    base = wire_records(1_000, seed=3)
    server = start_server(base, offset_mode=mode, max_limit=30)
    client = _client(server, page_size=100, connections=3)
    df = client.list_versions()
    assert df["version_id"].is_unique().all()
    assert set(df["version_id"]) == _ids(base)
    assert client.offset_mode == mode
    # 1,000 versions at 30 a page (29 new a page with record offsets), not 10 failing pages.
    pages = 1 + -(-(1_000 - 30) // (29 if mode == "record" else 30))
    assert server.api.requests <= pages + 2 + (pages if mode != "record" else 0)


@pytest.mark.parametrize("connections", [1, 3])
@pytest.mark.parametrize("mode", MODES)
def test_delete_and_create_between_pages_loses_no_version(start_server, mode, connections):
    """Between pages, the server deletes an old version and creates a new one (total unchanged).

    Deleting a version of page 1 shifts every later record one place to the front, so without a
    check the record at each later page boundary is never read, and the distinct count still
    matches the unchanged total.
    """
    base = wire_records(1_000, seed=5)
    server = start_server(base, offset_mode=mode)
    oldest_first = sorted(base, key=lambda r: (r["create_time"], r["version_id"]))
    newest = oldest_first[-1]["create_time"]
    deleted: list[int] = []
    created: list[int] = []

    def churn(n: int) -> None:
        if n in (4, 7):  # after the first page, the probe and a page or two
            victim = oldest_first[len(deleted) * 3]["version_id"]
            server.api.remove_version(victim)
            deleted.append(victim)
            vid = 80_000_000 + n
            server.api.add_versions([dict(base[0], version_id=vid, create_time=newest + n)])
            created.append(vid)

    server.api.before_request = churn
    client = _client(server, page_size=100, connections=connections)
    df = client.list_versions()
    got = set(df["version_id"])
    assert df["version_id"].is_unique().all()
    throughout = _ids(base) - set(deleted)
    missing = throughout - got
    assert not missing, f"{len(missing)} versions that existed throughout are missing"
    assert got <= _ids(base) | set(created)
    assert len(deleted) == 2


def test_a_version_created_during_the_probe_does_not_fool_it(start_server):
    """Incremental reads are newest first; probing that order, a new version shifts the probe."""
    base = wire_records(1_000, seed=7)
    server = start_server(base, offset_mode="record")
    newest = max(r["create_time"] for r in base)

    def create_at_probe(n: int) -> None:
        if n == 2:
            server.api.add_versions([dict(base[0], version_id=81_000_000, create_time=newest + 1)])

    server.api.before_request = create_at_probe
    client = _client(server, page_size=100, connections=1)
    with contextlib.suppress(IncompleteError):  # the read itself saw the listing change
        client.read_newest(ListingQuery("0"), 250)
    assert client.offset_mode in ("record", "auto")
    server.api.before_request = None
    df = client.list_versions()
    assert set(df["version_id"]) == _ids(server.api.versions)


def test_a_probe_is_trusted_only_when_the_total_held_still(start_server):
    """The oldest version is deleted between page 1 and the probe: a record offset looks like a
    page index unless the probe's total is compared with page 1's."""
    base = wire_records(1_000, seed=8)
    server = start_server(base, offset_mode="record")
    oldest = min(base, key=lambda r: (r["create_time"], r["version_id"]))["version_id"]

    def delete_at_probe(n: int) -> None:
        if n == 2:
            server.api.remove_version(oldest)

    server.api.before_request = delete_at_probe
    client = _client(server, page_size=100, connections=2)
    df = client.list_versions()
    assert client.offset_mode == "record"
    assert set(df["version_id"]) == _ids(base) - {oldest}


def test_a_wrong_offset_meaning_is_forgotten_after_it_fails(start_server):
    """A meaning remembered from elsewhere (a cache entry) fails once, then is detected again."""
    base = wire_records(1_000, seed=9)
    server = start_server(base, offset_mode="record")
    client = _client(server, page_size=100, connections=2)
    client.offset_mode = "page"  # as the cache restores a meaning detected earlier
    with pytest.raises(IncompleteError):
        client.list_versions()
    assert client.offset_mode == "auto"
    df = client.list_versions()
    assert set(df["version_id"]) == _ids(base)
    assert client.offset_mode == "record"
