"""The what-if replay against answers worked out by hand and a minute-by-minute brute force.

Hand cases name what each one proves (blocking, backfill, nodes, censored running versions,
oversized and never-started versions); the brute force is a plain loop over minutes written
independently of the event-driven replay; the samples check the replay reproduces the waits of the
FIFO simulation that generated them, at their real pool sizes (read from the manifest, so the test
follows the samples when they are regenerated).
"""

from __future__ import annotations

import itertools
import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import mavtools as mt
from tests.test_analysis import MIN, T0, T0_MS, frame  # one compact-row builder for both

ROOT = Path(__file__).resolve().parent.parent


def minutes(col: pl.Series) -> list[float | None]:
    """A Datetime column as minutes after T0, a Duration column as minutes."""
    if col.dtype == pl.Duration("ms"):
        return [None if v is None else v / MIN for v in col.dt.total_milliseconds().to_list()]
    return [None if v is None else (v - T0_MS) / MIN for v in col.dt.epoch("ms").to_list()]


def test_fifo_blocks_and_backfill_passes():
    # 4 GPUs. v1 holds 3 from 0 to 60. v2 (2 GPUs, created at 10) cannot fit until 60. v3
    # (1 GPU, created at 20) fits in the free GPU at 20, but under FIFO it waits behind v2.
    df = frame(
        [
            {"c": 0, "s": 0, "e": 60, "g": 3},
            {"c": 10, "s": 60, "e": 90, "g": 2},
            {"c": 20, "s": 60, "e": 70, "g": 1},
        ]
    )
    fifo = mt.simulate(df, pool_id="p1", units=4)
    assert minutes(fifo["sim_start"]) == [0, 60, 60]
    assert minutes(fifo["sim_wait"]) == [0, 50, 40]
    backfill = mt.simulate(df, pool_id="p1", units=4, policy="backfill")
    assert minutes(backfill["sim_start"]) == [0, 60, 20]
    assert minutes(backfill["sim_wait"]) == [0, 50, 0]
    # The observed start and wait stand beside the simulated ones.
    assert minutes(fifo["start_time"]) == [0, 60, 60]
    assert minutes(fifo["queue_wait"]) == [0, 50, 40]
    assert fifo["version_id"].to_list() == [1, 2, 3]


def test_ties_in_creation_are_broken_by_version_id():
    # Both created at 0 on 2 GPUs, each asking for 2: the lower version id goes first.
    df = frame(
        [{"id": 9, "c": 0, "s": 0, "e": 30, "g": 2}, {"id": 4, "c": 0, "s": 0, "e": 10, "g": 2}]
    )
    out = mt.simulate(df, pool_id="p1", units=2)
    assert out["version_id"].to_list() == [4, 9]
    assert minutes(out["sim_start"]) == [0, 10]


def test_nodes_place_small_versions_on_one_node_and_large_ones_on_whole_nodes():
    # 8 GPUs as 2 nodes of 4. v1 (3) -> node 0, v2 (3) -> node 1 (node 0 has 1 free).
    # v3 (2) fits in the pool's 2 free GPUs, but no node has 2 free: it waits until v1 ends at 100
    # and goes on node 0. v4 (5) takes 2 whole idle nodes: node 1 is idle from 101, node 0 from
    # 110 when v3 ends.
    df = frame(
        [
            {"c": 0, "s": 0, "e": 100, "g": 3},
            {"c": 1, "s": 1, "e": 101, "g": 3},
            {"c": 2, "s": 100, "e": 110, "g": 2},
            {"c": 3, "s": 110, "e": 120, "g": 5},
        ]
    )
    nodes = mt.simulate(df, pool_id="p1", units=8, units_per_node=4)
    assert minutes(nodes["sim_start"]) == [0, 1, 100, 110]
    # Without nodes the pool is one bag: v3 starts at once, v4 (5) when v1 leaves 5 free at 100.
    bag = mt.simulate(df, pool_id="p1", units=8)
    assert minutes(bag["sim_start"]) == [0, 1, 2, 100]
    with pytest.raises(ValueError, match="whole number of nodes"):
        mt.simulate(df, pool_id="p1", units=6, units_per_node=4)


