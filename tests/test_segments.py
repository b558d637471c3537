"""Run segments of v2 jobs (``running_records``): read, held only inside, and fault hours.

References we did not write: the bodies are built from Huawei's SDK model classes
(``huaweicloudsdkmodelarts``) and serialised with the SDK's own ``sanitize_for_serialization``;
the numbers are checked against a hand-worked case and a minute-by-minute brute force over the
same wire records.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization
from huaweicloudsdkmodelarts.v1.model import (
    FlavorDetail,
    FlavorInfo,
    Gpu,
    JobMetadataResponse,
    JobResponse,
    ListTrainingJobsResponse,
    Resource,
    RunningRecord,
    SchedulePolicyResp,
    SpecResponse,
    Status,
)
from polars.testing import assert_frame_equal

import mavtools as mt
from mavtools.errors import ResponseFormatError
from mavtools.frame import typed
from mavtools.frame_v2 import build_v2_frame, parse_search_page
from mavtools.local.fake import FakeV2, RunningServer
from tests.conftest import PROJECT, TOKEN

T = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)  # 08:00; every time below is a whole minute after it
NOW = T + timedelta(hours=10)  # 18:00, the snapshot time
MIN = 60_000
HOUR = 3_600_000


def at(hours: float) -> int:
    """Epoch ms of 08:00 + ``hours``."""
    return int(T.timestamp() * 1000 + hours * HOUR)


def record(
    start: float, end: float | None, *, reason: str | None = None, recover: str | None = None
) -> RunningRecord:
    """A run segment from 08:00 + ``start`` h to 08:00 + ``end`` h, in epoch seconds."""
    return RunningRecord(
        start_at=at(start) // 1000,
        end_at=None if end is None else at(end) // 1000,
        start_type="init_or_rescheduled" if recover != "proc_restart" else "restarted",
        end_reason=reason,
        end_recover=recover,
    )


def sdk_job(
    job_id: str,
    *,
    phase: str,
    start: float,
    duration_h: float,
    cards: int = 8,
    nodes: int = 1,
    user: str = "ana",
    pool: str = "pool-a",
    records: list[RunningRecord] | None = None,
    node_metrics: list[list[int]] | None = None,
    priority: int | None = None,
    preemptible: bool | None = None,
) -> JobResponse:
    """One search item built from the SDK's models: a GPU job on a public pool."""
    policy = (
        None
        if priority is None and preemptible is None
        else SchedulePolicyResp(priority=priority, preemptible=preemptible)
    )
    return JobResponse(
        kind="job",
        metadata=JobMetadataResponse(
            id=job_id,
            name=job_id,
            workspace_id="0",
            create_time=at(start) - 5 * MIN,
            user_name=user,
        ),
        status=Status(
            phase=phase,
            secondary_phase=phase,
            start_time=at(start),
            duration=int(duration_h * HOUR),
            running_records=records,
            node_count_metrics=node_metrics,
        ),
        spec=SpecResponse(
            resource=Resource(
                flavor_id=f"flv.gpu.{cards}",
                node_count=nodes,
                pool_id=pool,
                flavor_detail=FlavorDetail(
                    flavor_type="GPU", flavor_info=FlavorInfo(gpu=Gpu(unit_num=cards))
                ),
            ),
            schedule_policy=policy,
        ),
    )


def sdk_items(jobs: Iterable[JobResponse]) -> list[dict[str, Any]]:
    """The items as the SDK serialises them (JSON keys from its ``attribute_map``)."""
    body = sanitize_for_serialization(ListTrainingJobsResponse(items=list(jobs)))
    return json.loads(json.dumps(body))["items"]


def frame_of(items: list[dict[str, Any]]) -> pl.DataFrame:
    body = json.dumps({"count": len(items), "items": items}).encode()
    return build_v2_frame([parse_search_page(body, where="test").records], "0")


# The hand-worked job: 8 GPUs, ran 10:00-12:00, a node failed, rescheduled after a 2 h gap, ran
# 14:00-17:00 and completed. The API's duration is the 7 h wall time from its first start.
RESTARTED = sdk_job(
    "restarted",
    phase="Completed",
    start=2,
    duration_h=7,
    records=[
        record(2, 4, reason="node_fault", recover="job_reschedule"),
        record(6, 9),
    ],
    priority=2,
    preemptible=True,
)


