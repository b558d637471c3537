"""The headline numbers a report opens with: what a lead reads before any figure.

:func:`explore_headline` gives versions, GPU- and NPU-hours, the failed and canceled shares of
finished versions and the top workspaces and users; :func:`capacity_headline` gives one row per
pool (size, unit-hours, mean allocation against the size, p90 queue wait, failed share).
:func:`show_headline` picks one from a notebook's variables: ``mavtools report`` runs it as an
extra cell at the end of the notebook and moves its output (and that of every cell tagged
:data:`HEADLINE_TAG`, for example a decision table) to the top of the report.

Each is a :class:`Headline`: HTML for people, plain text for a terminal or nbval, and the
workspace names it covers (the report's footer names workspaces, never their ids).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from mavtools import analysis
from mavtools.views.tables import human_hours

__all__ = ["HEADLINE_TAG", "Headline", "capacity_headline", "explore_headline", "show_headline"]

#: Cell tag: the report shows the cell's outputs first, as headline numbers.
HEADLINE_TAG: Final = "headline"
_V1_USER: Final = "(v1 job, no user)"
_STYLE: Final = (
    "font-family: var(--jp-ui-font-family, sans-serif); margin: 8px 0 16px; "
    "padding: 10px 14px; border-left: 4px solid #54278f; background: #f7f6fb"
)


@dataclass(frozen=True)
class Headline:
    """Headline numbers as HTML and text.

    Attributes:
        title: one line.
        facts: ``(label, value)`` pairs, in reading order.
        table: an optional frame shown under the facts (one row per pool).
        workspaces: the names of the workspaces the numbers cover.
    """

    title: str
    facts: Sequence[tuple[str, str]]
    table: pl.DataFrame | None = None
    workspaces: Sequence[str] = field(default_factory=tuple)

    def __str__(self) -> str:
        lines = [self.title, *(f"{label}: {value}" for label, value in self.facts)]
        if self.table is not None:
            with pl.Config(tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True):
                lines.append(str(self.table))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        numbers = [(k, v) for k, v in self.facts if len(v) <= 12]
        lists = [(k, v) for k, v in self.facts if len(v) > 12]  # "top users: a 49%, b 24%"
        facts = "".join(
            f"<div style='display:inline-block;margin:4px 18px 4px 0'>"
            f"<div style='font-size:22px;font-weight:600'>{html.escape(v)}</div>"
            f"<div style='font-size:12px;color:#555'>{html.escape(k)}</div></div>"
            for k, v in numbers
        ) + "".join(
            f"<div style='margin:4px 0;font-size:14px'><span style='color:#555'>"
            f"{html.escape(k)}:</span> {html.escape(v)}</div>"
            for k, v in lists
        )
        table = ""
        if self.table is not None and self.table.height:
            head = "".join(f"<th style='text-align:left;padding:2px 10px 2px 0'>{html.escape(c)}</th>"
                           for c in self.table.columns)  # fmt: skip
            rows = "".join(
                "<tr>"
                + "".join(f"<td style='padding:2px 10px 2px 0'>{html.escape(str(v))}</td>" for v in row)
                + "</tr>"
                for row in self.table.iter_rows()
            )  # fmt: skip
            table = f"<table class='mavtools-headline-table'><tr>{head}</tr>{rows}</table>"
        return (
            f"<div class='mavtools-headline' style='{_STYLE}'>"
            f"<div style='font-size:16px;font-weight:600;margin-bottom:4px'>"
            f"{html.escape(self.title)}</div>{facts}{table}</div>"
        )

    def _repr_mimebundle_(self, **_kwargs: Any) -> tuple[dict[str, str], dict[str, Any]]:
        data = {"text/html": self._repr_html_(), "text/plain": str(self)}
        return data, {"mavtools": {"workspaces": list(self.workspaces)}}


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _names(df: pl.DataFrame, names: Mapping[str, str] | None) -> list[str]:
    ids = df.get_column("workspace_id").cast(pl.String).unique().sort().to_list()
    return [(names or {}).get(i, i) for i in ids if i is not None]


def _top(df: pl.DataFrame, column: str, shown: Mapping[str, str], n: int = 3) -> str:
    used = (
        df.group_by(pl.col(column).cast(pl.String))
        .agg(hours=pl.col("gpu_hours").sum() + pl.col("npu_hours").sum())
        .filter(pl.col("hours") > 0)
        .sort(["hours", column], descending=[True, False])
    )
    total = float(used["hours"].sum() or 0.0)
    parts = [f"{shown.get(k, k)} {h / total:.0%}" for k, h in used.head(n).iter_rows() if total]
    return ", ".join(parts) or "none"


def explore_headline(
    df: pl.DataFrame, *, names: Mapping[str, str] | None = None, selection: str = ""
) -> Headline:
    """Versions, unit-hours, failed and canceled shares, top workspaces and users of ``df``.

    Example:
        >>> print(explore_headline(df, names=client.workspace_names()))
    """
    shares = analysis.finished_shares(df)
    users = df.with_columns(
        user_name=pl.when(pl.col("api") == "v1")
        .then(pl.lit(_V1_USER))
        .otherwise(pl.col("user_name"))
    )
    title = "At a glance" + (f": {selection}" if selection else "")
    facts = [
        ("versions", f"{df.height:,}"),
        ("GPU-hours", f"{df['gpu_hours'].sum():,.0f}"),
        ("NPU-hours", f"{df['npu_hours'].sum():,.0f}"),
        ("failed (of finished)", _share(shares.failed, shares.finished)),
        ("canceled (of finished)", _share(shares.canceled, shares.finished)),
        ("top workspaces (unit-hours)", _top(df, "workspace_id", names or {})),
        ("top users (unit-hours)", _top(users, "user_name", {})),
    ]
    return Headline(title, facts, workspaces=_names(df, names))


def capacity_headline(
    df: pl.DataFrame,
    sizes: Mapping[str, int],
    *,
    names: Mapping[str, str] | None = None,
    npu_pools: Sequence[str] = (),
    selection: str = "",
) -> Headline:
    """One row per pool: size, unit-hours, mean allocated against the size, p90 wait, failures.

    ``npu_pools`` are counted in NPUs, the others in GPUs. The mean is over the frame's whole
    span (from the first creation to the snapshot), idle time included.

    Example:
        >>> print(capacity_headline(df, mt.pool_sizes(client.pools())))
    """
    rows = []
    waits = analysis.queue_wait(df, by="pool_id", quantiles=(0.9,))
    wait = dict(zip(waits["pool_id"].cast(pl.String), waits["wait_p90_hours"], strict=True))
    rates = analysis.failure_rate(df, by="pool_id")
    failed = dict(zip(rates["pool_id"].cast(pl.String), rates["failed_share"], strict=True))
    pools = df.get_column("pool_id").cast(pl.String).unique().drop_nulls().sort().to_list()
    lo, hi = df.select(pl.col("create_time").min(), pl.col("observed_at").max()).row(0)
    span_hours = (hi - lo).total_seconds() / 3600 if lo is not None and hi is not None else 0.0
    for pool in pools:
        part = df.filter(pl.col("pool_id").cast(pl.String) == pool)
        npu = pool in npu_pools or (part["npu_hours"].sum() > part["gpu_hours"].sum())
        hours = float(part["npu_hours" if npu else "gpu_hours"].sum())
        size = sizes.get(pool)
        mean = hours / span_hours if span_hours else 0.0
        rows.append(
            {
                "pool": pool,
                "unit": "NPU" if npu else ("GPU" if hours else "CPU"),
                "size": "–" if size is None else str(size),
                "unit-hours": f"{hours:,.0f}",
                "mean in use": f"{mean:.1f}" + (f" ({mean / size:.0%})" if size else ""),
                "p90 wait": human_hours(wait.get(pool)),
                "failed": "–" if failed.get(pool) is None else f"{failed[pool]:.1%}",
                "versions": f"{part.height:,}",
            }
        )
    table = pl.DataFrame(rows) if rows else None
    title = "Pools at a glance" + (f": {selection}" if selection else "")
    facts = [
        ("versions", f"{df.height:,}"),
        ("GPU-hours", f"{df['gpu_hours'].sum():,.0f}"),
        ("NPU-hours", f"{df['npu_hours'].sum():,.0f}"),
    ]
    return Headline(title, facts, table, workspaces=_names(df, names))


def show_headline(namespace: Mapping[str, Any], selection: str = "") -> Headline | None:
    """The headline of a notebook's variables: per pool when it defines ``POOL_SIZES``.

    Reads ``versions`` (the frame), ``names`` (workspace names, optional), ``POOL_SIZES`` and
    ``NPU_POOLS`` (capacity.ipynb). None (nothing shown) when there is no ``versions`` frame.
    """
    df = namespace.get("versions")
    if not isinstance(df, pl.DataFrame) or "workspace_id" not in df.columns:
        return None
    names = namespace.get("names") if isinstance(namespace.get("names"), Mapping) else None
    if isinstance(namespace.get("POOL_SIZES"), Mapping):
        return capacity_headline(
            df, namespace["POOL_SIZES"], names=names,
            npu_pools=sorted(namespace.get("NPU_POOLS") or ()), selection=selection,
        )  # fmt: skip
    return explore_headline(df, names=names, selection=selection)
