"""Data problems to know before trusting a chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from mavtools.analysis.timeline import epoch_ms, keyword_only, now_ms_expr, to_ms
from mavtools.statuses import FINISHED_OUTCOMES, STATUS_NAMES

__all__ = ["quality_report"]


def _span_text(span: timedelta) -> str:
    """``timedelta(days=7)`` -> ``"7 days"``; ``timedelta(hours=36)`` -> ``"36 h"``."""
    minutes = int(span.total_seconds() // 60)
    if minutes % 1440 == 0 and minutes >= 1440:
        return f"{minutes // 1440} day{'s' if minutes != 1440 else ''}"
    if minutes % 60 == 0 and minutes >= 60:
        return f"{minutes // 60} h"
    return f"{minutes} min"


@keyword_only("now", "stuck_after", "duration_tolerance")
def quality_report(
    df: pl.DataFrame,
    *,
    now: datetime | None = None,
    stuck_after: timedelta = timedelta(days=7),
    duration_tolerance: timedelta = timedelta(minutes=1),
) -> pl.DataFrame:
    """Data problems to know before trusting a chart; one row per check, problems or not.

    Args:
        now: overrides every row's snapshot time ``observed_at``. Stuck versions are measured
            against a row's snapshot time; timestamps "in the future" are those after ``now`` when it is
            given, else after the current clock (nothing real happens after the moment one looks).
        stuck_after: a version running, or queued, longer than this is reported as stuck.
        duration_tolerance: allowed gap between ``duration`` and ``end_time - start_time``.

    Returns:
        ``check``, ``versions`` (how many), ``share`` (of all versions), ``example_ids`` (up to five
        ``job_id``, or ``version_id`` in a frame without it) and ``meaning``.

    Example:
        >>> quality_report(df).filter(pl.col("versions") > 0)
    """
    now_ms = now_ms_expr(df, now)
    future_ms = to_ms(now) if now is not None else to_ms(datetime.now(UTC))
    s, e, c = (
        epoch_ms(pl.col("start_time")),
        epoch_ms(pl.col("end_time")),
        epoch_ms(pl.col("create_time")),
    )
    stuck_ms = stuck_after // timedelta(milliseconds=1)
    tol_ms = duration_tolerance // timedelta(milliseconds=1)
    run_ms = pl.col("duration").dt.total_milliseconds()
    finished = pl.col("outcome").cast(pl.String).is_in(list(FINISHED_OUTCOMES))
    checks: list[tuple[str, pl.Expr, str]] = [
        (
            "duration_mismatch",
            ((e - s) - run_ms).abs() > tol_ms,
            "the API's duration differs from end_time - start_time",
        ),
        ("zero_length", (e == s), "started and ended at the same moment"),
        ("end_before_start", e < s, "end_time earlier than start_time; holds nothing"),
        (
            "finished_without_end",
            finished & s.is_not_null() & e.is_null(),  # never started: nothing to end
            "started, finished, but the API sent no end_time; holds from start to start + duration "
            "(nothing when duration is 0)",
        ),
        ("lost", pl.col("status") == 14, "status LOST: the platform lost track of the job"),
        (
            "stuck_running",
            ~finished & s.is_not_null() & e.is_null() & (now_ms - s > stuck_ms),
            f"running for longer than {_span_text(stuck_after)}",
        ),
        (
            "stuck_queued",
            ~finished & s.is_null() & e.is_null() & (now_ms - c > stuck_ms),
            f"queued for longer than {_span_text(stuck_after)}",
        ),
        (
            "unknown_status",
            ~pl.col("status").is_in(list(STATUS_NAMES)),
            "a status code the API documentation does not list",
        ),
        (
            "future_timestamp",
            pl.max_horizontal(c, s, e) > future_ms,
            "a timestamp after the fetch time (or the clock)",
        ),
        ("before_creation", (s < c) | (e < c), "started or ended before it was created"),
        (
            "unknown_without_duration",
            (pl.col("outcome") == "unknown")
            & s.is_not_null()
            & e.is_null()
            & ~(run_ms > 0).fill_null(False),
            "outcome unknown (v2 Abnormal, v1 UNKNOWN), started, with neither end_time nor a "
            "duration: holds nothing (with a duration it holds for that duration)",
        ),
        (
            "no_create_time",
            c.is_null(),
            "no create_time (v1 sends 0): left out of what_if, simulate, size_for and queue waits",
        ),
        (
            "never_started_without_end",
            finished & s.is_null() & e.is_null(),
            "finished without starting and the API sent no end_time (every such v2 job): dated by "
            "its create_time in per-period analyses; how long it queued is unknown",
        ),
        (
            "after_snapshot",
            pl.max_horizontal(s, e) > now_ms,
            "started or ended after its snapshot time (or now=): time after it is not counted",
        ),
        (
            "unknown_units",
            pl.col("gpu_num").is_null() | pl.col("npu_num").is_null(),
            "the API sent no gpu_num/npu_num (or a flavor nobody knows): holds nothing in unit "
            "totals and has no unit-hours",
        ),
    ]
    n = df.height
    # v2 rows have no integer version_id: name every row by its job_id when the frame has one
    ident = "job_id" if "job_id" in df.columns else "version_id"
    flags = df.select(ident, *[expr.fill_null(False).alias(name) for name, expr, _ in checks])
    counts = (
        flags.select([pl.col(name).sum() for name, _, _ in checks]).row(0)
        if n
        else (0,) * len(checks)
    )
    rows = []
    for (name, _, meaning), count in zip(checks, counts, strict=True):
        examples = flags.filter(pl.col(name))[ident].head(5).to_list() if count else []
        rows.append((name, int(count), count / n if n else None, examples, meaning))
    return pl.DataFrame(
        rows,
        schema={
            "check": pl.String,
            "versions": pl.Int64,
            "share": pl.Float64,
            "example_ids": pl.List(flags.schema[ident]),
            "meaning": pl.String,
        },
        orient="row",
    )
