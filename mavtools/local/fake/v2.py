"""The new-version (v2) training API of the local ModelArts stand-in: job searches, pools, flavors.

:class:`FakeV2` plugs into a :class:`~mavtools.local.fake.server.FakeModelArts` with
:meth:`FakeV2.attach` (routes of its own); the listings are answered through
``FakeModelArts.counted``, so every switch of the v1 server (credentials, latency, faults,
``before_request``, the request count) applies alike:

* ``POST /v2/{project}/training-job-searches``: body ``{offset, limit, sort_by, order, filters,
  workspace_id}``; ``limit`` outside 1-50 is refused (400), ``offset`` is a record offset or a
  page index (``offset_mode``; both through :mod:`~mavtools.local.fake.paging`), ``filters``
  support ``phase`` (``in``/``not``), ``create_time`` (``between``, epoch ms as strings),
  ``user_name``/``user_id`` (``in``).
  Answers ``{total, count, limit, offset, sort_by, order, workspace_id, items}``;
* ``GET /v2/{project}/training-job-flavors``: the public flavor list with card counts;
* ``GET /v2/{project}/pools?workspaceId=`` (the pools bound to that workspace, ``"0"`` by
  default) and ``GET /v1/{project}/resourceflavors`` (paged by ``continue``), shaped as the
  SDK's ``ListPoolsResponse`` and ``ListResourceFlavorsResponse``;
* ``v1_retired=True`` (or :meth:`FakeV2.retire_v1`) answers the v1 versions listing with the
  gateway's 404, as a current deployment does. A FakeModelArts without a FakeV2 is an old
  deployment: every v2 path is 404.

Socket-level faults (``truncate``, ``slow``) act out v1 answers only.

Jobs are stored as the API's nested items (build them with :func:`v2_job`).
"""

from __future__ import annotations

import bisect
import json
import random
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from mavtools.local.fake.paging import Paging
from mavtools.local.fake.server import FakeModelArts
from mavtools.local.fake.wire import NOT_FOUND, Answer, Handler, Request

__all__ = ["MAX_LIMIT", "FakeV2", "PoolSpec", "v2_job"]

MAX_LIMIT: Final = 50


def v2_job(
    job_id: str,
    *,
    name: str,
    create_time: int,
    phase: str,
    secondary_phase: str | None = None,
    start_time: int | str = 0,
    duration: int = 0,
    workspace_id: str = "0",
    user_name: str | None = None,
    description: str | None = None,
    pool_id: str | None = None,
    flavor_id: str = "modelarts.vm.gpu.v100",
    node_count: int = 1,
    gpu: int = 0,
    npu: int = 0,
    flavor_detail: bool = True,
    running_records: list[dict[str, Any]] | None = None,
    node_count_metrics: list[list[int]] | None = None,
    priority: int = 1,
    preemptible: bool = False,
) -> dict[str, Any]:
    """One item of a v2 search answer, shaped as the API reference documents it.

    ``flavor_detail=False`` leaves it out, as for jobs on a dedicated pool. ``running_records``
    (run segments, epoch seconds, as Huawei's SDK ``RunningRecord``) is sent only when given;
    ``node_count_metrics`` defaults to the node count from creation on.
    """
    resource: dict[str, Any] = {
        "flavor_id": flavor_id,
        "flavor_name": flavor_id,
        "node_count": node_count,
        "pool_id": pool_id,
        "policy": "regular",
    }
    if flavor_detail:
        resource["flavor_detail"] = _flavor_detail(gpu, npu)
    return {
        "kind": "job",
        "metadata": {
            "id": job_id,
            "name": name,
            "description": description,
            "workspace_id": workspace_id,
            "create_time": create_time,
            "user_name": user_name,
            "annotations": {},
        },
        "status": {
            "phase": phase,
            "secondary_phase": secondary_phase or phase,
            "start_time": start_time,
            "duration": duration,
            "node_count_metrics": node_count_metrics or [[create_time, node_count]],
            **({"running_records": running_records} if running_records is not None else {}),
        },
        "spec": {
            "resource": resource,
            "schedule_policy": {"priority": priority, "preemptible": preemptible},
        },
    }


