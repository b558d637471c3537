"""The percentile the benchmarks report, by the nearest-rank rule.

The p-th percentile of n timings is the smallest timing that at least p% of them do not exceed:
the ``ceil(p / 100 * n)``-th in ascending order. With few repeats it leans to the slow side
(the p90 of two clicks is the slower one), never to the fast side, so a target met here is met.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["percentile"]


def percentile(values: Iterable[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``.

    Example:
        >>> percentile([10.0, 30.0], 90), percentile(range(1, 11), 90), percentile([5.0], 50)
        (30.0, 9, 5.0)
    """
    ordered = sorted(values)
    if not ordered or not 0 < p <= 100:
        raise ValueError(f"need values and 0 < p <= 100, got {len(ordered)} values and p={p}")
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]
