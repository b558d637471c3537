"""Parsing response bodies into the typed frame: the fast path, the careful path, the errors."""

from __future__ import annotations

import json

import polars as pl
import pytest

from mavtools.errors import ResponseFormatError
from mavtools.frame import VERSION_SCHEMA, build_frame, empty_frame, parse_page

GOOD = {
    "version_id": 1485,
    "version_name": "trainjob-3f47",
    "status": 12,
    "create_time": 1557473030000,
    "start_time": 1557473040000,
    "end_time": 1557473093000,
    "duration": 53000,
    "version_desc": None,
    "pool_id": "pool9928813f",
    "flavor_code": "modelarts.p1.2xlarge",
    "npu_num": 0,
    "gpu_num": 1,
}


def body(*versions, **head) -> bytes:
    doc = {"is_success": True, "total_count": len(versions), "versions": list(versions)} | head
    return json.dumps(doc).encode()


def test_the_documented_sample_parses_to_the_documented_values():
    page = parse_page(body(GOOD, offset=20, limit=20), where="page 1")
    df = build_frame([page.records], "0")
    assert page.total_count == 1 and page.is_success is True
    row = df.row(0, named=True)
    assert row["version_id"] == 1485
    assert row["status_name"] == "KILLED" and row["outcome"] == "canceled"
    assert row["start_time"].isoformat() == "2019-05-10T07:24:00+00:00"
    assert row["duration"].total_seconds() == 53
    assert row["queue_wait"].total_seconds() == 10
    assert row["gpu_hours"] == pytest.approx(53 / 3600)
    assert row["workspace_id"] == "0"


def test_extra_keys_missing_keys_and_nulls_are_tolerated():
    sparse = {"version_id": 7, "status": None, "gpu_num": None, "new_field": {"x": [1, 2]}}
    page = parse_page(body(GOOD, sparse, surprise="yes"), where="page 1")
    df = build_frame([page.records], "0")
    assert df.schema == VERSION_SCHEMA
    row = df.filter(pl.col("version_id") == 7).row(0, named=True)
    # A missing count is unknown (null), as for v2 jobs, not zero (mavtools.records).
    assert row["create_time"] is None and row["gpu_num"] is None and row["outcome"] == "unknown"
    assert row["gpu_hours"] is None


def test_integral_floats_and_digit_strings_are_integers_on_both_paths():
    from mavtools.frame import _parse_slowly

    raw = body(dict(GOOD, create_time=1557473030000.0, gpu_num="2", status=1.2e1))
    for page in (parse_page(raw, where="p"), _parse_slowly(raw, "p")):
        row = page.records.row(0, named=True)
        assert (row["create_time"], row["gpu_num"], row["status"]) == (1557473030000, 2, 12)


@pytest.mark.parametrize("value", [1557473030000.7, True, "12:00"])
def test_fractions_booleans_and_words_are_refused_on_both_paths(value):
    """One policy for v1 and v2 (mavtools.records): not truncated, not read as 0/1."""
    from mavtools.frame import _parse_slowly

    raw = body(dict(GOOD, create_time=value))
    for parse in (lambda: parse_page(raw, where="p"), lambda: _parse_slowly(raw, "p")):
        with pytest.raises(ResponseFormatError, match=r"'create_time' as .*expected an integer"):
            parse()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty body"),
        (b"   ", "empty body"),
        (b"<html><body>502 Bad Gateway</body></html>", "HTML page"),
        (b'{"is_success": true, "versions": [{"version_id": 1', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not"),
        (b"[1, 2, 3]", "instead of an object"),
        (b"null", "instead of an object"),
        (body(dict(GOOD, status="9 or 10")), "'status' as str"),
        (body(dict(GOOD, create_time="2019-05-10")), "'create_time' as str"),
        (body(dict(GOOD, create_time=float("inf"))), "create_time"),
        (body(dict(GOOD, gpu_num=-1)), "'gpu_num' = -1"),
        (body(dict(GOOD, start_time=-5)), "'start_time' = -5"),
        (body(dict(GOOD, version_name=["x"])), "'version_name' as list"),
        (body(dict(GOOD, version_id=None)), "no 'version_id'"),
        (body("not a version"), "version #0 as str"),
        (json.dumps({"versions": {"a": 1}}).encode(), "not a list"),
        (json.dumps({"total_count": "many", "versions": []}).encode(), "'total_count' as str"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
    ],
)
def test_malformed_bodies_raise_one_sentence_naming_the_page(raw, message):
    with pytest.raises(ResponseFormatError) as info:
        parse_page(raw, where="page 3 of workspace 0 (offset=2000)")
    text = str(info.value)
    assert message in text
    assert "page 3" in text
    assert "\n" not in text


def test_empty_input_gives_the_full_schema():
    assert empty_frame().schema == VERSION_SCHEMA
    assert build_frame([], "0").schema == VERSION_SCHEMA
    page = parse_page(body(), where="p")
    assert build_frame([page.records], "0").height == 0


def test_failure_bodies_are_returned_for_the_caller_to_raise():
    page = parse_page(
        b'{"is_success": false, "error_message": "Error string", "error_code": "ModelArts.0105"}',
        where="p",
    )
    assert page.is_success is False
    assert page.error_code == "ModelArts.0105"
    assert page.records.height == 0
