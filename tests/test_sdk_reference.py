"""Huawei's own SDK (``huaweicloudsdkmodelarts``, ``huaweicloudsdkcore``) as the reference.

The SDK's model classes carry the JSON key (``attribute_map``) and the type (``openapi_types``) of
every field of every endpoint; its client builds the requests and its signer the AK/SK
signatures. Here, over real HTTP to the local server (127.0.0.1):

* every answer of the local server is checked key by key and type by type against the SDK's
  response model, recursively, so the local server cannot drift from the real API;
* the SDK's client reads the local server (AK/SK, as an IAM sub-project) and what it deserialises
  equals what mavtools reads from the same server;
* bodies built from the SDK's model classes, serialised as the SDK serialises them, give the right
  rows and pool sizes in mavtools;
* every request mavtools sends uses the query names, body keys and headers the SDK's request
  models and signer produce, and its AK/SK signature is the SDK signer's.

The SDK has no model of the old-version (v1) versions listing, so that one is not covered here
(tests/test_fake_api.py holds it to our reading of its documentation).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import huaweicloudsdkmodelarts.v1.model as sdk
import polars as pl
import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization
from huaweicloudsdkmodelarts.v1 import ModelArtsClient

import mavtools as mt
from mavtools.api.auth import AkSkAuth
from mavtools.local.fake import (
    Answer,
    FakeModelArts,
    FakeV2,
    PoolSpec,
    RunningServer,
    serve,
    v2_job,
)
from mavtools.local.samples import FLAVORS, SAMPLE_WORKSPACE_NAMES, sample_jobs, sample_pools
from mavtools.statuses import v2_status_code

PROJECT = "0123456789abcdef0123456789abcdef"
TOKEN = "sdk-reference-token"
AK = "HPUASDKREFERENCEAK01"
SK = "sdk/reference+secret=key0123456789abcdefgh"
T0 = 1_780_000_000_000
HOUR = 3_600_000

# --------------------------------------------------------------------------------------------------
# The shape check: a JSON value against an SDK type, recursively
# --------------------------------------------------------------------------------------------------

_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "date": (str,),
    "datetime": (str,),
    "object": (object,),
}


def shape_problems(value: Any, type_name: str, path: str = "$") -> list[str]:
    """Where ``value`` (parsed JSON) breaks the SDK type ``type_name``: unknown keys, wrong types.

    ``None`` is accepted anywhere (the SDK's fields are all optional).
    """
    if value is None:
        return []
    if type_name.startswith("list["):
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, the SDK says {type_name}"]
        return [
            p
            for i, v in enumerate(value)
            for p in shape_problems(v, type_name[5:-1], f"{path}[{i}]")
        ]
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, the SDK says {type_name}"]
        inner = type_name[type_name.index(",") + 1 : -1].strip()
        return [p for k, v in value.items() for p in shape_problems(v, inner, f"{path}.{k}")]
    if type_name in _PRIMITIVES:
        wanted = _PRIMITIVES[type_name]
        is_bool = isinstance(value, bool)
        if not isinstance(value, wanted) or (is_bool and type_name in ("int", "float")):
            return [f"{path}: {type(value).__name__} {value!r:.30}, the SDK says {type_name}"]
        return []
    model = getattr(sdk, type_name)
    if not isinstance(value, dict):
        return [f"{path}: {type(value).__name__}, the SDK says object {type_name}"]
    attributes = {key: attr for attr, key in model.attribute_map.items()}
    problems = []
    for key, item in value.items():
        if key not in attributes:
            problems.append(f"{path}.{key}: no such key in the SDK's {type_name}")
        else:
            problems += shape_problems(item, model.openapi_types[attributes[key]], f"{path}.{key}")
    return problems


def sdk_json(model: Any) -> Any:
    """A model as the SDK puts it on the wire (attribute_map keys, unset fields left out)."""
    return json.loads(json.dumps(sanitize_for_serialization(model)))


def test_the_shape_check_can_fail() -> None:
    """The pool states as lists (what mavtools used to read and serve) break the SDK's shape."""
    old = {"items": [{"status": {"resources": {"available": [{"flavor": "f", "count": 3}]}}}]}
    assert shape_problems(old, "ListPoolsResponse") == [
        "$.items[0].status.resources.available: list, the SDK says object PoolResourceFlavorCount"
    ]
    assert shape_problems(
        {"items": [{"spec": {"gpu": {"size": 8}}}]}, "ListResourceFlavorsResponse"
    )
    assert shape_problems({"count": 1, "totl": 2}, "ListTrainingJobsResponse") == [
        "$.totl: no such key in the SDK's ListTrainingJobsResponse"
    ]


# --------------------------------------------------------------------------------------------------
# A local server with the samples and every kind of job, token and AK/SK
# --------------------------------------------------------------------------------------------------

EXTRA_WORKSPACE = "5e1d0c3b2a19480f9e8d7c6b5a493827"


def varied_jobs() -> list[dict[str, Any]]:
    """Jobs of every shape the local server builds (public, dedicated, NPU, CPU, never started)."""
    return [
        v2_job(
            "a0000000-0000-4000-8000-000000000001",
            name="gpu",
            create_time=T0,
            phase="Completed",
            start_time=T0 + 1000,
            duration=HOUR,
            pool_id="pool-pub",
            node_count=2,
            gpu=8,
            user_name="alice",
        ),
        v2_job(
            "a0000000-0000-4000-8000-000000000002",
            name="npu",
            create_time=T0 + 1,
            phase="Running",
            start_time=T0 + 2000,
            duration=HOUR,
            flavor_id="flv.npu.8",
            npu=8,
        ),
        v2_job(
            "a0000000-0000-4000-8000-000000000003",
            name="dedicated",
            create_time=T0 + 2,
            phase="Failed",
            start_time=T0 + 3000,
            duration=HOUR,
            pool_id="pool-ws",
            flavor_id="modelarts.pool.visual.8xlarge",
            node_count=2,
            flavor_detail=False,
            workspace_id=EXTRA_WORKSPACE,
        ),
        v2_job(
            "a0000000-0000-4000-8000-000000000004",
            name="queued",
            create_time=T0 + 3,
            phase="Pending",
            flavor_id="modelarts.vm.cpu.8u",
        ),
    ]


EXTRA_POOLS = [
    PoolSpec(
        "pool-ws",
        "bound",
        "modelarts.pool.gpu.8v100",
        2,
        gpu=8,
        creating=1,
        workspace_id=EXTRA_WORKSPACE,
    ),
    PoolSpec("pool-910", "ascend", "modelarts.pool.npu.8snt9b", 3, npu=8, chips=16, abnormal=1),
]


def reference_api() -> FakeModelArts:
    names = dict(SAMPLE_WORKSPACE_NAMES) | {EXTRA_WORKSPACE: "bound-pools"}
    api = FakeModelArts((), project_id=PROJECT, token=TOKEN, aksk={AK: SK}, workspace_names=names)
    flavors = {f.code: (f.gpu, f.npu) for f in FLAVORS.values()} | {"flv.npu.8": (0, 8)}
    FakeV2(
        [*sample_jobs(), *varied_jobs()], flavors=flavors, pools=[*sample_pools(), *EXTRA_POOLS]
    ).attach(api)
    api.sub_project = True  # AK/SK calls must carry X-Project-Id, as on an IAM sub-project
    return api


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    running = serve(reference_api())
    yield running
    running.stop()


def sdk_client(server: RunningServer) -> ModelArtsClient:
    """Huawei's own client, signing with AK/SK for the project, pointed at the local server."""
    config = HttpConfig.get_default_config()
    config.timeout = (5, 30)
    return (
        ModelArtsClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(AK, SK, PROJECT))
        .with_endpoints([server.url])
        .build()
    )


