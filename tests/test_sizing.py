"""mt.sizing against hand-worked cases, a full scan of whole-node sizes through mt.what_if, the
samples' saturated pools, and mt.cost for the money."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import mavtools as mt
from mavtools.analysis.forecast import demand_growth
from mavtools.analysis.sizing import HOURS_PER_MONTH, MAX_NODES_FACTOR, _scaled
from tests.test_analysis import frame


def four_pairs() -> pl.DataFrame:
    # Four versions of 2 GPUs, all created at 0, each running 60 min; nodes of 2 GPUs.
    return frame([{"c": 0, "s": 60 * i, "e": 60 * i + 60, "g": 2} for i in range(4)])


def test_hand_worked_nodes_for_a_wait_target():
    df = four_pairs()
    # 1 node: waits 0, 60, 120, 180 min -> p90 (linear) 162 min. 2 nodes: 0, 0, 60, 60 -> 60 min.
    # 3 nodes: 0, 0, 0, 60 -> 42 min. 4 nodes: no wait.
    two_h = mt.sizing(df, wait="2h", units_per_node=2, pools={"p1": 2})
    row = two_h.row(0, named=True)
    assert (row["units_now"], row["nodes_now"], row["nodes"], row["units"]) == (2, 1, 2, 4)
    assert row["wait_now_hours"] == pytest.approx(2.7)
    assert row["wait_hours"] == pytest.approx(1.0)
    assert row["verdict"].startswith("p1: add 1 node (2 GPUs): p90 wait 2.7 h -> 60 min")
    half = mt.sizing(df, wait="30m", units_per_node=2, pools={"p1": 2}).row(0, named=True)
    assert (half["nodes"], half["wait_hours"]) == (4, 0.0)
    # Generous target: the pool shrinks to the fewest nodes that still meet it.
    big = mt.sizing(df, wait="3h", units_per_node=2, pools={"p1": 8}).row(0, named=True)
    assert (big["nodes_now"], big["nodes"], big["nodes_change"]) == (4, 1, -3)
    assert big["verdict"].startswith("p1: remove 3 nodes (6 GPUs)")


def full_scan(df, pool, upn, resource, target_h, q=0.9, top=None):
    """The fewest whole nodes meeting the target, by replaying every size up to ``top``."""
    sizes = list(range(upn, (top or 40) * upn + 1, upn))
    table = mt.what_if(
        df, pool_id=pool, sizes=sizes, units_per_node=upn, resource=resource, quantiles=(q,)
    ).filter(pl.col("left_out_too_big") == 0)
    met = table.filter(pl.col(f"wait_p{q * 100:g}_hours") <= target_h)
    return None if met.height == 0 else int(met["units"].min()) // upn


@pytest.mark.parametrize("seed", range(6))
def test_sizing_equals_full_scan_on_random_pools(seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(rng.randint(5, 40)):
        c = rng.randint(0, 2000)
        run = rng.randint(1, 400)
        rows.append({"c": c, "s": c + rng.randint(0, 300), "g": rng.choice([1, 2, 4, 8])})
        rows[-1]["e"] = rows[-1]["s"] + run
    df = frame(rows)
    upn = rng.choice([2, 4, 8])
    for wait in ("0m", "10m", "1h", "3h"):
        got = mt.sizing(df, wait=wait, units_per_node=upn).row(0, named=True)
        want = full_scan(df, "p1", upn, "gpu", int(wait[:-1]) / (60 if wait[-1] == "m" else 1))
        assert got["nodes"] == want, (seed, wait)


@pytest.fixture(scope="module")
def samples():
    client = mt.samples_client()
    return client.list_versions(workspace_id=mt.ALL_WORKSPACES), client.pools()


RATES = {
    "pool-a100-prod": 2.9,
    "pool-a100-research": 2.9,
    "pool-ascend-910": 2.0,
    "pool-v100-batch": 1.2,
    "pool-v100-shared": 1.2,
}


@pytest.fixture(scope="module")
def decision(samples):
    df, pools = samples
    return mt.sizing(df, pools=pools, rates=RATES)


def test_samples_sizing_equals_full_scan(samples, decision):
    df, _ = samples
    assert decision["pool_id"].to_list() == sorted(RATES)  # one row per GPU/NPU pool
    for row in decision.iter_rows(named=True):
        want = full_scan(df, row["pool_id"], row["units_per_node"], row["resource"], 2.0)
        assert row["nodes"] == want, row["pool_id"]
        # Today's and the recommended numbers are what_if's for those sizes.
        table = mt.what_if(
            df,
            pool_id=row["pool_id"],
            sizes=[row["units_now"], row["units"]],
            units_per_node=row["units_per_node"],
            resource=row["resource"],
        )
        for (_, wait, share, util), suffix in zip(
            table.select(
                "units", "wait_p90_hours", "share_waited_over_1h", "utilization_mean"
            ).iter_rows(),
            ("_now", ""),
            strict=True,
        ):
            assert row[f"wait{suffix}_hours"] == pytest.approx(wait)
            assert row[f"share_over_1h{suffix}"] == pytest.approx(share)
            assert row[f"utilization{suffix}"] == pytest.approx(util)
    research = decision.row(decision["pool_id"].to_list().index("pool-a100-research"), named=True)
    # The replay's answer, not capacity_needed's 16 (today's size) nor the 92 without queueing.
    assert research["units"] == 32 and research["allocation_needed"] == 16
    assert research["demand_units"] == 92
    assert research["verdict"].startswith("pool-a100-research: add 2 nodes (16 GPUs): p90 wait")


def test_saturated_pool_is_never_kept_when_its_wait_misses_the_target(samples, decision):
    for wait in ("2h", "8h"):
        table = decision if wait == "2h" else mt.sizing(samples[0], pools=samples[1], wait=wait)
        late = table.filter(
            pl.col("saturated")
            & (
                (pl.col("wait_now_hours") > pl.col("wait_target_hours"))
                | (pl.col("wait_observed_hours") > pl.col("wait_target_hours"))
            )
        )
        assert late.height > 0
        for row in late.iter_rows(named=True):
            assert row["nodes"] > row["nodes_now"], row["verdict"]
            assert ": keep " not in row["verdict"]
            assert "saturated" in row["verdict"]


def test_costs_reconcile_with_mt_cost_and_unit_hours(samples, decision):
    df, _ = samples
    start, end = datetime(2026, 7, 10, tzinfo=UTC), datetime(2026, 9, 10, tzinfo=UTC)
    hours = (end - start) / timedelta(hours=1)
    for row in decision.iter_rows(named=True):
        pool, rate = row["pool_id"], RATES[row["pool_id"]]
        part = df.filter(pl.col("pool_id").cast(pl.String) == pool)
        bill = mt.cost(
            part,
            rates={pool: rate},
            pool_sizes={pool: row["units_now"]},
            idle="share",
            start=start,
            end=end,
            resource=row["resource"],
        )
        # Capacity is paid whether used or not: used + idle over the window = size x hours x rate.
        assert bill["total_cost"].sum() == pytest.approx(
            row["cost_month_now"] / HOURS_PER_MONTH * hours
        )
        assert row["cost_month"] == pytest.approx(row["units"] * rate * HOURS_PER_MONTH)
        # The cost per job-hour of waiting saved, from the replays' own waits.
        waits = {}
        for units in (row["units_now"], row["units"]):
            sim = mt.simulate(
                df,
                pool_id=pool,
                units=units,
                units_per_node=row["units_per_node"],
                resource=row["resource"],
            )
            waits[units] = sim["sim_wait"].dt.total_milliseconds().sum() / 3_600_000
        saved = waits[row["units_now"]] - waits[row["units"]]
        first = part.filter(pl.col(f"{row['resource']}_num") > 0)["create_time"].min()
        months = (df["observed_at"].max() - first) / timedelta(hours=HOURS_PER_MONTH)
        assert row["wait_hours_saved_month"] == pytest.approx(saved / months)
        extra = row["cost_month"] - row["cost_month_now"]
        assert row["cost_per_wait_hour_saved"] == pytest.approx(extra / (saved / months))


def test_without_rates_no_cost_and_bad_input_says_what_to_do(samples):
    df, pools = samples
    t = mt.sizing(df, pool_id="pool-v100-shared", pools=pools)
    assert t.height == 1 and t["cost_month"].is_null().all() and "EUR" not in t["verdict"].item()
    with pytest.raises(ValueError, match="quantile must be between 0 and 1"):
        mt.sizing(df, quantile=90)
    with pytest.raises(ValueError, match="wait must be a duration"):
        mt.sizing(df, wait="two hours")
    with pytest.raises(ValueError, match="no versions asking for GPUs or NPUs"):
        mt.sizing(df, pool_id="pool-cpu-public")


def test_no_wait_needs_every_simultaneous_version_its_own_room():
    # Three 1-GPU versions created together: no waiting at all takes three 1-GPU nodes, well
    # inside the scan (MAX_NODES_FACTOR x the 3 units demanded at once).
    df = frame([{"c": 0, "s": 60 * i, "e": 60 * i + 60, "g": 1} for i in range(3)])
    row = mt.sizing(df, wait="0m", units_per_node=1, pools={"p1": 1}).row(0, named=True)
    assert (row["nodes"], row["wait_hours"], row["nodes_change"]) == (3, 0.0, 2)
    assert row["nodes"] <= MAX_NODES_FACTOR * 3


def growing_pool() -> pl.DataFrame:
    """120 days of 1-GPU, 6-hour versions, more each week (and fewer at weekends), never queued."""
    rows = []
    for day in range(120):
        count = 4 + day // 7 - (3 if day % 7 >= 5 else 0)
        for k in range(count):
            c = day * 1440 + k * (1440 // count)
            rows.append({"c": c, "s": c, "e": c + 360, "g": 1})
    return frame(rows)


def test_horizon_sizes_for_the_forecast_demand():
    df = growing_pool()
    growth = demand_growth(df, horizon="13w")["p1"]
    assert growth > 1.3  # demand keeps growing: about +1 version a day per week
    now = mt.sizing(df, wait="1h", units_per_node=2).row(0, named=True)
    ahead = mt.sizing(df, wait="1h", units_per_node=2, horizon="13w").row(0, named=True)
    assert ahead["growth"] == pytest.approx(growth) and ahead["forecast_used"]
    assert ahead["units"] > now["units"]
    # The same jobs in 1/growth of the time: a size where nobody waits is that much busier
    # (with a snapshot time, as fetched frames have: it moves with the history).
    df = df.with_columns(observed_at=pl.lit(df["end_time"].max()).cast(df.schema["observed_at"]))
    big = {"pool_id": "p1", "wait": "1h", "units_per_node": 2, "pools": {"p1": 40}}
    busier = mt.sizing(df, horizon="13w", **big)["utilization_now"].item()
    assert busier == pytest.approx(
        mt.sizing(df, **big)["utilization_now"].item() * growth, rel=0.01
    )
    assert ahead["verdict"].startswith(f"p1 in 13w (forecast demand x{growth:.2f})")
    # The answer is the full scan of the history replayed with arrivals `growth` times as often.
    scaled = _scaled(df, growth)
    assert ahead["nodes"] == full_scan(scaled, "p1", 2, "gpu", 1.0, top=60)
    # Scaling keeps every version's run and units, and packs the arrivals 1/growth as wide.
    run = (pl.col("end_time") - pl.col("start_time")).alias("run")
    assert scaled.select(run, "gpu_num").equals(df.select(run, "gpu_num"))
    span = lambda f: (f["create_time"].max() - f["create_time"].min()).total_seconds()  # noqa: E731
    assert span(scaled) == pytest.approx(span(df) / growth, rel=1e-6)


def test_a_pool_that_never_ran_gets_a_row_that_says_so():
    df = frame(
        [
            {"c": 0, "s": 0, "e": 60, "g": 2, "pool": "p1"},
            {"c": 0, "s": None, "e": None, "g": 4, "pool": "p2"},  # queued at the snapshot
        ]
    )
    t = mt.sizing(df, units_per_node=2)
    assert t["pool_id"].to_list() == ["p1", "p2"]
    p2 = t.row(1, named=True)
    assert p2["nodes"] is None and p2["units"] is None
    assert p2["verdict"] == (
        "p2: none of its 1 jobs ever started, so there is no history to replay; size it by hand"
    )
    with pytest.raises(ValueError, match="no started versions"):
        mt.sizing(df, pool_id="p2")


def test_utilization_and_cost_columns_reconcile_with_unit_hours(samples, decision):
    df, _ = samples
    for row in decision.iter_rows(named=True):
        rate = RATES[row["pool_id"]]
        for units, utilization in (
            (row["units_now"], "utilization_now"),
            (row["units"], "utilization"),
        ):
            sim = mt.simulate(
                df,
                pool_id=row["pool_id"],
                units=units,
                units_per_node=row["units_per_node"],
                resource=row["resource"],
            ).filter(pl.col("left_out").is_null())
            unit_hours = (sim["units"] * sim["run_time"].dt.total_milliseconds()).sum() / 3.6e6
            end = max(sim["sim_end"].max(), df["observed_at"].max())
            hours = (end - sim["create_time"].min()) / timedelta(hours=1)
            # utilization x units x hours of the replay = the unit-hours its jobs ran
            assert row[utilization] * units * hours == pytest.approx(unit_hours)
        added = row["cost_month"] - row["cost_month_now"]
        assert added == pytest.approx((row["units"] - row["units_now"]) * rate * HOURS_PER_MONTH)
