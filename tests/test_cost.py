"""Chargeback by hand and against DuckDB: rates, failed work, the three idle modes, reconciliation."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from test_whatif import T0, frame

import mavtools as mt

ROOT = Path(__file__).resolve().parent.parent


def hand_frame() -> pl.DataFrame:
    # p1 has 4 GPUs at 2.0 per GPU-hour; the window is 0-600 min (10 h): 40 GPU-h, 80.0.
    # ws A: 2 GPUs for 5 h (succeeded) = 10 GPU-h; ws B: 1 GPU for 10 h (failed) = 10 GPU-h.
    # p2 has no known size, 3.0 per GPU-hour: ws A 1 GPU for 1 h = 3.0.
    return frame(
        [
            {"c": 0, "s": 0, "e": 300, "g": 2, "ws": "A"},
            {"c": 0, "s": 0, "e": 600, "g": 1, "ws": "B", "status": 11},
            {"c": 0, "s": 0, "e": 60, "g": 1, "ws": "A", "pool": "p2"},
        ]
    )


RATES = {"p1": 2.0, "p2": 3.0}
SIZES = {"p1": 4}


def test_cost_shares_idle_in_proportion_to_use():
    out = mt.cost(hand_frame(), rates=RATES, pool_sizes=SIZES)
    # p1 idles 40 - 20 = 20 GPU-h (40.0); A and B used 10 GPU-h each there: 10 idle GPU-h each.
    assert out.to_dicts() == [
        {
            "workspace_id": "A",
            "unit_hours": 11.0,
            "cost": 23.0,
            "failed_unit_hours": 0.0,
            "failed_cost": 0.0,
            "idle_unit_hours": 10.0,
            "idle_cost": 20.0,
            "total_cost": 43.0,
        },
        {
            "workspace_id": "B",
            "unit_hours": 10.0,
            "cost": 20.0,
            "failed_unit_hours": 10.0,
            "failed_cost": 20.0,
            "idle_unit_hours": 10.0,
            "idle_cost": 20.0,
            "total_cost": 40.0,
        },
    ]
    assert out["total_cost"].sum() == 4 * 10 * 2.0 + 3.0
    # A pools table (pool_id, units) is read the same as a mapping.
    table = pl.DataFrame({"pool_id": ["p1"], "units": [4]})
    assert mt.cost(hand_frame(), rates=RATES, pool_sizes=table).equals(out)


def test_cost_shows_idle_as_a_row_or_leaves_it_out():
    row = mt.cost(hand_frame(), rates=RATES, pool_sizes=SIZES, idle="row")
    assert row["workspace_id"].to_list() == ["A", "B", "__idle__"]
    assert row["total_cost"].to_list() == [23.0, 20.0, 40.0]
    assert row["idle_unit_hours"].to_list() == [0.0, 0.0, 20.0]
    left = mt.cost(hand_frame(), rates=RATES, pool_sizes=SIZES, idle="leave")
    assert left["total_cost"].to_list() == [23.0, 20.0]
    assert left["idle_cost"].to_list() == [None, None]
    unknown = mt.cost(hand_frame(), rates=RATES)  # no sizes: idle unknown
    assert unknown["idle_cost"].to_list() == [None, None]


def test_cost_by_flavor_prices_idle_at_the_pools_mean_rate():
    df = hand_frame().with_columns(
        flavor_code=pl.Series(["big", "small", "small"]).cast(pl.Categorical)
    )
    out = mt.cost(df, rates={"big": 4.0, "small": 1.0}, rate_by="flavor_code", pool_sizes=SIZES)
    # p1 used 10 GPU-h at 4.0 and 10 at 1.0: mean 2.5; 20 idle GPU-h cost 50.0, half each.
    assert out["cost"].to_list() == [41.0, 10.0]
    assert out["idle_cost"].to_list() == [25.0, 25.0]
    assert out["total_cost"].sum() == pytest.approx(4 * 10 * 2.5 + 1.0)


def test_cost_refuses_missing_rates_and_impossible_sizes():
    with pytest.raises(ValueError, match="no rate for pool_id p2"):
        mt.cost(hand_frame(), rates={"p1": 2.0})
    with pytest.raises(ValueError, match="more unit-hours than their size"):
        mt.cost(hand_frame(), rates=RATES, pool_sizes={"p1": 1})
    with pytest.raises(ValueError, match="idle must be"):
        mt.cost(hand_frame(), rates=RATES, idle="spread")  # type: ignore[arg-type]


@pytest.mark.parametrize("idle", ["share", "row"])
@pytest.mark.parametrize("by", ["workspace_id", ["workspace_id", "flavor_code"]])
def test_cost_reconciles_with_pool_totals_on_the_samples(idle, by):
    """Every unit-hour of every sized pool is billed once, used or idle; checked in SQL."""
    df = mt.load_versions(mt.samples_client(), workspace_id=mt.ALL_WORKSPACES)
    sizes = json.loads((ROOT / "data" / "samples" / "manifest.json").read_text())["pools"]
    gpu_pools = {p: n for p, n in sizes.items() if "ascend" not in p and "cpu" not in p}
    rates = {p: 1.0 + i * 0.75 for i, p in enumerate(sorted(sizes))}
    start, end = T0.replace(year=2026, month=8, day=1), T0.replace(year=2026, month=9, day=15)
    out = mt.cost(df, rates=rates, by=by, idle=idle, pool_sizes=gpu_pools, start=start, end=end)
    hours = (end - start) / timedelta(hours=1)
    expected_total = sum(gpu_pools[p] * hours * rates[p] for p in gpu_pools)
    # Independent: clipped unit-hours per pool in SQL.
    held = df.select(
        pool=pl.col("pool_id").cast(pl.String),
        ws=pl.col("workspace_id").cast(pl.String),
        failed=pl.col("outcome").cast(pl.String).is_in(["failed", "canceled"]),
        g="gpu_num",
        s=pl.col("start_time").dt.epoch("ms"),
        # An unknown outcome (v2 Abnormal) holds for its duration, not until the snapshot.
        e=pl.coalesce(
            "end_time",
            pl.when(pl.col("outcome") == "unknown").then(pl.col("start_time") + pl.col("duration")),
        ).dt.epoch("ms"),
        seg="segments",
    )
    now_ms = int(mt.provenance(df).fetched_at.timestamp() * 1000)
    lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    con = duckdb.connect()
    con.register("versions", held)
    # A restarted job holds only inside its run segments (an open one runs until the job's end).
    con.sql(
        f"""
        CREATE VIEW held AS
        SELECT pool, ws, failed, g, s, e FROM versions WHERE seg IS NULL
        UNION ALL
        SELECT pool, ws, failed, g, epoch_ms(x.start) AS s,
               least(coalesce(epoch_ms(x."end"), coalesce(e, {now_ms})), coalesce(e, {now_ms})) AS e
        FROM (SELECT *, unnest(seg) AS x FROM versions WHERE seg IS NOT NULL)
        """
    )
    used = con.sql(
        f"""
        SELECT pool, ws, sum(g * (least(coalesce(e, {now_ms}), {hi}) - greatest(s, {lo}))) / 3.6e6 AS h,
               sum(CASE WHEN failed THEN g * (least(coalesce(e, {now_ms}), {hi}) - greatest(s, {lo}))
                   ELSE 0 END) / 3.6e6 AS fh
        FROM held WHERE s IS NOT NULL AND g > 0 AND least(coalesce(e, {now_ms}), {hi}) > greatest(s, {lo})
        GROUP BY ALL
        """
    ).pl()
    unsized = used.filter(~pl.col("pool").is_in(list(gpu_pools)))
    unsized_cost = sum(h * rates[p] for p, h in zip(unsized["pool"], unsized["h"], strict=True))
    assert out["total_cost"].sum() == pytest.approx(expected_total + unsized_cost, rel=1e-12)
    by_ws = out.group_by(pl.col("workspace_id")).agg(
        pl.col("unit_hours", "failed_unit_hours").sum()
    )
    sql_ws = used.group_by(workspace_id="ws").agg(pl.col("h", "fh").sum())
    joined = sql_ws.join(by_ws, on="workspace_id")
    assert joined.height == sql_ws.height
    assert joined["unit_hours"].to_list() == pytest.approx(joined["h"].to_list(), rel=1e-12)
    assert joined["failed_unit_hours"].to_list() == pytest.approx(joined["fh"].to_list(), rel=1e-12)
