"""New-version (v2) training jobs and pool sizes, over real HTTP against the local server."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import duckdb
import polars as pl
import pytest
import requests

import mavtools as mt
from mavtools import statuses
from mavtools.api.v2 import JobSearch
from mavtools.frame import ROW_KEY
from mavtools.frame_v2 import build_v2_frame, parse_search_page
from mavtools.local import synth
from mavtools.local.fake import Answer, FakeV2, PoolSpec, RunningServer, v2_job
from tests.conftest import PROJECT, TOKEN

T0 = 1_780_000_000_000
HOUR = 3_600_000
PHASES = ("Completed", "Failed", "Running", "Pending", "Terminated", "Completed")


def make_jobs(
    n: int, *, start: int = 0, workspaces: tuple[str, ...] = ("0",)
) -> list[dict[str, Any]]:
    """Jobs of mixed phases, users and flavors; every third runs on a dedicated pool."""
    jobs = []
    for i in range(start, start + n):
        phase = PHASES[i % len(PHASES)]
        started = phase not in ("Pending",)
        gpu, npu = ((8, 0), (0, 4), (1, 0))[i % 3]
        jobs.append(
            v2_job(
                f"{i:08x}-0000-4000-8000-{i:012x}",
                name=f"job-{i}",
                create_time=T0 + i * 60_000,
                phase=phase,
                start_time=(T0 + i * 60_000 + 30_000) if started else 0,
                duration=(i % 7 + 1) * HOUR if started else 0,
                workspace_id=workspaces[i % len(workspaces)],
                user_name=f"user{i % 4}",
                pool_id=f"pool-{i % 3}",
                flavor_id=("flv.gpu.8", "flv.npu.4", "flv.gpu.1")[i % 3],
                node_count=1 + i % 2,
                gpu=gpu,
                npu=npu,
                flavor_detail=i % 3 != 2,
            )
        )
    return jobs


FLAVORS = {"flv.gpu.8": (8, 0), "flv.npu.4": (0, 4), "flv.gpu.1": (1, 0)}
V2: dict[Any, FakeV2] = {}  # the v2 part attached to each server's FakeModelArts


def start_v2(
    start_server: Callable[..., RunningServer], v1: Any = (), jobs: Any = (), **v2: Any
) -> tuple[RunningServer, mt.Client]:
    server = start_server(v1, **v2.pop("v1_options", {}))
    v2.setdefault("flavors", FLAVORS)
    V2[server.api] = FakeV2(jobs, **v2).attach(server.api)
    client = mt.Client(server.url, PROJECT, token=TOKEN, allow_http=True)
    return server, client


def searches(server: RunningServer) -> list[dict[str, Any]]:
    return V2[server.api].searches


@pytest.mark.parametrize("offset_mode", ["record", "page"])
def test_v2_paging_with_inserts_reads_every_job_once(
    start_server: Callable[..., RunningServer], offset_mode: str
) -> None:
    jobs = make_jobs(237)
    server, client = start_v2(start_server, (), jobs, offset_mode=offset_mode)
    extra = iter([make_jobs(7, start=1000), make_jobs(60, start=2000)])

    def insert(number: int) -> None:  # new jobs arrive while the client pages
        if number in (3, 6):
            V2[server.api].add_jobs(next(extra))

    server.api.before_request = insert
    df = client.list_versions(api="v2")
    stored = {j["metadata"]["id"] for j in V2[server.api].jobs}
    assert len(stored) == 237 + 7 + 60
    assert set(df["job_id"]) == stored
    assert df.height == len(stored)
    assert df["version_id"].null_count() == df.height
    bodies = searches(server)
    assert max(b["limit"] for b in bodies) == 50  # the API's cap, though page_size is 1000
    assert {b["offset"] for b in bodies} == {0}  # creation-time windows: no offset, no seams


def test_v2_limit_above_50_is_refused_by_the_server(
    start_server: Callable[..., RunningServer],
) -> None:
    server, _ = start_v2(start_server, (), make_jobs(3))
    url = f"{server.url}/v2/{PROJECT}/training-job-searches"
    answer = requests.post(url, json={"limit": 51}, headers={"X-Auth-Token": TOKEN}, timeout=5)
    assert answer.status_code == 400


def test_merged_v1_and_v2_frame_has_exact_counts(
    start_server: Callable[..., RunningServer],
) -> None:
    v1 = synth.simulate(400, seed=5)
    jobs = make_jobs(150, workspaces=("0", "7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b"))
    _, client = start_v2(start_server, v1, jobs)
    df = client.list_versions(workspace_id=mt.ALL_WORKSPACES)
    assert df.schema == mt.VERSION_SCHEMA
    # Independent counts straight from the records the server holds, in SQL.
    wire = pl.DataFrame(
        {
            "api": ["v1"] * len(v1) + ["v2"] * len(jobs),
            "workspace_id": [r["workspace_id"] for r in v1]
            + [j["metadata"]["workspace_id"] for j in jobs],
        }
    )
    expected = (
        duckdb.connect()
        .register("wire", wire)
        .sql(
            "select api, workspace_id, count(*)::UINTEGER as n from wire group by all order by all"
        )
        .pl()
    )
    got = (
        df.group_by("api", pl.col("workspace_id").cast(pl.String))
        .agg(n=pl.len())
        .sort("api", "workspace_id")
    )
    assert got.rows() == expected.rows()
    assert df.select(ROW_KEY).is_duplicated().sum() == 0
    v1_rows = df.filter(api="v1")
    assert v1_rows["job_id"].to_list() == v1_rows["version_id"].cast(pl.String).to_list()
    assert v1_rows["user_name"].null_count() == v1_rows.height


def test_v2_rows_follow_the_documented_mapping(start_server: Callable[..., RunningServer]) -> None:
    jobs = make_jobs(30)
    jobs[0]["status"].update(
        phase="Failed", secondary_phase="CreateFailed", start_time=0, duration=0
    )
    jobs[1]["status"]["start_time"] = str(jobs[1]["status"]["start_time"])  # older docs: String
    _, client = start_v2(start_server, (), jobs)
    df = client.list_versions(api="v2").sort("create_time")
    by_id = {row["job_id"]: row for row in df.iter_rows(named=True)}
    for job in jobs:
        row = by_id[job["metadata"]["id"]]
        meta, status, res = job["metadata"], job["status"], job["spec"]["resource"]
        gpu, npu = FLAVORS[res["flavor_id"]]
        assert row["gpu_num"] == res["node_count"] * gpu
        assert row["npu_num"] == res["node_count"] * npu
        assert row["user_name"] == meta["user_name"]
        assert row["node_count"] == res["node_count"]
        start = int(status["start_time"])
        if status["phase"] in ("Completed", "Failed", "Terminated") and start:
            assert int(row["end_time"].timestamp() * 1000) == start + status["duration"]
        else:
            assert row["end_time"] is None
    outcome = {r["job_id"]: (r["status_name"], r["outcome"]) for r in df.iter_rows(named=True)}
    assert outcome[jobs[0]["metadata"]["id"]] == ("SUBMIT_FAILED", "failed")
    assert outcome[jobs[2]["metadata"]["id"]] == ("RUNNING", "running")
    assert outcome[jobs[3]["metadata"]["id"]] == ("WAITING", "pending")
    assert outcome[jobs[4]["metadata"]["id"]] == ("KILLED", "canceled")
    assert by_id[jobs[1]["metadata"]["id"]]["start_time"] is not None


def test_dedicated_pool_jobs_get_cards_from_the_flavor_list_once(
    start_server: Callable[..., RunningServer],
) -> None:
    jobs = [j for j in make_jobs(30) if "flavor_detail" not in j["spec"]["resource"]]
    assert jobs
    server, client = start_v2(start_server, (), jobs)
    first = client.list_versions(api="v2")
    second = client.list_versions(api="v2")
    # flv.gpu.1 has one GPU per node; the job's node_count multiplies it.
    expected = [j["spec"]["resource"]["node_count"] for j in jobs]
    assert sorted(first["gpu_num"].to_list()) == sorted(expected)
    assert second["gpu_num"].sum() == sum(expected)
    flavor_reads = [t for t in server.api.request_log if "training-job-flavors" in t]
    assert len(flavor_reads) == 1


def test_unknown_dedicated_flavor_leaves_cards_unknown(
    start_server: Callable[..., RunningServer],
) -> None:
    jobs = [j for j in make_jobs(9) if "flavor_detail" not in j["spec"]["resource"]]
    _, client = start_v2(start_server, (), jobs, flavors={})
    df = client.list_versions(api="v2")
    assert df["gpu_num"].null_count() == df.height  # unknown, not a silent zero


def test_v1_listing_retired_is_skipped_and_noted(
    start_server: Callable[..., RunningServer],
) -> None:
    _, client = start_v2(start_server, synth.simulate(50, seed=2), make_jobs(40), v1_retired=True)
    df = client.list_versions()
    assert df.height == 40 and set(df["api"]) == {"v2"}
    info = mt.provenance(df)
    assert info is not None and "v1 listing not available" in info.note
    assert "v1" in info.extra["skipped"]
    with pytest.raises(mt.NotFoundError):
        client.list_versions(api="v1")


def test_no_v2_api_on_an_old_deployment(start_server: Callable[..., RunningServer]) -> None:
    server = start_server(synth.simulate(80, seed=3))
    client = mt.Client(server.url, PROJECT, token=TOKEN, allow_http=True)
    df = client.list_versions(workspace_id=mt.ALL_WORKSPACES)
    assert df.height == 80 and set(df["api"]) == {"v1"}
    info = mt.provenance(df)
    assert info is not None and info.extra["skipped"].keys() == {"v2"}
    with pytest.raises(mt.NotFoundError):
        client.list_versions(api="v2")


def test_neither_listing_available_fails(start_server: Callable[..., RunningServer]) -> None:
    server = start_server(())
    gone = Answer(404, b'{"error_code": "APIGW.0101"}', {"Content-Type": "application/json"})
    server.api.route("GET", r"/v1/[^/]+/training-jobs/versions", lambda request, match: gone)
    client = mt.Client(server.url, PROJECT, token=TOKEN, allow_http=True)
    with pytest.raises(mt.NotFoundError):
        client.list_versions()


def test_status_filter_goes_to_the_server_as_phases(
    start_server: Callable[..., RunningServer],
) -> None:
    jobs = make_jobs(120)
    server, client = start_v2(start_server, (), jobs)
    running = client.list_versions(status="running", api="v2")
    bodies = searches(server)
    assert all(
        {"key": "phase", "operator": "in", "value": ["Running", "Terminating"]} in b["filters"]
        for b in bodies
    )
    expected = {j["metadata"]["id"] for j in jobs if j["status"]["phase"] == "Running"}
    assert set(running["job_id"]) == expected
    # Fewer requests than reading everything: 20 of 120 jobs match, one page per read.
    assert len(bodies) <= 3


def test_pool_sizes_flow_into_utilization(start_server: Callable[..., RunningServer]) -> None:
    pools = [
        PoolSpec("pool-0", "eight-gpu", "flv.gpu.8", 4, gpu=8, abnormal=1),
        PoolSpec("pool-1", "ascend", "flv.npu.4", 6, npu=4, creating=2),
        PoolSpec("pool-cpu", "cpu", "flv.cpu", 3),
    ]
    jobs = make_jobs(60)
    _, client = start_v2(start_server, (), jobs, pools=pools)
    table = client.pools()
    assert table.select("pool_id", "nodes", "nodes_available", "units").rows() == [
        ("pool-0", 4, 3, 24),  # 4 nodes, 1 abnormal: 3 x 8 GPUs usable
        ("pool-1", 6, 4, 16),  # 2 still creating: 4 x 4 NPUs
        ("pool-cpu", 3, 3, 0),
    ]
    sizes = mt.pool_sizes(table)
    assert sizes == {"pool-0": 24, "pool-1": 16}  # what what-if and capacity lines take
    df = client.list_versions(api="v2")
    util = mt.utilization(df, capacity=sizes, every="1d", resource="gpu")
    assert set(util["capacity"]) <= {24, 16}
    row = util.filter(pl.col("pool_id") == "pool-0").sort("allocated_peak").tail(1)
    assert row["peak_utilization"][0] == pytest.approx(row["allocated_peak"][0] / 24)


def test_pools_read_resource_flavors_across_continue_pages(
    start_server: Callable[..., RunningServer],
) -> None:
    pools = [PoolSpec(f"pool-{i}", f"p{i}", f"flv-{i}", 2, gpu=i + 1) for i in range(5)]
    server, client = start_v2(start_server, (), (), pools=pools)
    table = client.pools()
    assert table["units_per_node"].to_list() == [1, 2, 3, 4, 5]
    assert table["units"].to_list() == [2, 4, 6, 8, 10]
    pages = [t for t in server.api.request_log if "resourceflavors" in t]
    assert len(pages) == 3  # two flavors per page on this server, followed by ``continue``


def test_search_body_names_the_workspace(start_server: Callable[..., RunningServer]) -> None:
    ws = "7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b"
    server, client = start_v2(start_server, (), make_jobs(10, workspaces=(ws,)))
    df = client.list_versions(workspace_id=ws, api="v2")
    assert df.height == 10
    assert {b["workspace_id"] for b in searches(server)} == {ws}
    assert json.dumps(searches(server)[0]).count(TOKEN) == 0


@pytest.mark.parametrize(
    ("phase", "secondary", "outcome"),
    [
        ("Creating", "Creating", "pending"),
        ("Pending", "Queuing", "pending"),
        ("Running", "Running", "running"),
        ("Terminating", "Terminating", "running"),
        ("Completed", "Completed", "succeeded"),
        ("Failed", "Failed", "failed"),
        ("Failed", "CreateFailed", "failed"),
        ("Abnormal", "Lost", "failed"),
        ("Terminated", "Terminated", "canceled"),
        ("Abnormal", "Unknown", "unknown"),
        ("Hibernating", None, "unknown"),  # a phase the docs do not list yet
    ],
)
def test_phase_mapping_table(phase: str, secondary: str | None, outcome: str) -> None:
    assert mt.outcome_of(statuses.v2_status_code(phase, secondary)) == outcome


def test_phase_filter_for_codes() -> None:
    assert statuses.v2_phases_for_codes([10]) == ["Completed"]
    assert statuses.v2_phases_for_codes([3]) == []  # IMAGE_FAILED: v1 only
    assert statuses.v2_phases_for_codes([11, 14]) is None  # Lost's phase is not documented


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"count": 1, "items": [{"metadata": {"name": "x"}}]}', "no 'metadata.id'"),
        (
            b'{"count": 1, "items": [{"metadata": {"id": "a", "create_time": "soon"}}]}',
            "create_time",
        ),
        (
            b'{"count": 1, "items": [{"metadata": {"id": "a"}, "spec": {"resource": '
            b'{"flavor_detail": {"flavor_info": {"npu": {"unit_num": "x"}}}}}}]}',
            "unit_num",
        ),
        (b'{"count": -1, "items": []}', "'count'"),
        (b'{"count": 1, "items": {}}', "'items'"),
    ],
)
def test_malformed_search_pages_name_the_field(body: bytes, message: str) -> None:
    with pytest.raises(mt.ResponseFormatError, match=message):
        parse_search_page(body, where="page 1")


def test_npu_cards_sent_as_a_string_are_counted() -> None:
    job = v2_job("a", name="n", create_time=T0, phase="Completed", node_count=3, npu=8)
    assert isinstance(
        job["spec"]["resource"]["flavor_detail"]["flavor_info"]["npu"]["unit_num"], str
    )
    page = parse_search_page(json.dumps({"count": 1, "items": [job]}).encode(), where="p")
    assert build_v2_frame([page.records], "0")["npu_num"].to_list() == [24]


# -- the bundled samples: one migrated account ------------------------------------------------


def test_samples_serve_both_kinds_with_known_pool_sizes(
    start_server: Callable[..., RunningServer],
) -> None:
    from mavtools.local.fake import serve
    from mavtools.local.samples import sample_api, sample_jobs, sample_manifest, sample_records

    manifest = sample_manifest()
    with serve(sample_api(token=TOKEN)) as server:
        client = mt.Client(server.url, manifest["project_id"], token=TOKEN, allow_http=True)
        df = client.list_versions(workspace_id=mt.ALL_WORKSPACES)
        sizes = mt.pool_sizes(client.pools())
    counts = dict(df.group_by("api").len().rows())
    assert counts == {"v1": len(sample_records()), "v2": len(sample_jobs())}
    # Pool sizes read over the API are the ones the simulation queued against (CPU pool aside).
    assert sizes == {k: v for k, v in manifest["pools"].items() if k != "pool-cpu-public"}
    # Old jobs end and new ones begin around the migration date, with some overlap.
    v1_last = df.filter(api="v1")["create_time"].max()
    v2_first = df.filter(api="v2")["create_time"].min()
    assert v2_first < v1_last  # both kinds arrive during the migration window
    assert df.filter(api="v2")["user_name"].null_count() == 0


def test_samples_never_hold_more_units_than_their_pools() -> None:
    """A plain sweep over both kinds: the joint FIFO queue kept every pool within its size."""
    from mavtools.local.samples import sample_manifest

    df = mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)
    snapshot = mt.provenance(df).fetched_at  # type: ignore[union-attr]
    capacity = sample_manifest()["pools"]
    events: dict[str, list[tuple[Any, int]]] = {}
    for row in df.filter(pl.col("start_time").is_not_null()).iter_rows(named=True):
        if row["pool_id"] is None:
            continue  # a public-pool job that names no pool: no size to stay within
        units = max(row["gpu_num"] or 0, row["npu_num"] or 0, 1)
        # The holding rule: an unknown outcome (Abnormal) holds for its duration, not until
        # the snapshot.
        ran = row["start_time"] + row["duration"] if row["outcome"] == "unknown" else None
        end = row["end_time"] or ran or snapshot
        events.setdefault(row["pool_id"], []).extend([(row["start_time"], units), (end, -units)])
    for pool, pool_events in events.items():
        level = peak = 0
        for _, change in sorted(pool_events, key=lambda e: (e[0], e[1])):
            level += change
            peak = max(peak, level)
        assert peak <= capacity[pool], pool


def test_create_time_window_is_filtered_by_the_server(
    start_server: Callable[..., RunningServer],
) -> None:
    """What an incremental refresh needs: only jobs created since a moment, in few requests."""
    jobs = make_jobs(400)
    server, client = start_v2(start_server, (), jobs)
    since = T0 + 350 * 60_000
    result = client.v2.read_jobs(JobSearch("0", created_from_ms=since))
    expected = {j["metadata"]["id"] for j in jobs if j["metadata"]["create_time"] >= since}
    assert set(result.frame["job_id"]) == expected and len(expected) == 50
    # One search page (the whole listing takes 8) and the flavor list for dedicated-pool jobs.
    assert result.requests == 2
    (body,) = searches(server)
    assert body["filters"] == [
        {"key": "create_time", "operator": "between", "value": [str(since), "253402300799000"]}
    ]


def test_usage_by_user_name_matches_sql(start_server: Callable[..., RunningServer]) -> None:
    _, client = start_v2(start_server, synth.simulate(60, seed=4), make_jobs(90))
    df = client.list_versions()
    got = mt.usage(df.filter(api="v2"), by="user_name").select("user_name", "gpu_hours")
    frame = df.select("api", "user_name", "gpu_hours")
    expected = (
        duckdb.connect()
        .register("frame", frame)
        .sql(
            "select user_name, sum(gpu_hours) as gpu_hours from frame where api = 'v2' "
            "group by user_name order by user_name"
        )
        .pl()
    )
    got = got.sort("user_name")
    assert (
        got["user_name"].to_list()
        == expected["user_name"].to_list()
        == [f"user{i}" for i in range(4)]
    )
    assert got["gpu_hours"].to_list() == pytest.approx(expected["gpu_hours"].to_list())


def test_cache_keeps_v2_jobs_apart_and_refreshes_them(
    start_server: Callable[..., RunningServer], tmp_path: Any
) -> None:
    """The smallest cache fix: v2 rows (null version_id) are not collapsed, new jobs arrive."""
    server, client = start_v2(start_server, (), make_jobs(120), v1_retired=True)
    first = mt.load_versions(client, cache_dir=tmp_path)
    assert first.height == 120 and first["job_id"].n_unique() == 120
    V2[server.api].add_jobs(make_jobs(5, start=500))
    again = mt.load_versions(client, cache_dir=tmp_path, max_age=0)
    assert again.height == 125 and again["job_id"].n_unique() == 125
    assert mt.scan_cache(cache_dir=tmp_path).collect().height == 125


def test_v2_pages_are_retried_like_v1(start_server: Callable[..., RunningServer]) -> None:
    """Throttling, server errors and gateway pages on the search are retried by the transport."""
    jobs = make_jobs(130)
    server, _ = start_v2(start_server, (), jobs)
    client = mt.Client(
        server.url,
        PROJECT,
        token=TOKEN,
        allow_http=True,
        retry=mt.RetryPolicy(attempts=5, backoff=0.01, max_wait=0.05),
    )
    for kind in ("429", "503", "html", "502"):
        server.api.inject(kind, retry_after=0)
    df = client.list_versions(api="v2")
    assert set(df["job_id"]) == {j["metadata"]["id"] for j in jobs}


# -- the cache: v2 jobs refreshed incrementally in the per-project dataset ----------------------


def settled_jobs(n: int, *, running: tuple[int, ...] = (), start: int = 0) -> list[dict[str, Any]]:
    """``make_jobs`` with every job Completed except those numbered in ``running``."""
    jobs = make_jobs(n, start=start)
    for i, job in zip(range(start, start + n), jobs, strict=True):
        phase = "Running" if i in running else "Completed"
        job["status"].update(phase=phase, secondary_phase=phase, start_time=T0 + i * 60_000 + 1)
    return jobs


def v1_records(n: int, *, seed: int) -> list[dict[str, Any]]:
    """v1 versions, all in workspace 0 (the dataset ``load_versions`` reads by default)."""
    return [dict(r, workspace_id="0") for r in synth.simulate(n, seed=seed)]


def job_id(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-{i:012x}"


def finish(server: RunningServer, *numbers: int) -> None:
    for i in numbers:
        V2[server.api].update_job(job_id(i), phase="Completed", secondary_phase="Completed")


def fresh(client: mt.Client) -> mt.Client:
    """A new client on the same server: what the next notebook session would use."""
    return mt.Client(client.endpoint, PROJECT, token=TOKEN, allow_http=True)


def by_key(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in key order without the snapshot time (it differs between fetches)."""
    return frame.sort(list(ROW_KEY)).drop("observed_at")


