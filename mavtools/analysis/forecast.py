"""Next quarter's demand per pool: trend + weekly rhythm of the daily history, and how honest it is.

Decisions, stated once:

Demand
    Unit-hours per period (GPU-hours, NPU-hours) *including the time versions waited in the
    queue*: each version counts its units from creation to end (``allocation(...,
    include_queued=True)``), because a full pool's allocation hides what it was asked for. Only
    whole periods count: the first and the last (partial) periods of the history are dropped.
The model
    Ordinary least squares of demand on a straight line in time plus one level per phase of the
    season (the weekday, for ``every="1d"``; no season for other periods), fitted per group in a
    few lines of plain Python: closed-form, no dependency. A library (statsforecast, Prophet)
    would bring numba or Stan for the same two terms; with ~100-400 points per pool the closed
    form runs in microseconds (``benchmarks/bench_sizing.py``).
The interval
    ``low``/``high`` bound an 80% (``level``) prediction interval: the residual spread with the
    uncertainty of the fitted line, ``sigma * sqrt(1 + 1/n_phase + (t - tbar_phase)^2 / Sxx)``,
    normal quantiles, clipped at zero (demand is never negative).
Honesty (:func:`backtest_forecast`)
    Rolling-origin backtests: the model is refitted at several origins in the second half of the
    history and scored on the periods that follow. ``mase`` is its mean absolute error divided by
    that of the better of two naive forecasts on the same periods: the last season repeated
    (seasonal naive) and the average season repeated. Beating the seasonal naive alone proves
    nothing on noise (any flat forecast beats it there), so the forecast must beat both;
    ``mase_seasonal_naive`` is the classic ratio. A forecast is worth showing when ``mase < 1``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Final

import polars as pl

from mavtools.analysis.allocation import allocation
from mavtools.analysis.timeline import DEFAULT_TZ, HOUR_MS, By, Resource, group_keys
from mavtools.analysis.whatif import PoolSizes, _wait_ms

__all__ = ["backtest_forecast", "demand", "demand_growth", "forecast"]

#: Season length (periods) per period: the weekly rhythm of daily data, none otherwise.
SEASONS: Final = {"1d": 7}
#: Fewest seasons of history a fit needs (and 2 seasons after the first fold for a backtest).
MIN_SEASONS: Final = 3
FOLDS: Final = 5
#: A fit keeps its trend and weekly levels only when an F test says noise alone would show as
#: much structure less often than this; otherwise it forecasts the mean.
ALPHA: Final = 0.01


def _season(every: str) -> int:
    return SEASONS.get(every, 1)


def _periods(horizon: str | timedelta, every: str) -> int:
    h, e = _wait_ms(horizon), _wait_ms(every)
    if e <= 0 or h <= 0:
        raise ValueError(
            f"horizon and every must be positive durations, not {horizon!r}, {every!r}"
        )
    return max(1, round(h / e))


def demand(
    df: pl.DataFrame,
    *,
    by: By = "pool_id",
    every: str = "1d",
    resource: Resource = "gpu",
    now: datetime | None = None,
    tz: str = DEFAULT_TZ,
) -> pl.DataFrame:
    """Unit-hours asked for per period and group, queue time included (whole periods only).

    Returns:
        The ``by`` columns (as String), ``time`` (period start) and ``unit_hours``.

    Example:
        >>> demand(df, by="pool_id", every="1d", resource="gpu")
    """
    keys = group_keys(by)
    alloc = allocation(
        df, every=every, by=by, resource=resource, now=now, tz=tz, include_queued=True
    )
    hours = (pl.col("time").dt.offset_by(every) - pl.col("time")).dt.total_milliseconds() / HOUR_MS
    return (
        alloc.filter(pl.col("coverage") >= 1.0)
        .select(
            *[pl.col(k).cast(pl.String) for k in keys],
            "time",
            unit_hours=pl.col("allocated_mean") * hours,
        )
        .sort([*keys, "time"])
    )


@dataclass(frozen=True)
class _Fit:
    """Per-phase levels and one slope, with what the interval needs."""

    level: list[float]
    slope: float
    sigma: float
    count: list[int]
    tbar: list[float]
    sxx: float
    structure: bool = True

    def predict(self, t: int, z: float) -> tuple[float, float, float]:
        d = t % len(self.level)
        mean = self.level[d] + self.slope * t
        spread = 1 + 1 / self.count[d]
        if self.sxx > 0:
            spread += (t - self.tbar[d]) ** 2 / self.sxx
        half = z * self.sigma * math.sqrt(spread)
        return mean, mean - half, mean + half


def _fit(y: list[float], m: int) -> _Fit:
    """OLS of y on t (0..n-1) with one intercept per phase t % m (closed form, within-phase)."""
    n = len(y)
    count, st, sy = [0] * m, [0.0] * m, [0.0] * m
    stt = sty = 0.0
    for t, v in enumerate(y):
        d = t % m
        count[d] += 1
        st[d] += t
        sy[d] += v
        stt += t * t
        sty += t * v
    sxx = stt - sum(st[d] ** 2 / count[d] for d in range(m))
    sxy = sty - sum(st[d] * sy[d] / count[d] for d in range(m))
    slope = sxy / sxx if sxx > 0 else 0.0
    level = [(sy[d] - slope * st[d]) / count[d] for d in range(m)]
    rss = sum((v - level[t % m] - slope * t) ** 2 for t, v in enumerate(y))
    dof = max(n - m - 1, 1)
    flat = sum(y) / n
    rss0 = sum((v - flat) ** 2 for v in y)
    if _structure_p(rss0, rss, m, dof) > ALPHA:
        # No trend or rhythm the noise could not have made: the mean is the better forecast.
        sigma = math.sqrt(rss0 / max(n - 1, 1))
        return _Fit([flat] * m, 0.0, sigma, [n] * m, [0.0] * m, 0.0, structure=False)
    tbar = [st[d] / count[d] for d in range(m)]
    return _Fit(level, slope, math.sqrt(rss / dof), count, tbar, sxx)


def _structure_p(rss0: float, rss: float, extra: int, dof: int) -> float:
    """P-value of the F test "trend and phases explain nothing" (Wilson-Hilferty approximation
    of the F distribution, accurate to a few thousandths here; no SciPy)."""
    if rss <= 0:
        return 0.0 if rss0 > 0 else 1.0
    f = (rss0 - rss) / extra / (rss / dof)
    if f <= 0:
        return 1.0
    a, b = 2 / (9 * extra), 2 / (9 * dof)
    z = ((1 - b) * f ** (1 / 3) - (1 - a)) / math.sqrt(b * f ** (2 / 3) + a)
    return 1 - NormalDist().cdf(z)


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
    return NormalDist().inv_cdf((1 + level) / 2)


def _series(df: pl.DataFrame, by: By, every: str, resource: Resource, now: datetime | None):
    """(keys, demand frame): ``df`` itself when it is already a demand frame."""
    keys = group_keys(by)
    if "unit_hours" in df.columns and "create_time" not in df.columns:
        return keys, df.sort([*keys, "time"])
    return keys, demand(df, by=by, every=every, resource=resource, now=now)


def _ahead(time: pl.Series, every: str, h: int) -> pl.Series:
    """The ``h`` period starts after the last of ``time``."""
    match = re.fullmatch(r"(\d+)([a-z]+)", every)
    if match is None:
        raise ValueError(f"every must be a simple duration such as '1d' or '1w', not {every!r}")
    num, unit = int(match[1]), match[2]
    steps = pl.Series([f"{k * num}{unit}" for k in range(1, h + 1)])
    return pl.select(time=pl.lit(time[-1], dtype=time.dtype).dt.offset_by(pl.lit(steps)))["time"]


def _groups(frame: pl.DataFrame, keys: list[str]):
    if not keys:
        yield (), frame
        return
    yield from frame.group_by(keys, maintain_order=True)


def forecast(
    df: pl.DataFrame,
    *,
    by: By = "pool_id",
    every: str = "1d",
    horizon: str | timedelta = "13w",
    resource: Resource = "gpu",
    level: float = 0.8,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Demand per period and group over the history and a forecast over ``horizon``.

    Args:
        df: versions with :data:`~mavtools.frame.VERSION_SCHEMA`, or a :func:`demand` frame.
        by: the group column(s), default per pool.
        every: the period, ``"1d"`` (trend + weekly rhythm) or e.g. ``"1w"`` (trend only).
        horizon: how far ahead, e.g. ``"13w"`` (a quarter).
        resource: ``"gpu"`` or ``"npu"``.
        level: the coverage of the ``low``/``high`` interval (0.8: 80%).
        now: where still-running versions end (default: each row's ``observed_at``).

    Returns:
        The ``by`` columns, ``time``, ``unit_hours`` (history; null ahead), ``fitted`` (the
        model over the history), ``forecast``, ``low`` and ``high`` (ahead; null over the
        history). A group with under :data:`MIN_SEASONS` seasons of history has no forecast rows.
        Check :func:`backtest_forecast` before showing it.

    Example:
        >>> fc = forecast(df, by="pool_id", every="1d", horizon="13w")
    """
    keys, series = _series(df, by, every, resource, now)
    m, h, z = _season(every), _periods(horizon, every), _z(level)
    parts = []
    for key, part in _groups(series, keys):
        y = part["unit_hours"].to_list()
        if len(y) < MIN_SEASONS * m or len(y) < 3:
            continue
        fit = _fit(y, m)
        n = len(y)
        ahead = [fit.predict(t, z) for t in range(n, n + h)]
        future = _ahead(part["time"], every, h)
        hist = part.select(
            *keys,
            "time",
            "unit_hours",
            fitted=pl.Series([fit.predict(t, z)[0] for t in range(n)], dtype=pl.Float64),
            forecast=pl.lit(None, pl.Float64),
            low=pl.lit(None, pl.Float64),
            high=pl.lit(None, pl.Float64),
        )
        fut = pl.DataFrame(
            {
                **{k: [v] * h for k, v in zip(keys, key, strict=True)},
                "time": future,
                "unit_hours": [None] * h,
                "fitted": [None] * h,
                "forecast": [max(0.0, a[0]) for a in ahead],
                "low": [max(0.0, a[1]) for a in ahead],
                "high": [max(0.0, a[2]) for a in ahead],
            },
            schema=hist.schema,
        )
        parts += [hist, fut]
    if not parts:
        return pl.DataFrame(
            schema={k: pl.String for k in keys}
            | {"time": series.schema["time"]}
            | dict.fromkeys(["unit_hours", "fitted", "forecast", "low", "high"], pl.Float64)
        )
    return pl.concat(parts)


