"""Helpers shared by the hostile trials (``tests/test_hostile_*.py``)."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from mavtools import synth

HEAVY_HELP = "heavy trial: run it with `python -m pytest -m heavy tests` (docs/reliability.md)"


@pytest.fixture(autouse=True)
def _heavy_only_when_asked(request: pytest.FixtureRequest) -> None:
    """Tests marked ``heavy`` run only when ``-m`` names that marker, not in the default run."""
    if request.node.get_closest_marker("heavy") is None:
        return
    if "heavy" not in (request.config.getoption("markexpr") or ""):
        pytest.skip(HEAVY_HELP)


def wire_records(n: int, *, seed: int = 1, id_offset: int = 0) -> list[dict[str, Any]]:
    """``n`` plausible wire records of workspace "0" (``synth.bulk``), ids shifted by ``id_offset``."""
    frame = synth.bulk(n, seed=seed).with_columns(pl.col("version_id") + id_offset)
    return [dict(r, workspace_id="0") for r in frame.to_dicts()]