def test_a_restarted_job_holds_only_its_two_segments_hand_worked() -> None:
    df = frame_of(sdk_items([RESTARTED]))
    row = df.row(0, named=True)
    assert row["restarts"] == 1
    assert (row["priority"], row["preemptible"]) == (2, True)
    assert row["end_time"] == T + timedelta(hours=9)  # where the last segment ended
    assert row["gpu_hours"] == pytest.approx(8 * (2 + 3))  # 40, not 8 x 7 = 56
    assert [s["start_type"] for s in row["segments"]] == ["init_or_rescheduled"] * 2
    assert row["segments"][0] | {"start_type": None} == {
        "start": T + timedelta(hours=2),
        "end": T + timedelta(hours=4),
        "start_type": None,
        "end_reason": "node_fault",
        "end_recover": "job_reschedule",
    }
    hourly = mt.allocation(df, every="1h", by=None, start=T, end=T + timedelta(hours=9))
    assert hourly["allocated_mean"].to_list() == [0, 0, 8, 8, 0, 0, 8, 8, 8]
    assert mt.usage(df, by=None)["gpu_hours"].item() == pytest.approx(40)
    bill = mt.cost(df, rates={"pool-a": 2.0}, by="user_name", idle="leave")
    assert bill["unit_hours"].item() == pytest.approx(40)
    assert bill["cost"].item() == pytest.approx(80)
    # With the pool's size, the gap is idle capacity: 8 units x 7 h window - 40 used = 16.
    bill = mt.cost(df, rates={"pool-a": 2.0}, by="user_name", pool_sizes={"pool-a": 8})
    assert bill["idle_unit_hours"].item() == pytest.approx(16)
    faults = mt.fault_hours(df)
    assert faults.select("fault_unit_hours", "fault_segments", "restarted_versions").row(0) == (
        pytest.approx(16),
        1,
        1,
    )
    # Demand still counts the gap: the job waited for its units while it was rescheduled.
    demand = mt.allocation(df, every="1h", by=None, include_queued=True)
    assert demand.filter(pl.col("time").dt.hour().is_in([12, 13]))["allocated_mean"].to_list() == [
        8,
        8,
    ]


# A mix for the brute force: the restarted job, a running v2 job without running_records, an
# elastic job shrinking from 2 nodes to 1, a running job restarted in place whose second segment
# is still open, on two pools and three users, plus a v1 version.
MIX = [
    RESTARTED,
    sdk_job("plain", phase="Running", start=3.5, duration_h=6.5, cards=1, nodes=2, user="bo"),
    sdk_job(
        "elastic",
        phase="Completed",
        start=2.5,
        duration_h=5,
        nodes=2,
        user="bo",
        pool="pool-b",
        records=[record(2.5, 7.5)],
        node_metrics=[[at(2.5), 2], [at(5), 1]],
    ),
    sdk_job(
        "in-place",
        phase="Running",
        start=3,
        duration_h=7,
        cards=4,
        user="cy",
        records=[
            record(3, 4, reason="process_exit", recover="proc_restart"),
            record(4 + 1 / 6, None),
        ],
    ),
]


def v1_row() -> pl.DataFrame:
    """A v1 version holding 4 GPUs on pool-b from 09:00 to 13:00."""
    raw = pl.DataFrame(
        {
            "version_id": [7],
            "version_name": ["old"],
            "version_desc": [None],
            "status": [10],
            "create_time": [at(0.5)],
            "start_time": [at(1)],
            "end_time": [at(5)],
            "duration": [4 * HOUR],
            "pool_id": ["pool-b"],
            "flavor_code": ["flv.gpu.4"],
            "gpu_num": [4],
            "npu_num": [0],
            "workspace_id": ["0"],
        },
        schema_overrides={"version_desc": pl.String},
    )
    return typed(raw)


