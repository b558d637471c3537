"""A small hand-made listing shaped like real clusters, not like mavtools' own simulation.

:func:`mavtools.local.synth.simulate` produces data from mavtools' own assumptions (millisecond
times, every finished version with an end, several flavors per pool). Real listings also have the
cases below; :func:`cluster_records` holds each of them on purpose, deterministically, so analysis
tests can run on it against independent computations:

- ``pool-script``: 300 versions created in the same whole second by a script (all times at
  whole-second precision); 60 ran and completed, 40 are running at the snapshot, 100 waited for
  hours and were then canceled without starting (``start_time`` 0, ``end_time`` the cancel time),
  100 are still waiting. One flavor only.
- ``pool-solo``: a single version, running at the snapshot (one flavor).
- ``pool-noend``: finished versions the API sent without an end time: a ``LOST`` one with a
  1 h ``duration`` on 8 GPUs, a ``FAILED`` one with ``duration`` 0, a ``COMPLETED`` one with a 2 h
  ``duration``; plus a version with an end time for comparison.
- ``pool-zero``: a GPU flavor whose versions report 0 accelerators.
- v2 jobs (:func:`cluster_v2_jobs`, served by the v2 search): in ``pool-v2``, an ``Abnormal`` job
  (outcome unknown) that ran 1 h on 8 GPUs two days before the snapshot, a ``Lost`` one that ran
  2 h on 8 GPUs, and one that failed to be created (``CreateFailed``: never started, no end time,
  as v2 sends none); and a job on a public pool that names no pool id (1 GPU, 3 h, completed).
- The snapshot, :data:`CLUSTER_SNAPSHOT`, is 2026-10-25 01:30 UTC: 02:30 in Europe/Berlin during
  the hour that repeats when summer time ends, so the local day 2026-10-25 is 25 hours long and
  the snapshot lies inside it.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["CLUSTER_SNAPSHOT", "CLUSTER_TIMEZONE", "cluster_records", "cluster_v2_jobs"]

CLUSTER_SNAPSHOT: Final = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
CLUSTER_TIMEZONE: Final = "Europe/Berlin"

_S: Final = 1000  # ms per second


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * _S


def _version(
    vid: int, pool: str, flavor: str, gpus: int, status: int, **times: int
) -> dict[str, Any]:
    return {
        "version_id": vid,
        "version_name": f"job-{vid}",
        "version_desc": None,
        "status": status,
        "create_time": times["create"],
        "start_time": times.get("start", 0),
        "end_time": times.get("end", 0),
        "duration": times.get("duration", 0),
        "pool_id": pool,
        "flavor_code": flavor,
        "gpu_num": gpus,
        "npu_num": 0,
        "workspace_id": "0",
    }


def cluster_records() -> list[dict[str, Any]]:
    """The hand-made versions (wire records with ``workspace_id``), oldest first.

    Example:
        >>> server = serve(FakeModelArts(cluster_records()))
    """
    snapshot = int(CLUSTER_SNAPSHOT.timestamp()) * _S
    out: list[dict[str, Any]] = []
    burst = _ms("2026-10-24T08:00:00")  # 300 versions in this one second
    # One pool, one flavor, one GPU, one creation second: the status and times tell them apart.
    script = functools.partial(
        _version, pool="pool-script", flavor="modelarts.p3.large.public", gpus=1, create=burst
    )
    for i in range(300):
        vid = 5_000 + i
        if i < 60:  # ran one after another in pairs, each 1 h 30 min, completed
            start = burst + (i // 2) * 600 * _S + 7 * _S
            end = start + 5400 * _S
            out.append(script(vid, status=10, start=start, end=end, duration=end - start))
        elif i < 100:  # running at the snapshot
            start = burst + (i - 60) * 900 * _S + 13 * _S
            out.append(script(vid, status=8, start=start, duration=snapshot - start))
        elif i < 200:  # waited for hours, canceled without starting
            out.append(script(vid, status=13, end=burst + (3 + i % 7) * 3600 * _S))
        else:  # still waiting
            out.append(script(vid, status=7))
    solo_start = _ms("2026-10-24T20:00:00")
    out.append(
        _version(
            6_000,
            "pool-solo",
            "modelarts.p3.8xlarge",
            8,
            8,
            create=solo_start - 120 * _S,
            start=solo_start,
            duration=snapshot - solo_start,
        )
    )
    lost = _ms("2026-10-23T10:00:00")
    # The same pool, flavor and 8 GPUs; only the status and the times tell the cases apart.
    noend = functools.partial(
        _version, pool="pool-noend", flavor="modelarts.p3.8xlarge", gpus=8, create=lost
    )
    out += [
        noend(6_100, status=14, create=lost - 60 * _S, start=lost, duration=3600 * _S),
        noend(6_101, status=11, start=lost + 600 * _S, duration=0),
        noend(6_102, status=10, start=lost + 3600 * _S, duration=7200 * _S),
        noend(6_103, status=10, start=lost + 1800 * _S, end=lost + 5400 * _S, duration=3600 * _S),
    ]
    zero = _ms("2026-10-24T21:15:00")
    zero_gpus = functools.partial(
        _version, pool="pool-zero", flavor="modelarts.vm.gpu.t4", gpus=0, create=zero
    )
    out += [
        zero_gpus(6_200, status=10, start=zero + 30 * _S, end=zero + 3630 * _S, duration=3600 * _S),
        zero_gpus(6_201, status=8, start=zero + 45 * _S, duration=snapshot - zero - 45 * _S),
    ]
    return out


def cluster_v2_jobs() -> list[dict[str, Any]]:
    """The hand-made v2 search items (see the module docstring), oldest first.

    Example:
        >>> FakeV2(cluster_v2_jobs()).attach(server.api)
    """
    from mavtools.local.fake import v2_job

    def uuid(n: int) -> str:
        return f"00000000-0000-4000-8000-{n:012d}"

    abnormal = _ms("2026-10-23T12:00:00")
    lost = _ms("2026-10-23T14:00:00")
    create_failed = _ms("2026-10-24T09:00:00")
    public = _ms("2026-10-24T10:00:00")
    # The three 8-GPU jobs of the ops team on the dedicated pool share all but their story.
    ops_job = functools.partial(
        v2_job, pool_id="pool-v2", user_name="ops", flavor_id="modelarts.p3.8xlarge", gpu=8
    )
    return [
        ops_job(
            uuid(1),
            name="abnormal-8gpu",
            create_time=abnormal - 300 * _S,
            phase="Abnormal",
            start_time=abnormal,
            duration=3600 * _S,
        ),
        ops_job(
            uuid(2),
            name="lost-8gpu",
            create_time=lost - 60 * _S,
            phase="Abnormal",
            secondary_phase="Lost",
            start_time=lost,
            duration=7200 * _S,
        ),
        ops_job(
            uuid(3),
            name="create-failed",
            create_time=create_failed,
            phase="Failed",
            secondary_phase="CreateFailed",
        ),
        v2_job(
            uuid(4),
            name="public-pool",
            create_time=public - 30 * _S,
            phase="Completed",
            start_time=public,
            duration=3 * 3600 * _S,
            pool_id=None,
            flavor_id="modelarts.p3.large.public",
            gpu=1,
            user_name="ana",
        ),
    ]
