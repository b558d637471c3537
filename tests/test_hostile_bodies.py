"""Trial 3: bad response bodies, by hand and by hypothesis, parsed directly and over real HTTP.

Whatever the body, only two things may come out: a mavtools error, or a frame whose schema is
exactly :data:`mavtools.VERSION_SCHEMA`. No KeyError, TypeError, UnicodeError or polars panic.
And every body that keeps the documented contract (decided by :func:`oracle`, plain Python over
``json.loads``, independent of the parser) must be read, with exactly its values: a parser that
refused or emptied valid pages would fail here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mavtools.api.client import Client, RetryPolicy, Timeout
from mavtools.errors import MavtoolsError, ResponseFormatError
from mavtools.frame import VERSION_SCHEMA, build_frame, parse_page
from mavtools.local.fake import FakeModelArts, RunningServer, serve
from tests.conftest import PROJECT, TOKEN

GOOD = {
    "version_id": 11,
    "version_name": "train-a",
    "status": 10,
    "create_time": 1_760_000_000_000,
    "start_time": 1_760_000_060_000,
    "end_time": 1_760_003_600_000,
    "duration": 3_540_000,
    "version_desc": "ok",
    "pool_id": "pool-a",
    "flavor_code": "modelarts.p1.2xlarge",
    "npu_num": 0,
    "gpu_num": 8,
}
FIELDS = list(GOOD)


def page(versions: list[Any], total: Any = None, **head: Any) -> bytes:
    doc = {"is_success": True, "total_count": len(versions) if total is None else total}
    doc.update(head)
    doc["versions"] = versions
    return json.dumps(doc).encode()


def version(**changes: Any) -> dict[str, Any]:
    out = dict(GOOD)
    for key, value in changes.items():
        if value is _MISSING:
            out.pop(key, None)
        else:
            out[key] = value
    return out


_MISSING = object()

#: Hand-made hostile bodies: each must give a mavtools error or a correctly typed frame.
CORPUS: dict[str, bytes] = {
    "html error page": b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    "html after whitespace": b"\r\n  <!DOCTYPE html><html></html>",
    "empty": b"",
    "only whitespace": b" \n\t ",
    "json null": b"null",
    "json list": b"[1, 2, 3]",
    "json string": b'"versions"',
    "json number": b"42",
    "empty object": b"{}",
    "null everywhere": json.dumps(
        {"is_success": None, "total_count": None, "versions": [dict.fromkeys(FIELDS)]}
    ).encode(),
    "null fields but id": page([dict.fromkeys(FIELDS) | {"version_id": 5}]),
    "versions null": b'{"is_success": true, "total_count": 0, "versions": null}',
    "versions object": b'{"is_success": true, "total_count": 1, "versions": {"version_id": 1}}',
    "versions of nulls": page([None, None]),
    "versions of numbers": page([1, 2]),
    "status as string": page([version(status="8")]),
    "status as word": page([version(status="RUNNING")]),
    "status as bool": page([version(status=True)]),
    "status as float": page([version(status=8.9)]),
    "status negative": page([version(status=-1)]),
    "status huge": page([version(status=10**6)]),
    "time as iso string": page([version(create_time="2025-10-09T08:53:20Z")]),
    "time as digit string": page([version(create_time="1760000000000")]),
    "time as float": page([version(create_time=1_760_000_000_000.75)]),
    "time as seconds float": page([version(create_time=1_760_000_000.5)]),
    "time negative": page([version(start_time=-5)]),
    "time beyond 9999": page([version(end_time=10**16)]),
    "time beyond int64": page([version(create_time=10**20)]),
    "time 1e30": b'{"total_count":1,"versions":[{"version_id":1,"create_time":1e30}]}',
    "time NaN": b'{"total_count":1,"versions":[{"version_id":1,"create_time":NaN}]}',
    "time Infinity": b'{"total_count":1,"versions":[{"version_id":1,"duration":Infinity}]}',
    "gpu negative": page([version(gpu_num=-8)]),
    "gpu list": page([version(gpu_num=[8])]),
    "gpu object": page([version(gpu_num={"n": 8})]),
    "name as number": page([version(version_name=5)]),
    "name as list": page([version(version_name=["a"])]),
    "pool as object": page([version(pool_id={"id": "p"})]),
    "id missing": page([version(version_id=_MISSING)]),
    "id null": page([version(version_id=None)]),
    "id string": page([version(version_id="11")]),
    "id negative": page([version(version_id=-11)]),
    "id beyond int64": page([version(version_id=2**64)]),
    "id duplicated in page": page([version(), version()]),
    "only id": page([{"version_id": 3}]),
    "all keys missing but id, extra keys": page(
        [{"version_id": 4, "x": [1, {"y": None}], "status_name": 7, "gpu_hours": "lots"}]
    ),
    "extra top-level keys": page([version()], extra={"nested": [[[]]]}, offset="x", limit=None),
    "huge string": page([version(version_desc="x" * 5_000_000)]),
    "huge key": page([version() | {"k" * 1_000_000: 1}]),
    "many versions": page([version(version_id=i) for i in range(20_000)]),
    "non-utf8 bytes in a string": page([version()]).replace(b"train-a", b"train-\xff\xfe"),
    "latin-1 body": '{"total_count":1,"versions":[{"version_id":1,"version_name":"café"}]}'.encode(
        "latin-1"
    ),
    "utf-16 body": page([version()]).decode().encode("utf-16"),
    "utf-8 BOM": b"\xef\xbb\xbf" + page([version()]),
    "lone surrogate escape": b'{"total_count":1,"versions":[{"version_id":1,"version_name":"\\ud800"}]}',
    "surrogate pair escape": b'{"total_count":1,"versions":[{"version_id":1,"version_name":"\\ud83d\\ude00"}]}',
    "NUL escape": b'{"total_count":1,"versions":[{"version_id":1,"version_name":"a\\u0000b"}]}',
    "deeply nested list": b"[" * 100_000 + b"]" * 100_000,
    "deeply nested in object": b'{"total_count":1,"versions":[{"version_id":1,"x":'
    + b"[" * 50_000
    + b"]" * 50_000
    + b"}]}",
    "deeply nested unclosed": b'{"versions":' + b"{" * 100_000,
    "truncated": page([version()])[:-7],
    "trailing garbage": page([version()]) + b"<!-- cached -->",
    "two documents": page([version()]) * 2,
    "duplicate keys": b'{"total_count":1,"total_count":2,"versions":[{"version_id":1,"version_id":2}]}',
    "is_success string": page([version()], is_success="true"),
    "is_success false without code": b'{"is_success": false}',
    "failure with junk code": b'{"is_success": false, "error_code": ["x"], "error_message": {"a": 1}}',
    "total_count string": page([version()], total="1"),
    "total_count negative": page([version()], total=-1),
    "total_count float": page([version()], total=1.0),
    "total_count huge": page([version()], total=10**12),
    "total_count beyond int64": page([version()], total=10**20),
    "total_count lying high": page([version()], total=5000),
    "total_count lying low": page([version(version_id=i) for i in range(30)], total=3),
    "total_count zero with versions": page([version()], total=0),
}


# -- the oracle: what a valid body is, and what it says ------------------------------------------

_INT_BOUNDS = {  # the documented sane ranges: ids and times non-negative, up to 9999-12-31
    "version_id": (0, 2**63 - 1),
    "status": (0, 32767),
    "create_time": (0, 253_402_300_799_000),
    "start_time": (0, 253_402_300_799_000),
    "end_time": (0, 253_402_300_799_000),
    "duration": (0, 253_402_300_799_000),
    "npu_num": (0, 1_000_000),
    "gpu_num": (0, 1_000_000),
}
_STR_FIELDS = ("version_name", "version_desc", "pool_id", "flavor_code")


class _Undefined(Exception):
    """A body the contract says nothing about (duplicate keys, a BOM)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Undefined
    return dict(pairs)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_BAD = object()


