"""mt.forecast and mt.backtest_forecast: demand counted by hand, a known trend and weekly rhythm
recovered from 200 seeded series with honest 80% intervals, and white noise refused."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import mavtools as mt
from tests.test_analysis import frame

DAY = 24 * 60
WEEK = (0.0, -10.0, 5.0, 20.0, 15.0, -30.0, -25.0)  # the weekly rhythm, Monday first
T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def series(seed: int, n: int, *, trend: float = 0.5, rhythm=WEEK, sd: float = 10.0):
    """A daily demand frame: 100 + trend x day + rhythm[weekday] + N(0, sd), n + 28 days."""
    rng = random.Random(seed)
    y = [100 + trend * t + rhythm[t % 7] + rng.gauss(0, sd) for t in range(n + 28)]
    times = [T0 + timedelta(days=t) for t in range(n + 28)]
    full = pl.DataFrame(
        {"pool_id": "p", "time": times, "unit_hours": y},
        schema={"pool_id": pl.String, "time": pl.Datetime("ms", "UTC"), "unit_hours": pl.Float64},
    )
    return full.head(n), full.tail(28)


def test_demand_counts_queue_time_in_whole_days():
    # v1: created day 0, waits a day, runs a day on 2 GPUs; v2 runs days 0-2 on 1 GPU.
    df = frame(
        [
            {"c": 0, "s": DAY, "e": 2 * DAY, "g": 2},
            {"c": 0, "s": 0, "e": 3 * DAY, "g": 1},
        ]
    )
    got = mt.demand(df, every="1d")
    assert got["unit_hours"].to_list() == pytest.approx([72.0, 72.0, 24.0])
    # forecast over the versions equals forecast over their demand frame
    with_versions = mt.forecast(df, every="1d", horizon="1w")
    assert with_versions.equals(mt.forecast(got, every="1d", horizon="1w"))


def test_trend_and_weekly_rhythm_recovered_with_honest_intervals():
    coverage, backtest_coverage, slopes, rhythm_errors = [], [], [], []
    for seed in range(200):
        history, future = series(seed, 182)
        fc = mt.forecast(history, horizon="4w").filter(pl.col("forecast").is_not_null())
        assert fc["time"].to_list() == future["time"].to_list()
        inside = (future["unit_hours"] >= fc["low"]) & (future["unit_hours"] <= fc["high"])
        coverage.append(inside.mean())
        slope = (fc["forecast"][7] - fc["forecast"][0]) / 7
        slopes.append(slope)
        # The rhythm: forecast minus its trend, per weekday, against the one we put in.
        level = [fc["forecast"][k] - slope * k for k in range(7)]
        mean = sum(level) / 7
        shifted = [WEEK[(182 + k) % 7] - sum(WEEK) / 7 for k in range(7)]
        rhythm_errors.append(max(abs(a - mean - b) for a, b in zip(level, shifted, strict=True)))
        bt = mt.backtest_forecast(history, horizon="4w").row(0, named=True)
        assert bt["skill"] and bt["mase"] < 1 and bt["reason"] is None
        backtest_coverage.append(bt["coverage"])
    assert 0.7 <= sum(coverage) / 200 <= 0.9
    assert 0.7 <= sum(backtest_coverage) / 200 <= 0.9
    assert sum(slopes) / 200 == pytest.approx(0.5, abs=0.01)
    assert max(abs(s - 0.5) for s in slopes) < 0.1
    # Noise sd 10 over ~26 days per weekday: each level is off by ~2, the worst of 7 by ~4.
    assert sum(rhythm_errors) / 200 < 5


@pytest.mark.parametrize("n", [90, 182, 365])
def test_white_noise_is_refused(n):
    for seed in range(200 if n == 182 else 40):
        history, _ = series(seed, n, trend=0.0, rhythm=(0.0,) * 7)
        bt = mt.backtest_forecast(history, horizon="13w").row(0, named=True)
        assert bt["mase"] >= 1 and not bt["skill"], seed
        assert bt["reason"].startswith("history too irregular")


def test_short_or_empty_history_says_why():
    history, _ = series(0, 10)
    bt = mt.backtest_forecast(history).row(0, named=True)
    assert not bt["skill"] and bt["reason"] == "history too short (10 periods)"
    assert mt.forecast(history).height == 0  # under three weeks: no forecast rows
    zero, _ = series(0, 60, trend=0.0, rhythm=(0.0,) * 7, sd=0.0)
    zero = zero.with_columns(unit_hours=pl.lit(0.0))
    assert mt.backtest_forecast(zero)["reason"].item() == "no demand to forecast"


def test_weekly_periods_forecast_the_trend_alone():
    # A year of weekly demand with a trend: no season, the line is recovered.
    rng = random.Random(7)
    weeks = [T0 + timedelta(weeks=k) for k in range(52)]
    y = [500 + 10 * k + rng.gauss(0, 20) for k in range(52)]
    df = pl.DataFrame(
        {"pool_id": "p", "time": weeks, "unit_hours": y},
        schema={"pool_id": pl.String, "time": pl.Datetime("ms", "UTC"), "unit_hours": pl.Float64},
    )
    fc = mt.forecast(df, every="1w", horizon="13w").filter(pl.col("forecast").is_not_null())
    assert fc.height == 13
    assert (fc["forecast"][12] - fc["forecast"][0]) / 12 == pytest.approx(10, abs=1.5)
    assert mt.backtest_forecast(df, every="1w", horizon="13w")["skill"].item()