def two_segments(
    start_ms: int,
    end_ms: int | None,
    *,
    fault_at_ms: int,
    resumed_at_ms: int,
    end_reason: str = "node_fault",
    end_recover: str = "job_reschedule",
) -> list[dict[str, Any]]:
    """``running_records`` of a job that failed over once: it ran from ``start_ms`` until a
    fault at ``fault_at_ms``, was rescheduled, and ran again from ``resumed_at_ms`` until
    ``end_ms`` (None: still running). Times in ms, sent in seconds as the API does."""
    second: dict[str, Any] = {
        "start_at": resumed_at_ms // 1000,
        "start_type": "init_or_rescheduled" if "reschedule" in end_recover else "restarted",
    }
    if end_ms is not None:
        second["end_at"] = end_ms // 1000
    return [
        {
            "start_at": start_ms // 1000,
            "end_at": fault_at_ms // 1000,
            "start_type": "init_or_rescheduled",
            "end_reason": end_reason,
            "end_related_task": "worker-0",
            "end_recover": end_recover,
        },
        second,
    ]


def _flavor_detail(gpu: int, npu: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": {"arch": "x86", "core_num": 8},
        "memory": {"size": 64, "unit": "GB"},
    }
    if gpu:
        info["gpu"] = {"unit_num": gpu, "product_name": "NVIDIA-V100", "memory": "32GB"}
    if npu:
        info["npu"] = {"unit_num": str(npu), "product_name": "Ascend-910", "memory": "32GB"}
    return {
        "flavor_type": "GPU" if gpu else ("NPU" if npu else "CPU"),
        "billing": {"code": "modelarts.vm.gpu", "unit_num": 1},
        "flavor_info": info,
    }


@dataclass(frozen=True)
class PoolSpec:
    """A resource pool: ``flavor`` nodes with ``gpu``/``npu`` cards each, bound to a workspace."""

    pool_id: str
    name: str
    flavor: str
    nodes: int
    gpu: int = 0
    npu: int = 0
    creating: int = 0
    abnormal: int = 0
    accelerator_type: str = ""
    workspace_id: str = "0"
    chips: int = 0  # chips per node, when a card holds more than one (resource flavors' ``size``)