def _integer(value: Any) -> Any:
    """An integer field as the one policy of both APIs reads it (mavtools.records), written out
    again: integral floats and signed digit strings are integers, an empty string is missing,
    booleans and fractions are not integers (``_BAD``)."""
    if value is None or _is_int(value):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else _BAD
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else _BAD
    return _BAD


def oracle(body: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The head and the records of a valid body, or None when the body breaks the contract.

    Raises _Undefined for bodies where the contract leaves the reading open.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith("\ufeff"):
        raise _Undefined
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    head = {k: doc.get(k) for k in ("is_success", "error_code", "error_message", "total_count")}
    if head["is_success"] is not None and not isinstance(head["is_success"], bool):
        return None
    for key in ("error_code", "error_message"):
        if head[key] is not None and not isinstance(head[key], str):
            return None
    total = head["total_count"] = _integer(head["total_count"])
    if total is not None and not (_is_int(total) and 0 <= total < 2**63):
        return None
    items = doc.get("versions")
    if items is None:
        items = []
    if not isinstance(items, list):
        return None
    records = []
    for item in items:
        if not isinstance(item, dict) or item.get("version_id") is None:
            return None
        record: dict[str, Any] = {}
        for name, (lo, hi) in _INT_BOUNDS.items():
            value = _integer(item.get(name))
            if value is not None and not (_is_int(value) and lo <= value <= hi):
                return None
            record[name] = value
        for name in _STR_FIELDS:
            value = item.get(name)
            if value is not None and not isinstance(value, str):
                return None
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return None  # a lone surrogate escape
            record[name] = value
        records.append(record)
    return head, records


def _reject(constant: str) -> Any:
    raise ValueError(constant)  # NaN and Infinity are not JSON


def check_parse(body: bytes) -> None:
    """parse_page then build_frame: a ResponseFormatError or the exact schema, nothing else;
    and for a valid body, exactly the values the oracle read."""
    try:
        expected = oracle(body)
    except _Undefined:
        expected = None
        valid = False
    else:
        valid = expected is not None
    try:
        parsed = parse_page(body, where="page 1")
    except ResponseFormatError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert not valid, f"a valid body was refused: {exc}"
        return
    frame = build_frame([parsed.records], "0")
    assert frame.schema == VERSION_SCHEMA
    assert parsed.total_count is None or parsed.total_count >= 0
    if valid:
        assert expected is not None
        head, records = expected
        got_head = {
            "is_success": parsed.is_success,
            "error_code": parsed.error_code,
            "error_message": parsed.error_message,
            "total_count": parsed.total_count,
        }
        assert got_head == head
        assert parsed.records.to_dicts() == records
        assert frame["version_id"].to_list() == [r["version_id"] for r in records]


@pytest.mark.parametrize("name", list(CORPUS))
def test_trial3_corpus_parse_page(name: str) -> None:
    check_parse(CORPUS[name])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("time beyond int64", "out of range|outside"),
        ("id beyond int64", "out of range|outside"),
        ("lone surrogate escape", "not valid Unicode"),
        ("total_count negative", "negative 'total_count'"),
        ("gpu negative", "outside"),
        ("status as word", "expected an integer"),
        ("status as bool", "expected an integer"),
        ("status as float", "expected an integer"),
        ("time as iso string", "expected an integer"),
    ],
)
def test_trial3_values_that_would_be_misread_are_refused(name: str, message: str) -> None:
    """Not silently null, zero or NUL: the body is refused, naming the field."""
    with pytest.raises(ResponseFormatError, match=message):
        parse_page(CORPUS[name], where="page 1")