def brute_force(items: list[dict[str, Any]]) -> dict[tuple[str, str | None, int], int]:
    """GPUs held per (pool, user, minute since 08:00), minute by minute, from the wire items."""
    held: dict[tuple[str, str | None, int], int] = defaultdict(int)
    now = at(10)
    for item in items:
        status, resource = item["status"], item["spec"]["resource"]
        cards = resource["flavor_detail"]["flavor_info"]["gpu"]["unit_num"]
        finished = status["phase"] in ("Completed", "Failed", "Terminated")
        if status.get("running_records"):
            spans = [
                (r["start_at"] * 1000, r["end_at"] * 1000 if r.get("end_at") else now)
                for r in status["running_records"]
            ]
        else:
            end = status["start_time"] + status["duration"] if finished else now
            spans = [(status["start_time"], end)]
        points = status.get("node_count_metrics") or []
        for minute in range(10 * 60):
            t = at(0) + minute * MIN
            if not any(s <= t < e for s, e in spans):
                continue
            nodes = resource["node_count"]
            for time, count in points:
                if time <= t:
                    nodes = count
            held[resource["pool_id"], item["metadata"]["user_name"], minute] += cards * nodes
    for minute in range(60, 5 * 60):  # the v1 version
        held["pool-b", None, minute] += 4
    return held


def mixed_frame() -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    items = sdk_items(MIX)
    return pl.concat([v1_row(), frame_of(items)]), items


def test_allocation_usage_and_cost_match_a_minute_by_minute_brute_force() -> None:
    df, items = mixed_frame()
    held = brute_force(items)
    hourly = mt.allocation(df, every="1h", by="pool_id", start=T, end=NOW, now=NOW)
    for pool, time, mean, peak in hourly.select(
        pl.col("pool_id").cast(pl.String), "time", "allocated_mean", "allocated_peak"
    ).iter_rows():
        hour = int((time - T) / timedelta(hours=1))
        minutes = [
            sum(v for (p, _, m), v in held.items() if p == pool and m == minute)
            for minute in range(hour * 60, hour * 60 + 60)
        ]
        assert mean == pytest.approx(sum(minutes) / 60), (pool, time)
        assert peak == max(minutes), (pool, time)
    per_user: dict[str | None, float] = defaultdict(float)
    for (_, user, _), units in held.items():
        per_user[user] += units / 60
    bill = mt.cost(df, rates={"pool-a": 1.0, "pool-b": 1.0}, by="user_name", idle="leave", now=NOW)
    assert dict(bill.select("user_name", "unit_hours").iter_rows()) == pytest.approx(per_user)
    # The frame's gpu_hours (what usage sums) agree: the running jobs' durations end at NOW.
    used = mt.usage(df, by="user_name")
    assert dict(used.select("user_name", "gpu_hours").iter_rows()) == pytest.approx(per_user)
    everything = mt.fault_hours(df, by=None, now=NOW)
    assert everything["unit_hours"].item() == pytest.approx(sum(per_user.values()))


def test_fault_hours_by_pool_flavor_and_user() -> None:
    df, _ = mixed_frame()
    faults = mt.fault_hours(df, now=NOW).with_columns(
        pl.col("pool_id", "flavor_code").cast(pl.String)
    )
    got = {
        row[:3]: row[3:]
        for row in faults.select(
            "pool_id",
            "flavor_code",
            "user_name",
            "fault_unit_hours",
            "fault_segments",
            "restarted_versions",
        ).iter_rows()
    }
    assert got == {
        ("pool-a", "flv.gpu.8", "ana"): (pytest.approx(16.0), 1, 1),  # 2 h x 8 before the fault
        ("pool-a", "flv.gpu.4", "cy"): (pytest.approx(4.0), 1, 1),  # 1 h x 4 before the restart
        ("pool-a", "flv.gpu.1", "bo"): (0.0, 0, 0),
        ("pool-b", "flv.gpu.8", "bo"): (0.0, 0, 0),
        ("pool-b", "flv.gpu.4", None): (0.0, 0, 0),
    }
    assert faults["fault_unit_hours"].to_list()[:2] == pytest.approx([16.0, 4.0])  # largest first
    # A window that only covers the second segments finds no fault hours.
    later = mt.fault_hours(df, by=None, start=T + timedelta(hours=6), now=NOW)
    assert later["fault_unit_hours"].item() == 0


