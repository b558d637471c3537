"""One policy for both APIs: the same wire value reads the same in a v1 version and a v2 job."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mavtools.errors import ResponseFormatError
from mavtools.frame import _parse_slowly, build_frame, parse_page
from mavtools.frame_v2 import build_v2_frame, parse_search_page

# (value sent as create_time, what it reads as; None = refused)
CASES: list[tuple[Any, int | None]] = [
    (1760000000000, 1760000000000),
    (1760000000000.0, 1760000000000),  # an integral float is an integer
    ("1760000000000", 1760000000000),  # so is a string of digits
    (" 1760000000000 ", 1760000000000),
    (1760000000000.5, None),  # a fraction is not
    (True, None),  # nor is a boolean
    ("soon", None),
    ([1], None),
    (-1, None),  # outside 0..9999-12-31
    (10**16, None),
]


def v1_readings(value: Any) -> list[int | None]:
    body = json.dumps(
        {"total_count": 1, "versions": [{"version_id": 1, "create_time": value}]}
    ).encode()
    out: list[int | None] = []
    for parse in (lambda: parse_page(body, where="p"), lambda: _parse_slowly(body, "p")):
        try:
            out.append(parse().records["create_time"][0])
        except ResponseFormatError as exc:
            assert "'create_time'" in str(exc)
            out.append(None)
    return out


def v2_reading(value: Any) -> int | None:
    body = json.dumps({"count": 1, "items": [{"metadata": {"id": "a", "create_time": value}}]})
    try:
        return parse_search_page(body.encode(), where="p").records["create_time"][0]
    except ResponseFormatError as exc:
        assert "'create_time'" in str(exc)
        return None


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_both_apis_and_both_v1_paths_read_an_integer_alike(value: Any, expected: int | None):
    assert v1_readings(value) == [expected, expected]
    assert v2_reading(value) == expected


def test_a_missing_unit_count_is_unknown_in_both_apis():
    v1 = parse_page(
        json.dumps({"total_count": 1, "versions": [{"version_id": 1, "duration": 60000}]}).encode(),
        where="p",
    )
    v2 = parse_search_page(
        json.dumps(
            {"count": 1, "items": [{"metadata": {"id": "a"}, "status": {"duration": 60000}}]}
        ).encode(),
        where="p",
    )
    for frame in (build_frame([v1.records], "0"), build_v2_frame([v2.records], "0")):
        row = frame.row(0, named=True)
        assert (row["gpu_num"], row["npu_num"], row["gpu_hours"]) == (None, None, None)