# -- over real HTTP ------------------------------------------------------------------------------


class Replaced:
    """A FakeModelArts whose list answers carry ``self.body`` (status 200) instead of data."""

    def __init__(self) -> None:
        self.body = b"{}"
        self.api = FakeModelArts([], project_id=PROJECT, token=TOKEN)
        original = self.api._list

        def answer(query: Any) -> Any:
            out = original(query)
            out.body = self.body
            return out

        self.api._list = answer  # type: ignore[method-assign]
        self.server: RunningServer = serve(self.api)


@pytest.fixture(scope="module")
def replaced() -> Iterator[Replaced]:
    holder = Replaced()
    yield holder
    holder.server.stop()


def fetch_through(holder: Replaced, body: bytes) -> None:
    holder.body = body
    client = Client(
        holder.server.url,
        PROJECT,
        token=TOKEN,
        allow_http=True,
        page_size=10,
        retry=RetryPolicy(attempts=2, backoff=0.001, max_wait=0.01, total=1.0),
        timeout=Timeout(connect=2, read=5, total=10),
    )
    try:
        expected = oracle(body)
    except _Undefined:
        expected = None
    try:
        frame = client.list_versions()
    except MavtoolsError as exc:
        assert str(exc) and "\n" not in str(exc)
        if expected is not None and _one_honest_page(*expected):
            raise AssertionError(f"a valid, complete page was refused: {exc}") from None
        return
    assert frame.schema == VERSION_SCHEMA
    assert frame["version_id"].is_unique().all()
    if expected is not None and _one_honest_page(*expected):
        _, records = expected
        by_id = {r["version_id"]: r for r in records}
        assert sorted(frame["version_id"]) == sorted(by_id)
        # The typed frame derives columns: compare what it keeps.
        for row in frame.select("version_id", "version_name").to_dicts():
            assert row["version_name"] == by_id[row["version_id"]]["version_name"]


