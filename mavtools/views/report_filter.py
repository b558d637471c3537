"""The selection a report is made of: ``mavtools report --filter key=value``.

:class:`ReportFilter` parses the ``--filter`` items, says the selection in words for the report's
title, and writes the code cell that :func:`mavtools.views.report_run.execute_notebook` adds after
the notebook loads its data, so every number and figure of the report is of that selection::

    >>> ReportFilter.parse(["workspace=vision-team", "start=2026-09-01"]).describe()
    'workspace vision-team; 2026-09-01 to end'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import polars as pl

from mavtools.analysis import overlapping
from mavtools.errors import ConfigError

__all__ = ["FILTER_KEYS", "ReportFilter"]

#: ``--filter`` keys and the frame column each one selects on.
FILTER_KEYS: Final = {"pool": "pool_id", "workspace": "workspace_id", "user": "user_name"}


@dataclass(frozen=True)
class ReportFilter:
    """The selection a report is made of (``mavtools report --filter key=value``).

    Attributes:
        values: ``"pool"``, ``"workspace"`` (id or name), ``"user"`` -> the values kept.
        start, end: days ``YYYY-MM-DD``: versions that ran (or were created) in
            ``[start, end)`` (as :func:`mavtools.overlapping`); None: no bound.
    """

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    start: str | None = None
    end: str | None = None

    @classmethod
    def parse(cls, items: Iterable[str]) -> ReportFilter:
        """``["workspace=vision-team", "pool=a,b", "start=2026-09-01"]`` -> a filter.

        Raises:
            ConfigError: an item is not ``key=value`` with a known key, or a day is not a date.
        """
        values: dict[str, tuple[str, ...]] = {}
        days: dict[str, str] = {}
        for item in items:
            key, sep, value = item.partition("=")
            key = key.strip().lower()
            if not sep or not value.strip() or key not in (*FILTER_KEYS, "start", "end"):
                raise ConfigError(
                    f"--filter {item!r} is not key=value with key pool, workspace, user, start "
                    "or end (e.g. --filter workspace=vision-team --filter start=2026-09-01)."
                )
            if key in ("start", "end"):
                try:
                    datetime.strptime(value.strip(), "%Y-%m-%d")
                except ValueError:
                    raise ConfigError(
                        f"--filter {key}={value} is not a day: write YYYY-MM-DD."
                    ) from None
                days[key] = value.strip()
            else:
                values[key] = (*values.get(key, ()), *(v.strip() for v in value.split(",") if v))
        return cls(values, days.get("start"), days.get("end"))

    def __bool__(self) -> bool:
        return bool(self.values or self.start or self.end)

    def describe(self) -> str:
        """The selection in words, for the report's title: ``workspace vision-team; from ...``."""
        parts = [f"{key} {', '.join(v)}" for key, v in self.values.items()]
        if self.start or self.end:
            parts.append(f"{self.start or 'start'} to {self.end or 'end'}")
        return "; ".join(parts)

    def check(self, df: pl.DataFrame, names: Mapping[str, str] | None = None) -> None:
        """Refuse a value that no version of ``df`` has: a typo, not an empty selection.

        Args:
            df: all the versions the notebook loaded (before any window).
            names: workspace id -> name; a workspace is chosen by either.

        Raises:
            ValueError: naming the values that match nothing and the values there are.
        """
        names = names or {}
        for key, wanted in self.values.items():
            known = set(df[FILTER_KEYS[key]].cast(pl.String).drop_nulls().unique().to_list())
            shown = (
                sorted({names.get(k, k) for k in known}) if key == "workspace" else sorted(known)
            )
            known.update(shown)  # a workspace by its id or its name
            unknown = [v for v in wanted if v not in known]
            if unknown:
                raise ValueError(
                    f"--filter {key}={','.join(unknown)} matches no version of the data; "
                    f"its {key}s: {', '.join(shown)}"
                )

    def select(self, df: pl.DataFrame, names: Mapping[str, str] | None = None) -> pl.DataFrame:
        """The versions of ``df`` in the selection (workspaces by id or by name)."""
        for key, wanted in self.values.items():
            chosen = list(wanted)
            if key == "workspace":
                chosen += [i for i, n in (names or {}).items() if n in wanted]
            df = df.filter(pl.col(FILTER_KEYS[key]).cast(pl.String).is_in(chosen))
        if self.start or self.end:
            start = datetime.fromisoformat(self.start) if self.start else None
            end = datetime.fromisoformat(self.end) if self.end else None
            df = overlapping(df, start=start, end=end)
        return df

    def code(self) -> str:
        """The cell that narrows the notebook's ``versions`` (and ``history``) to the selection."""
        values = {key: tuple(v) for key, v in self.values.items()}
        return "\n".join(
            [
                "# Added by mavtools report --filter: the report shows this selection only.",
                "from mavtools.views.report_filter import ReportFilter as _ReportFilter",
                f"_filter = _ReportFilter({values!r}, {self.start!r}, {self.end!r})",
                "try:",
                "    _names = client.workspace_names()",
                "except Exception:  # names are optional: ids still match",
                "    _names = {}",
                "_filter.check(history if 'history' in globals() else versions, _names)",
                "versions = _filter.select(versions, _names)",
                "if 'history' in globals():",
                "    history = _filter.select(history, _names)",
            ]
        )