def test_rows_without_running_records_behave_as_before() -> None:
    df, _ = mixed_frame()
    plain = df.filter(pl.col("job_id").is_in(["7", "plain"]))
    v1, v2 = plain.row(0, named=True), plain.row(1, named=True)
    for row in (v1, v2):
        assert (row["restarts"], row["segments"]) == (None, None)
    assert (v1["priority"], v1["preemptible"], v1["node_counts"]) == (None, None, None)
    assert (v2["priority"], v2["preemptible"]) == (None, None)  # no schedule_policy sent
    assert v2["gpu_hours"] == pytest.approx(2 * 6.5)  # units x the reported run time
    # Exactly as a frame that has never heard of segments (the columns before this change).
    older = plain.drop("priority", "preemptible", "restarts", "segments", "node_counts")
    for fn in (
        lambda f: mt.allocation(f, every="1h", by="user_name", now=NOW),
        lambda f: mt.cost(f, rates={"pool-a": 1.0, "pool-b": 3.0}, by="user_name", now=NOW),
        lambda f: mt.capacity_needed(f, now=NOW),
        lambda f: mt.usage(f, by="pool_id"),
    ):
        assert_frame_equal(fn(plain), fn(older))


def test_restarts_count_the_segments_after_the_first() -> None:
    three = sdk_job(
        "three",
        phase="Failed",
        start=0,
        duration_h=5,
        records=[
            record(0, 1, reason="npu_fault", recover="proc_restart"),
            record(1, 2, reason="npu_fault", recover="job_reschedule"),
            record(3, 4, reason="npu_fault"),
        ],
    )
    df, _ = mixed_frame()
    df = pl.concat([df, frame_of(sdk_items([three]))])
    got = dict(df.select("job_id", "restarts").iter_rows())
    assert got == {
        "7": None,
        "restarted": 1,
        "plain": None,
        "elastic": 0,
        "in-place": 1,
        "three": 2,
    }
    # A failed job's last segment is counted with the faults of mt.cost, not twice here.
    faults = mt.fault_hours(df.filter(pl.col("job_id") == "three"), by=None)
    assert faults.select("fault_unit_hours", "fault_segments").row(0) == (pytest.approx(16), 2)


def test_node_count_metrics_in_seconds_or_ms_read_the_same() -> None:
    in_ms = sdk_items([MIX[2]])
    in_s = json.loads(json.dumps(in_ms))
    in_s[0]["status"]["node_count_metrics"] = [[at(2.5) // 1000, 2], [at(5) // 1000, 1]]
    assert_frame_equal(frame_of(in_ms), frame_of(in_s))
    row = frame_of(in_ms).row(0, named=True)
    assert row["gpu_hours"] == pytest.approx(8 * (2 * 2.5 + 1 * 2.5))
    assert row["node_counts"] == [
        {"time": T + timedelta(hours=2.5), "nodes": 2},
        {"time": T + timedelta(hours=5), "nodes": 1},
    ]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"running_records": "soon"}, "'running_records' as str, not a list"),
        ({"running_records": [{"end_at": 5}]}, "no 'start_at' in running_records[0]"),
        (
            {"running_records": [{"start_at": 200, "end_at": 100}]},
            "'end_at' (100) before 'start_at' (200)",
        ),
        ({"running_records": [{"start_at": -1}]}, "'start_at' = -1 (outside 0.."),
        ({"node_count_metrics": [[1, 2, 3]]}, "not a [time, nodes] pair"),
    ],
)
def test_malformed_run_records_are_named_in_one_sentence(
    change: dict[str, Any], words: str
) -> None:
    items = sdk_items([RESTARTED])
    items[0]["status"] |= change
    with pytest.raises(ResponseFormatError) as caught:
        frame_of(items)
    message = str(caught.value)
    assert words in message and "job #0 of test" in message and message.count(".") <= 3


def test_segments_over_real_http_and_through_the_cache(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    items = sdk_items(MIX)
    server = start_server(())
    FakeV2(items).attach(server.api)
    client = mt.Client(server.url, PROJECT, token=TOKEN, allow_http=True)
    fetched = mt.load_versions(client, cache_dir=tmp_path, workspace_id="0")
    cached = mt.load_versions(client, cache_dir=tmp_path, workspace_id="0", offline=True)
    local_columns = ["observed_at", "region", "project_id"]
    expected = frame_of(items).drop(local_columns).sort("job_id")
    for got in (fetched, cached):
        v2 = got.filter(pl.col("api") == "v2").drop(local_columns).sort("job_id")
        assert_frame_equal(v2, expected, categorical_as_str=True)
    assert cached.filter(pl.col("job_id") == "restarted")["restarts"].item() == 1
