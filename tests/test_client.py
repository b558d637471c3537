"""The client over real HTTP against the local ModelArts server on 127.0.0.1."""

from __future__ import annotations

import time
from typing import Any

import polars as pl
import pytest

import mavtools as mt
from mavtools.api.client import Client, RetryPolicy, Timeout
from mavtools.errors import (
    ApiError,
    AuthError,
    ConfigError,
    IncompleteError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
    ThrottledError,
    TransportError,
)
from mavtools.frame import VERSION_SCHEMA
from tests.conftest import PROJECT, TOKEN

FAST_RETRY = RetryPolicy(attempts=4, backoff=0.01, max_wait=2.0, total=10.0)


def client_for(server: Any, **options: Any) -> Client:
    options.setdefault("token", TOKEN)
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("page_size", 100)
    return Client(server.url, PROJECT, allow_http=True, **options)


def expected_ids(records: list[dict[str, Any]], **where: Any) -> set[int]:
    """The ids a query should return, computed from the raw records in plain Python."""
    out = set()
    for r in records:
        if all(
            r.get(key) in (value if isinstance(value, list | set | tuple) else [value])
            for key, value in where.items()
        ):
            out.add(r["version_id"])
    return out


# -- completeness and filters -------------------------------------------------------------------


@pytest.mark.parametrize("offset_mode", ["record", "page", "page1"])
def test_every_version_exactly_once_whatever_offset_means(start_server, records, offset_mode):
    server = start_server(records, offset_mode=offset_mode)
    client = client_for(server)
    df = client.list_versions(workspace_id="0")
    assert df["version_id"].is_unique().all()
    assert set(df["version_id"]) == expected_ids(records, workspace_id="0")
    assert client.offset_mode == offset_mode
    # 1 first page, 2 for the probe (the probe and the head read again: a deletion between
    # page 1 and the probe would shift it), then the remaining pages, nothing more. Record offsets: pages
    # overlap by one record (99 new a page). Page indexes cannot overlap, so the listing is read
    # twice and the two passes must agree.
    n = len(expected_ids(records, workspace_id="0"))
    if offset_mode == "record":
        assert server.api.requests == 3 + -(-(n - 100) // 99)
    else:
        assert server.api.requests == 2 + 2 * (1 + (n - 1) // 100)


def test_filters_by_status_pool_and_workspace(start_server, records):
    server = start_server(records)
    client = client_for(server)
    ws = "7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b"
    df = client.list_versions(status=[11, "COMPLETED"], pool_id="pool-v100-batch", workspace_id=ws)
    assert set(df["version_id"]) == expected_ids(
        records, workspace_id=ws, status=[10, 11], pool_id="pool-v100-batch"
    )
    assert set(df["status_name"].cast(pl.String)) <= {"COMPLETED", "FAILED"}
    assert set(df["workspace_id"].cast(pl.String)) == {ws}


def test_several_pools_and_workspaces_are_merged(start_server, records):
    server = start_server(records)
    client = client_for(server)
    workspaces = ["0", "c91e5b2d7f3a48c6a3f1c9e2b7d84f0a"]
    pools = ["pool-a100-prod", "pool-cpu-public"]
    df = client.list_versions(pool_id=pools, workspace_id=workspaces)
    assert set(df["version_id"]) == expected_ids(records, workspace_id=workspaces, pool_id=pools)
    assert df["version_id"].is_unique().all()
    tagged = dict(zip(df["version_id"], df["workspace_id"].cast(pl.String), strict=True))
    assert all(
        tagged[r["version_id"]] == r["workspace_id"] for r in records if r["version_id"] in tagged
    )


def test_outcome_names_expand_to_their_codes(start_server, records):
    server = start_server(records)
    df = client_for(server).list_versions(status="failed", workspace_id=mt.ALL_WORKSPACES)
    failed_codes = {3, 5, 11, 14, 16, 17, 21}
    assert set(df["version_id"]) == expected_ids(records, status=failed_codes)
    assert set(df["outcome"].cast(pl.String)) == {"failed"}


def test_all_workspaces_are_discovered(start_server, records):
    server = start_server(records)
    df = client_for(server).list_versions(workspace_id=mt.ALL_WORKSPACES)
    assert df.height == len(records)
    assert set(df["workspace_id"].cast(pl.String)) == {r["workspace_id"] for r in records}


@pytest.mark.parametrize(
    ("sort_by", "column"),
    [
        ("create_time", "create_time"),
        ("status", "status"),
        ("duration", "duration"),
        ("job_name", "version_name"),
        ("job_desc", "version_desc"),
    ],
)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_orders(start_server, records, sort_by, column, order):
    server = start_server(records)
    df = client_for(server).list_versions(sort_by=sort_by, order=order)
    values = [v for v in df[column].to_list() if v is not None]
    assert values == sorted(values, reverse=order == "desc")
    nulls = df[column].is_null().to_list()
    assert nulls == sorted(nulls), "versions without a value come last"


def test_frame_schema_and_derived_columns(start_server):
    hour = 3_600_000
    base = 1_760_000_000_000
    recs = [
        dict(
            version_id=1,
            version_name="a",
            status=10,
            create_time=base,
            start_time=base + hour,
            end_time=base + 3 * hour,
            duration=2 * hour,
            version_desc=None,
            pool_id="p",
            flavor_code="f",
            npu_num=0,
            gpu_num=4,
            workspace_id="0",
        ),
        dict(
            version_id=2,
            version_name="b",
            status=7,
            create_time=base,
            start_time=0,
            end_time=0,
            duration=0,
            version_desc="queued",
            pool_id="p",
            flavor_code="f",
            npu_num=8,
            gpu_num=0,
            workspace_id="0",
        ),
        dict(version_id=3, version_name="c", status=99, create_time=base, workspace_id="0"),
    ]
    server = start_server(recs)
    df = client_for(server).list_versions(sort_by="create_time", order="asc")
    assert df.schema == VERSION_SCHEMA
    row = {r["version_id"]: r for r in df.to_dicts()}
    assert row[1]["queue_wait"].total_seconds() == 3600
    assert row[1]["gpu_hours"] == pytest.approx(8.0)
    assert row[1]["outcome"] == "succeeded"
    assert row[2]["start_time"] is None and row[2]["end_time"] is None
    assert row[2]["queue_wait"] is None
    assert row[2]["outcome"] == "pending"
    assert row[3]["status_name"] == "STATUS_99"
    assert row[3]["outcome"] == "unknown"
    assert row[1]["create_time"].isoformat() == "2025-10-09T08:53:20+00:00"


def test_provenance_names_source_and_query_without_secrets(start_server, records):
    server = start_server(records)
    client = client_for(server)
    df = client.list_versions(status="RUNNING")
    info = mt.provenance(df)
    assert info is not None
    assert info.source == "live"
    assert info.endpoint == server.url
    assert info.query["status"] == [8]
    assert info.rows == df.height
    assert TOKEN not in str(info) and TOKEN not in repr(info)
    assert TOKEN not in repr(client)


# -- data changing while paging -------------------------------------------------------------------


def test_versions_created_while_paging_are_neither_lost_nor_doubled(start_server, records):
    ws0 = [r for r in records if r["workspace_id"] == "0"]
    newest = max(r["create_time"] for r in ws0)

    def create_some(n: int) -> None:
        if n in (3, 5, 8):
            server.api.add_versions(
                dict(ws0[0], version_id=900_000 + n * 10 + k, create_time=newest + n * 1000 + k)
                for k in range(7)
            )

    server = start_server(records, before_request=create_some)
    df = client_for(server).list_versions()
    final = {r["version_id"] for r in server.api.versions if r["workspace_id"] == "0"}
    assert df["version_id"].is_unique().all()
    assert set(df["version_id"]) == final
    assert len(final) == len(ws0) + 21


def test_versions_finishing_while_paging_are_all_there(start_server, records):
    ws0 = [r for r in records if r["workspace_id"] == "0"]
    ids = [r["version_id"] for r in ws0]

    def finish_some(n: int) -> None:
        if n == 4:
            for vid in ids[:50]:
                server.api.update_version(vid, status=10, end_time=2_000_000_000_000)

    server = start_server(records, before_request=finish_some)
    df = client_for(server).list_versions()
    assert set(df["version_id"]) == set(ids)
    assert df["version_id"].is_unique().all()


def test_versions_vanishing_while_paging_are_read_again_not_lost(start_server, records):
    ws0 = sorted((r for r in records if r["workspace_id"] == "0"), key=lambda r: r["create_time"])

    def delete_some(n: int) -> None:
        if n == 5:
            for r in ws0[:30]:
                server.api.remove_version(r["version_id"])

    server = start_server(records, before_request=delete_some)
    df = client_for(server).list_versions()
    assert set(df["version_id"]) == {r["version_id"] for r in ws0[30:]}


def test_versions_vanishing_all_along_raise_instead_of_a_partial_frame(start_server, records):
    ws0 = sorted((r for r in records if r["workspace_id"] == "0"), key=lambda r: r["create_time"])

    def delete_one(n: int) -> None:
        if n > 1 and ws0:
            server.api.remove_version(ws0.pop(0)["version_id"])

    server = start_server(records, before_request=delete_one)
    with pytest.raises(IncompleteError, match="kept changing"):
        client_for(server).list_versions()


def test_a_server_that_lies_about_total_count_is_caught(start_server, records):
    server = start_server(records)
    original = server.api._list

    def lying(query):
        answer = original(query)
        answer.body = answer.body.replace(b'"total_count":', b'"total_count":1', 1)
        return answer

    server.api._list = lying  # total_count gets a leading 1: "1500" -> "11500"
    with pytest.raises((IncompleteError, ResponseFormatError)):
        client_for(server).list_versions()


# -- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["429", "429-bare", "500", "502", "503", "reset", "timeout", "truncate", "html", "endless"],
)
def test_each_transient_fault_is_retried_to_a_complete_result(start_server, records, kind):
    server = start_server(records, stall=3.0)
    times = 1 if kind in ("timeout", "endless") else 2  # a stalled answer is retried only once
    server.api.inject(kind, times=times, retry_after=0)
    client = client_for(server, timeout=Timeout(connect=2, read=0.5, total=1.0))
    df = client.list_versions()
    assert set(df["version_id"]) == expected_ids(records, workspace_id="0")
    n = len(expected_ids(records, workspace_id="0"))
    assert server.api.requests == 3 + -(-(n - 100) // 99) + times  # plus the retried requests


def test_a_request_that_stalls_twice_is_not_tried_a_third_time(start_server, records):
    server = start_server(records, stall=3.0)
    server.api.inject("timeout", times=2)
    client = client_for(server, timeout=Timeout(connect=2, read=0.3, total=1.0))
    with pytest.raises(TransportError, match="did not answer") as info:
        client.list_versions()
    assert info.value.cause == "stalled"
    assert server.api.requests == 2


@pytest.mark.parametrize(
    ("kind", "error", "http_status"),
    [
        ("429", ThrottledError, 429),
        ("500", ServerError, 500),
        ("502", ServerError, 502),
        ("reset", TransportError, None),
        ("html", ResponseFormatError, None),
        ("truncate", TransportError, None),  # Content-Length says more: cut at the transport
    ],
)
def test_persistent_faults_raise_one_clear_error(start_server, records, kind, error, http_status):
    server = start_server(records, stall=2.0)
    server.api.inject(kind, times=100, retry_after=0)
    client = client_for(server, timeout=Timeout(connect=2, read=0.5, total=1.0))
    with pytest.raises(error) as info:
        client.list_versions()
    if http_status is not None:
        assert info.value.http_status == http_status
        assert "attempts" in str(info.value)
    assert server.api.requests == FAST_RETRY.attempts
    assert str(info.value).count(".") >= 1 and "\n" not in str(info.value)


def test_retry_after_is_honoured(start_server, records):
    server = start_server(records)
    server.api.inject("429", retry_after=1)
    client = client_for(server)
    started = time.monotonic()
    client.list_versions(status=10, pool_id="pool-cpu-public")
    assert time.monotonic() - started >= 1.0


def test_retry_after_longer_than_allowed_gives_up_at_once(start_server, records):
    server = start_server(records)
    server.api.inject("429", retry_after=3600)
    started = time.monotonic()
    with pytest.raises(ThrottledError):
        client_for(server).list_versions()
    assert time.monotonic() - started < 2
    assert server.api.requests == 1


def test_a_server_that_never_answers_cannot_hang_the_fetch(start_server, records):
    server = start_server(records, stall=30.0)
    server.api.inject("timeout", times=100)
    client = client_for(
        server,
        timeout=Timeout(connect=1, read=0.3, total=1),
        retry=RetryPolicy(attempts=2, backoff=0.01),
    )
    started = time.monotonic()
    with pytest.raises(TransportError, match="did not answer"):
        client.list_versions()
    assert time.monotonic() - started < 5


def test_an_endless_body_is_cut_at_the_total_timeout(start_server, records):
    server = start_server(records, stall=30.0)
    server.api.inject("endless", times=100)
    client = client_for(
        server,
        timeout=Timeout(connect=1, read=5, total=0.5),
        retry=RetryPolicy(attempts=2, backoff=0.01),
    )
    started = time.monotonic()
    with pytest.raises(TransportError, match="took longer"):
        client.list_versions()
    assert time.monotonic() - started < 5


# -- error answers ------------------------------------------------------------------------------


def test_wrong_token_is_an_auth_error_with_a_hint_and_no_secret(start_server, records):
    server = start_server(records)
    client = client_for(server, token="wrong-token-XYZ")
    with pytest.raises(AuthError) as info:
        client.list_versions()
    err = info.value
    assert err.http_status == 401
    assert err.error_code == "ModelArts.0203"
    assert "token" in str(err).lower() and "expired" in str(err)
    assert "wrong-token-XYZ" not in str(err)
    assert server.api.requests == 1, "auth errors are not retried"


def test_wrong_project_is_explained(start_server, records):
    server = start_server(records)
    client = Client(server.url, "ffffffffffffffffffffffffffffffff", token=TOKEN, allow_http=True)
    with pytest.raises(AuthError) as info:
        client.list_versions()
    assert info.value.http_status == 403
    assert info.value.error_code == "ModelArts.0210"
    assert "project id" in str(info.value)


def test_unknown_api_path_is_not_found(start_server):
    server = start_server([])
    client = client_for(server)
    with pytest.raises(NotFoundError) as info:
        client.get(f"{server.url}/v2/nothing", {}, "a test")
    assert info.value.http_status == 404
    assert "endpoint" in str(info.value)


def test_undocumented_error_code_still_reads_well(start_server, records):
    server = start_server(records)
    original = server.api._list

    def failing(query):
        answer = original(query)
        answer.body = b'{"is_success": false, "error_code": "ModelArts.0105", "error_message": "Error string"}'
        return answer

    server.api._list = failing
    with pytest.raises(ApiError) as info:
        client_for(server).list_versions()
    assert info.value.error_code == "ModelArts.0105"
    assert "ModelArts.0105" in str(info.value) and "Error string" in str(info.value)


def test_documented_message_fills_a_bare_error_code(start_server, records):
    server = start_server(records)
    original = server.api._list

    def failing(query):
        answer = original(query)
        answer.status = 400
        answer.body = b'{"is_success": false, "error_code": "ModelArts.0104"}'
        return answer

    server.api._list = failing
    with pytest.raises(ApiError) as info:
        client_for(server).list_versions()
    assert info.value.error_message == "Parameter error."


def test_bad_arguments_are_refused_before_any_request(start_server, records):
    server = start_server(records)
    client = client_for(server)
    for kwargs in (
        {"status": "SLEEPING"},
        {"sort_by": "gpu_num"},
        {"order": "up"},
        {"pool_id": "../etc"},
        {"workspace_id": "0/../1"},
        {"pool_id": "a b"},
        {"workspace_id": "0?x=1"},
        {"pool_id": "p#frag"},
        {"workspace_id": "0\n"},
    ):
        with pytest.raises(ConfigError):
            client.list_versions(**kwargs)
    assert server.api.requests == 0


def test_http_endpoints_need_explicit_permission(start_server):
    server = start_server([])
    with pytest.raises(ConfigError):
        Client(server.url, PROJECT, token=TOKEN)


# -- authentication ------------------------------------------------------------------------------


def test_aksk_signed_requests_are_accepted_and_a_wrong_sk_refused(start_server, records):
    server = start_server(records, token=None, aksk={"AKEXAMPLE123": "SK-secret-value"})
    ok = Client(
        server.url, PROJECT, ak="AKEXAMPLE123", sk="SK-secret-value", allow_http=True, page_size=500
    )
    df = ok.list_versions(status=[10, 11])
    assert set(df["version_id"]) == expected_ids(records, workspace_id="0", status=[10, 11])
    bad = Client(
        server.url, PROJECT, ak="AKEXAMPLE123", sk="not-the-key", allow_http=True, retry=FAST_RETRY
    )
    with pytest.raises(AuthError) as info:
        bad.list_versions()
    assert info.value.error_code == "ModelArts.0206"
    assert "not-the-key" not in str(info.value) and "not-the-key" not in repr(bad)


def test_password_auth_renews_an_expired_token_once(start_server, records):
    from mavtools.api.iam import PasswordAuth

    server = start_server(records, token=None, users={("acme", "alice"): "pw-SECRET"})
    auth = PasswordAuth(server.url, "alice", "pw-SECRET", "acme", project_id=PROJECT)
    client = Client(server.url, PROJECT, auth=auth, allow_http=True, page_size=500)
    first = client.list_versions()
    server.api.expire_tokens()
    second = client.list_versions()
    assert first.height == second.height == len(expected_ids(records, workspace_id="0"))
    assert len(server.api.issued_tokens) == 1, "one new token after expiry, not one per page"


def test_workspace_names_over_http(start_server, records):
    """Names come from the workspace listing; ids without a name keep their id as name."""
    ids = sorted({r["workspace_id"] for r in records})
    named = {w: f"team {i}" for i, w in enumerate(ids) if w != "0"}
    server = start_server(records, workspace_names=named)
    names = client_for(server).workspace_names()
    assert names == {"0": "default", **named}
    assert next(iter(names)) == "0"
    assert list(names) == client_for(server).list_workspaces()


def test_sample_workspaces_have_names():
    names = mt.samples_client().workspace_names()
    assert names == {
        "0": "default",
        "7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b": "vision-team",
        "c91e5b2d7f3a48c6a3f1c9e2b7d84f0a": "speech-lab",
    }
