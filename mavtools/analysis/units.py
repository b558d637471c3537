"""Queue waits by the units of one accelerator, CPU-only versions apart.

``queue_wait(df, by="gpu_num")`` puts every version without GPUs under 0: CPU-only versions and
NPU versions alike, so "0 GPUs" mixes two different queues. :func:`queue_wait_by_units` groups the
versions of one accelerator by how many units they ask for and keeps versions that ask for no
accelerator at all as one group, 0 (a figure shows it as "CPU only"); versions of the other
accelerator are left out (they wait in other pools).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from mavtools.analysis.timeline import DEFAULT_TZ, Every, Resource, units_column
from mavtools.analysis.waits import queue_wait

__all__ = ["queue_wait_by_units"]

_OTHER: dict[str, Resource] = {"gpu": "npu", "npu": "gpu"}


def queue_wait_by_units(
    df: pl.DataFrame,
    *,
    resource: Resource = "gpu",
    quantiles: Sequence[float] = (0.5, 0.9, 0.99),
    every: Every | None = None,
    tz: str = DEFAULT_TZ,
) -> pl.DataFrame:
    """:func:`mavtools.queue_wait` by units of ``resource`` per version, CPU-only versions as 0.

    Args:
        resource: ``"gpu"`` (groups by ``gpu_num``) or ``"npu"`` (by ``npu_num``).
        quantiles, every, tz: as :func:`mavtools.queue_wait`.

    Returns:
        The columns of :func:`mavtools.queue_wait` with ``by=gpu_num`` (``npu_num``); the row
        with 0 units holds the versions that ask for neither GPUs nor NPUs.

    Example:
        >>> queue_wait_by_units(df, resource="npu")  # "CPU only", "1 NPU", "8 NPUs" in a figure
    """
    other = units_column(_OTHER[resource])
    kept = df.filter(pl.col(other).fill_null(0) == 0)  # the other accelerator's versions out
    return queue_wait(kept, by=units_column(resource), quantiles=quantiles, every=every, tz=tz)