def raw(server: RunningServer, method: str, path: str, **kwargs: Any) -> Any:
    answer = requests.request(
        method, f"{server.url}{path}", headers={"X-Auth-Token": TOKEN}, timeout=30, **kwargs
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def workspaces(server: RunningServer) -> list[str]:
    return [w["id"] for w in raw(server, "GET", f"/v1/{PROJECT}/workspaces")["workspaces"]]


# --------------------------------------------------------------------------------------------------
# 1. Every answer of the local server has the SDK's shape
# --------------------------------------------------------------------------------------------------


def local_answers(server: RunningServer) -> Iterator[tuple[str, str, Any]]:
    """(what, SDK response model, parsed body) of every endpoint mavtools reads."""
    for ws in workspaces(server):
        for offset in range(100):
            body = {"offset": offset, "limit": 50, "workspace_id": ws, "order": "asc"}
            page = raw(server, "POST", f"/v2/{PROJECT}/training-job-searches", json=body)
            yield f"jobs of {ws} page {offset}", "ListTrainingJobsResponse", page
            if not page["items"]:
                break
        pools = raw(server, "GET", f"/v2/{PROJECT}/pools", params={"workspaceId": ws})
        yield f"pools of {ws}", "ListPoolsResponse", pools
    yield (
        "flavors",
        "ShowTrainingJobFlavorsResponse",
        raw(server, "GET", f"/v2/{PROJECT}/training-job-flavors"),
    )
    token = ""
    for n in range(100):
        params = {"continue": token} if token else {}
        doc = raw(server, "GET", f"/v1/{PROJECT}/resourceflavors", params=params)
        yield f"resource flavors page {n}", "ListResourceFlavorsResponse", doc
        token = doc["metadata"]["continue"]
        if not token:
            break
    yield "workspaces", "ListWorkspaceResponse", raw(server, "GET", f"/v1/{PROJECT}/workspaces")


def test_every_answer_of_the_local_server_has_the_sdk_shape(server: RunningServer) -> None:
    answers = list(local_answers(server))
    problems = [
        f"{what}: {p}" for what, model, body in answers for p in shape_problems(body, model)
    ]
    assert problems == []
    # and the answers hold what the check is about: jobs of every kind, pools in every state
    jobs = [j for what, _, body in answers if what.startswith("jobs") for j in body["items"]]
    assert len(jobs) == len(sample_jobs()) + len(varied_jobs())
    pools = [p for what, _, body in answers if what.startswith("pools") for p in body["items"]]
    assert {p["metadata"]["name"] for p in pools} >= {"pool-ws", "pool-910"}
    states = {s for p in pools for s in p["status"]["resources"]}
    assert states == {"available", "creating", "abnormal"}


# --------------------------------------------------------------------------------------------------
# 2. The SDK's client reads the local server; mavtools reads the same values
# --------------------------------------------------------------------------------------------------


def mavtools_client(server: RunningServer) -> mt.Client:
    return mt.Client(server.url, PROJECT, ak=AK, sk=SK, allow_http=True)


def test_the_sdk_client_and_mavtools_read_the_same_pools(server: RunningServer) -> None:
    client = sdk_client(server)
    flavors = client.list_resource_flavors(sdk.ListResourceFlavorsRequest(limit=100))
    cards = {}
    for f in flavors.items:
        xpu = f.spec.gpu or f.spec.npu
        cards[f.metadata.name] = int(xpu.card) if xpu else 0
    expected = {}
    for ws in workspaces(server):
        for pool in client.list_pools(sdk.ListPoolsRequest(workspace_id=ws)).items:
            res = pool.status.resources
            count = {
                s: getattr(res, s).count if getattr(res, s) else 0
                for s in ("available", "creating", "abnormal")
            }
            expected[pool.metadata.name] = (
                pool.spec.resources[0].count,
                count["available"],
                count["creating"],
                count["abnormal"],
                count["available"] * cards[res.available.flavor],
                count["creating"] * cards[pool.spec.resources[0].flavor],
            )
    table = mavtools_client(server).pools()
    got = {
        r[0]: r[1:]
        for r in table.select(
            "pool_id",
            "nodes",
            "nodes_available",
            "nodes_creating",
            "nodes_abnormal",
            "units",
            "units_creating",
        ).iter_rows()
    }
    assert got == expected
    assert got["pool-ws"] == (2, 1, 1, 0, 8, 8)  # bound to another workspace: read there
    assert got["pool-910"] == (3, 2, 0, 1, 16, 0)  # 8 cards per node (16 chips): cards count


def test_the_sdk_client_and_mavtools_read_the_same_jobs(server: RunningServer) -> None:
    client = sdk_client(server)
    expected = {}
    for ws in workspaces(server):
        for offset in range(100):
            body = sdk.JobSearches(offset=offset, limit=50, workspace_id=ws)
            page = client.list_training_jobs(sdk.ListTrainingJobsRequest(body=body))
            for job in page.items:
                res = job.spec.resource
                info = res.flavor_detail.flavor_info if res.flavor_detail else None
                gpu = info.gpu.unit_num if info and info.gpu else 0
                npu = int(info.npu.unit_num) if info and info.npu else 0
                expected[job.metadata.id] = (
                    job.metadata.name,
                    v2_status_code(job.status.phase, job.status.secondary_phase),
                    job.metadata.workspace_id,
                    job.metadata.user_name,
                    job.metadata.create_time,
                    job.status.start_time or None,
                    job.status.duration or 0,
                    res.pool_id,
                    res.flavor_id,
                    res.node_count,
                    None if info is None else res.node_count * gpu,
                    None if info is None else res.node_count * npu,
                )
            if not page.items:
                break
    df = mavtools_client(server).list_versions(workspace_id=mt.ALL_WORKSPACES, api="v2")
    columns = [
        "job_id",
        "version_name",
        "status",
        "workspace_id",
        "user_name",
        "create_time",
        "start_time",
        "duration",
        "pool_id",
        "flavor_code",
        "node_count",
        "gpu_num",
        "npu_num",
    ]
    got = {
        row[0]: row[1:]
        for row in df.select(columns)
        .with_columns(
            pl.col("create_time", "start_time").dt.epoch("ms"),
            pl.col("duration").dt.total_milliseconds(),
            pl.col("status").cast(pl.Int64),
            pl.col("pool_id", "flavor_code", "workspace_id").cast(pl.String),
        )
        .iter_rows()
    }
    assert len(got) == len(expected) == len(sample_jobs()) + len(varied_jobs())
    # Jobs without flavor_detail: the SDK user is left to look the cards up; mavtools does it
    # (dedicated-pool flavor ids, the flavor list). Everything else must be equal.
    assert {k: v[:-2] for k, v in got.items()} == {k: v[:-2] for k, v in expected.items()}
    known = {k for k, v in expected.items() if v[-1] is not None}
    assert {k: got[k] for k in known} == {k: expected[k] for k in known}
    assert got["a0000000-0000-4000-8000-000000000003"][-2:] == (16, 0)  # pool.visual.8xlarge x 2


# --------------------------------------------------------------------------------------------------
# 3. Bodies built from the SDK's own models give the right rows and pool sizes
# --------------------------------------------------------------------------------------------------


def sdk_job(
    job_id: str,
    *,
    phase: str,
    start: int = 0,
    duration: int = 0,
    resource: Any,
    tasks: list[Any] | None = None,
) -> dict[str, Any]:
    job = sdk.JobResponse(
        kind="job",
        metadata=sdk.JobMetadataResponse(
            id=job_id,
            name=f"job-{job_id[-2:]}",
            workspace_id="0",
            create_time=T0,
            user_name="bob",
            annotations={},
        ),
        status=sdk.Status(
            phase=phase,
            secondary_phase=phase,
            start_time=start,
            duration=duration,
            node_count_metrics=[[T0, resource.node_count or 1]],
        ),
        spec=sdk.SpecResponse(
            resource=resource,
            schedule_policy=sdk.SchedulePolicyResp(priority=1, preemptible=False),
        ),
        tasks=tasks,
    )
    return sdk_json(job)


def gpu_info(cards: int) -> Any:
    return sdk.FlavorInfo(
        cpu=sdk.Cpu(arch="x86", core_num=8),
        gpu=sdk.Gpu(unit_num=cards, product_name="NVIDIA-A100", memory="80GB"),
        memory=sdk.Memory(size=64, unit="GB"),
    )


def sdk_built_jobs() -> dict[str, tuple[dict[str, Any], tuple[Any, ...]]]:
    """SDK-built items and the row each must give: (outcome, gpu_num, npu_num, nodes, end - start)."""
    hour = HOUR
    public = sdk.Resource(
        policy="regular",
        flavor_id="modelarts.vm.gpu.a100",
        node_count=2,
        pool_id="pool-pub",
        flavor_detail=sdk.FlavorDetail(
            flavor_type="GPU",
            billing=sdk.BillingInfo(code="g", unit_num=1),
            flavor_info=gpu_info(8),
        ),
    )
    dedicated = sdk.Resource(
        policy="regular",
        flavor_id="modelarts.pool.visual.8xlarge",
        node_count=2,
        pool_id="pool-dedicated",
    )
    npu = sdk.Resource(
        flavor_id="modelarts.vm.npu.snt9b",
        node_count=1,
        pool_id="pool-npu",
        flavor_detail=sdk.FlavorDetail(
            flavor_type="NPU",
            flavor_info=sdk.FlavorInfo(npu=sdk.Npu(unit_num="8", product_name="Ascend-snt9b")),
        ),
    )
    custom = sdk.Resource(
        flavor_id="custom-flavor",
        node_count=3,
        pool_id="pool-dedicated",
        main_container_allocated_resources=sdk.MainContainerAllocatedResources(
            cpu_arch="arm",
            cpu_core_num=96.0,
            mem_size=512.0,
            accelerator_num=4.0,
            accelerator_type="ascend-snt9b",
        ),
    )
    hetero_tasks = [
        sdk.TaskResponse(
            role="learner",
            task_resource=sdk.FlavorResponse(
                flavor_id="modelarts.vm.gpu.a100",
                flavor_info=sdk.FlavorInfoResponse(gpu=sdk.Gpu(unit_num=8)),
            ),
        ),
        sdk.TaskResponse(
            role="actor",
            task_resource=sdk.FlavorResponse(
                flavor_id="modelarts.pool.visual.2xlarge", pool_id="pool-dedicated"
            ),
        ),
        sdk.TaskResponse(
            role="cpu",
            task_resource=sdk.FlavorResponse(
                flavor_id="modelarts.vm.cpu.8u",
                flavor_info=sdk.FlavorInfoResponse(cpu=sdk.Cpu(arch="x86", core_num=8)),
            ),
        ),
    ]
    hetero = sdk.Resource(node_count=None, pool_id="pool-dedicated")
    return {
        "public-gpu": (
            sdk_job(
                "b0-01", phase="Completed", start=T0 + hour, duration=2 * hour, resource=public
            ),
            ("succeeded", 16, 0, 2, 2 * hour),
        ),
        "dedicated-8xlarge": (
            sdk_job("b0-02", phase="Running", start=T0 + hour, duration=hour, resource=dedicated),
            ("running", 16, 0, 2, None),
        ),
        "npu-string-units": (
            sdk_job("b0-03", phase="Completed", start=T0 + hour, duration=hour, resource=npu),
            ("succeeded", 0, 8, 1, hour),
        ),
        "never-started": (
            sdk_job("b0-04", phase="Pending", resource=public),
            ("pending", 16, 0, 2, None),
        ),
        "failed": (
            sdk_job("b0-05", phase="Failed", start=T0 + hour, duration=hour // 2, resource=public),
            ("failed", 16, 0, 2, hour // 2),
        ),
        "custom-flavor": (
            sdk_job("b0-06", phase="Completed", start=T0 + hour, duration=hour, resource=custom),
            ("succeeded", 0, 12, 3, hour),
        ),
        "share-of-a-card": (  # a float the SDK allows: unknown whole cards, the page still read
            sdk_job(
                "b0-08",
                phase="Completed",
                start=T0 + hour,
                duration=hour,
                resource=sdk.Resource(
                    flavor_id="custom-half",
                    node_count=1,
                    main_container_allocated_resources=sdk.MainContainerAllocatedResources(
                        accelerator_num=0.5, accelerator_type="nvidia-t4"
                    ),
                ),
            ),
            ("succeeded", None, None, 1, hour),
        ),
        "heterogeneous": (
            sdk_job(
                "b0-07",
                phase="Completed",
                start=T0 + hour,
                duration=hour,
                resource=hetero,
                tasks=hetero_tasks,
            ),
            ("succeeded", 8 + 2, 0, 3, hour),
        ),
    }


def test_sdk_built_jobs_give_the_right_rows(
    start_server: Any,
) -> None:
    cases = sdk_built_jobs()
    page = sdk_json(sdk.ListTrainingJobsResponse(total=len(cases), count=len(cases), items=[]))
    page["items"] = [item for item, _ in cases.values()]
    assert shape_problems(page, "ListTrainingJobsResponse") == []  # as the SDK would send them
    running = start_server((), project_id=PROJECT, token=TOKEN)
    FakeV2([item for item, _ in cases.values()], flavors={}).attach(running.api)
    df = mt.Client(running.url, PROJECT, token=TOKEN, allow_http=True).list_versions(api="v2")
    rows = {
        r[0]: r[1:]
        for r in df.select(
            "job_id",
            pl.col("outcome").cast(pl.String),
            "gpu_num",
            "npu_num",
            "node_count",
            (pl.col("end_time") - pl.col("start_time")).dt.total_milliseconds(),
        ).iter_rows()
    }
    got = {name: rows[item["metadata"]["id"]] for name, (item, _) in cases.items()}
    assert got == {name: want for name, (_, want) in cases.items()}
    never = df.filter(pl.col("job_id") == "b0-04")
    assert never["start_time"].is_null().all() and never["gpu_hours"].fill_null(0).item() == 0


def sdk_pool_server(start_server: Any, pools: Any, flavors: Any) -> RunningServer:
    """A local server whose pool list and resource flavors are the given SDK-built bodies."""
    running = start_server((), project_id=PROJECT, token=TOKEN)
    FakeV2().attach(running.api)
    bodies = {
        "pools": json.dumps(sdk_json(pools)).encode(),
        "resourceflavors": json.dumps(sdk_json(flavors)).encode(),
    }
    for version, name in (("v2", "pools"), ("v1", "resourceflavors")):
        body = bodies[name]
        running.api.route(
            "GET",
            rf"/{version}/(?P<project>[^/]+)/{name}",
            lambda request, match, body=body: running.api.counted(
                request,
                match["project"],
                lambda: Answer(200, body, {"Content-Type": "application/json"}),
            ),
        )
    return running


def test_an_sdk_shaped_pool_gives_its_units(start_server: Any) -> None:
    """3 available and 1 creating node of 8 cards: 24 units available, 8 creating."""
    count = sdk.PoolResourceFlavorCount
    pools = sdk.ListPoolsResponse(
        api_version="v2",
        kind="PoolList",
        items=[
            sdk.PoolModel(
                api_version="v2",
                kind="Pool",
                metadata=sdk.PoolMetadata(
                    name="pool-a100", labels=sdk.PoolMetaLabels(os_modelarts_name="a100")
                ),
                spec=sdk.PoolSpecModel(
                    type="Dedicate",
                    resources=[
                        sdk.PoolSpecModelResources(
                            flavor="modelarts.pool.gpu.8a100", count=4, max_count=4
                        )
                    ],
                ),
                status=sdk.PoolStatus(
                    phase="Running",
                    resources=sdk.PoolStatusResources(
                        available=count(
                            flavor="modelarts.pool.gpu.8a100",
                            count=3,
                            max_count=4,
                            azs=[sdk.PoolNodeAz(az="eu-de-01", count=3)],
                            node_pool="np",
                        ),
                        creating=count(flavor="modelarts.pool.gpu.8a100", count=1, max_count=4),
                    ),
                ),
            )
        ],
    )
    flavors = sdk.ListResourceFlavorsResponse(
        kind="ResourceFlavorList",
        metadata=sdk.ResourceFlavorListMetadata(_continue=""),
        items=[
            sdk.ResourceFlavor(
                kind="ResourceFlavor",
                metadata=sdk.ResourceFlavorMetadata(name="modelarts.pool.gpu.8a100"),
                spec=sdk.ResourceFlavorSpec(
                    type="Dedicate",
                    cpu="96",
                    memory="768Gi",
                    gpu=sdk.ResourceFlavorXpu(
                        type="nvidia-a100", size="16", card="8", memory="80Gi"
                    ),
                ),
            )
        ],
    )
    running = sdk_pool_server(start_server, pools, flavors)
    table = mt.Client(running.url, PROJECT, token=TOKEN, allow_http=True).pools(workspace_id="0")
    assert table.select(
        "pool_id",
        "pool_name",
        "accelerator",
        "units_per_node",
        "nodes",
        "nodes_available",
        "nodes_creating",
        "units",
        "units_creating",
    ).rows() == [("pool-a100", "a100", "gpu", 8, 4, 3, 1, 24, 8)]
    assert mt.pool_sizes(table) == {"pool-a100": 24}


def test_the_old_list_form_of_pool_states_is_still_read(start_server: Any) -> None:
    pools = {
        "items": [
            {
                "metadata": {"name": "pool-old"},
                "spec": {"resources": [{"flavor": "f8", "count": 2}]},
                "status": {
                    "resources": {"available": [{"flavor": "f8", "count": 2}], "creating": []}
                },
            }
        ]
    }
    flavors = {
        "items": [{"metadata": {"name": "f8"}, "spec": {"npu": {"type": "ascend", "size": "4"}}}],
        "metadata": {"continue": ""},
    }
    running = start_server((), project_id=PROJECT, token=TOKEN)
    FakeV2().attach(running.api)
    for version, name, doc in (("v2", "pools", pools), ("v1", "resourceflavors", flavors)):
        body = json.dumps(doc).encode()
        running.api.route(
            "GET",
            rf"/{version}/(?P<project>[^/]+)/{name}",
            lambda request, match, body=body: Answer(
                200, body, {"Content-Type": "application/json"}
            ),
        )
    table = mt.Client(running.url, PROJECT, token=TOKEN, allow_http=True).pools(workspace_id="0")
    assert table.select("pool_id", "accelerator", "nodes_available", "units").rows() == [
        ("pool-old", "npu", 2, 8)  # no ``card``: the older ``size`` is the count
    ]


# --------------------------------------------------------------------------------------------------
# 4. The requests mavtools sends are ones the SDK makes, signed as the SDK signs them
# --------------------------------------------------------------------------------------------------

#: Path ending -> (the SDK's request model, its http_info builder).
SDK_OPERATIONS = {
    "training-job-searches": ("ListTrainingJobsRequest", "_list_training_jobs_http_info"),
    "training-job-flavors": (
        "ShowTrainingJobFlavorsRequest",
        "_show_training_job_flavors_http_info",
    ),
    "pools": ("ListPoolsRequest", "_list_pools_http_info"),
    "resourceflavors": ("ListResourceFlavorsRequest", "_list_resource_flavors_http_info"),
    "workspaces": ("ListWorkspaceRequest", "_list_workspace_http_info"),
}


def sdk_query_names(operation: str) -> set[str]:
    """Every query name the SDK sends for ``operation`` (each request attribute set)."""
    model_name, builder = SDK_OPERATIONS[operation]
    request = getattr(sdk, model_name)()
    for attr, kind in request.openapi_types.items():
        setattr(request, attr, 1 if kind == "int" else "x")
    info = getattr(ModelArtsClient, builder)(request)
    assert info["resource_path"].endswith(operation)
    return {name for name, _ in info["query_params"]}


def test_requests_mavtools_sends_are_the_sdks() -> None:
    api = reference_api()
    seen: list[tuple[str, str, dict[str, str], bytes]] = []
    handle = api.handle

    def recording(method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Any:
        seen.append((method, target, dict(headers), body))
        return handle(method, target, headers, body)

    api.handle = recording  # type: ignore[method-assign]
    with serve(api) as running:
        client = mavtools_client(running)  # AK/SK: the server is an IAM sub-project
        df = client.list_versions(workspace_id=mt.ALL_WORKSPACES, api="v2", status="RUNNING")
        client.list_versions(workspace_id=mt.ALL_WORKSPACES, api="v2")
        client.pools()
        client.workspace_names()
    assert df.height > 0
    operations = set()
    for method, target, headers, body in seen:
        parts = urlsplit(target)
        operation = parts.path.rsplit("/", 1)[-1]
        operations.add(operation)
        query = parse_qsl(parts.query, keep_blank_values=True)
        assert {name for name, _ in query} <= sdk_query_names(operation), target
        if method == "POST":
            doc = json.loads(body)
            assert shape_problems(doc, "JobSearches") == [], doc  # keys and types of the SDK
        # The SDK's signer, given the same request, writes the same Authorization.
        signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
        assert "x-project-id" in signed and headers["X-Project-Id"] == PROJECT
        given = {
            k: v for k, v in headers.items() if k.lower() in signed and k.lower() != "x-project-id"
        }
        request = SdkRequest(
            method=method,
            schema="http",
            host=headers["Host"],
            resource_path=parts.path,
            query_params=query,
            header_params=given,
            body=body,
        )
        reference = BasicCredentials(AK, SK, PROJECT).sign_request(request)
        assert reference.header_params["Authorization"] == headers["Authorization"], target
    assert operations == set(SDK_OPERATIONS)
    searches = [json.loads(b) for m, _, _, b in seen if m == "POST"]
    assert any(s.get("filters") for s in searches)  # the phase filter was among them


def test_aksk_without_project_header_is_refused_by_a_sub_project(start_server: Any) -> None:
    """What the X-Project-Id fix is for: a sub-project refuses AK/SK calls that do not name it."""
    running = start_server((), project_id=PROJECT, aksk={AK: SK})
    FakeV2([]).attach(running.api)
    running.api.sub_project = True
    bare = mt.Client(running.url, PROJECT, auth=AkSkAuth(AK, SK), allow_http=True)
    assert bare.list_versions(api="v2").height == 0  # the client names its project itself
    session = requests.Session()
    session.auth = AkSkAuth(AK, SK)  # signing without the project, as mavtools used to
    answer = session.post(f"{running.url}/v2/{PROJECT}/training-job-searches", json={}, timeout=10)
    assert answer.status_code == 403
