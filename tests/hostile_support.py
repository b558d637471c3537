"""Helpers shared by the hostile trials (``tests/test_hostile_*.py``)."""

from __future__ import annotations

from typing import Any

import polars as pl

from mavtools.local import synth


def wire_records(n: int, *, seed: int = 1, id_offset: int = 0) -> list[dict[str, Any]]:
    """``n`` plausible wire records of workspace "0" (``synth.bulk``), ids shifted by ``id_offset``."""
    frame = synth.bulk(n, seed=seed).with_columns(pl.col("version_id") + id_offset)
    return [dict(r, workspace_id="0") for r in frame.to_dicts()]
