"""Shared by the analysis modules: units, groups, time conversion and the sweep line.

Public inside :mod:`mavtools.analysis` (the question modules and ``whatif``/``cost`` import these
names); not part of the package's public API. The semantics are stated once in the package
docstring of :mod:`mavtools.analysis`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from mavtools.records import TIME
from mavtools.statuses import FINISHED_OUTCOMES

Resource = Literal["gpu", "npu"]
By = str | Sequence[str] | None
Every = str | timedelta

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS
UNITS: Final[dict[str, str]] = {"gpu": "gpu_num", "npu": "npu_num"}
HOURS: Final[dict[str, str]] = {"gpu": "gpu_hours", "npu": "npu_hours"}
#: The time zone bins and times of day are in unless ``tz=`` says otherwise.
DEFAULT_TZ: Final = "UTC"
#: Outcomes of versions that are over, in the order tables show them.
FINISHED: Final = tuple(o for o in ("succeeded", "failed", "canceled") if o in FINISHED_OUTCOMES)

F = TypeVar("F", bound=Callable[..., Any])


def keyword_only(*old_names: str) -> Callable[[F], F]:
    """Accept the arguments after ``df`` by position for one more release, with a warning.

    ``old_names`` are the parameters in their former positional order.
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(df: Any, *args: Any, **kwargs: Any) -> Any:
            if args:
                if len(args) > len(old_names):
                    raise TypeError(
                        f"{fn.__name__}() takes df and keyword arguments, got {len(args)} more "
                        "positional ones"
                    )
                names = old_names[: len(args)]
                twice = sorted(set(names) & kwargs.keys())
                if twice:
                    raise TypeError(f"{fn.__name__}() got {', '.join(twice)} twice")
                warnings.warn(
                    f"{fn.__name__}(): pass {', '.join(names)} by keyword "
                    f"({', '.join(f'{n}=...' for n in names)}); positional arguments after df "
                    "stop working in the next release",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs.update(zip(names, args, strict=True))
            return fn(df, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


@functools.cache
def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"tz must be an IANA time zone name such as 'UTC' or 'Europe/Berlin', not {tz!r}"
        ) from None


def check_tz(tz: str) -> str:
    """``tz`` when it names a time zone, else a ValueError in one sentence."""
    _zone(tz)
    return tz


def local(expr: pl.Expr, tz: str) -> pl.Expr:
    """A UTC ``Datetime`` expression shown in ``tz`` (the same instants)."""
    return expr.dt.convert_time_zone(tz)


def units_column(resource: str) -> str:
    try:
        return UNITS[resource]
    except KeyError:
        raise ValueError(f"resource must be 'gpu' or 'npu', not {resource!r}") from None


def group_keys(by: By) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def to_ms(value: datetime, tz: str = DEFAULT_TZ) -> int:
    """Epoch milliseconds of ``value``; a naive ``datetime`` is read in ``tz``."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, not {type(value).__name__} {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=_zone(tz))
    return round(value.timestamp() * 1000)


def interval(every: Every) -> str:
    """A polars duration string (``offset_by`` takes no timedelta)."""
    if isinstance(every, timedelta):
        ms = every // timedelta(milliseconds=1)
        if ms <= 0 or every % timedelta(milliseconds=1):
            raise ValueError(f"every must be a positive whole number of milliseconds, not {every}")
        return f"{ms}ms"
    return every


def epoch_ms(expr: pl.Expr) -> pl.Expr:
    """Epoch milliseconds of a ``Datetime("ms")`` expression."""
    return expr.dt.epoch("ms")


def _default_now_ms(df: pl.DataFrame) -> int | None:
    """The latest moment the frame itself vouches for: a timestamp, or a finished run's end."""
    ran = pl.col("start_time") + pl.col("duration")
    row = df.select(
        pl.max_horizontal(
            pl.col("create_time").max(),
            pl.col("start_time").max(),
            pl.col("end_time").max(),
            ran.filter(pl.col("end_time").is_null() & (_finished() | _unknown())).max(),
        ).dt.epoch("ms")
    )
    return row.item() if row.height else None


def _finished() -> pl.Expr:
    return pl.col("outcome").cast(pl.String).is_in(list(FINISHED_OUTCOMES))


def _unknown() -> pl.Expr:
    return pl.col("outcome").cast(pl.String) == "unknown"


def finished_at() -> pl.Expr:
    """When a version is dated in per-period analyses of finished versions.

    Its ``end_time``; else, for a started version, ``start_time + duration``; else (it never
    started, and the API sent no end: every such v2 job) its ``create_time``.
    """
    return pl.coalesce(
        pl.col("end_time"), pl.col("start_time") + pl.col("duration"), pl.col("create_time")
    )


def latest_snapshot_ms(df: pl.DataFrame, now: datetime | None, tz: str = DEFAULT_TZ) -> int | None:
    """The latest snapshot time of the frame (epoch ms): no analysis counts time after it."""
    if now is not None:
        return to_ms(now, tz)
    if not df.height:
        return None
    value = df.select(now_ms_expr(df, now, tz).max()).item()
    return None if value is None else int(value)


def now_ms_expr(df: pl.DataFrame, now: datetime | None, tz: str = DEFAULT_TZ) -> pl.Expr:
    """Per row, the moment an unfinished version holds until, in epoch ms.

    ``now`` when given; else the row's own snapshot time ``observed_at``; for rows without one
    (frames built by hand), the latest timestamp of the frame.
    """
    if now is not None:
        return pl.lit(to_ms(now, tz), dtype=pl.Int64)
    # Frames read by a client stamp every row: no need to scan for a fallback then.
    fallback = _default_now_ms(df) if df["observed_at"].null_count() else None
    return pl.coalesce(epoch_ms(pl.col("observed_at")), pl.lit(fallback, dtype=pl.Int64))


def with_frame_now(df: pl.DataFrame, tz: str = DEFAULT_TZ) -> pl.DataFrame:
    """``df`` with the frame's "now" written into every row that has no ``observed_at``.

    Rows without a snapshot time hold until the latest moment the *whole* frame vouches for
    (:func:`now_ms_expr`); a subset of them vouches for less. Stamp them before taking rows
    apart, so a subset is analysed as it was in the frame.
    """
    if not df["observed_at"].null_count():
        return df
    return df.with_columns(observed_at=now_ms_expr(df, None, tz).cast(TIME))


def using(df: pl.DataFrame, resource: Resource | None) -> pl.DataFrame:
    """Versions that ask for ``resource`` (all versions when it is None)."""
    return df if resource is None else df.filter(pl.col(units_column(resource)) > 0)


def sorted_by(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.sort(keys, nulls_last=True, maintain_order=True) if keys else frame


def period_keys(
    keys: list[str], every: Every | None, column: str | pl.Expr, tz: str = DEFAULT_TZ
) -> tuple[list[str], list[pl.Expr]]:
    """Group keys plus ``time``, the start of the period of ``column`` in ``tz``, with ``every``."""
    if every is None:
        return keys, []
    moment = pl.col(column) if isinstance(column, str) else column
    time = local(moment, check_tz(tz)).dt.truncate(interval(every))
    return [*keys, "time"], [time.alias("time")]


def held_until(
    df: pl.DataFrame, now: datetime | None, tz: str = DEFAULT_TZ, *, clip: bool = True
) -> pl.Expr:
    """Per row, the end (epoch ms, exclusive) of the time a version holds its units.

    ``end_time`` when the API sent one. A finished or ``unknown`` version without one holds from
    ``start_time`` to ``start_time + duration`` when ``duration`` > 0, else nothing (null): an
    ``unknown`` outcome (v2 Abnormal, a v1 UNKNOWN) is no proof the job still runs. A pending or
    running version holds until "now" (:func:`now_ms_expr`). Nothing holds past the row's
    snapshot time: time after it has not been observed (``clip=False`` keeps an observed end
    after it: a replay of run lengths, not a count of time).
    """
    ran = pl.col("duration").dt.total_milliseconds()
    snapshot = now_ms_expr(df, now, tz)
    until = (
        pl.when(pl.col("end_time").is_not_null())
        .then(epoch_ms(pl.col("end_time")))
        .when(_finished() | _unknown())
        .then(pl.when(ran > 0).then(epoch_ms(pl.col("start_time")) + ran))
        .otherwise(snapshot)
    )
    if not clip:
        return until
    # min_horizontal skips nulls: keep "holds nothing" null rather than turning it into "now".
    return pl.when(until.is_not_null()).then(pl.min_horizontal(until, snapshot))


def _fields(column: str, *names: str) -> dict[str, pl.Expr]:
    """``_<name>``: one list per struct field of a list column (``_start``, ``_end`` ...).

    Taken before any filter or explode: filtering or exploding lists of structs with strings
    costs ten times more than lists of their numeric fields.
    """
    return {f"_{n}": pl.col(column).list.eval(pl.element().struct.field(n)) for n in names}


def _in_segments(rows: pl.LazyFrame, faulted_only: bool) -> pl.LazyFrame:
    """Rows with segments (``_start``/``_end`` lists) become one row per segment, clipped to the
    row's end ``e``.

    With ``faulted_only``, only the segments that ended in a fault are kept: those another
    segment followed, or after which the API names a recovery (``_end_recover``); rows without
    segments then hold nothing.
    """
    has = (pl.col("_start").list.len() > 0).fill_null(False)
    lists = ["_start", "_end", *(["_end_recover"] if faulted_only else [])]
    split = (
        rows.filter(has)
        .with_row_index("_r")
        .explode(lists)
        .with_columns(
            s=epoch_ms(pl.col("_start")),
            # An open segment runs until the version's end; none runs past it (min skips nulls,
            # and a null end holds nothing, as for a version without segments).
            e=pl.when(pl.col("e").is_not_null()).then(
                pl.min_horizontal(epoch_ms(pl.col("_end")), pl.col("e"))
            ),
        )
    )
    plain = rows.filter(~has)
    if faulted_only:
        followed = (pl.col("_r") == pl.col("_r").shift(-1)).fill_null(False)
        split = split.filter(followed | (pl.col("_end_recover").fill_null("") != ""))
        plain = plain.filter(pl.lit(False))
    names = [n for n in rows.collect_schema().names() if n not in lists]
    return pl.concat([plain.select(names), split.select(names)], how="vertical")


def _by_node_count(rows: pl.LazyFrame, *, asked: bool = False) -> pl.LazyFrame:
    """Rows with a node count over time (``_time``/``_nodes`` lists) split at each change;
    their units become units per node x nodes (``_node_count`` nodes before the first point).

    ``asked`` (demand): never fewer nodes than the spec's ``node_count``, which the job asked for
    whatever it was given.
    """
    has = (pl.col("_time").list.len() > 0).fill_null(False) & (pl.col("_node_count") > 0)
    elastic = rows.filter(has).with_row_index("_r")
    steps = (
        elastic.select("_r", "_time", "_nodes")
        .explode("_time", "_nodes")
        .select("_r", t=epoch_ms(pl.col("_time")), n=pl.col("_nodes"))
    )
    before_first = elastic.select(
        "_r", t=pl.lit(-(2**62), dtype=pl.Int64), n=pl.col("_node_count").cast(pl.Int64)
    )
    steps = pl.concat([before_first, steps.with_columns(pl.col("n").cast(pl.Int64))])
    if asked:
        steps = steps.join(elastic.select("_r", "_node_count"), on="_r").select(
            "_r", "t", n=pl.max_horizontal("n", pl.col("_node_count").cast(pl.Int64))
        )
    steps = steps.sort("_r", "t").with_columns(
        t_next=pl.col("t").shift(-1).over("_r").fill_null(2**62)
    )
    names = [n for n in rows.collect_schema().names() if n not in ("_time", "_nodes")]
    pieces = (
        elastic.drop("_time", "_nodes")
        .join(steps, on="_r")
        .with_columns(
            s=pl.max_horizontal("s", "t"),
            e=pl.when(pl.col("e").is_not_null()).then(pl.min_horizontal("e", "t_next")),
            u=pl.col("u") // pl.col("_node_count").cast(pl.Int64) * pl.col("n"),
        )
        .filter(pl.col("e") > pl.col("s"))
    )
    return pl.concat([rows.filter(~has).select(names), pieces.select(names)], how="vertical")


def time_bins(lo: int, hi: int, every: str, tz: str) -> pl.DataFrame:
    """The bins covering ``[lo, hi)`` (epoch ms): ``time`` (local, in ``tz``), ``b0``, ``b1``.

    Bins start at local midnight or hour; a bin's real length is what ``offset_by`` reaches (a
    day with a DST change lasts 23 or 25 hours).
    """
    first = pl.Series([lo]).cast(pl.Datetime("ms", "UTC")).dt.convert_time_zone(tz)
    last = pl.Series([hi]).cast(pl.Datetime("ms", "UTC")).dt.convert_time_zone(tz)
    bins = pl.datetime_range(
        first.dt.truncate(every).item(),
        last.item(),
        every,
        closed="left",
        time_unit="ms",
        time_zone=tz,
        eager=True,
    ).alias("time")
    return bins.to_frame().select(
        "time", b0=epoch_ms(pl.col("time")), b1=epoch_ms(pl.col("time").dt.offset_by(every))
    )


def held_intervals(
    df: pl.DataFrame,
    keys: list[str],
    resource: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime | None,
    include_queued: bool = False,
    tz: str = DEFAULT_TZ,
    *,
    faulted_only: bool = False,
    clip_to_snapshot: bool = False,
) -> tuple[pl.DataFrame, int | None, int | None]:
    """Held intervals ``[s, e)`` in epoch ms, clipped to the window, and that window.

    The window is ``[start, end)``; by default from the earliest start of a holding version to
    the latest moment a version holds (the snapshot time when something runs). Every version whose holding
    overlaps the window counts, clipped to it, whenever it was created.

    With ``include_queued`` an interval begins at creation instead of start (at the start when
    that is earlier or the creation unknown): the units a version *asked for* while it waited
    count too (demand rather than allocation, and never less).

    A version with run ``segments`` (v2 ``running_records``) holds only inside them, each clipped
    to the version's own end (:func:`held_until`; an open segment runs until it); an elastic one
    with ``node_counts`` holds units per node x its node count at each moment (the spec's
    ``node_count`` before the first point). With ``include_queued`` segments do not apply: a job
    waiting to be rescheduled still asks for its units, so its demand runs from creation to end;
    an elastic job asks for units per node x the larger of its spec's ``node_count`` and its node
    count at each moment, so demand is never below what it holds.
    ``faulted_only`` keeps only the segments that ended in a fault (for
    :func:`mavtools.analysis.fault_hours`).

    With ``clip_to_snapshot`` the window ends at the latest snapshot time at the latest
    (:func:`latest_snapshot_ms`): answers without bins (a capacity, a bill) cannot show a
    ``coverage``, so they leave the unobserved future out of the window itself.
    """
    units = units_column(resource)
    # Demand begins at creation, or at the start when that is earlier or creation is unknown:
    # demand never holds less than the allocation.
    begin = (
        pl.min_horizontal("create_time", "start_time") if include_queued else pl.col("start_time")
    )
    detail: dict[str, pl.Expr] = {}
    if not include_queued and "segments" in df.columns:
        names = ["start", "end", *(["end_recover"] if faulted_only else [])]
        detail |= _fields("segments", *names)
    if {"node_counts", "node_count"} <= set(df.columns):
        detail |= _fields("node_counts", "time", "nodes") | {"_node_count": pl.col("node_count")}
    rows = (
        df.lazy()
        .select(
            *keys,
            **detail,
            _holds=begin.is_not_null() & (pl.col(units) > 0),
            s=epoch_ms(begin),
            e=held_until(df, now, tz),
            u=pl.col(units).cast(pl.Int64),
        )
        .filter("_holds")
        .drop("_holds")
    )
    if detail:  # read once: the splits below use these rows twice each
        rows = rows.collect().lazy()
    if "_start" in detail:
        rows = _in_segments(rows, faulted_only)
    elif faulted_only:
        rows = rows.filter(pl.lit(False))
    if "_time" in detail:
        rows = _by_node_count(rows, asked=include_queued)
    held = (
        rows.select(*keys, "s", "e", "u")
        .filter(pl.col("e") > pl.col("s"), pl.col("u") > 0)
        .collect()
    )
    lo: int | None = (
        to_ms(start, tz) if start is not None else held.select(pl.col("s").min()).item()
    )
    hi: int | None = to_ms(end, tz) if end is not None else held.select(pl.col("e").max()).item()
    if clip_to_snapshot and hi is not None:
        latest = latest_snapshot_ms(df, now, tz)
        if latest is not None:
            hi = min(hi, latest)
    if lo is None or hi is None or hi <= lo:
        return held.clear(), None, None
    clipped = held.with_columns(
        s=pl.col("s").clip(lower_bound=int(lo)), e=pl.col("e").clip(upper_bound=int(hi))
    )
    return clipped.filter(pl.col("e") > pl.col("s")), int(lo), int(hi)


def snapshots(
    df: pl.DataFrame,
    keys: list[str],
    groups: pl.DataFrame,
    now: datetime | None,
    tz: str = DEFAULT_TZ,
) -> pl.DataFrame:
    """Per group (``_g``), ``known``: the latest snapshot time of its rows (epoch ms).

    Null for groups without rows (pools named only in ``utilization``'s capacity).
    """
    per_row = df.select(*keys, known=now_ms_expr(df, now, tz))
    if not keys:
        return groups.with_columns(known=pl.lit(per_row["known"].max(), dtype=pl.Int64))
    latest = per_row.group_by(keys).agg(pl.col("known").max())
    return groups.join(latest, on=keys, how="left", nulls_equal=True).select("_g", "known")


def group_index(
    df: pl.DataFrame, keys: list[str], extra: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The distinct group keys with a dense index ``_g`` in output order."""
    if not keys:
        return pl.DataFrame({"_g": [0]}, schema={"_g": pl.UInt32})
    found = df.select(keys).unique()
    if extra is not None:
        found = pl.concat([found, extra.select(keys).cast(found.schema)]).unique()
    return sorted_by(found, keys).with_row_index("_g")


def step_function(
    held: pl.DataFrame,
    groups: pl.DataFrame,
    keys: list[str],
    anchors: pl.Series,
    end_ms: int,
) -> pl.DataFrame:
    """The step function of units held, per group: ``_g``, ``t``, ``level``, ``seg`` (ms)."""
    if keys:
        held = held.join(groups, on=keys, how="left", nulls_equal=True)
    else:
        held = held.with_columns(_g=pl.lit(0, dtype=pl.UInt32))
    marks = groups.select("_g").join(
        anchors.alias("t").to_frame().with_columns(d=pl.lit(0, dtype=pl.Int64)), how="cross"
    )
    events = pl.concat(
        [
            held.select("_g", t="s", d="u"),
            held.select("_g", t="e", d=-pl.col("u")),
            marks.select("_g", "t", "d"),
        ]
    ).sort("_g", "t")
    # Each group's deltas sum to zero, so a global running sum is the per-group level.
    same_next = (pl.col("_g") == pl.col("_g").shift(-1)) & (pl.col("t") == pl.col("t").shift(-1))
    steps = (
        events.lazy()
        .with_columns(level=pl.col("d").cum_sum())
        .filter(~same_next.fill_null(False))
        .with_columns(
            seg=pl.when(pl.col("_g") == pl.col("_g").shift(-1))
            .then(pl.col("t").shift(-1))
            .otherwise(pl.lit(end_ms))
            - pl.col("t")
        )
        .filter(pl.col("t") < end_ms)
        .select("_g", "t", "level", "seg")
    )
    return steps.collect()
