"""One set of value rules for the records of both APIs, and each API's fields as a table.

A v1 version (``GET .../training-jobs/versions``) and a v2 job (``POST .../training-job-searches``)
are read field by field through the same rules; what differs between the APIs is data: where a
field sits on the wire, what kind of value it is and its bounds (:data:`V1_FIELDS`,
:data:`V2_FIELDS`). :mod:`mavtools.frame` (v1) and :mod:`mavtools.frame_v2` (v2) read their pages
with these tables, and v1's fast path (polars' JSON reader) is only trusted when it agrees with
them.

The policy, the same for both APIs and for v1's fast and careful paths:

* **Integers** (ids, status codes, epochs, durations, counts): a JSON integer; a float only when
  it is integral (``5.0``, ``1e3``); a string of decimal digits with an optional sign (older v2
  documents type ``start_time`` as a string; a number is a number however it is quoted).
  Refused, naming the field: booleans (``true`` is not a count of 1), fractional floats (a
  count of 1.5 cards is no count; sub-millisecond times never occur), NaN and Infinity, other
  strings, lists and objects. Before this module, v1 truncated floats and read booleans as 0/1
  while v2 refused them.
* **Bounds**: every integer field has its range in the table (times from 0 to 9999-12-31,
  counts up to a sane maximum); outside it, the answer is malformed and refused.
* **Missing**: an absent key, ``null`` (and an empty string where an integer belongs) are null,
  meaning *unknown*; a required field (v1 ``version_id``, v2 ``metadata.id``) may not be missing. In the
  frame, unknown stays null, with the API's documented defaults as the only exceptions: an epoch
  of 0 reads null (the API sends 0 for "not yet"), a null ``duration`` reads 0 (not run) and a
  null v1 ``status`` reads 0 (``UNKNOWN``). Unit counts (``gpu_num``, ``npu_num``) stay null:
  unknown, not zero (before, a v1 version without ``gpu_num`` read 0). Their unit-hours are null;
  the analyses count such rows as holding nothing and :func:`mavtools.quality_report` counts them
  (``unknown_units``).
* **Text**: a JSON string holding valid Unicode (a lone surrogate escape such as ``\\ud800`` is
  refused; a NUL character is valid JSON text and is kept, for v2 as for v1); numbers, booleans,
  lists and objects are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from mavtools.errors import ResponseFormatError

__all__ = [
    "INT",
    "TEXT",
    "TIME",
    "V1_FIELDS",
    "V2_FIELDS",
    "Field",
    "out_of_bounds",
    "raw_schema",
    "read_int",
    "read_object",
    "read_record",
    "read_text",
]

#: The frame's time type: epoch milliseconds, in UTC.
TIME: Final = pl.Datetime("ms", "UTC")
_DURATION: Final = pl.Duration("ms")
_MAX_EPOCH_S: Final = 253_402_300_799  # 9999-12-31
_MAX_EPOCH_MS: Final = _MAX_EPOCH_S * 1000
_MAX_INT64: Final = 2**63 - 1
_MAX_STATUS: Final = 32767
_MAX_UNITS: Final = 1_000_000  # accelerator units of one job
_MAX_CARDS: Final = 1_000  # cards of one node
_MAX_NODES: Final = 100_000

INT: Final = "int"
TEXT: Final = "text"
_DIGITS: Final = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a record: where it sits on the wire and how it is read.

    Attributes:
        column: the column of the raw records.
        path: the keys from the record to the value (``("metadata", "id")``); every key but the
            last names an object.
        kind: :data:`INT` or :data:`TEXT`.
        high: the largest value an integer field may take (the smallest is 0).
        required: a record without it is malformed.
    """

    column: str
    path: tuple[str, ...]
    kind: str
    high: int = 0
    required: bool = False


def _int(column: str, high: int, *path: str, required: bool = False) -> Field:
    return Field(column, path or (column,), INT, high, required)


def _text(column: str, *path: str, required: bool = False) -> Field:
    return Field(column, path or (column,), TEXT, 0, required)


#: A v1 version, in the order of the raw records' columns (integers first, as polars reads them).
V1_FIELDS: Final = (
    _int("version_id", _MAX_INT64, required=True),
    _int("status", _MAX_STATUS),
    _int("create_time", _MAX_EPOCH_MS),
    _int("start_time", _MAX_EPOCH_MS),
    _int("end_time", _MAX_EPOCH_MS),
    _int("duration", _MAX_EPOCH_MS),
    _int("npu_num", _MAX_UNITS),
    _int("gpu_num", _MAX_UNITS),
    _text("version_name"),
    _text("version_desc"),
    _text("pool_id"),
    _text("flavor_code"),
)

