"""From response bodies to the typed polars frame of job versions.

The column names and dtypes in :data:`VERSION_SCHEMA` are a contract that the cache, the analysis
functions, the figures and the notebooks rely on:

============== ======================== ==========================================================
column         dtype                    meaning
============== ======================== ==========================================================
version_id     Int64                    unique id of the job version
version_name   String
version_desc   String                   may be null
status         Int16                    the raw status code
status_name    Categorical              ``COMPLETED`` ...; undocumented codes read ``STATUS_<n>``
outcome        Enum(OUTCOMES)           see :mod:`mavtools.statuses`
create_time    Datetime("ms", "UTC")
start_time     Datetime("ms", "UTC")    null when not started (the API sends 0 or nothing)
end_time       Datetime("ms", "UTC")    null when not ended
duration       Duration("ms")           run time as the API reports it
queue_wait     Duration("ms")           start_time - create_time; null when not started
pool_id        Categorical              resource pool
flavor_code    Categorical              resource specification
gpu_num        Int32
npu_num        Int32
gpu_hours      Float64                  gpu_num x duration in hours
npu_hours      Float64                  npu_num x duration in hours
workspace_id   Categorical              the workspace that was asked for (the API does not say)
observed_at    Datetime("ms", "UTC")    snapshot time: when the fetch that read this row was taken,
                                        the same for every row of one fetch (null only in frames
                                        built by hand); the analysis reads "now" from it per row
api            String                   ``"v1"`` (old-version training) or ``"v2"`` (new-version)
job_id         String                   identity within ``api``: the v1 version id as text, the
                                        v2 job UUID
user_name      String                   who created the job (v2 only; null for v1)
node_count     Int32                    nodes the job runs on (v2 only; null for v1)
region         String                   the client's region (``eu-de``), asked, not sent by the API
project_id     String                   the IAM project the versions belong to
priority       Int8                     scheduling priority, 1 (default) to 3 (v2
                                        ``spec.schedule_policy.priority``; null when not sent, v1)
preemptible    Boolean                  whether the scheduler may preempt the job (v2; else null)
restarts       Int32                    run segments after the first (v2 ``running_records``;
                                        null when the API sent none, and for v1)
segments       List(SEGMENT)            the run segments: ``start``, ``end`` (null while running),
                                        ``start_type``, ``end_reason``, ``end_recover`` (see
                                        :mod:`mavtools.segments`); null when the API sent none
node_counts    List(NODE_COUNT)         an elastic job's node count over time: ``nodes`` from
                                        ``time`` on (v2 ``node_count_metrics``; else null)
============== ======================== ==========================================================

Where ``segments`` is set, a job holds its units only inside its segments, not in the gaps while
it was rescheduled, and ``gpu_hours``/``npu_hours`` count only those (with ``node_counts``, the
units follow the node count); see :mod:`mavtools.analysis`.

v1 rows keep their integer ``version_id``; v2 rows have ``version_id`` null and are identified by
``job_id`` (:data:`ROW_KEY` is the one place that names the row identity). v2 jobs are parsed by
:mod:`mavtools.frame_v2`; their ``status``/``status_name``/``outcome`` come from the phase mapping in
:mod:`mavtools.statuses`.

Parsing has a fast path (``polars.read_json`` with a fixed schema) and, when that refuses a body or
reads it differently from :mod:`mavtools.records`' rules, a careful path that reads every record by
those rules (:data:`mavtools.records.V1_FIELDS`) and raises :class:`ResponseFormatError` naming the
page, the record and the field. Both APIs follow one policy for integers, bounds, missing values and
text (see :mod:`mavtools.records`). The fast path reads the integer fields as text and converts
them, so booleans, fractional floats and numbers beyond Int64 fall to the careful path instead of
being truncated; its one known leniency is a number where text belongs, which polars' reader
keeps as its digits.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import polars as pl

from mavtools.errors import ResponseFormatError
from mavtools.records import (
    _DURATION,
    _MAX_EPOCH_MS,  # noqa: F401  # api/v2.py imports it from here (issue 22 edits that file)
    _MAX_INT64,
    INT,
    TIME,
    V1_FIELDS,
    out_of_bounds,
    raw_schema,
    read_int,
    read_record,
    read_text,
)
from mavtools.segments import NODE_COUNT, SEGMENT
from mavtools.statuses import OUTCOMES, outcome_of, status_name

__all__ = [
    "OUTCOME_DTYPE",
    "ROW_KEY",
    "VERSION_SCHEMA",
    "WIRE_FIELDS",
    "Batch",
    "Page",
    "build_frame",
    "check_head",
    "check_values",
    "empty_frame",
    "json_object",
    "parse_page",
    "stamp",
    "status_labels",
    "to_schema",
    "to_time",
    "unique_records",
    "unit_hours",
]

OUTCOME_DTYPE: Final = pl.Enum(list(OUTCOMES))

VERSION_SCHEMA: Final[pl.Schema] = pl.Schema(
    {  # type: ignore[arg-type]  # polars' stubs do not accept an Enum instance in a dict literal
        "version_id": pl.Int64,
        "version_name": pl.String,
        "version_desc": pl.String,
        "status": pl.Int16,
        "status_name": pl.Categorical(),
        "outcome": OUTCOME_DTYPE,
        "create_time": TIME,
        "start_time": TIME,
        "end_time": TIME,
        "duration": _DURATION,
        "queue_wait": _DURATION,
        "pool_id": pl.Categorical(),
        "flavor_code": pl.Categorical(),
        "gpu_num": pl.Int32,
        "npu_num": pl.Int32,
        "gpu_hours": pl.Float64,
        "npu_hours": pl.Float64,
        "workspace_id": pl.Categorical(),
        "observed_at": TIME,
        "api": pl.String,
        "job_id": pl.String,
        "user_name": pl.String,
        "node_count": pl.Int32,
        "region": pl.String,
        "project_id": pl.String,
        "priority": pl.Int8,
        "preemptible": pl.Boolean,
        "restarts": pl.Int32,
        "segments": pl.List(SEGMENT),
        "node_counts": pl.List(NODE_COUNT),
    }
)

#: The columns that identify one row of the frame across both APIs (v1 ids are integers and v2
#: ids UUIDs, so ``job_id`` alone never collides; the pair says so explicitly).
ROW_KEY: Final[tuple[str, ...]] = ("api", "job_id")

#: The fields of one version, in the order the API documents and sends them.
WIRE_FIELDS: Final = (
    "version_id",
    "version_name",
    "status",
    "create_time",
    "start_time",
    "end_time",
    "duration",
    "version_desc",
    "pool_id",
    "flavor_code",
    "npu_num",
    "gpu_num",
)
_WIRE_INT_FIELDS: Final = tuple(f.column for f in V1_FIELDS if f.kind == INT)
_WIRE_STR_FIELDS: Final = tuple(f.column for f in V1_FIELDS if f.kind != INT)
# The fast path reads integers as text: polars would truncate a float and read a boolean as 0/1
# into an Int64 column, which the rules refuse; converted text shows them (they do not convert).
_WIRE_VERSION: Final = pl.Struct(dict.fromkeys((f.column for f in V1_FIELDS), pl.String()))
_WIRE_PAGE: Final = pl.Schema(
    {  # type: ignore[arg-type]  # polars' stubs reject a Struct instance in a dict literal
        "is_success": pl.Boolean,
        "error_code": pl.String,
        "error_message": pl.String,
        "total_count": pl.String,
        "offset": pl.Int64,
        "limit": pl.Int64,
        "versions": pl.List(_WIRE_VERSION),
    }
)
_HEAD_FIELDS: Final = ("is_success", "error_code", "error_message", "total_count")
_RAW_SCHEMA: Final = pl.Schema(raw_schema(V1_FIELDS))
#: The schema of raw page records (wire field names), public for the pager's empty listing.
RAW_SCHEMA: Final = _RAW_SCHEMA
_TO_INTEGERS: Final = [pl.col(_WIRE_INT_FIELDS).str.to_integer(strict=False)]


@dataclass(frozen=True, slots=True)
class Batch:
    """One parsed page of a listing: its records and the count the server claims.

    What every page reader returns (v1 :func:`parse_page`, v2
    :func:`mavtools.frame_v2.parse_search_page`) and what :class:`mavtools.api.pager.Pager` pages
    with; a whole listing read is a :class:`mavtools.api.pager.Listing` (it also says what the read
    cost and how ``offset`` was read).

    Attributes:
        records: the page's records, one row each, with the wire field names (``RAW_SCHEMA``,
            ``V2_RAW_SCHEMA``), in the order sent.
        total_count: how many records match the query, as the server claims (v1 ``total_count``,
            v2 ``count``); None when the body has none.
    """

    records: pl.DataFrame
    total_count: int | None


@dataclass(frozen=True, slots=True)
class Page(Batch):
    """One parsed v1 body: a :class:`Batch` and the body's own success flag and error.

    A type apart because a v1 body may say ``is_success: false`` with HTTP 200: the parser returns
    it rather than raising, since only the caller knows the HTTP status and the URL that belong
    in the error (v2 bodies carry no such flag).

    Attributes:
        is_success: the body's ``is_success`` (None when absent).
        error_code: ``ModelArts.NNNN`` of a failure body.
        error_message: the API's message of a failure body.
    """

    is_success: bool | None
    error_code: str | None
    error_message: str | None


def parse_page(body: bytes, *, where: str, check: bool = True) -> Page:
    """Parse one response body of ``GET .../training-jobs/versions``.

    Args:
        body: the raw bytes of the answer.
        where: names the page in error messages (for example ``"page 3 (offset=2000)"``).
        check: refuse values no real version has (see :func:`check_values`). The pager passes
            False and checks each listing once: one pass over 100 pages costs less than 100.

    Returns:
        The parsed :class:`Page`. A failure body (``is_success: false``) is returned, not raised:
        the caller knows the HTTP status and the URL that belong in the error.

    Raises:
        ResponseFormatError: the body is not the documented JSON.
    """
    if check_head(body, where) != b"{":
        return _parse_slowly(body, where)  # also keeps deeply nested arrays away from polars
    try:
        wire = pl.read_json(io.BytesIO(body), schema=_WIRE_PAGE)
    except Exception:  # polars raises several error types for bodies it cannot read
        return _parse_slowly(body, where)
    if wire.height != 1:
        return _parse_slowly(body, where)
    # Series access, not row(): a row would build Python dicts of every version.
    head = {name: wire.get_column(name)[0] for name in _HEAD_FIELDS}
    total = head["total_count"]
    if total is not None:
        if not (total.isascii() and total.isdigit()) or int(total) > _MAX_INT64:
            return _parse_slowly(body, where)  # the careful path reads or names it
        head["total_count"] = int(total)
    items = wire.get_column("versions")[0]  # the page's list of structs (None for null)
    if items is None or items.len() == 0:
        versions = pl.DataFrame(schema=_RAW_SCHEMA)
    else:
        text = items.struct.unnest()
        versions = text.with_columns(_TO_INTEGERS)
        if not _read_faithfully(text, versions, body):
            return _parse_slowly(
                body, where
            )  # the slow path reads (or names) what polars could not
    if check:
        check_values(versions, where)
    return Page(
        is_success=head["is_success"],
        error_code=head["error_code"],
        error_message=head["error_message"],
        total_count=head["total_count"],
        records=versions,
    )


def check_head(body: bytes, where: str) -> bytes:
    """The first byte that is not white space; an empty body or an HTML page (a gateway's error
    page) is refused as a transient :class:`ResponseFormatError`."""
    stripped = body.lstrip()[:1]
    if not stripped:
        raise ResponseFormatError(
            f"The API sent an empty body for {where}; retry later.", transient=True
        )
    if stripped == b"<":
        raise ResponseFormatError(
            f"The API sent an HTML page instead of JSON for {where}, usually a gateway or proxy "
            "error; check the endpoint and retry later.",
            transient=True,
        )
    return stripped


def json_object(body: bytes, where: str) -> dict[str, Any]:
    """``body`` as a JSON object, or :class:`ResponseFormatError` naming ``where`` and what broke.

    A body cut short or not UTF-8 is a transient error (the client retries it).
    """
    try:
        doc = json.loads(body)
    except UnicodeDecodeError:
        raise ResponseFormatError(
            f"The API sent a body that is not UTF-8 text for {where}.", transient=True
        ) from None
    except json.JSONDecodeError as exc:
        raise ResponseFormatError(
            f"The API sent a body that is not valid JSON for {where} ({exc.msg} at byte {exc.pos}): "
            "the answer was probably truncated; retry later.",
            transient=True,
        ) from None
    except RecursionError:
        raise ResponseFormatError(f"The API sent absurdly nested JSON for {where}.") from None
    if not isinstance(doc, dict):
        raise ResponseFormatError(
            f"The API sent JSON {type(doc).__name__} instead of an object for {where}."
        )
    return doc


def _parse_slowly(body: bytes, where: str) -> Page:
    """Decode with the standard library and read every value by :mod:`mavtools.records`' rules,
    naming the first thing that breaks them."""
    doc = json_object(body, where)
    is_success = doc.get("is_success")
    if is_success is not None and not isinstance(is_success, bool):
        raise ResponseFormatError(
            f"The API sent 'is_success' as {type(is_success).__name__} {_short(is_success)}, "
            f"expected a boolean, in {where}."
        )
    error_code = read_text(doc.get("error_code"), "error_code", where)
    error_message = read_text(doc.get("error_message"), "error_message", where)
    total = doc.get("total_count")
    _check_total(total if isinstance(total, int | float) else None, where)
    total_count = read_int(total, "total_count", where, _MAX_INT64)
    raw_versions = doc.get("versions")
    if raw_versions is None:
        raw_versions = []
    if not isinstance(raw_versions, list):
        raise ResponseFormatError(
            f"The API sent 'versions' as {type(raw_versions).__name__}, not a list, for {where}."
        )
    records = [_record(item, i, where) for i, item in enumerate(raw_versions)]
    versions = pl.DataFrame(records, schema=_RAW_SCHEMA, orient="row")
    return Page(versions, total_count, is_success, error_code, error_message)


def _record(item: Any, index: int, where: str) -> list[Any]:
    if not isinstance(item, dict):
        raise ResponseFormatError(
            f"The API sent version #{index} as {type(item).__name__}, not an object, for {where}."
        )
    return read_record(item, V1_FIELDS, f"version #{index} of {where}")


def _check_total(total_count: float | None, where: str) -> None:
    if total_count is not None and total_count < 0:
        raise ResponseFormatError(
            f"The API sent a negative 'total_count' ({total_count}) for {where}."
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_BOUNDS: Final = {f.column: (0, f.high) for f in V1_FIELDS if f.kind == INT}


# Built once: constructing expressions costs as much as running them on a page.
_CHECKS: Final = [
    ((pl.col(c) < lo) | (pl.col(c) > hi)).any().alias(c) for c, (lo, hi) in _BOUNDS.items()
]


def _read_faithfully(text: pl.DataFrame, versions: pl.DataFrame, body: bytes) -> bool:
    """Whether the fast parser's reading of ``body`` can be trusted (else the slow path reads it).

    Not when a record lacks ``version_id`` (the slow path names it), when an integer field's text
    did not convert (a boolean, a float, a number beyond Int64: the rules decide, not polars), or
    when a string may hold a NUL (polars reads a lone surrogate escape such as ``\\ud800`` as NUL;
    only bodies with a ``\\u`` escape are looked at). Null counts are metadata: this costs next to
    nothing per page.
    """
    if versions.get_column("version_id").null_count():
        return False
    if any(
        versions.get_column(c).null_count() != text.get_column(c).null_count()
        for c in _WIRE_INT_FIELDS
    ):
        return False
    # A one-byte search is a memchr; bodies without any backslash hold no escapes at all.
    return not (
        b"\\" in body
        and b"\\u" in body
        and (
            versions.select(
                pl.any_horizontal(pl.col(_WIRE_STR_FIELDS).str.contains("\x00", literal=True).any())
            ).item()
        )
    )


def check_values(versions: pl.DataFrame, where: str) -> None:
    """Refuse values no real version has (negative times or counts, absurd magnitudes).

    Args:
        versions: raw records (wire field names), one page or a whole listing.
        where: names the page or listing in the error.

    Raises:
        ResponseFormatError: a value outside its bounds, naming the field and the value.
    """
    if versions.is_empty():
        return
    checks = versions.select(_CHECKS).row(0, named=True)
    for column, is_bad in checks.items():
        if is_bad:
            lo, hi = _BOUNDS[column]
            value = versions.filter((pl.col(column) < lo) | (pl.col(column) > hi))[column][0]
            raise out_of_bounds(column, value, hi, where)


def unique_records(
    frames: Sequence[pl.DataFrame],
    key: str | Sequence[str],
    *,
    empty: pl.DataFrame,
    keep: str = "last",
) -> pl.DataFrame:
    """Concatenate frames, one row per ``key`` (``empty`` when there is nothing).

    The one way records of several pages, windows or listings are joined: the pager keeps a
    record's last copy (a later page's is the newer), the client a row's first.
    """
    frames = [f for f in frames if f.height]
    if not frames:
        return empty
    return pl.concat(frames, how="vertical").unique(key, keep=keep, maintain_order=True)  # type: ignore[arg-type]


def empty_frame() -> pl.DataFrame:
    """Return a frame with no versions and the full :data:`VERSION_SCHEMA`."""
    return pl.DataFrame(schema=VERSION_SCHEMA)


def build_frame(
    pages: Iterable[pl.DataFrame],
    workspace_id: str | Sequence[str],
    *,
    observed_at: datetime | None = None,
    region: str | None = None,
    project_id: str | None = None,
) -> pl.DataFrame:
    """Turn raw page records of one workspace into the typed frame.

    Args:
        pages: ``Page.records`` frames, all from the same workspace.
        workspace_id: the workspace that was asked for; it tags every row.
        observed_at: the snapshot time of the fetch (default: now); it tags every row. A fetch of
            several listings re-stamps all rows with one time (see :func:`stamp`).
        region: the region of the client that read them; it tags every row.
        project_id: the project that was asked for; it tags every row.

    Returns:
        A frame with exactly :data:`VERSION_SCHEMA`, in the order the pages came.
    """
    frames = [p for p in pages if p.height]
    if not frames:
        return empty_frame()
    raw = pl.concat(frames, how="vertical", rechunk=True)
    frame = typed(
        raw.with_columns(
            workspace_id=pl.lit(workspace_id, dtype=pl.String),
            region=pl.lit(region, dtype=pl.String),
            project_id=pl.lit(project_id, dtype=pl.String),
        )
    )
    return stamp(frame, observed_at or datetime.now(UTC))


def stamp(frame: pl.DataFrame, observed_at: datetime) -> pl.DataFrame:
    """Set ``observed_at`` of every row to one snapshot time (a naive ``datetime`` is UTC).

    Example:
        >>> frame = stamp(frame, client_snapshot)
    """
    if observed_at.tzinfo is None:
        observed_at = observed_at.replace(tzinfo=UTC)
    return frame.with_columns(observed_at=pl.lit(observed_at.astimezone(UTC)).cast(TIME))


_MS_PER_HOUR: Final = 3_600_000.0


def to_time(expr: pl.Expr) -> pl.Expr:
    """An epoch in ms as a UTC time; 0 (the APIs' "not yet") and null read null."""
    return pl.when(expr > 0).then(expr).cast(TIME)


def unit_hours(units: pl.Expr, held_ms: pl.Expr) -> pl.Expr:
    """Unit-hours of units held for ``held_ms``: null when either is unknown."""
    return units * (held_ms / _MS_PER_HOUR)


def status_labels(codes: Iterable[int]) -> pl.DataFrame:
    """``status`` -> ``status_name``, ``outcome`` for the codes given: the one status join of
    both APIs (undocumented codes read ``STATUS_<n>`` and outcome ``unknown``)."""
    present = sorted(set(codes))
    return pl.DataFrame(
        {
            "status": present,
            "status_name": [status_name(c) for c in present],
            "outcome": [outcome_of(c) for c in present],
        },
        schema={"status": pl.Int64, "status_name": pl.String, "outcome": pl.String},
    )


def to_schema(frame: pl.LazyFrame) -> pl.DataFrame:
    """The columns of :data:`VERSION_SCHEMA`, in its order and dtypes."""
    return frame.select([pl.col(n).cast(dtype) for n, dtype in VERSION_SCHEMA.items()]).collect()


def typed(raw: pl.DataFrame) -> pl.DataFrame:
    """Derive the typed columns from wire columns plus ``workspace_id`` (and ``observed_at``).

    Without an ``observed_at`` column the snapshot time is null (frames built by hand);
    ``region`` and ``project_id`` are taken when present, else null (records not read by a client).
    Missing values follow :mod:`mavtools.records`: a null ``status`` reads 0 (``UNKNOWN``), a null
    ``duration`` 0, and null unit counts stay null (unknown, not zero).
    """
    if "observed_at" not in raw.columns:
        raw = raw.with_columns(observed_at=pl.lit(None, dtype=TIME))
    raw = raw.with_columns(
        pl.lit(None, dtype=pl.String).alias(name)
        for name in ("region", "project_id")
        if name not in raw.columns
    )
    raw = raw.with_columns(pl.col("status").fill_null(0))
    labels = status_labels(raw.get_column("status").unique().to_list())
    frame = (
        raw.lazy()
        .join(labels.lazy(), on="status", how="left", maintain_order="left")
        .with_columns(
            to_time(pl.col("create_time")).alias("create_time"),
            to_time(pl.col("start_time")).alias("start_time"),
            to_time(pl.col("end_time")).alias("end_time"),
            pl.col("duration").fill_null(0).cast(_DURATION),
        )
        .with_columns(
            outcome=pl.col("outcome").cast(OUTCOME_DTYPE),
            queue_wait=(pl.col("start_time") - pl.col("create_time")),
            gpu_hours=unit_hours(pl.col("gpu_num"), pl.col("duration").dt.total_milliseconds()),
            npu_hours=unit_hours(pl.col("npu_num"), pl.col("duration").dt.total_milliseconds()),
            api=pl.lit("v1"),
            job_id=pl.col("version_id").cast(pl.String),
            user_name=pl.lit(None, dtype=pl.String),
            node_count=pl.lit(None, dtype=pl.Int32),
            priority=pl.lit(None, dtype=pl.Int8),
            preemptible=pl.lit(None, dtype=pl.Boolean),
            restarts=pl.lit(None, dtype=pl.Int32),
            segments=pl.lit(None, dtype=pl.List(SEGMENT)),
            node_counts=pl.lit(None, dtype=pl.List(NODE_COUNT)),
        )
    )
    return to_schema(frame)