def _naive_errors(
    y: list[float], origin: int, h: int, m: int
) -> tuple[list[float], list[float], list[float]]:
    """Absolute errors of the seasonal naive, the average-season and the flat-mean forecasts."""
    train = y[:origin]
    means = []
    for d in range(m):
        phase = [v for t, v in enumerate(train) if t % m == d]
        means.append(sum(phase) / len(phase))
    flat = sum(train) / len(train)
    naive, avg, mean = [], [], []
    for t in range(origin, min(origin + h, len(y))):
        last = origin - m + ((t - origin) % m)
        naive.append(abs(y[t] - y[last]))
        avg.append(abs(y[t] - means[t % m]))
        mean.append(abs(y[t] - flat))
    return naive, avg, mean


def backtest_forecast(
    df: pl.DataFrame,
    *,
    by: By = "pool_id",
    every: str = "1d",
    horizon: str | timedelta = "13w",
    resource: Resource = "gpu",
    level: float = 0.8,
    folds: int = FOLDS,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Rolling-origin backtests of :func:`forecast`: is it better than naive, and are its
    intervals honest?

    Origins are spread over the second half of the history; each fold fits the periods before its
    origin and forecasts the next ``min(horizon, a quarter of the history)`` periods.

    Returns:
        One row per group: the ``by`` columns, ``periods`` (of history), ``folds``,
        ``horizon_periods`` (scored ahead of each origin), ``mae``, ``mase`` (against the better
        naive, see the module docstring), ``mase_seasonal_naive``, ``coverage`` (share of the
        scored periods inside ``low``/``high``), ``level``, ``skill`` (``mase < 1``) and
        ``reason``: why the forecast should not be shown (null when it should).

    Example:
        >>> bt = backtest_forecast(df, by="pool_id")
        >>> bt.filter("skill")["pool_id"].to_list()
    """
    keys, series = _series(df, by, every, resource, now)
    m, z = _season(every), _z(level)
    rows = []
    for key, part in _groups(series, keys):
        y = part["unit_hours"].to_list()
        n = len(y)
        h = min(_periods(horizon, every), max(1, n // 4))
        first = max(MIN_SEASONS * m, 3, n // 2)
        row: dict[str, object] = dict(zip(keys, key, strict=True)) | {
            "periods": n,
            "folds": 0,
            "horizon_periods": h,
            "mae": None,
            "mase": None,
            "mase_seasonal_naive": None,
            "coverage": None,
        }
        if n - h < first:
            rows.append(row | {"reason": f"history too short ({n} periods)"})
            continue
        if not any(y):
            rows.append(row | {"reason": "no demand to forecast"})
            continue
        span = n - h - first
        origins = sorted({first + round(span * i / max(folds - 1, 1)) for i in range(folds)})
        err: list[float] = []
        naive: list[float] = []
        avg: list[float] = []
        flat: list[float] = []
        inside = 0
        for o in origins:
            fit = _fit(y[:o], m)
            for t in range(o, o + h):
                mean, lo, hi = fit.predict(t, z)
                err.append(abs(y[t] - mean))
                inside += lo <= y[t] <= hi
            a, b, c = _naive_errors(y, o, h, m)
            naive += a
            avg += b
            flat += c
        mae = sum(err) / len(err)
        base_naive, base_avg = sum(naive) / len(naive), sum(avg) / len(avg)
        base = min(base_naive, base_avg, sum(flat) / len(flat))
        mase = mae / base if base > 0 else (0.0 if mae == 0 else math.inf)
        row |= {
            "folds": len(origins),
            "mae": mae,
            "mase": mase,
            "mase_seasonal_naive": mae / base_naive if base_naive > 0 else None,
            "coverage": inside / len(err),
        }
        reason = None if mase < 1 else "history too irregular: no better than a naive forecast"
        rows.append(row | {"reason": reason})
    schema = {k: pl.String for k in keys} | {
        "periods": pl.Int64,
        "folds": pl.Int64,
        "horizon_periods": pl.Int64,
        "mae": pl.Float64,
        "mase": pl.Float64,
        "mase_seasonal_naive": pl.Float64,
        "coverage": pl.Float64,
        "reason": pl.String,
    }
    out = pl.DataFrame(rows, schema=schema, orient="row")
    return out.with_columns(
        level=pl.lit(level), skill=pl.col("mase").fill_null(math.inf) < 1
    ).select(*[c for c in schema if c != "reason"], "level", "skill", "reason")


def demand_growth(
    df: pl.DataFrame,
    *,
    horizon: str | timedelta = "13w",
    pools: PoolSizes | None = None,
    now: datetime | None = None,
) -> Mapping[str, float]:
    """Pool id -> forecast demand at the horizon's end / the fitted demand of the last season.

    Daily demand per pool (NPU-hours for pools the pools table says are Ascend, or whose versions
    ask only for NPUs). Pools whose forecast does not beat the naive ones
    (:func:`backtest_forecast`) are left out: sizing keeps their history as it was.
    """
    npu = set()
    if isinstance(pools, pl.DataFrame) and "accelerator" in pools.columns:
        npu = set(pools.filter(pl.col("accelerator") == "npu")["pool_id"].cast(pl.String))
    asks = df.group_by(pl.col("pool_id").cast(pl.String)).agg(
        g=pl.col("gpu_num").fill_null(0).sum(), n=pl.col("npu_num").fill_null(0).sum()
    )
    npu |= set(asks.filter((pl.col("g") == 0) & (pl.col("n") > 0))["pool_id"])
    growth: dict[str, float] = {}
    for resource in ("gpu", "npu"):
        series = demand(df, by="pool_id", every="1d", resource=resource, now=now)  # type: ignore[arg-type]
        series = series.filter(pl.col("pool_id").is_in(npu) == (resource == "npu"))
        skill = backtest_forecast(series, horizon=horizon).filter("skill")["pool_id"].to_list()
        fc = forecast(series.filter(pl.col("pool_id").is_in(skill)), horizon=horizon)
        for (pool,), part in fc.group_by("pool_id"):
            hist = part.filter(pl.col("forecast").is_null())["fitted"].tail(7).mean()
            ahead = part.filter(pl.col("forecast").is_not_null())["forecast"].tail(7).mean()
            if isinstance(hist, float) and isinstance(ahead, float) and hist > 0:
                growth[str(pool)] = max(ahead / hist, 0.1)
    return growth