#: The plain fields of a v2 job item (cards, tasks, run records and the schedule policy are read
#: by :mod:`mavtools.frame_v2` and :mod:`mavtools.segments`, through the same rules).
V2_FIELDS: Final = (
    _text("job_id", "metadata", "id", required=True),
    _text("job_name", "metadata", "name"),
    _text("job_desc", "metadata", "description"),
    _text("job_workspace", "metadata", "workspace_id"),
    _int("create_time", _MAX_EPOCH_MS, "metadata", "create_time"),
    _text("user_name", "metadata", "user_name"),
    _text("phase", "status", "phase"),
    _text("secondary_phase", "status", "secondary_phase"),
    _int("start_time", _MAX_EPOCH_MS, "status", "start_time"),
    _int("duration", _MAX_EPOCH_MS, "status", "duration"),
    _text("pool_id", "spec", "resource", "pool_id"),
    _text("flavor_id", "spec", "resource", "flavor_id"),
    _int("node_count", _MAX_NODES, "spec", "resource", "node_count"),
)


def raw_schema(fields: Sequence[Field]) -> dict[str, pl.DataType]:
    """The raw records' columns of a table: Int64 for integers, String for text."""
    return {f.column: pl.Int64() if f.kind == INT else pl.String() for f in fields}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def out_of_bounds(name: str, value: Any, high: int, place: str) -> ResponseFormatError:
    """The one sentence for an integer outside ``0..high``."""
    return ResponseFormatError(
        f"The API sent '{name}' = {_short(value)} (outside 0..{high}) in {place}."
    )


def _not_an_int(name: str, value: Any, place: str) -> ResponseFormatError:
    return ResponseFormatError(
        f"The API sent '{name}' as {type(value).__name__} {_short(value)}, expected an integer, "
        f"in {place}."
    )


def read_int(value: Any, name: str, place: str, high: int) -> int | None:
    """An integer field by the module's rules: None when missing, else an int in ``0..high``.

    Raises:
        ResponseFormatError: a boolean, a fractional or non-finite float, a string that is not a
            decimal integer, any other type, or a value outside ``0..high``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise _not_an_int(name, value, place)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():  # also NaN and Infinity
            raise _not_an_int(name, value, place)
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if not _DIGITS.fullmatch(text):
            raise _not_an_int(name, value, place)
        number = int(text)
    else:
        raise _not_an_int(name, value, place)
    if not 0 <= number <= high:
        raise out_of_bounds(name, number, high, place)
    return number


def read_text(value: Any, name: str, place: str) -> str | None:
    """A text field: None when missing, else a string of valid Unicode.

    Raises:
        ResponseFormatError: any other type, or a lone surrogate (``\\ud800``).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ResponseFormatError(
            f"The API sent '{name}' as {type(value).__name__} {_short(value)}, expected a string, "
            f"in {place}."
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800"
            raise ResponseFormatError(
                f"The API sent '{name}' that is not valid Unicode in {place}."
            ) from None
    return value


def read_object(doc: Mapping[str, Any], name: str, place: str) -> Mapping[str, Any]:
    """A nested object; an absent or null one reads as empty."""
    value = doc.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResponseFormatError(
            f"The API sent '{name}' as {type(value).__name__}, not an object, in {place}."
        )
    return value


def read_record(item: Mapping[str, Any], fields: Sequence[Field], place: str) -> list[Any]:
    """The values of ``fields`` in ``item``, in table order, each by the module's rules.

    Raises:
        ResponseFormatError: a value breaking its rule, an intermediate key that is not an
            object, or a required field missing, naming the field and ``place``.
    """
    objects: dict[tuple[str, ...], Mapping[str, Any]] = {(): item}
    out: list[Any] = []
    for field in fields:
        parent = field.path[:-1]
        doc = objects.get(parent)
        if doc is None:
            doc = item
            for depth in range(len(parent)):
                key = parent[: depth + 1]
                if key not in objects:
                    objects[key] = read_object(doc, parent[depth], place)
                doc = objects[key]
        name = field.path[-1]
        if field.kind == INT:
            value: Any = read_int(doc.get(name), name, place, field.high)
        else:
            value = read_text(doc.get(name), name, place)
        if field.required and (value is None or value == ""):
            raise ResponseFormatError(f"The API sent no '{'.'.join(field.path)}' in {place}.")
        out.append(value)
    return out
