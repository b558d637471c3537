"""The pool workloads API of the local ModelArts stand-in, shaped as Huawei's SDK defines it.

``GET /v2/{project}/pools/{pool_name}/workloads`` (SDK ``ListWorkloads``) answers a
``ListWorkloadsResponse``: ``{apiVersion, kind: "WorkloadList", items: [Workload]}``, each
``Workload`` with the SDK's JSON keys (``jobName``, ``jobUUID``, ``resourceRequirement`` with
``nvidia.com/gpu`` ..., ``pendingPosition``, ``pendingDuration``/``runningDuration`` in seconds,
``createTime`` in epoch ms, ...). The workloads are the pending and running jobs of a
:class:`~mavtools.local.fake.v2.FakeV2` on that pool, read at the server's clock ``now_ms``:
pending ones in ``Pending`` with positions by creation, running ones in ``Running``.

Only pools named in ``dedicated`` answer; any other pool is a public pool, whose workloads the API
does not show (404). ``forbidden=True`` answers 403 ``ModelArts.0108`` to everyone, as for a user
without ``modelarts:pool:listWorkloads``. ``offset``/``limit`` page the items.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from mavtools.local.fake.server import FakeModelArts
from mavtools.local.fake.v2 import FakeV2
from mavtools.local.fake.wire import Answer, Request

__all__ = ["FakeWorkloads"]


class FakeWorkloads:
    """Serves pool workloads from the jobs of ``v2``.

    Args:
        v2: the v2 stand-in whose jobs are the workloads.
        dedicated: pool ids that answer the workloads API.
        now_ms: the server's clock (epoch ms), or a function returning it (default: real time).
        forbidden: refuse every workloads request with 403.
    """

    def __init__(
        self,
        v2: FakeV2,
        *,
        dedicated: Iterable[str],
        now_ms: int | Callable[[], int] | None = None,
        forbidden: bool = False,
    ) -> None:
        self.v2 = v2
        self.dedicated = set(dedicated)
        self._now = now_ms
        self.forbidden = forbidden

    def now_ms(self) -> int:
        if callable(self._now):
            return self._now()
        return self._now if self._now is not None else int(time.time() * 1000)

    def attach(self, api: FakeModelArts) -> FakeWorkloads:
        """Serve the workloads path from ``api`` (credentials, faults and counts as v1); self."""

        def handle(request: Request, match: re.Match[str]) -> Answer:
            def respond() -> Answer:
                status, body = self._answer(request, match["pool"])
                return Answer(status, body, {"Content-Type": "application/json"})

            return api.counted(request, match["project"], respond)

        api.route("GET", r"/v2/(?P<project>[^/]+)/pools/(?P<pool>[^/]+)/workloads", handle)
        return self

    def body(self, pool_id: str) -> dict[str, Any]:
        """The whole ``ListWorkloadsResponse`` of a pool (unpaged), as the server sends it."""
        now = self.now_ms()
        jobs = [
            j
            for j in self.v2.jobs
            if (j["spec"]["resource"].get("pool_id") == pool_id)
            and j["status"]["phase"] in ("Pending", "Running")
            and j["metadata"]["create_time"] <= now
        ]
        jobs.sort(key=lambda j: (j["metadata"]["create_time"], j["metadata"]["id"]))
        items, position = [], 0
        for job in jobs:
            pending = job["status"]["phase"] == "Pending"
            position += pending
            items.append(_workload(job, now, position if pending else 0, self.v2.flavors))
        return {"apiVersion": "v1", "kind": "WorkloadList", "items": items}

    def _answer(self, request: Request, pool: str) -> tuple[int, bytes]:
        if self.forbidden:
            return 403, json.dumps(
                {
                    "error_code": "ModelArts.0108",
                    "error_msg": "You are not authorized to perform the "
                    "(modelarts:pool:listWorkloads) operation.",
                }
            ).encode()
        if pool not in self.dedicated:
            return 404, json.dumps(
                {"error_code": "ModelArts.50015001", "error_msg": f"Pool {pool} not found."}
            ).encode()
        doc = self.body(pool)
        offset = int((request.query.get("offset") or ["0"])[-1] or 0)
        limit = int((request.query.get("limit") or ["500"])[-1] or 500)
        doc["items"] = doc["items"][offset : offset + limit]
        return 200, json.dumps(doc).encode()


def _cards(job: dict[str, Any], kind: str, flavors: dict[str, tuple[int, int]]) -> int:
    """Cards of a job: its flavor_detail, else (dedicated pools) the flavor list, x nodes."""
    resource = job["spec"]["resource"]
    detail = resource.get("flavor_detail")
    if detail:
        per_node = int(((detail.get("flavor_info") or {}).get(kind) or {}).get("unit_num") or 0)
    else:
        gpu, npu = flavors.get(resource.get("flavor_id"), (0, 0))
        per_node = gpu if kind == "gpu" else npu
    return per_node * int(resource.get("node_count") or 1)


def _workload(
    job: dict[str, Any], now: int, position: int, flavors: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    meta, status, resource = job["metadata"], job["status"], job["spec"]["resource"]
    pending = status["phase"] == "Pending"
    start = int(status.get("start_time") or 0)
    gpu, npu = _cards(job, "gpu", flavors), _cards(job, "npu", flavors)
    need = {"cpu": "8", "memory": "64Gi"}
    if gpu:
        need["nvidia.com/gpu"] = str(gpu)
    if npu:
        need["huawei.com/ascend-1980"] = str(npu)
    return {
        "apiVersion": "v1",
        "kind": "Workload",
        "type": "train",
        "namespace": "default",
        "name": f"{meta['name']}-{meta['id'][:8]}",
        "jobName": meta["name"],
        "uid": meta["id"],
        "jobUUID": meta["id"],
        "flavor": resource.get("flavor_id"),
        "status": status["phase"],
        "userName": meta.get("user_name") or "",
        "resourceRequirement": need,
        "priority": "1",
        "runningDuration": 0 if pending else max(0, (now - start) // 1000),
        "pendingDuration": (now - meta["create_time"]) // 1000
        if pending
        else max(0, (start - meta["create_time"]) // 1000),
        "pendingPosition": position,
        "createTime": meta["create_time"],
        "gvk": "batch.volcano.sh/v1alpha1, Kind=Job",
        "hostIps": "" if pending else "192.168.0.10",
        "nodes": []
        if pending
        else [{"hostIp": "192.168.0.10", "npuTopologyPlacement": "", "resourceRequirement": need}],
    }