def test_running_versions_are_replayed_until_the_snapshot_and_marked_censored():
    # v1 started at 0 and still runs when the data was fetched at 60: it holds 2 of 2 GPUs until
    # 60 (its true length is unknown). v2, created at 10, waits until then.
    df = frame([{"c": 0, "s": 0, "g": 2}, {"c": 10, "s": 70, "e": 80, "g": 2}])
    out = mt.simulate(df, pool_id="p1", units=2, now=T0 + timedelta(minutes=60))
    assert out["run_censored"].to_list() == [True, False]
    assert minutes(out["run_time"]) == [60, 10]
    assert minutes(out["sim_start"]) == [0, 60]
    assert minutes(out["sim_end"]) == [60, 70]


def test_left_out_versions_are_kept_and_counted():
    # 4 GPUs: v2 asks for 8 (does not fit), v3 never started, v4 uses no GPU (not in the replay).
    df = frame(
        [
            {"c": 0, "s": 0, "e": 30, "g": 2},
            {"c": 5, "s": 5, "e": 35, "g": 8},
            {"c": 6, "g": 1},
            {"c": 7, "s": 7, "e": 9, "g": 0, "n": 1},
        ]
    )
    out = mt.simulate(df, pool_id="p1", units=4, now=T0 + timedelta(minutes=60))
    assert out["version_id"].to_list() == [1, 2, 3]
    assert out["fitted"].to_list() == [True, False, True]
    assert out["left_out"].to_list() == [None, "asks for more than 4 units", "never started"]
    assert minutes(out["sim_start"]) == [0, None, None]
    table = mt.what_if(df, pool_id="p1", sizes=[4, 8], now=T0 + timedelta(minutes=60))
    assert table["versions"].to_list() == [1, 2]
    assert table["left_out_never_started"].to_list() == [1, 1]
    assert table["left_out_too_big"].to_list() == [1, 0]


def test_npu_pools_replay_npu_counts():
    df = frame(
        [
            {"c": 0, "s": 0, "e": 60, "g": 0, "n": 8, "pool": "ascend"},
            {"c": 1, "s": 60, "e": 61, "g": 0, "n": 8, "pool": "ascend"},
        ]
    )
    out = mt.simulate(df, pool_id="ascend", units=8, resource="npu")
    assert minutes(out["sim_wait"]) == [0, 59]
    assert mt.simulate(df, pool_id="ascend", units=8).height == 0  # asks for no GPU
    with pytest.raises(ValueError, match="pool 'nope' has no versions in this frame; its pools: "):
        mt.simulate(df, pool_id="nope", units=8)


def test_what_if_by_hand():
    # 2 GPUs, three 1-GPU versions created at 0, 0, 0 running 60 each: on 2 GPUs the waits are
    # 0, 0, 60 minutes; on 3, all zero. p50 of (0, 0, 1 h) = 0; p90 = 0.8 h (linear).
    df = frame([{"c": 0, "s": 0, "e": 60}, {"c": 0, "s": 0, "e": 60}, {"c": 0, "s": 60, "e": 120}])
    table = mt.what_if(df, pool_id="p1", sizes=[2, 3, 2], quantiles=(0.5, 0.9))
    assert table["units"].to_list() == [2, 3]  # one row per distinct size, in the order given
    assert table.columns[:5] == ["pool_id", "units", "versions", "wait_p50_hours", "wait_p90_hours"]
    assert table["wait_p50_hours"].to_list() == [0.0, 0.0]
    assert table["wait_p90_hours"].to_list() == pytest.approx([0.8, 0.0])
    assert table["share_waited_over_1h"].to_list() == [0.0, 0.0]
    # 3 GPU-hours held; on 2 GPUs over 2 h -> 75 %; on 3 GPUs over 1 h (the snapshot is the last
    # end, 120) -> 3 / (3 x 2) = 50 %.
    assert table["utilization_mean"].to_list() == pytest.approx([0.75, 0.5])


# ----------------------------------------------------------------------- against a brute force


def random_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    rows = []
    for _ in range(n):
        c = rng.randrange(0, 300)
        g = rng.choice((1, 1, 2, 3, 4, 6))
        run = rng.randrange(0, 90)
        if rng.random() < 0.1:
            rows.append({"c": c, "g": g})  # never started
        elif rng.random() < 0.1:
            rows.append({"c": c, "s": c + 5, "g": g})  # running at the snapshot
        else:
            rows.append({"c": c, "s": c, "e": c + run, "g": g})
    return rows