def test_warm_refresh_reads_new_and_unfinished_v2_jobs_in_four_requests(
    start_server: Callable[..., RunningServer], tmp_path: Any
) -> None:
    """300 cached jobs, 4 of them running; then 3 finish and 5 are created.

    Four requests, on a new client (v1 retired, remembered: not asked):
    1. the search newest first, 50 jobs: the 5 new ones, the cached 297 (finished since), the
       overlap with the cache, and the server's count (305);
    2. the flavor list, once per client, for the dedicated-pool jobs on that page;
    3. the create-time window 20..25 (jobs 20 and 25 were running, 6 cached jobs in it);
    4. the create-time window of job 150.
    A full read takes 9: the oldest and the newest page, 5 creation-time windows between them
    (about 45 jobs each), the count check and the flavor list.
    """
    server, client = start_v2(
        start_server, (), settled_jobs(300, running=(20, 25, 150, 297)), v1_retired=True
    )
    first = mt.load_versions(client, cache_dir=tmp_path)
    assert first.height == 300 and mt.provenance(first).extra["skipped"].keys() == {"v1"}  # type: ignore[union-attr]
    finish(server, 20, 150, 297)
    V2[server.api].add_jobs(settled_jobs(5, start=1000))
    before, searched = server.api.requests, len(searches(server))
    again = mt.load_versions(fresh(client), cache_dir=tmp_path, max_age=0)
    used = server.api.requests - before
    assert used == 4
    info = mt.provenance(again)
    assert info is not None and info.note == "incremental refresh: 4 requests"
    assert info.extra["skipped"] == {"v1": "HTTP 404 APIGW.0101"}
    windows = [b["filters"] for b in searches(server)[searched:] if b.get("filters")]
    assert windows == [
        [
            {
                "key": "create_time",
                "operator": "between",
                "value": [str(T0 + i * 60_000), str(T0 + j * 60_000)],
            }
        ]
        for i, j in ((20, 25), (150, 150))
    ]
    # The same rows as a fresh full read; every row stamped with the refresh's snapshot time.
    before = server.api.requests
    assert_same(again, fresh(client).list_versions())
    assert server.api.requests - before == 9  # what the refresh saves: see the docstring
    snapshot = info.fetched_at.replace(microsecond=info.fetched_at.microsecond // 1000 * 1000)
    assert again["observed_at"].unique().to_list() == [snapshot]  # stored to the millisecond
    states = dict(zip(again["job_id"], again["outcome"].cast(pl.String), strict=True))
    assert [states[job_id(i)] for i in (20, 25, 150, 297, 1004)] == [
        "succeeded",
        "running",
        "succeeded",
        "succeeded",
        "succeeded",
    ]
    stored = mt.load_versions(fresh(client), cache_dir=tmp_path, offline=True)
    assert_same(stored, again)


def assert_same(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    from polars.testing import assert_frame_equal

    assert got["job_id"].n_unique() == got.height
    assert_frame_equal(by_key(got), by_key(expected))


def test_refresh_without_v2_api_keeps_v1_and_notes_the_skip(
    start_server: Callable[..., RunningServer], tmp_path: Any
) -> None:
    records = v1_records(80, seed=3)
    server = start_server(records)
    client = mt.Client(server.url, PROJECT, token=TOKEN, allow_http=True)
    first = mt.load_versions(client, cache_dir=tmp_path)
    assert first.height == 80 and set(first["api"]) == {"v1"}
    assert mt.provenance(first).extra["skipped"].keys() == {"v2"}  # type: ignore[union-attr]
    again = mt.load_versions(fresh(client), cache_dir=tmp_path, max_age=0)
    info = mt.provenance(again)
    assert info is not None and info.note.startswith("incremental refresh")
    assert info.extra["skipped"].keys() == {"v2"}
    assert_same(again, fresh(client).list_versions())


@pytest.mark.parametrize("v2_at_first", ["empty", "missing"])
def test_a_dataset_of_v1_rows_gains_v2_jobs_on_refresh(
    start_server: Callable[..., RunningServer], tmp_path: Any, v2_at_first: str
) -> None:
    """The account migrates: v2 jobs appear (on an empty v2 search, or the API is deployed)."""
    if v2_at_first == "empty":
        server, client = start_v2(start_server, v1_records(60, seed=5), ())
    else:
        server = start_server(v1_records(60, seed=5))
        client = mt.Client(server.url, PROJECT, token=TOKEN, allow_http=True)
    first = mt.load_versions(client, cache_dir=tmp_path)
    assert first.height == 60 and set(first["api"]) == {"v1"}
    jobs = settled_jobs(70, running=(3,))
    if v2_at_first == "empty":
        V2[server.api].add_jobs(jobs)
    else:
        V2[server.api] = FakeV2(jobs, flavors=FLAVORS).attach(server.api)
    again = mt.load_versions(fresh(client), cache_dir=tmp_path, max_age=0)
    info = mt.provenance(again)
    assert info is not None and info.note.startswith("incremental refresh")
    assert "skipped" not in info.extra
    assert again.group_by("api").len().sort("api").rows() == [("v1", 60), ("v2", 70)]
    assert_same(again, fresh(client).list_versions())


def test_v1_retired_after_caching_is_skipped_on_refresh(
    start_server: Callable[..., RunningServer], tmp_path: Any
) -> None:
    """A dataset of both kinds; then v1 is retired: the refresh skips it, like a full read."""
    server, client = start_v2(start_server, v1_records(40, seed=6), settled_jobs(30))
    first = mt.load_versions(client, cache_dir=tmp_path)
    assert first.group_by("api").len().sort("api").rows() == [("v1", 40), ("v2", 30)]
    V2[server.api].retire_v1()
    V2[server.api].add_jobs(settled_jobs(2, start=400))
    again = mt.load_versions(fresh(client), cache_dir=tmp_path, max_age=0)
    info = mt.provenance(again)
    assert info is not None and info.extra["skipped"] == {"v1": "HTTP 404 APIGW.0101"}
    assert set(again["api"]) == {"v2"} and again.height == 32
    assert_same(again, fresh(client).list_versions())
    # Remembered: the next refresh does not ask the retired listing again: one search page and
    # the flavor list (a new client, dedicated-pool jobs on that page).
    before, searched = server.api.requests, len(searches(server))
    mt.load_versions(fresh(client), cache_dir=tmp_path, max_age=0)
    assert server.api.requests - before == 2 and len(searches(server)) - searched == 1


def test_unproven_v2_refresh_reads_all_v2_jobs_and_says_why(
    start_server: Callable[..., RunningServer], tmp_path: Any
) -> None:
    """An old finished job deleted on the server: counts disagree, so v2 is read in full."""
    jobs = settled_jobs(120)
    server, client = start_v2(start_server, (), jobs, v1_retired=True)
    mt.load_versions(client, cache_dir=tmp_path)
    fake = V2[server.api]
    with fake._lock:
        del fake._jobs[job_id(7)]
        fake._views.clear()
    again = mt.load_versions(fresh(client), cache_dir=tmp_path, max_age=0)
    info = mt.provenance(again)
    assert info is not None
    assert info.note == (
        "full v2 read: incremental refresh of v2 jobs could not prove completeness "
        "(120 v2 jobs after merging, the server lists 119)"
    )
    assert again.height == 119 and job_id(7) not in set(again["job_id"])
    assert_same(again, fresh(client).list_versions())


def test_both_listings_gone_fails_the_refresh_and_keeps_the_dataset(
    start_server: Callable[..., RunningServer], tmp_path: Any
) -> None:
    server, client = start_v2(start_server, (), settled_jobs(30), v1_retired=True)
    first = mt.load_versions(client, cache_dir=tmp_path)
    gone = Answer(404, b'{"error_code": "APIGW.0101"}', {"Content-Type": "application/json"})
    server.api.route("POST", r"/v2/[^/]+/training-job-searches", lambda request, match: gone)
    with pytest.raises(mt.NotFoundError):
        mt.load_versions(fresh(client), cache_dir=tmp_path, max_age=0)
    kept = mt.load_versions(fresh(client), cache_dir=tmp_path, offline=True)
    assert_same(kept, first)


def test_create_time_windows_join_while_a_page_holds_them() -> None:
    """Hand-worked: cached jobs at 0..199; unfinished at 10, 12, 55, 140 and 141; pages of 50."""
    from mavtools.store.refresh import _windows

    created = list(range(200))
    # 10..12 holds 3 jobs; 10..55 would hold 46 (one page: joined); 10..140 would hold 131: a
    # new window, which 141 joins.
    assert _windows(created, [141, 12, 55, 10, 140], 50) == [(10, 55), (140, 141)]
    assert _windows(created, [10, 60], 50) == [(10, 10), (60, 60)]  # 51 jobs: two pages anyway
    assert _windows(created, [], 50) == []
