"""What the ``mavtools`` command prints: summaries, flat frames, warnings, progress, ages and sizes.

The subcommands of :mod:`mavtools.cli` decide what to do; this module decides how it looks on a
terminal (stdout for results, stderr for warnings and the progress bar).
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

__all__ = [
    "ProgressBar",
    "flat_frame",
    "short_age",
    "short_size",
    "summary_text",
    "warnings_on_stderr",
    "write_text",
]


def flat_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Durations as integer milliseconds (CSV cannot hold them; JSON readers rarely parse ISO)."""
    durations = [name for name, dtype in frame.schema.items() if dtype == pl.Duration("ms")]
    return frame.with_columns(
        pl.col(name).dt.total_milliseconds().alias(f"{name}_ms") for name in durations
    ).drop(durations)


def nested_as_json(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns (``segments``, ``node_counts``) as JSON text: CSV cannot hold nested data."""
    nested = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.with_columns(
        pl.when(pl.col(name).is_not_null())
        .then(
            pl.format(
                "[{}]", pl.col(name).list.eval(pl.element().struct.json_encode()).list.join(",")
            )
        )
        .alias(name)
        for name in nested
    )


def summary_text(frame: pl.DataFrame, origin: str) -> str:
    """The ``fetch --format table`` text: counts and GPU hours by outcome, the newest versions."""
    lines = [origin, ""]
    if frame.is_empty():
        return "\n".join([*lines, "No versions match."]) + "\n"
    first, last = frame.select(
        pl.col("create_time").min().alias("first"), pl.col("create_time").max().alias("last")
    ).row(0)
    lines.append(
        f"{frame.height:,} versions created {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M} UTC"
    )
    outcomes = (
        frame.group_by("outcome")
        .agg(versions=pl.len(), gpu_hours=pl.col("gpu_hours").sum().round(1))
        .sort("outcome")
    )
    newest = frame.head(10).select(
        "version_id",
        "version_name",
        "status_name",
        "pool_id",
        pl.col("create_time").dt.strftime("%Y-%m-%d %H:%M"),
        duration_min=(pl.col("duration").dt.total_seconds() / 60).round(1),
    )
    with pl.Config(
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_rows=20,
        tbl_width_chars=160,
        fmt_str_lengths=60,
    ):
        lines += ["", "By outcome:", str(outcomes), "", "Newest versions:", str(newest)]
    return "\n".join(lines) + "\n"


def write_text(path: Path | None, text: str) -> None:
    """Write ``text`` to ``path``, or to stdout when None."""
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def warnings_on_stderr() -> Iterator[None]:
    """Partial results (a refused workspace, a failing project) as one line each on stderr."""
    from mavtools.errors import AccessWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AccessWarning)
        try:
            yield
        finally:
            for item in caught:
                if issubclass(item.category, AccessWarning):
                    print(f"mavtools: warning: {item.message}", file=sys.stderr)
                else:
                    warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


class ProgressBar:
    """A tqdm bar on stderr (pages done / planned), shown only on a terminal."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __enter__(self) -> ProgressBar:
        return self

    def update(self, done: int, planned: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=planned, unit="page", file=sys.stderr, disable=None, leave=False)
        self._bar.total = max(planned, done)
        self._bar.n = done
        self._bar.refresh()

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


def short_age(delta: Any) -> str:
    """A timedelta as its largest whole unit: 3d, 5h, 12m, 40s."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def short_size(size: int) -> str:
    """A byte count in B, KB, MB or GB."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