def brute(rows: list[dict[str, Any]], units: int, policy: str, now: int) -> dict[int, int]:
    """Minute by minute: free what ended, queue what arrived, start what the policy allows."""
    jobs = sorted(
        (
            (r["c"], i + 1, r["g"], (r["e"] if r.get("e") is not None else now) - r["s"])
            for i, r in enumerate(rows)
            if r.get("s") is not None and r["g"] <= units
        ),
    )
    queue: list[tuple[int, int, int, int]] = []
    ends: list[tuple[int, int]] = []
    starts: dict[int, int] = {}
    pending = list(jobs)
    t = 0
    while pending or queue:
        ends = [(e, g) for e, g in ends if e > t]
        queue += [j for j in pending if j[0] <= t]
        pending = [j for j in pending if j[0] > t]
        free = units - sum(g for _, g in ends)
        left = []
        blocked = False
        for job in queue:
            if not blocked and job[2] <= free:
                starts[job[1]] = t
                if job[3] > 0:  # a zero-length run holds nothing, [t, t)
                    free -= job[2]
                    ends.append((t + job[3], job[2]))
            else:
                left.append(job)
                blocked = policy == "fifo"
        queue = left
        t += 1
    return starts


@pytest.mark.parametrize("policy", ["fifo", "backfill"])
@pytest.mark.parametrize("seed", range(6))
def test_replay_matches_minute_brute_force(policy, seed):
    rng = random.Random(seed)
    rows = random_rows(rng, 40)
    now = 400
    df = frame(rows)
    for units in (6, 9):
        out = mt.simulate(
            df, pool_id="p1", units=units, policy=policy, now=T0 + timedelta(minutes=now)
        )
        got = {
            vid: m
            for vid, m in zip(out["version_id"].to_list(), minutes(out["sim_start"]), strict=True)
            if m is not None
        }
        assert got == brute(rows, units, policy, now)


@pytest.mark.parametrize("policy", ["fifo", "backfill"])
@pytest.mark.parametrize("seed", range(3))
def test_replay_matches_minute_brute_force_when_congested(policy, seed):
    # Long runs on 8 GPUs: queues thousands of minutes long, zero-length runs included.
    rng = random.Random(50 + seed)
    rows = random_rows(rng, 200)
    for row in rows:
        if row.get("e") is not None:
            row["e"] = row["c"] + rng.randrange(0, 400)
    now = 2000
    out = mt.simulate(
        frame(rows), pool_id="p1", units=8, policy=policy, now=T0 + timedelta(minutes=now)
    )
    got = {
        vid: m
        for vid, m in zip(out["version_id"].to_list(), minutes(out["sim_start"]), strict=True)
        if m is not None
    }
    assert max(got.values()) > 10_000  # really congested
    assert got == brute(rows, 8, policy, now)


@pytest.mark.parametrize("seed", range(5))
def test_more_units_never_lengthen_a_fifo_wait(seed):
    rng = random.Random(100 + seed)
    df = frame(random_rows(rng, 120))
    now = T0 + timedelta(minutes=400)
    sizes = list(range(6, 25))
    table = mt.what_if(df, pool_id="p1", sizes=sizes, now=now)
    for name in ("wait_p50_hours", "wait_p90_hours", "wait_p99_hours", "share_waited_over_1h"):
        values = table[name].to_list()
        assert all(b <= a for a, b in itertools.pairwise(values)), (name, values)
    # Stronger: no single version waits longer on a bigger pool.
    waits = [mt.simulate(df, pool_id="p1", units=u, now=now)["sim_wait"] for u in sizes]
    for smaller, bigger in itertools.pairwise(waits):
        assert (bigger <= smaller).all()


def test_size_for_is_the_smallest_size_meeting_the_target():
    rng = random.Random(7)
    df = frame(random_rows(rng, 150))
    now = T0 + timedelta(minutes=400)
    found = mt.size_for(df, pool_id="p1", wait="30m", quantile=0.9, now=now)
    size = found["units"].item()
    assert found["wait_p90_hours"].item() <= 0.5
    below = mt.what_if(df, pool_id="p1", sizes=[size - 1], quantiles=(0.9,), now=now)
    assert size == 6 or below["wait_p90_hours"].item() > 0.5  # 6 is the largest version
    # The same answer by a plain scan of every size.
    scan = mt.what_if(df, pool_id="p1", sizes=range(6, 200), quantiles=(0.9,), now=now)
    assert scan.filter(pl.col("wait_p90_hours") <= 0.5)["units"].min() == size
    with pytest.raises(ValueError, match="duration"):
        mt.size_for(df, pool_id="p1", wait="soon")


