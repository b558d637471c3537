"""The queue now, over real HTTP: the workloads API as Huawei's SDK defines it, a public pool
without it, and a 403; the fake's body is checked against the SDK's ``ListWorkloadsResponse``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from huaweicloudsdkmodelarts.v1 import model as sdk

import mavtools as mt
from mavtools.local.fake import FakeV2, FakeWorkloads, PoolSpec, RunningServer, v2_job
from tests.conftest import PROJECT, TOKEN

T0 = 1_780_000_000_000
MIN = 60_000
NOW = T0 + 600 * MIN
FLAVORS = {"flv.gpu.8": (8, 0), "flv.gpu.1": (1, 0), "flv.npu.4": (0, 4)}
POOLS = [
    PoolSpec("pool-ded", "dedicated", "flv.gpu.8", 2, gpu=8),  # 16 GPUs
    PoolSpec("pool-npu", "ascend", "flv.npu.4", 2, npu=4),  # 8 NPUs
]


def job(i: int, pool: str, phase: str, created: int, gpu: int = 0, npu: int = 0, **kw: Any):
    flavor = "flv.npu.4" if npu else ("flv.gpu.8" if gpu >= 8 else "flv.gpu.1")
    nodes = max(1, gpu // 8) if gpu >= 8 else max(1, npu // 4) if npu else gpu
    return v2_job(
        f"{i:08x}-0000-4000-8000-{i:012x}",
        name=f"job-{i}",
        create_time=created,
        phase=phase,
        start_time=kw.get("start", 0),
        pool_id=pool,
        flavor_id=flavor,
        node_count=nodes,
        gpu=8 if gpu >= 8 else (1 if gpu else 0),
        npu=4 if npu else 0,
        user_name=f"user{i % 3}",
        flavor_detail=pool == "pool-public",  # dedicated pools: cards from the flavor list
    )


JOBS = [
    job(1, "pool-ded", "Running", T0, gpu=8, start=T0 + 5 * MIN),
    job(2, "pool-ded", "Running", T0 + 10 * MIN, gpu=1, start=T0 + 12 * MIN),
    job(3, "pool-ded", "Pending", T0 + 100 * MIN, gpu=16),  # first in the queue
    job(4, "pool-ded", "Pending", T0 + 200 * MIN, gpu=8),
    job(5, "pool-ded", "Completed", T0 - 50 * MIN, gpu=8, start=T0 - 40 * MIN),  # not a workload
    job(6, "pool-npu", "Running", T0 + 30 * MIN, npu=4, start=T0 + 31 * MIN),
    job(7, "pool-public", "Running", T0 + 20 * MIN, gpu=1, start=T0 + 21 * MIN),
    job(8, "pool-public", "Pending", T0 + 500 * MIN, gpu=1),
    job(9, "pool-public", "Pending", T0 + 400 * MIN, gpu=1),
]


def start(
    start_server: Callable[..., RunningServer], **options: Any
) -> tuple[RunningServer, FakeWorkloads, mt.Client]:
    server = start_server(())
    v2 = FakeV2(JOBS, flavors=FLAVORS, pools=POOLS).attach(server.api)
    fake = FakeWorkloads(v2, dedicated={"pool-ded", "pool-npu"}, now_ms=NOW, **options)
    fake.attach(server.api)
    client = mt.Client(server.url, PROJECT, token=TOKEN, allow_http=True)
    return server, fake, client


# ------------------------------------------------------------ the fake against Huawei's SDK model


def conforms(value: Any, type_name: str, where: str) -> None:
    """``value`` (JSON) is what the SDK's ``type_name`` declares, recursively, by wire keys."""
    if type_name.startswith("list["):
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            conforms(item, type_name[5:-1], f"{where}[{i}]")
        return
    scalar = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if type_name in scalar:
        assert isinstance(value, scalar[type_name]) and not (
            type_name == "int" and isinstance(value, bool)
        ), f"{where}: {value!r} is not {type_name}"
        return
    model = getattr(sdk, type_name)
    assert isinstance(value, dict), where
    wire = {v: k for k, v in model.attribute_map.items()}
    unknown = set(value) - set(wire)
    assert not unknown, f"{where}: keys the SDK does not define: {unknown}"
    for key, item in value.items():
        if item is not None:
            conforms(item, model.openapi_types[wire[key]], f"{where}.{key}")


