"""Tables for people: analysis results as Great Tables, with words, units and separators.

:func:`table` turns a frame returned by :mod:`mavtools.analysis` into a ``great_tables.GT`` (via
polars' own ``DataFrame.style``): column labels in words, hours as human durations ("4.8 h",
"3 min"), shares as percentages, counts and unit-hours with thousands separators, and no dtype row,
shape line or quoted strings::

    >>> table(mt.queue_wait(df, by="pool_id"), title="Queue wait by pool", table_id="waits")

Decisions:

* Columns are formatted by their name, the vocabulary the analysis functions share: ``*_hours``
  percentiles and durations (``wait_p50_hours``, ``p90_hours``, ``max_hours``) are durations;
  ``gpu_hours`` / ``npu_hours`` and ``*unit_hours`` (:func:`mavtools.chargeback`) are unit-hours
  (numbers with one decimal); ``share``, ``failure_rate``, ``*_share``, ``share_*``
  (``share_waited_over_1h`` of :func:`mavtools.what_if`), ``utilization``, ``utilization_*`` and
  ``coverage`` are percentages; integer columns get separators.
* ``table_id`` is required so the HTML is the same on every run (Great Tables otherwise draws a
  random id for its scoped CSS), which keeps nbval's comparison of notebook outputs meaningful.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from mavtools.views.style import WORDS
from mavtools.views.style import human_hours as style_human_hours

if TYPE_CHECKING:  # great_tables is imported when a table is made
    from great_tables import GT

__all__ = ["Sentences", "Table", "csv_text", "human_hours", "sentences", "table"]

_UNIT_HOURS: Final = ("gpu_hours", "npu_hours")
_PERCENT: Final = ("share", "failure_rate", "utilization", "peak_utilization", "coverage")
_LABELS: Final[dict[str, str]] = {
    **WORDS,
    "versions": "versions",
    "versions_using": "versions using units",
    "gpu_hours": "GPU-hours",
    "npu_hours": "NPU-hours",
    "gpu_share": "GPU share",
    "npu_share": "NPU share",
    "share_waited_over_1h": "waited over 1 h",
    "share": "share",
    "p50_hours": "median",
    "p90_hours": "p90",
    "max_hours": "longest",
    "failure_rate": "failed or canceled",
    "finished": "finished",
}


def human_hours(hours: float | None) -> str:
    """A duration in hours as people write it: ``"45 s"``, ``"3 min"``, ``"4.8 h"``, ``"2.5 d"``.

    Example:
        >>> human_hours(0.05), human_hours(4.8), human_hours(60)
        ('3 min', '4.8 h', '2.5 d')
    """
    return style_human_hours(hours, missing="–")


def _label(column: str) -> str:
    if column in _LABELS:
        return _LABELS[column]
    if column.startswith("wait_p") and column.endswith("_hours"):
        return f"wait {column.removeprefix('wait_').removesuffix('_hours')}"
    return column.replace("_", " ")


def csv_text(frame: pl.DataFrame) -> str:
    """The frame as CSV text; floats to 6 decimals, list columns joined with ", ".

    Six decimals keep every number a reader needs and drop the last bits of a float sum, which
    differ from run to run (polars sums in parallel): a saved notebook's CSV stays the same.

    Example:
        >>> csv_text(pl.DataFrame({"pool_id": ["a"], "ids": [["x", "y"]]}))
        'pool_id,ids\na,"x, y"\n'
    """
    nested = [c for c, dtype in frame.schema.items() if isinstance(dtype, pl.List | pl.Array)]
    flat = frame.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join(", ") for c in nested
    ).select(pl.exclude(pl.Struct, pl.Object))
    return flat.with_columns(pl.col(pl.Float32, pl.Float64).round(6)).write_csv()


class Table:
    """A formatted table as a notebook shows it: Great Tables HTML, plain text as the fallback.

    The HTML ends with a "Download CSV" link that carries the table's numbers (unformatted) in
    the page itself (a ``data:`` URL): it works in JupyterLab, in a saved notebook and in an
    offline report, with no kernel.

    Attributes:
        gt: the ``great_tables.GT`` (style it further, or ``gt.as_raw_html()``).
        frame: the data shown.
        title: the title, or "".
        table_id: the table's HTML id, also the name of the CSV file.
    """

    def __init__(self, gt: GT, frame: pl.DataFrame, title: str, table_id: str = "table") -> None:
        self.gt, self.frame, self.title, self.table_id = gt, frame, title, table_id

    def csv_link(self) -> str:
        """An HTML link that downloads the table as ``<table_id>.csv``."""
        data = base64.b64encode(csv_text(self.frame).encode()).decode("ascii")
        name = html.escape(f"{self.table_id}.csv", quote=True)
        return (
            f'<p class="mavtools-csv"><a download="{name}" '
            f'href="data:text/csv;charset=utf-8;base64,{data}">Download CSV</a></p>'
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        # GT's own repr holds object addresses; the plain text here is the same on every run.
        with pl.Config(
            tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True, tbl_rows=50,
            fmt_str_lengths=60, tbl_width_chars=140,
        ):  # fmt: skip
            text = str(self.frame)
        return {
            "text/html": self.gt.as_raw_html() + self.csv_link(),
            "text/plain": f"{self.title}\n{text}" if self.title else text,
        }


def table(
    frame: pl.DataFrame,
    *,
    table_id: str,
    title: str | None = None,
    subtitle: str | None = None,
    names: Mapping[str, str] | None = None,
    name_column: str = "workspace_id",
) -> Table:
    """A Great Table of an analysis result, formatted for people.

    Args:
        frame: a frame from :mod:`mavtools.analysis` (or any frame using its column names).
        table_id: the table's HTML id (fixed, so outputs are the same on every run).
        title, subtitle: shown above the table.
        names: id -> name for ``name_column`` (for example workspace names); the id stays in
            a column of its own.
        name_column: the column ``names`` applies to.

    Returns:
        A :class:`Table`; a notebook shows it as HTML (``.gt`` is the ``great_tables.GT``).

    Example:
        >>> table(mt.usage(df, by="workspace_id"), table_id="usage", names=ws_names)
    """
    data = frame
    if names and name_column in data.columns:
        shown = pl.col(name_column).cast(pl.String)
        data = data.with_columns(
            shown.replace_strict(dict(names), default=shown).alias("_name")
        ).select("_name", pl.all().exclude("_name"))
    style = data.style.with_id(table_id)
    if title:
        style = style.tab_header(title=title, subtitle=subtitle)
    labels: dict[str, Any] = {c: _label(c) for c in data.columns}
    if "_name" in data.columns:
        labels["_name"] = WORDS.get(name_column, name_column)
        labels[name_column] = "id"
    style = style.cols_label(**labels)
    unit_hours: list[str] = [
        c for c in data.columns if c in _UNIT_HOURS or c.endswith("unit_hours")
    ]  # amounts (chargeback's unit_hours, idle_unit_hours ...), not durations
    durations = [c for c in data.columns if c.endswith("_hours") and c not in unit_hours]
    if durations:
        style = style.fmt(human_hours, columns=durations)
    if unit_hours:
        style = style.fmt_number(columns=unit_hours, decimals=1, use_seps=True)
    percent = [
        c
        for c in data.columns
        if c in _PERCENT
        or c.endswith("_share")
        or c.startswith(("share_", "utilization_"))  # utilization_now of mt.sizing
    ]
    if percent:
        style = style.fmt_percent(columns=percent, decimals=1)
    integers = [
        c
        for c, dtype in data.schema.items()
        if dtype.is_integer() and c not in ("gpu_num", "npu_num")
    ]
    if integers:
        style = style.fmt_integer(columns=integers, use_seps=True)
    return Table(style.sub_missing(missing_text="–"), frame, title or "", table_id)


class Sentences:
    """Sentences as a notebook shows them: a list in the page's font, the lines as plain text.

    A verdict such as :func:`mavtools.sizing`'s reads as a list item, its subject ("pool-a: ...")
    in bold, where ``print`` gave a block of fixed-width text that the report wrapped mid-word.

    Attributes:
        lines: the sentences, in order.
        title: a heading above them, or "".
    """

    def __init__(self, lines: Iterable[str], title: str = "") -> None:
        self.lines, self.title = tuple(lines), title

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        items = []
        for line in self.lines:
            subject, colon, rest = line.partition(": ")
            if colon and len(subject) <= 60:  # "pool-a100-prod: add 1 node ..."
                items.append(f"<li><b>{html.escape(subject)}</b>: {html.escape(rest)}</li>")
            else:
                items.append(f"<li>{html.escape(line)}</li>")
        heading = f"<p><b>{html.escape(self.title)}</b></p>" if self.title else ""
        text = "\n".join(self.lines)
        return {
            "text/html": f'<div class="mavtools-sentences">{heading}<ul>{"".join(items)}</ul></div>',
            "text/plain": f"{self.title}\n{text}" if self.title else text,
        }


def sentences(lines: Iterable[str], *, title: str | None = None) -> Sentences:
    """Sentences shown as a list (HTML) with the lines as the plain text.

    Example:
        >>> sentences(mt.sizing(df, pools=pools)["verdict"], title="What to change")
    """
    return Sentences(lines, title or "")