# ------------------------------------------------------------------------- the samples replay


def test_replay_at_the_samples_real_sizes_reproduces_their_waits():
    """The samples come from a FIFO simulation of each pool at the sizes in the manifest.

    The replay starts a version at its creation; the generator queues it after a submission
    delay (up to 3 minutes). The version that opens each busy period starts that much later in
    the data, and every version queued behind it inherits the shift, so starts agree within
    minutes rather than to the second, and the wait quantiles within a few minutes.
    """
    manifest = json.loads((ROOT / "data" / "samples" / "manifest.json").read_text())
    df = mt.load_versions(mt.samples_client(), workspace_id=mt.ALL_WORKSPACES)
    checked = 0
    for pool, size in manifest["pools"].items():
        resource = "npu" if df.filter(pl.col("pool_id") == pool)["npu_num"].max() else "gpu"
        units = df.filter(pl.col("pool_id") == pool)[f"{resource}_num"].max()
        if not units:
            continue  # a CPU pool: nothing asks for accelerators
        check = mt.replay_check(df, pool_id=pool, pool_sizes=manifest["pools"], resource=resource)
        assert check["units"].item() == size
        assert check["share_within_5min"].item() >= 0.95, check["summary"].item()
        assert abs(check["p50_error_hours"].item()) <= 0.1, check["summary"].item()
        assert abs(check["p90_error_hours"].item()) <= 0.1, check["summary"].item()
        # The difference is the generator's submission delay (20 s to 3 min), which shows in the
        # waits of the versions that found room.
        assert 0 < check["entry_delay_p50_minutes"].item() <= 3, check["summary"].item()
        checked += 1
    assert checked >= 4


def test_replay_check_uses_the_observed_peak_without_known_sizes():
    df = frame([{"c": 0, "s": 0, "e": 60, "g": 3}, {"c": 10, "s": 60, "e": 90, "g": 3}])
    check = mt.replay_check(df, pool_id="p1")
    assert check["units"].item() == 3
    assert check["units_from"].item() == "observed peak"
    assert check["share_same_start"].item() == 1.0
    assert check["p90_error_hours"].item() == 0.0
    assert check["entry_delay_p50_minutes"].item() == 0.0  # v1 found room and started at once
    table = pl.DataFrame({"pool_id": ["p1"], "units": [4]})
    assert mt.replay_check(df, pool_id="p1", pool_sizes=table)["units"].item() == 4


# ------------------------------------------------------------------------ the capacity headline


def test_capacity_needed_says_when_allocation_cannot_show_demand():
    # Pool p (2 GPUs): v1 holds both from 0 to 600 min; v2, created at 0, waits until 600 and runs
    # to 660. The window is 0-660: at the peak (2) all the time, v2 waited over 10 min from 10 to
    # 600 (590 of 660 min). Pool q reaches its peak 1 h in 10 and nobody waits: not saturated.
    df = frame(
        [
            {"c": 0, "s": 0, "e": 600, "g": 2, "pool": "p"},
            {"c": 0, "s": 600, "e": 660, "g": 2, "pool": "p"},
            {"c": 0, "s": 0, "e": 60, "g": 3, "pool": "q"},
            {"c": 0, "s": 0, "e": 240, "g": 1, "pool": "q"},
        ]
    )
    out = mt.capacity_needed(df, q=0.95)
    assert out["saturated"].to_list() == [True, False]
    assert out["share_at_peak"].to_list() == pytest.approx([1.0, 60 / 660])
    assert out["share_queued"].to_list() == pytest.approx([590 / 660, 0.0])
    assert out["summary"].to_list() == [
        "p needs 2 GPUs to cover 95% of hours; it peaked at 2. Saturated: versions waited over "
        "10 min in 89% of hours and the allocation sat at its peak in 100% of hours, so the "
        "allocation understates demand; the demand with queued versions and the waits at other "
        "sizes show what more units would do",
        "q needs 4 GPUs to cover 95% of hours; it peaked at 4",
    ]
    demand = mt.capacity_needed(df, q=1.0, include_queued=True)
    assert demand["summary"][0] == (
        "p needs 4 GPUs to cover 100% of hours without queueing; it peaked at 4"
    )


