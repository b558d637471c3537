"""Shared by the analysis modules: units, groups, time conversion and the sweep line.

Public inside :mod:`mavtools.analysis` (the question modules and ``whatif``/``cost`` import these
names); not part of the package's public API. The semantics are stated once in the package
docstring of :mod:`mavtools.analysis`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

import polars as pl

from mavtools.provenance import provenance

Resource = Literal["gpu", "npu"]
By = str | Sequence[str] | None
Every = str | timedelta

TIME: Final = pl.Datetime("ms", "UTC")
HOUR_MS: Final = 3_600_000
UNITS: Final[dict[str, str]] = {"gpu": "gpu_num", "npu": "npu_num"}
HOURS: Final[dict[str, str]] = {"gpu": "gpu_hours", "npu": "npu_hours"}


def units_column(resource: str) -> str:
    try:
        return UNITS[resource]
    except KeyError:
        raise ValueError(f"resource must be 'gpu' or 'npu', not {resource!r}") from None


def group_keys(by: By) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def to_ms(value: datetime) -> int:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, not {type(value).__name__} {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
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
    row = df.select(
        pl.max_horizontal(
            pl.col("create_time").max(), pl.col("start_time").max(), pl.col("end_time").max()
        ).dt.epoch("ms")
    )
    return row.item() if row.height else None


def fetch_ms(df: pl.DataFrame, now: datetime | None) -> int | None:
    """``now``, else the fetch time of a frame mavtools returned, else its latest timestamp."""
    if now is None:
        info = provenance(df)
        now = info.fetched_at if info is not None else None
    return to_ms(now) if now is not None else _default_now_ms(df)


def using(df: pl.DataFrame, resource: Resource | None) -> pl.DataFrame:
    """Versions that ask for ``resource`` (all versions when it is None)."""
    return df if resource is None else df.filter(pl.col(units_column(resource)) > 0)


def sorted_by(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.sort(keys, nulls_last=True, maintain_order=True) if keys else frame


def period_keys(
    keys: list[str], every: Every | None, column: str
) -> tuple[list[str], list[pl.Expr]]:
    if every is None:
        return keys, []
    return [*keys, "time"], [pl.col(column).dt.truncate(every).alias("time")]


def held_intervals(
    df: pl.DataFrame,
    keys: list[str],
    resource: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime | None,
    include_queued: bool = False,
) -> tuple[pl.DataFrame, int | None, int | None]:
    """Held intervals ``[s, e)`` in epoch ms, clipped to the window, and that window.

    With ``include_queued`` an interval begins at creation instead of start: the units a version
    *asked for* while it waited count too (demand rather than allocation).
    """
    units = units_column(resource)
    now_ms = fetch_ms(df, now)
    begin = pl.col("create_time") if include_queued else pl.col("start_time")
    held = (
        df.lazy()
        .filter(begin.is_not_null() & (pl.col(units) > 0))
        .select(
            *keys,
            s=epoch_ms(begin),
            e=pl.coalesce(epoch_ms(pl.col("end_time")), pl.lit(now_ms, dtype=pl.Int64)),
            u=pl.col(units).cast(pl.Int64),
        )
        .filter(pl.col("e") > pl.col("s"))
        .collect()
    )
    lo = to_ms(start) if start is not None else held.select(pl.col("s").min()).item()
    hi = to_ms(end) if end is not None else held.select(pl.col("e").max()).item()
    if lo is None or hi is None or hi <= lo:
        return held.clear(), None, None
    clipped = held.with_columns(
        s=pl.col("s").clip(lower_bound=int(lo)), e=pl.col("e").clip(upper_bound=int(hi))
    )
    return clipped.filter(pl.col("e") > pl.col("s")), int(lo), int(hi)


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
