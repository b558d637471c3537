"""mt.chargeback: month by month mt.cost, reconciled with the pool sizes, with mt.cost over the
whole span, and with failed and canceled unit-hours counted apart."""

from __future__ import annotations

import polars as pl
import pytest

import mavtools as mt

RATES = {
    "pool-a100-prod": 2.9,
    "pool-a100-research": 2.9,
    "pool-v100-batch": 1.2,
    "pool-v100-shared": 1.2,
}


@pytest.fixture(scope="module")
def samples():
    client = mt.samples_client()
    df = client.list_versions(workspace_id=mt.ALL_WORKSPACES)
    sizes = {p: n for p, n in mt.pool_sizes(client.pools()).items() if p in RATES}
    return df, sizes


def test_each_month_bills_the_whole_capacity(samples):
    df, sizes = samples
    bill = mt.chargeback(df, rates=RATES, pool_sizes=sizes)
    months = bill.group_by("period", maintain_order=True).agg(
        pl.col("hours").first(), pl.col("total_cost").sum()
    )
    assert months.height == 4  # July to the snapshot on 1 October
    capacity_per_hour = sum(n * RATES[p] for p, n in sizes.items())
    for hours, total in months.select("hours", "total_cost").iter_rows():
        assert total == pytest.approx(hours * capacity_per_hour)


def test_months_add_up_to_the_whole_span_and_outcomes_split(samples):
    df, _ = samples
    bill = mt.chargeback(df, by="workspace_id")  # no rates: unit-hours only
    assert bill["total_cost"].is_null().all()
    start, end = bill["period"].min(), df["observed_at"].max()
    whole = mt.cost(
        df,
        rates=dict.fromkeys(RATES, 1.0),
        by="workspace_id",
        idle="leave",
        start=max(start, df["start_time"].min()),
        end=end,
    )
    summed = (
        bill.group_by("workspace_id")
        .agg(pl.col("unit_hours", "failed_unit_hours", "canceled_unit_hours").sum())
        .sort("workspace_id")
    )
    assert summed["unit_hours"].to_list() == pytest.approx(whole["unit_hours"].to_list())
    both = summed["failed_unit_hours"] + summed["canceled_unit_hours"]
    assert both.to_list() == pytest.approx(whole["failed_unit_hours"].to_list())
    canceled = df.filter(pl.col("outcome") == "canceled")
    only = mt.cost(
        canceled,
        rates=dict.fromkeys(RATES, 1.0),
        by="workspace_id",
        idle="leave",
        start=max(start, df["start_time"].min()),
        end=end,
    )
    assert summed.join(only, on="workspace_id")["canceled_unit_hours"].to_list() == pytest.approx(
        only.sort("workspace_id")["unit_hours"].to_list()
    )
    # The change is this month's hours minus last month's, per workspace.
    ws = bill.filter(pl.col("workspace_id") == "0")
    assert ws["change"][1] == pytest.approx(ws["unit_hours"][1] - ws["unit_hours"][0])


@pytest.mark.parametrize("by", ["workspace_id", ["workspace_id", "user_name"]])
def test_a_selection_that_used_none_of_the_resource_keeps_the_columns(samples, by):
    """A report for one GPU pool bills NPUs too, of nothing: the GPU and NPU bills still stack
    (mavtools report --filter pool=pool-a100-research failed on pl.concat of the two)."""
    df, sizes = samples
    one_pool = df.filter(pl.col("pool_id") == "pool-a100-research")
    gpu = mt.chargeback(one_pool, by=by, rates=RATES, pool_sizes=sizes)
    npu = mt.chargeback(one_pool, by=by, resource="npu", pool_sizes={"pool-ascend-910": 12})
    assert gpu.height > 0 and npu.height == 0
    assert npu.schema == gpu.schema
    assert pl.concat([gpu, npu]).height == gpu.height