class FakeV2:
    """The v2 part of the local server.

    Args:
        jobs: items as built by :func:`v2_job`.
        offset_mode: ``"page"`` (0-based page index, what current docs say) or ``"record"``.
        flavors: flavor id -> (gpu, npu) cards per node, served by the flavor list.
        pools: the pools served by ``GET /v2/{project}/pools``.
        v1_retired: answer the v1 versions listing with 404.
        pools_api: serve the pool list and resource flavors; False acts out a region where the
            v2 pool API is not published (the gateway's 404).
        ignore_time_filter: accept a ``create_time`` filter but do not apply it (a server
            older or laxer than the documented one).
    """

    def __init__(
        self,
        jobs: Iterable[Mapping[str, Any]] = (),
        *,
        offset_mode: str = "page",
        flavors: Mapping[str, tuple[int, int]] | None = None,
        pools: Iterable[PoolSpec] = (),
        v1_retired: bool = False,
        pools_api: bool = True,
        ignore_time_filter: bool = False,
    ) -> None:
        if offset_mode not in ("record", "page"):
            raise ValueError("offset_mode is 'record' or 'page'")
        self.offset_mode = offset_mode
        self.flavors = dict(flavors or {})
        self.pools = list(pools)
        self.v1_retired = v1_retired
        self.pools_api = pools_api
        self.ignore_time_filter = ignore_time_filter
        self.searches: list[dict[str, Any]] = []  # request bodies, for tests
        self._api: FakeModelArts | None = None
        self._lock = threading.RLock()
        self._jobs: dict[str, dict[str, Any]] = {}
        # Matches per workspace and non-time filters, oldest first, with their create times,
        # kept until the data changes.
        self._views: dict[str, tuple[int, list[dict[str, Any]], list[int]]] = {}
        self.add_jobs(jobs)

    # -- data -----------------------------------------------------------------------------------

    def add_jobs(self, jobs: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            for job in jobs:
                item = json.loads(json.dumps(job))
                self._jobs[item["metadata"]["id"]] = item
            self._views.clear()

    def update_job(self, job_id: str, **status: Any) -> None:
        """Change fields of a job's ``status`` (for example finish it)."""
        with self._lock:
            self._jobs[job_id]["status"].update(status)
            self._views.clear()

    def remove_jobs(self, job_ids: Iterable[str]) -> None:
        with self._lock:
            for job_id in job_ids:
                self._jobs.pop(job_id, None)
            self._views.clear()

    def churn(
        self, at: int, *, deleted: int = 30, created: int = 30, seed: int = 0, oldest: bool = False
    ) -> None:
        """Just before request ``at`` of the server: delete ``deleted`` random jobs of workspace
        "0" and create ``created`` new ones (newer than all; an ordinary day on a busy project).

        ``oldest=True`` deletes every other one of the ``2 * deleted`` oldest instead (where an
        oldest-first reader has already been). Needs :meth:`attach` first.
        """
        assert self._api is not None, "attach the FakeV2 first"
        rng = random.Random(seed)

        def change() -> None:
            with self._lock:
                mine = sorted(
                    (j["metadata"]["create_time"], i)
                    for i, j in self._jobs.items()
                    if str(j["metadata"]["workspace_id"]) == "0"
                )
                ids = [i for _t, i in mine]
                newest = max(self._jobs.values(), key=lambda j: j["metadata"]["create_time"])
                self.remove_jobs(ids[: 2 * deleted : 2] if oldest else rng.sample(ids, deleted))
                base = newest["metadata"]["create_time"]
                fresh = []
                for i in range(created):
                    job = json.loads(json.dumps(newest))
                    job["metadata"]["id"] = f"churn-{at}-{seed}-{i:06d}"
                    job["metadata"]["create_time"] = base + 1 + i
                    fresh.append(job)
                self.add_jobs(fresh)

        self._api.at_request.setdefault(at, []).append(change)

    @property
    def jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(j)) for j in self._jobs.values()]

    def workspaces(self) -> set[str]:
        with self._lock:
            return {str(j["metadata"].get("workspace_id") or "0") for j in self._jobs.values()}

    # -- routing --------------------------------------------------------------------------------

    def attach(self, api: FakeModelArts) -> FakeV2:
        """Serve the v2 paths (and, if retired, the v1 listing's 404) from ``api``; returns self."""
        self._api = api
        project = r"/(?P<project>[^/]+)/"
        routes = [
            ("POST", "v2", "training-job-searches", self._search),
            ("GET", "v2", "training-job-flavors", self._flavors),
        ]
        if self.pools_api:
            routes += [
                ("GET", "v2", "pools", self._pools),
                ("GET", "v1", "resourceflavors", self._resource_flavors),
            ]
        for method, version, name, answer in routes:
            api.route(method, f"/{version}{project}{name}", self._handler(answer))
        api.workspace_sources.append(self.workspaces)
        if self.v1_retired:
            self.retire_v1()
        return self

    def retire_v1(self) -> None:
        """From now on the v1 versions listing answers 404, as on a current deployment."""
        self.v1_retired = True
        if self._api is not None:
            self._api.route(
                "GET",
                r"/v1/(?P<project>[^/]+)/training-jobs/versions",
                lambda request, match: Answer(404, NOT_FOUND, {"Content-Type": "application/json"}),
            )

    def _handler(self, answer: Callable[[Request], tuple[int, bytes]]) -> Handler:
        def handle(request: Request, match: re.Match[str]) -> Answer:
            assert self._api is not None

            def respond() -> Answer:
                status, body = answer(request)
                return Answer(status, body, {"Content-Type": "application/json"})

            return self._api.counted(request, match["project"], respond)

        return handle

    # -- answers --------------------------------------------------------------------------------

    def _search(self, request: Request) -> tuple[int, bytes]:
        # limit is documented as 1-50 and the API validates it: refused (400), never capped.
        paging = Paging(
            default_limit=10,
            min_limit=1,
            max_limit=MAX_LIMIT,
            over_max="refuse",
            offset_mode=self.offset_mode,
        )
        try:
            doc = json.loads(request.body or b"{}")
            offset = int(doc.get("offset", 0))
            limit = int(doc.get("limit", paging.default_limit))
            order = doc.get("order", "desc")
            filters = doc.get("filters") or []
            workspace = str(doc.get("workspace_id", "0"))
            paging.window(offset, limit, 0)  # refuses a limit outside 1-50 (400)
            if order not in ("asc", "desc"):
                raise ValueError
            if doc.get("sort_by", "create_time") != "create_time":
                raise ValueError
            _matcher(filters)  # refuses a filter it does not know (400)
        except (ValueError, TypeError, KeyError, AttributeError):
            return 400, json.dumps(
                {"error_code": "ModelArts.2701", "error_msg": "Invalid request parameters."}
            ).encode()
        with self._lock:
            self.searches.append(doc)
            # One sorted view per workspace and other filters; a create_time window is cut out
            # of it by bisection, so that windows cost what a real index costs (not a scan).
            others = [f for f in filters if f.get("key") != "create_time"]
            view = json.dumps([workspace, others], sort_keys=True)
            if view not in self._views:
                mine = [
                    j
                    for j in self._jobs.values()
                    if str(j["metadata"].get("workspace_id")) == workspace
                ]
                test = _matcher(others)
                chosen = sorted(
                    (j for j in mine if test(j)),
                    key=lambda j: (j["metadata"]["create_time"], j["metadata"]["id"]),
                )
                times = [j["metadata"]["create_time"] for j in chosen]
                self._views[view] = (len(mine), chosen, times)
            in_workspace, chosen, times = self._views[view]
            lo, hi = 0, len(chosen)
            for f in filters:
                if f.get("key") == "create_time" and not self.ignore_time_filter:
                    start_ms, end_ms = (int(v) for v in f["value"])
                    lo = max(lo, bisect.bisect_left(times, start_ms))
                    hi = min(hi, bisect.bisect_right(times, end_ms))
            count = max(hi - lo, 0)
            window = paging.window(offset, limit, count)  # positions in the order asked
            if order == "asc":
                page = chosen[lo + window.start : lo + window.stop]
            else:
                page = chosen[hi - window.stop : hi - window.start][::-1]
            answer = {
                "total": in_workspace,
                "count": count,
                "limit": limit,
                "offset": offset,
                "sort_by": "create_time",
                "order": order,
                "workspace_id": workspace,
                "items": page,
            }
            return 200, json.dumps(answer).encode()

    def _refuses_pools(self, request: Request) -> bool:
        return self._api is not None and not self._api.grant(request.headers).list_pools

    def _flavors(self, request: Request) -> tuple[int, bytes]:
        if self._api is not None and not self._api.grant(request.headers).list_flavors:
            return _refused("modelarts:trainJob:listFlavors")
        flavors = [
            {
                "flavor_id": fid,
                "flavor_name": fid,
                "flavor_type": "GPU" if g else ("NPU" if n else "CPU"),
            }
            | {"flavor_info": _flavor_detail(g, n)["flavor_info"]}
            for fid, (g, n) in sorted(self.flavors.items())
        ]
        return 200, json.dumps({"total_count": len(flavors), "flavors": flavors}).encode()

    def _pools(self, request: Request) -> tuple[int, bytes]:
        """The pools of the workspace ``workspaceId`` (default ``"0"``), shaped as the SDK's
        ``ListPoolsResponse``: ``status.resources.{available,creating,abnormal,deleting}`` are
        each one ``PoolResourceFlavorCount`` object (left out when no node is in that state)."""
        if self._refuses_pools(request):
            return _refused("modelarts:pool:list")
        workspace = (request.query.get("workspaceId") or ["0"])[-1]
        items = []
        for pool in self.pools:
            if pool.workspace_id != workspace:
                continue
            available = pool.nodes - pool.creating - pool.abnormal
            states = {"available": available, "creating": pool.creating, "abnormal": pool.abnormal}
            items.append(
                {
                    "kind": "Pool",
                    "apiVersion": "v2",
                    "metadata": {
                        "name": pool.pool_id,
                        "labels": {
                            "os.modelarts/name": pool.name,
                            "os.modelarts/workspace.id": pool.workspace_id,
                        },
                    },
                    "spec": {
                        "type": "Dedicate",
                        "resources": [
                            {"flavor": pool.flavor, "count": pool.nodes, "maxCount": pool.nodes}
                        ],
                    },
                    "status": {
                        "phase": "Running",
                        "resources": {
                            state: {
                                "flavor": pool.flavor,
                                "count": count,
                                "maxCount": pool.nodes,
                                "azs": [{"az": "eu-de-01", "count": count}],
                                "nodePool": f"{pool.pool_id}-default",
                            }
                            for state, count in states.items()
                            if count
                        },
                    },
                }
            )
        return 200, json.dumps({"kind": "PoolList", "apiVersion": "v2", "items": items}).encode()

    def _resource_flavors(self, request: Request) -> tuple[int, bytes]:
        """``continue`` is the index of the next flavor; ``limit`` flavors per page."""
        if self._refuses_pools(request):
            return _refused("modelarts:pool:list")
        params = request.query
        start = int((params.get("continue") or ["0"])[-1] or 0)
        limit = int((params.get("limit") or ["2"])[-1])
        specs = {p.flavor: p for p in self.pools}
        names = sorted(specs)
        items = []
        for name in names[start : start + limit]:
            pool = specs[name]
            spec: dict[str, Any] = {"cpu": "8", "memory": "64Gi"}
            # ``card`` is the card count; ``size`` the chip count, kept for backwards compatibility.
            for kind, cards, default in (
                ("gpu", pool.gpu, "nvidia-v100"),
                ("npu", pool.npu, "ascend-910"),
            ):
                if cards:
                    spec[kind] = {
                        "type": pool.accelerator_type or default,
                        "size": str(pool.chips or cards),
                        "card": str(cards),
                        "memory": "32Gi",
                    }
            items.append({"kind": "ResourceFlavor", "metadata": {"name": name}, "spec": spec})
        more = start + limit < len(names)
        doc = {
            "kind": "ResourceFlavorList",
            "items": items,
            "metadata": {"continue": str(start + limit) if more else ""},
        }
        return 200, json.dumps(doc).encode()


