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

    def code(self) -> str:
        """The cell that narrows the notebook's ``versions`` (and ``history``) to the selection."""
        lines = [
            "# Added by mavtools report --filter: the report shows this selection only.",
            "import polars as _pl",
            "import mavtools as _mt",
            "from datetime import datetime as _dt",
            "try:",
            "    _names = client.workspace_names()",
            "except Exception:  # names are optional: ids still match",
            "    _names = {}",
            "",
            "def _selected(_df):",
        ]
        for key, values in self.values.items():
            column = FILTER_KEYS[key]
            wanted = list(values)
            if key == "workspace":
                lines.append(
                    f"    _ids = [i for i, n in _names.items() if n in {wanted!r}] + {wanted!r}"
                )
                lines.append(
                    f"    _df = _df.filter(_pl.col({column!r}).cast(_pl.String).is_in(_ids))"
                )
            else:
                lines.append(
                    f"    _df = _df.filter(_pl.col({column!r}).cast(_pl.String).is_in({wanted!r}))"
                )
        if self.start or self.end:
            start = f"_dt.fromisoformat({self.start!r})" if self.start else "None"
            end = f"_dt.fromisoformat({self.end!r})" if self.end else "None"
            lines.append(f"    _df = _mt.overlapping(_df, start={start}, end={end})")
        lines += [
            "    return _df",
            "",
            "versions = _selected(versions)",
            "if 'history' in globals():",
            "    history = _selected(history)",
        ]
        return "\n".join(lines)