def test_capacity_needed_names_only_the_reasons_for_saturation_that_hold():
    # Pool r: v1 holds 1 GPU 0-600 min, v2 holds 2 GPUs 0-60 (the peak of 3, 60 of 600 min: 10%,
    # under the 25% that would make it saturated), v3 is created at 0 and waits until 300.
    df = frame(
        [
            {"c": 0, "s": 0, "e": 600, "g": 1, "pool": "r"},
            {"c": 0, "s": 0, "e": 60, "g": 2, "pool": "r"},
            {"c": 0, "s": 300, "e": 600, "g": 1, "pool": "r"},
        ]
    )
    out = mt.capacity_needed(df, q=0.95)
    assert out["share_at_peak"].item() == pytest.approx(60 / 600)
    queued = out["share_queued"].item()
    assert queued >= 0.05 and out["saturated"].item()
    summary = out["summary"].item()
    assert f"versions waited over 10 min in {round(queued * 100)}% of hours" in summary
    assert "at its peak" not in summary  # a reason that does not hold is not said


def test_what_if_figure_marks_today_and_the_chosen_size():
    df = frame([{"c": 0, "s": 0, "e": 60}, {"c": 0, "s": 0, "e": 60}, {"c": 0, "s": 60, "e": 120}])
    table = mt.what_if(df, pool_id="p1", sizes=[1, 2, 3])
    fig = mt.decision.what_if_figure(table, current=2, selected=3)
    assert [t.name for t in fig.data] == ["p50", "p90", "p99"]
    assert list(fig.data[0].x) == [1, 2, 3]
    # On 1 GPU the waits are 0, 1 h, 2 h: the p50 is 1 h.
    assert list(fig.data[0].y) == [1.0, 0.0, 0.0]
    assert [s.x0 for s in fig.layout.shapes] == [2, 3]
    assert "No versions" in mt.decision.what_if_figure(table.clear()).layout.annotations[0].text


def test_running_versions_end_at_their_own_snapshot_when_rows_carry_observed_at():
    # The frame says when each row was observed: v1 was seen running at 45, so it is replayed
    # until 45; `now=` overrides the rows' snapshot times, as everywhere in mavtools.analysis.
    df = frame([{"c": 0, "s": 0, "g": 2}, {"c": 10, "s": 70, "e": 80, "g": 2}]).with_columns(
        observed_at=pl.lit(T0 + timedelta(minutes=45)).cast(pl.Datetime("ms", "UTC"))
    )
    out = mt.simulate(df, pool_id="p1", units=2)
    assert minutes(out["run_time"]) == [45, 10]
    assert minutes(out["sim_start"]) == [0, 45]
    assert out["run_censored"].to_list() == [True, False]
    later = mt.simulate(df, pool_id="p1", units=2, now=T0 + timedelta(minutes=60))
    assert minutes(later["run_time"]) == [60, 10]


def test_backfill_on_nodes_by_hand():
    # 8 GPUs as 2 nodes of 4. v1 (3) on node 0 from 0 to 100, v2 (4) takes node 1 from 1 to 50.
    # v3 (8, two whole nodes) waits for both. v4 (1, created at 5) fits node 0 at once under
    # backfill; under FIFO it waits behind v3, which starts at 100 and ends at 110.
    df = frame(
        [
            {"c": 0, "s": 0, "e": 100, "g": 3},
            {"c": 1, "s": 1, "e": 50, "g": 4},
            {"c": 2, "s": 100, "e": 110, "g": 8},
            {"c": 5, "s": 5, "e": 25, "g": 1},
        ]
    )
    back = mt.simulate(df, pool_id="p1", units=8, units_per_node=4, policy="backfill")
    assert minutes(back["sim_start"]) == [0, 1, 100, 5]
    fifo = mt.simulate(df, pool_id="p1", units=8, units_per_node=4)
    assert minutes(fifo["sim_start"]) == [0, 1, 100, 110]