def _refused(action: str) -> tuple[int, bytes]:
    message = f"You are not authorized to perform the ({action}) operation."
    return 403, json.dumps({"error_code": "ModelArts.0108", "error_msg": message}).encode()


def _matcher(filters: list[Mapping[str, Any]]) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for the search ``filters`` (raises ValueError for one it does not know)."""
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    for f in filters:
        key, op, values = f["key"], f["operator"], [str(v) for v in f["value"]]
        if key == "phase" and op in ("in", "not"):
            tests.append(_phase_test(set(values), negate=op == "not"))
        elif key == "create_time" and op == "between" and len(values) == 2:
            tests.append(_window_test(int(values[0]), int(values[1])))
        elif key in ("user_name", "user_id") and op == "in":
            tests.append(_user_test(set(values)))
        else:
            raise ValueError(f"unsupported filter {key} {op}")
    return lambda job: all(t(job) for t in tests)


def _phase_test(wanted: set[str], *, negate: bool) -> Callable[[Mapping[str, Any]], bool]:
    return lambda job: (job["status"]["phase"] in wanted) != negate


def _window_test(lo: int, hi: int) -> Callable[[Mapping[str, Any]], bool]:
    return lambda job: lo <= job["metadata"]["create_time"] <= hi


def _user_test(users: set[str]) -> Callable[[Mapping[str, Any]], bool]:
    return lambda job: job["metadata"].get("user_name") in users