def _one_honest_page(head: dict[str, Any], records: list[dict[str, Any]]) -> bool:
    """A successful page holding the whole listing: what any correct client must accept."""
    ids = [r["version_id"] for r in records]
    return (
        head["is_success"] is not False
        and len(set(ids)) == len(ids) < 10
        and head["total_count"] in (len(ids), None if not ids else -1)
    )


@pytest.mark.parametrize("name", list(CORPUS))
def test_trial3_corpus_over_http(replaced: Replaced, name: str) -> None:
    fetch_through(replaced, CORPUS[name])


# -- hypothesis ------------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_plausible = {
    "version_id": st.integers(min_value=-5, max_value=2**63 + 5),
    "status": st.integers(min_value=-3, max_value=40_000),
    "create_time": st.integers(min_value=-(10**3), max_value=10**19),
    "start_time": st.integers(min_value=-(10**3), max_value=10**19) | st.just(0),
    "end_time": st.integers(min_value=0, max_value=10**15),
    "duration": st.integers(min_value=-1, max_value=10**15) | st.floats(0, 1e15),
    "npu_num": st.integers(-1, 2_000_000),
    "gpu_num": st.integers(-1, 2_000_000),
    "version_name": st.text(max_size=20),
    "version_desc": st.none() | st.text(max_size=20),
    "pool_id": st.text(max_size=10),
    "flavor_code": st.text(max_size=10),
}


@st.composite
def versions(draw: Any) -> dict[str, Any]:
    """A version whose every field is plausible, absent, or any JSON value at all."""
    out: dict[str, Any] = {}
    for name, plausible in _plausible.items():
        choice = draw(st.sampled_from(["plausible", "plausible", "absent", "junk"]))
        if choice == "plausible":
            out[name] = draw(plausible)
        elif choice == "junk":
            out[name] = draw(_json)
    if draw(st.booleans()):
        out.update(draw(st.dictionaries(st.text(max_size=8), _json, max_size=3)))
    return out


@st.composite
def bodies(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["page", "page", "page", "any json", "mutated", "bytes"]))
    if kind == "any json":
        return json.dumps(draw(_json)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    items = draw(st.lists(versions(), max_size=6))
    doc: dict[str, Any] = {"versions": items}
    for key, plausible in (
        ("is_success", st.booleans()),
        ("total_count", st.integers(-3, 10**13) | st.just(len(items))),
        ("error_code", st.text(max_size=12)),
        ("error_message", st.text(max_size=20)),
    ):
        choice = draw(st.sampled_from(["plausible", "absent", "junk"]))
        if choice == "plausible":
            doc[key] = draw(plausible)
        elif choice == "junk":
            doc[key] = draw(_json)
    body = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    if kind == "mutated" and body:
        at = draw(st.integers(0, len(body) - 1))
        how = draw(st.sampled_from(["cut", "flip", "insert"]))
        if how == "cut":
            body = body[:at]
        elif how == "flip":
            body = body[:at] + bytes([draw(st.integers(0, 255))]) + body[at + 1 :]
        else:
            body = body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
    return body


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=bodies())
def test_trial3_hypothesis_parse_page(body: bytes) -> None:
    check_parse(body)


@settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=bodies())
def test_trial3_hypothesis_over_http(replaced: Replaced, body: bytes) -> None:
    fetch_through(replaced, body)


@pytest.mark.heavy
@settings(
    max_examples=5000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=bodies())
def test_trial3_heavy_hypothesis_parse_page(body: bytes) -> None:
    check_parse(body)