def test_fake_workloads_body_is_the_sdk_list_workloads_response(start_server):
    _, fake, client = start(start_server)
    body = fake.body("pool-ded")
    conforms(body, "ListWorkloadsResponse", "ListWorkloadsResponse")
    # every Workload attribute the SDK defines is sent (a client may rely on any)
    assert set(body["items"][0]) == set(sdk.Workload.attribute_map.values())
    # and what arrives over HTTP is that body
    doc = client.v2.get(f"/v2/{PROJECT}/pools/pool-ded/workloads", {}, "test")
    assert doc == body


# ----------------------------------------------------------------------------- queue_now over HTTP


def test_queue_now_reads_dedicated_pools_from_workloads_and_public_from_search(start_server):
    _, _, client = start(start_server)
    now = client.queue_now()
    pools = {r["pool_id"]: r for r in now.pools.iter_rows(named=True)}
    assert set(pools) == {"pool-ded", "pool-npu", "pool-public"}
    ded = pools["pool-ded"]
    assert (ded["source"], ded["units"], ded["units_in_use"], ded["units_free"]) == (
        "workloads",
        16,
        9,
        7,
    )
    assert (ded["waiting"], ded["units_waiting"]) == (2, 24)
    assert ded["oldest_wait"] == timedelta(minutes=500)  # pendingDuration of job 3
    assert pools["pool-npu"]["units_in_use"] == 4 and pools["pool-npu"]["units_free"] == 4
    pub = pools["pool-public"]
    assert (pub["source"], pub["units"], pub["units_free"]) == ("search", None, None)
    assert (pub["units_in_use"], pub["waiting"], pub["units_waiting"]) == (1, 2, 2)

    ded_q = now.waiting.filter(pl.col("pool_id") == "pool-ded")
    assert ded_q["name"].to_list() == ["job-3", "job-4"]  # oldest first
    assert ded_q["position"].to_list() == [1, 2]
    assert ded_q["gpu"].to_list() == [16, 8]
    assert ded_q["waited"].to_list() == [timedelta(minutes=500), timedelta(minutes=400)]
    pub_q = now.waiting.filter(pl.col("pool_id") == "pool-public")
    assert pub_q["name"].to_list() == ["job-9", "job-8"]  # ranked by creation
    assert pub_q["position"].to_list() == [1, 2]
    assert any("only this project's jobs" in n for n in now.notes)


def test_queue_now_at_a_fixed_read_time_and_for_several_clients(start_server):
    _, _, client = start(start_server)
    from datetime import UTC, datetime

    read_at = datetime.fromtimestamp(NOW / 1000, UTC)
    client.clock = lambda: read_at
    now = mt.queue_now([client, client])
    assert now.read_at == read_at
    pub = now.waiting.filter(pl.col("pool_id") == "pool-public")
    # search rows: waited = read time - creation
    assert pub["waited"].to_list()[:2] == [timedelta(minutes=200), timedelta(minutes=100)]
    assert now.pools.height == 6


def test_queue_now_when_the_workloads_api_refuses(start_server):
    _, _, client = start(start_server, forbidden=True)
    now = client.queue_now()
    assert set(now.pools["source"]) == {"search"}  # everything from the job search
    assert any("refused (403)" in n and "pool-ded" in n for n in now.notes)
    ded = now.pools.filter(pl.col("pool_id") == "pool-ded").row(0, named=True)
    assert (ded["units"], ded["units_in_use"], ded["waiting"], ded["units_waiting"]) == (
        16,
        9,
        2,
        24,
    )


def test_queue_now_reports_a_refused_search_without_raising(start_server):
    server, _, _ = start(start_server)
    bad = mt.Client(server.url, "0" * 32, token=TOKEN, allow_http=True)
    now = bad.queue_now()
    assert now.pools.is_empty() and now.waiting.is_empty()
    assert any("Pool sizes" in n and "HTTP 403" in n for n in now.notes)  # the pools note
    assert any("job search was refused (403)" in n for n in now.notes)


@pytest.mark.parametrize("pool", ["pool-ded"])
def test_queue_now_for_named_pools_only(start_server, pool):
    _, _, client = start(start_server)
    now = client.queue_now(pools=[pool])
    assert now.pools["pool_id"].to_list() == [pool]
    assert set(now.waiting["pool_id"]) == {pool}
