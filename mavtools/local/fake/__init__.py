"""The stand-in ModelArts server: the APIs the package reads, answered from memory on 127.0.0.1.

Modules (each one concern):

* ``server``: :class:`FakeModelArts` with the v1 versions listing, credentials, faults, and the
  two front ends (:func:`serve` over real HTTP, :class:`FakeAdapter` in-process);
* ``v2``: :class:`FakeV2`, the v2 training API (job searches, pools, flavors);
* ``workloads``: :class:`FakeWorkloads`, the pool workloads API.

Example:
    >>> from mavtools.local.fake import FakeModelArts, serve
    >>> with serve(FakeModelArts(records, token="t")) as server:
    ...     client = Client(server.url, server.api.project_id, token="t", allow_http=True)
"""

from mavtools.local.fake.server import (
    FAULT_KINDS,
    Answer,
    FakeAdapter,
    FakeModelArts,
    Permissions,
    Request,
    RunningServer,
    serve,
)
from mavtools.local.fake.v2 import FakeV2, PoolSpec, two_segments, v2_job
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
