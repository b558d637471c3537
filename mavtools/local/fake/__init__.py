"""The stand-in ModelArts server: the APIs the package reads, answered from memory on 127.0.0.1.

Modules (each one concern):

* ``server``: :class:`FakeModelArts`, the gateway: routes, credentials, faults, IAM, workspaces;
* ``v1``: the versions it holds and the v1 versions listing;
* ``paging``: how every listing reads ``offset`` and ``limit`` (one rule, values per API);
* ``frontends``: :func:`serve` (real HTTP on 127.0.0.1) and :class:`FakeAdapter` (in-process);
* ``wire``: the request and answer types and the error bodies the routes share;
* ``v2``: :class:`FakeV2`, the v2 training API (job searches, pools, flavors);
* ``workloads``: :class:`FakeWorkloads`, the pool workloads API.

Example:
    >>> from mavtools.local.fake import FakeModelArts, serve
    >>> with serve(FakeModelArts(records, token="t")) as server:
    ...     client = Client(server.url, server.api.project_id, token="t", allow_http=True)
"""

from mavtools.local.fake.frontends import FakeAdapter, RunningServer, serve
from mavtools.local.fake.server import FAULT_KINDS, FakeModelArts, Permissions
from mavtools.local.fake.v2 import FakeV2, PoolSpec, two_segments, v2_job
from mavtools.local.fake.wire import Answer, Request
from mavtools.local.fake.workloads import FakeWorkloads

__all__ = [
    "FAULT_KINDS",
    "Answer",
    "FakeAdapter",
    "FakeModelArts",
    "FakeV2",
    "FakeWorkloads",
    "Permissions",
    "PoolSpec",
    "Request",
    "RunningServer",
    "serve",
    "two_segments",
    "v2_job",
]
