"""Deterministic synthetic job versions: the bundled samples and the benchmark loads.

Generators, all seeded and independent of the clock:

* :func:`simulate` plays a small queueing simulation of a ModelArts cluster: jobs arrive with a
  daily and weekly rhythm, wait in a FIFO queue per pool until enough GPUs/NPUs are free, run for
  a log-normal time and end as completed, failed or canceled (failures concentrated on some
  flavors). Versions still queued or running at the snapshot time have no end.
* :func:`simulate_migrated` plays the same simulation for an account that moved from old-version
  (v1) to new-version (v2) training: jobs created before the migration window are v1 versions,
  jobs after it v2 jobs (with user names, node counts, and no ``flavor_detail`` on the dedicated
  pools), and inside the window both kinds arrive. ONE FIFO queue per pool serves both kinds, so
  queue waits stay consistent with the pool sizes in :data:`POOLS`. A few v2 jobs have the
  shapes real v2 accounts have: ``Abnormal`` (outcome unknown) and ``Lost`` jobs with durations,
  jobs that failed to be created (never started, no end time), and a public-pool job that names
  no pool id. This produces the bundled sample responses (``scripts/make_samples.py``).
* :func:`bulk` produces any number of plausible records fast (vectorised in polars, no queueing)
  for benchmarks and load tests.

Both return records as the API sends them (wire field names, epoch milliseconds).
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import polars as pl

from mavtools.analysis.timeline import DAY_MS, HOUR_MS
from mavtools.frame import WIRE_FIELDS

__all__ = [
    "DEDICATED_POOLS",
    "FLAVORS",
    "MIGRATION",
    "POOLS",
    "POOL_NODES",
    "SNAPSHOT",
    "USERS",
    "WORKSPACES",
    "bulk",
    "bulk_v2",
    "simulate",
    "simulate_migrated",
]

#: The moment the bundled samples were "fetched": every sample timestamp lies before it.
SNAPSHOT: Final = datetime(2026, 10, 1, 15, 0, tzinfo=UTC)

#: Workspace id -> share of the jobs. "0" is the default workspace.
WORKSPACES: Final[dict[str, float]] = {
    "0": 0.5,
    "7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b": 0.3,
    "c91e5b2d7f3a48c6a3f1c9e2b7d84f0a": 0.2,
}


@dataclass(frozen=True)
class Flavor:
    code: str
    gpu: int
    npu: int
    fail_rate: float
    median_hours: float


FLAVORS: Final[dict[str, Flavor]] = {
    f.code: f
    for f in (
        Flavor("modelarts.vm.cpu.8u", 0, 0, 0.04, 0.4),
        Flavor("modelarts.vm.gpu.v100", 1, 0, 0.06, 1.2),
        Flavor("modelarts.vm.gpu.2v100", 2, 0, 0.07, 2.0),
        Flavor("modelarts.vm.gpu.4v100", 4, 0, 0.10, 3.5),
        Flavor("modelarts.bm.gpu.8v100", 8, 0, 0.22, 5.0),
        Flavor("modelarts.bm.gpu.8a100", 8, 0, 0.12, 6.0),
        Flavor("modelarts.vm.gpu.a100", 1, 0, 0.05, 1.5),
        Flavor("modelarts.vm.npu.ascend910", 0, 1, 0.18, 2.0),
        Flavor("modelarts.bm.npu.8ascend910", 0, 8, 0.30, 4.0),
    )
}


@dataclass(frozen=True)
class Pool:
    pool_id: str
    capacity: int  # accelerator units (GPUs or NPUs); CPU pools count concurrent jobs
    flavors: dict[str, float]  # flavor -> share of the pool's jobs
    share: float  # share of all jobs


POOLS: Final[tuple[Pool, ...]] = (
    Pool("pool-cpu-public", 4, {"modelarts.vm.cpu.8u": 1.0}, 0.16),
    Pool(
        "pool-v100-shared",
        8,
        {
            "modelarts.vm.gpu.v100": 0.5,
            "modelarts.vm.gpu.2v100": 0.3,
            "modelarts.vm.gpu.4v100": 0.2,
        },
        0.26,
    ),
    Pool(
        "pool-v100-batch", 16, {"modelarts.vm.gpu.4v100": 0.5, "modelarts.bm.gpu.8v100": 0.5}, 0.14
    ),
    Pool(
        "pool-a100-research",
        16,
        {"modelarts.bm.gpu.8a100": 0.6, "modelarts.vm.gpu.a100": 0.4},
        0.18,
    ),
    Pool("pool-a100-prod", 16, {"modelarts.bm.gpu.8a100": 0.7, "modelarts.vm.gpu.a100": 0.3}, 0.10),
    Pool(
        "pool-ascend-910",
        12,
        {"modelarts.vm.npu.ascend910": 0.6, "modelarts.bm.npu.8ascend910": 0.4},
        0.16,
    ),
)

_CAPACITY: Final = {p.pool_id: p.capacity for p in POOLS}
#: Pool id -> (node flavor, nodes, cards per node): how the pool's capacity is built, as
#: ``GET /v2/{project}/pools`` and the resource flavors report it. nodes x cards = the capacity
#: above (for the CPU pool, which has no cards, the capacity counts concurrent jobs).
POOL_NODES: Final[dict[str, tuple[str, int, int]]] = {
    "pool-cpu-public": ("modelarts.pool.cpu.32u", 4, 0),
    "pool-v100-shared": ("modelarts.pool.gpu.8v100", 1, 8),
    "pool-v100-batch": ("modelarts.pool.gpu.8v100", 2, 8),
    "pool-a100-research": ("modelarts.pool.gpu.8a100", 2, 8),
    "pool-a100-prod": ("modelarts.pool.gpu.8a100", 2, 8),
    "pool-ascend-910": ("modelarts.pool.npu.4ascend910", 3, 4),
}
#: Pools whose v2 jobs come without ``flavor_detail`` (dedicated pools).
DEDICATED_POOLS: Final = frozenset({"pool-a100-prod", "pool-ascend-910"})
#: When the sample account moved to new-version training; v1 and v2 overlap around it.
MIGRATION: Final = datetime(2026, 8, 20, tzinfo=UTC)
_OVERLAP_MS: Final = 14 * 24 * 3_600_000
#: Workspace id -> the users who create jobs there, with their share of its jobs.
USERS: Final[dict[str, dict[str, float]]] = {
    "0": {"anna.keller": 0.35, "ben.okafor": 0.25, "chen.wei": 0.2, "dora.nagy": 0.2},
    "7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b": {"emil.berg": 0.5, "fatima.rahman": 0.3, "gus.lind": 0.2},
    "c91e5b2d7f3a48c6a3f1c9e2b7d84f0a": {"hana.sato": 0.6, "ivan.petrov": 0.4},
}

_PROJECTS: Final = (
    "bert-finetune",
    "resnet50-imagenet",
    "yolo-detect",
    "llm-sft",
    "asr-conformer",
    "recsys-dlrm",
    "vit-pretrain",
    "ocr-crnn",
    "churn-xgb",
    "diffusion-lora",
)
_DESCRIPTIONS: Final = (
    "nightly retrain",
    "hyper-parameter sweep",
    "baseline",
    "ablation: no augmentation",
    "lr=3e-4, batch 256",
    "reproduce paper numbers",
)


def _weight(t_ms: int) -> float:
    """Relative arrival rate at a moment: office hours (CET) and weekdays are busy."""
    dt = datetime.fromtimestamp(t_ms / 1000, UTC)
    hour = (dt.hour + 1) % 24
    daily = 0.15 + math.exp(-((hour - 13.0) ** 2) / 18.0)
    weekly = 0.3 if dt.weekday() >= 5 else 1.0
    return daily * weekly


def simulate(n_versions: int = 3000, *, days: int = 90, seed: int = 7) -> list[dict[str, Any]]:
    """Simulate ``n_versions`` job versions over ``days`` ending at :data:`SNAPSHOT`.

    Returns:
        Wire records (dicts with the API's field names), each with an extra ``workspace_id`` key
        that the API does not send (the samples writer and the local server use it to file them).
    """
    v1, _ = _simulate(n_versions, days, seed, None)
    return v1


def simulate_migrated(
    n_jobs: int = 3000, *, days: int = 90, seed: int = 7, migration: datetime = MIGRATION
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Simulate an account migrating from v1 to v2 training around ``migration``.

    Jobs created more than a week before ``migration`` are v1 versions, jobs more than a week
    after it v2 jobs; in between the share of v2 rises linearly. One FIFO queue per pool serves
    both kinds. v2 jobs on 8-card flavors sometimes span two nodes (their cards count twice).

    Returns:
        (v1 wire records with ``workspace_id``, v2 search items as :func:`fake.v2.v2_job` builds).
    """
    return _simulate(n_jobs, days, seed, migration)


def _simulate(
    n_versions: int, days: int, seed: int, migration: datetime | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    end_ms = int(SNAPSHOT.timestamp() * 1000)
    start_ms = end_ms - days * DAY_MS
    # Arrivals by thinning a Poisson process against the daily/weekly weight.
    arrivals: list[int] = []
    while len(arrivals) < n_versions:
        t = rng.randrange(start_ms, end_ms)
        if rng.random() < _weight(t) / 1.15:
            arrivals.append(t)
    arrivals.sort()

    pools = list(POOLS)
    pool_weights = [p.share for p in pools]
    ws_ids = list(WORKSPACES)
    ws_weights = list(WORKSPACES.values())
    jobs: list[dict[str, Any]] = []
    for i, created in enumerate(arrivals):
        pool = rng.choices(pools, pool_weights)[0]
        flavor = FLAVORS[rng.choices(list(pool.flavors), list(pool.flavors.values()))[0]]
        project = rng.choice(_PROJECTS)
        hours = flavor.median_hours * math.exp(rng.gauss(0.0, 1.0))
        run_ms = int(min(hours, 96.0) * HOUR_MS) + rng.randrange(60_000)
        roll = rng.random()
        if roll < 0.015:
            fate = rng.choice((3, 5))  # image or submission failed: never starts
        elif roll < 0.015 + flavor.fail_rate:
            fate = 11
            run_ms = int(run_ms * rng.uniform(0.02, 0.6))
        elif roll < 0.05 + flavor.fail_rate:
            fate = rng.choice((12, 13))
            run_ms = int(run_ms * rng.uniform(0.1, 0.9))
        elif roll < 0.055 + flavor.fail_rate:
            fate = 14  # lost
        else:
            fate = 10
        jobs.append(
            {
                "version_id": 100_000 + i * 3 + rng.randrange(3),
                "version_name": f"{project}-{rng.getrandbits(16):04x}",
                "create_time": created,
                "pool_id": pool.pool_id,
                "flavor_code": flavor.code,
                "gpu_num": flavor.gpu,
                "npu_num": flavor.npu,
                "version_desc": rng.choice(_DESCRIPTIONS) if rng.random() < 0.55 else None,
                "workspace_id": rng.choices(ws_ids, ws_weights)[0],
                "_fate": fate,
                "_run_ms": run_ms,
                "_submit_ms": rng.randrange(20_000, 180_000),
            }
        )
    if migration is not None:
        _assign_api(jobs, migration, random.Random(seed * 7919 + 1))
    for pool in pools:
        _run_pool(pool, [j for j in jobs if j["pool_id"] == pool.pool_id], end_ms, rng)
    # One version with a status code the documented table does not know.
    odd = next(j for j in jobs[len(jobs) // 3 :] if j.get("_api", "v1") == "v1")
    odd["status"] = 22
    if migration is not None:
        _v2_oddities(jobs, random.Random(seed * 104_729 + 3))
    v1 = [j for j in jobs if j.get("_api", "v1") == "v1"]
    v2 = [_as_v2_item(j, end_ms) for j in jobs if j.get("_api") == "v2"]
    for job in v1:
        del job["_fate"], job["_run_ms"], job["_submit_ms"]
        job.pop("_api", None)
    return v1, v2


def _assign_api(jobs: list[dict[str, Any]], migration: datetime, rng: random.Random) -> None:
    """Mark jobs v1 or v2 by creation time; v2 jobs get a user and a node count.

    Uses its own random stream, so the jobs themselves (arrivals, pools, flavors, run times) are
    those of :func:`simulate` with the same seed.
    """
    middle = int(migration.timestamp() * 1000)
    for job in jobs:
        share = (job["create_time"] - (middle - _OVERLAP_MS // 2)) / _OVERLAP_MS
        is_v2 = rng.random() < min(max(share, 0.0), 1.0)
        users = USERS[job["workspace_id"]]
        user = rng.choices(list(users), list(users.values()))[0]
        cards = max(job["gpu_num"], job["npu_num"])
        fits = 2 * cards <= _CAPACITY[job["pool_id"]]  # a job larger than its pool never starts
        nodes = 2 if cards == 8 and fits and rng.random() < 0.1 else 1
        if not is_v2:
            continue
        job.update(_api="v2", user_name=user, node_count=nodes, _uuid=rng.getrandbits(128))
        job["_gpu_card"], job["_npu_card"] = job["gpu_num"], job["npu_num"]
        job["gpu_num"] *= nodes  # the queue needs all cards of all nodes
        job["npu_num"] *= nodes


def _v2_oddities(jobs: list[dict[str, Any]], rng: random.Random) -> None:
    """Shapes real v2 accounts have, on a few v2 jobs (own random stream: the rest is unchanged).

    Node failures leave some jobs that ran ``Abnormal`` (outcome unknown, with a duration: they
    held their units as long as before); one completed CPU job on the public pool names no pool
    id (a CPU job holds no accelerators, so no GPU/NPU pool's queue loses a job).
    Lost jobs with durations and never-started (``CreateFailed``) failures come from the fates.
    """
    v2 = [j for j in jobs if j.get("_api") == "v2"]
    ran_and_failed = [j for j in v2 if j["status"] == 11 and j["duration"] > 0]
    for job in rng.sample(ran_and_failed, min(6, len(ran_and_failed))):
        job["_phase"] = ("Abnormal", "Abnormal")
    public = [j for j in v2 if j["pool_id"] == "pool-cpu-public" and j["status"] == 10]
    if public:
        rng.choice(public)["_no_pool_id"] = True


#: Our status code -> (phase, secondary_phase) of a v2 job in the same state.
_V2_PHASES: Final[dict[int, tuple[str, str]]] = {
    1: ("Creating", "Creating"),
    3: ("Failed", "CreateFailed"),
    5: ("Failed", "CreateFailed"),
    7: ("Pending", "Queuing"),
    8: ("Running", "Running"),
    10: ("Completed", "Completed"),
    11: ("Failed", "Failed"),
    12: ("Terminated", "Terminated"),
    13: ("Terminated", "Terminated"),
    14: ("Abnormal", "Lost"),
}


#: Share of v2 jobs that ran 2 hours or more and failed over once (two run segments).
RESTARTED_SHARE: Final = 0.08


def _running_records(job: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Two run segments for some long v2 jobs: a fault, a reschedule gap, the rest of the run.

    The job holds its units for less time than the queue gave it (the gap), never more, so no
    pool is ever over-allocated. Drawn from the job's own id: the rest of the simulation is
    unchanged.
    """
    from mavtools.local.fake import two_segments

    if job["status"] not in (8, 10, 11) or job["duration"] < 2 * HOUR_MS:
        return None
    rng = random.Random(job["_uuid"])
    if rng.random() >= RESTARTED_SHARE:
        return None
    start = job["start_time"]
    end = start + job["duration"]
    fault = start + int(job["duration"] * rng.uniform(0.2, 0.7))
    resumed = fault + rng.randrange(5 * 60_000, 40 * 60_000)
    if resumed >= end - 600_000:
        return None
    recover = rng.choice(("job_reschedule", "pod_reschedule", "proc_restart"))
    return two_segments(
        start,
        None if job["status"] == 8 else end,
        fault_at_ms=fault,
        resumed_at_ms=resumed,
        end_reason=rng.choice(("node_fault", "process_exit", "npu_fault")),
        end_recover=recover,
    )


def _as_v2_item(job: dict[str, Any], end_ms: int) -> dict[str, Any]:
    """The finished simulation record of a v2 job as a search item."""
    import uuid

    from mavtools.local.fake import v2_job

    phase, secondary = job.get("_phase") or _V2_PHASES[job["status"]]
    return v2_job(
        str(uuid.UUID(int=job["_uuid"], version=4)),
        name=job["version_name"],
        description=job["version_desc"],
        create_time=job["create_time"],
        phase=phase,
        secondary_phase=secondary,
        start_time=job["start_time"],
        duration=job["duration"],
        workspace_id=job["workspace_id"],
        user_name=job["user_name"],
        pool_id=None if job.get("_no_pool_id") else job["pool_id"],
        flavor_id=job["flavor_code"],
        node_count=job["node_count"],
        gpu=job["_gpu_card"],
        npu=job["_npu_card"],
        flavor_detail=job["pool_id"] not in DEDICATED_POOLS,
        running_records=_running_records(job),
    )


def _run_pool(pool: Pool, jobs: list[dict[str, Any]], end_ms: int, rng: random.Random) -> None:
    """FIFO scheduling of one pool's jobs; fills status, start, end and duration."""
    free = pool.capacity
    running: list[tuple[int, int]] = []  # (end time, units)
    queue: list[dict[str, Any]] = []

    def units(job: dict[str, Any]) -> int:
        return max(job["gpu_num"], job["npu_num"], 1)

    def release_until(t: int) -> None:
        nonlocal free
        while running and running[0][0] <= t:
            free += heapq.heappop(running)[1]

    def start_waiting(t: int) -> None:
        nonlocal free
        while queue and units(queue[0]) <= free:
            job = queue.pop(0)
            job["_start"] = t
            free -= units(job)
            heapq.heappush(running, (t + job["_run_ms"], units(job)))

    for job in jobs:
        ready = job["create_time"] + job["_submit_ms"]
        if job["_fate"] in (3, 5):
            _finish(job, 0, ready, end_ms)
            continue
        while running and running[0][0] <= ready:
            t = running[0][0]
            release_until(t)
            start_waiting(t)
        queue.append(job)
        start_waiting(ready)
    while running:
        t = running[0][0]
        release_until(t)
        start_waiting(t)
    for job in jobs:
        if "status" not in job:
            _finish(job, job.get("_start", 0), 0, end_ms)
        job.pop("_start", None)


def _finish(job: dict[str, Any], start: int, fail_at: int, end_ms: int) -> None:
    fate = job["_fate"]
    if fate in (3, 5):  # never started
        if fail_at > end_ms:
            job.update(status=1, start_time=0, end_time=0, duration=0)
        else:
            job.update(status=fate, start_time=0, end_time=fail_at, duration=0)
        return
    if not start or start > end_ms:
        ready = job["create_time"] + job["_submit_ms"]
        # Still queued at the snapshot (or initialising if it was only just created).
        job.update(status=7 if ready <= end_ms else 1, start_time=0, end_time=0, duration=0)
        return
    end = start + job["_run_ms"]
    if end > end_ms:
        job.update(status=8, start_time=start, end_time=0, duration=end_ms - start)
        return
    job.update(status=fate, start_time=start, end_time=end, duration=end - start)


def bulk(
    n_versions: int, *, days: int = 365, seed: int = 1, end: datetime = SNAPSHOT
) -> pl.DataFrame:
    """Return ``n_versions`` plausible wire records as a polars frame, fast and deterministic.

    No queueing: start times follow creation by a pseudo-random wait. About 2 % of the versions
    (the newest ones) are still queued or running. Used by benchmarks and load tests.
    """
    end_ms = int(end.timestamp() * 1000)
    span = days * DAY_MS
    flavors = list(FLAVORS.values())
    pools = [p.pool_id for p in POOLS]
    i = pl.int_range(n_versions, dtype=pl.UInt64, eager=True)

    def rand(k: int) -> pl.Series:
        return i.hash(seed * 1_000 + k)

    create = end_ms - span + (i * span // max(n_versions, 1)).cast(pl.Int64)
    wait = (rand(1) % 3_600_000).cast(pl.Int64)
    run = (rand(2) % (12 * HOUR_MS) + 60_000).cast(pl.Int64)
    flavor_idx = (rand(3) % len(flavors)).cast(pl.Int64)
    pool_idx = (rand(4) % len(pools)).cast(pl.Int64)
    roll = (rand(5) % 100).cast(pl.Int64)
    frame = pl.DataFrame(
        {
            "version_id": (i.cast(pl.Int64) * 2 + 1_000_000),
            "create_time": create,
            "_wait": wait,
            "_run": run,
            "_flavor": flavor_idx,
            "pool_id": pl.Series(pools).gather(pool_idx),
            "_roll": roll,
        }
    )
    start = pl.col("create_time") + pl.col("_wait")
    finish = start + pl.col("_run")
    status = (
        pl.when(start > end_ms)
        .then(7)
        .when(finish > end_ms)
        .then(8)
        .when(pl.col("_roll") < 8)
        .then(11)
        .when(pl.col("_roll") < 12)
        .then(13)
        .otherwise(10)
    )
    gpu = pl.Series([f.gpu for f in flavors])
    npu = pl.Series([f.npu for f in flavors])
    codes = pl.Series([f.code for f in flavors])
    frame = frame.with_columns(
        version_name=pl.format("job-{}", pl.col("version_id") % 1_000_000),
        status=status,
        start_time=pl.when(start > end_ms).then(0).otherwise(start),
        end_time=pl.when(finish > end_ms).then(0).otherwise(finish),
        duration=pl.when(start > end_ms)
        .then(0)
        .when(finish > end_ms)
        .then(end_ms - start)
        .otherwise(pl.col("_run")),
        version_desc=pl.when(pl.col("_roll") % 3 == 0).then(pl.lit("sweep")).otherwise(None),
        flavor_code=codes.gather(frame["_flavor"]),
        gpu_num=gpu.gather(frame["_flavor"]),
        npu_num=npu.gather(frame["_flavor"]),
    )
    return frame.select(WIRE_FIELDS)


def bulk_v2(
    n_jobs: int, *, days: int = 365, seed: int = 1, end: datetime = SNAPSHOT
) -> list[dict[str, Any]]:
    """Return ``n_jobs`` plausible v2 search items, fast and deterministic (no queueing).

    For benchmarks and load tests of the v2 search; every fifth job runs on a dedicated pool
    (no ``flavor_detail``).
    """
    from mavtools.local.fake import v2_job

    rng = random.Random(seed)
    end_ms = int(end.timestamp() * 1000)
    span = days * DAY_MS
    flavors = list(FLAVORS.values())
    jobs = []
    for i in range(n_jobs):
        created = end_ms - span + i * span // max(n_jobs, 1)
        flavor = flavors[rng.randrange(len(flavors))]
        start = created + rng.randrange(3_600_000)
        run = rng.randrange(60_000, 12 * HOUR_MS)
        if start > end_ms:
            phase, start, run = "Pending", 0, 0
        elif start + run > end_ms:
            phase, run = "Running", end_ms - start
        else:
            phase = ("Completed", "Completed", "Completed", "Failed", "Terminated")[
                rng.randrange(5)
            ]
        jobs.append(
            v2_job(
                f"{seed:08x}-{i >> 16:04x}-4{i & 0xFFF:03x}-8000-{i:012x}",
                name=f"job-{i}",
                create_time=created,
                phase=phase,
                start_time=start,
                duration=run,
                user_name=f"user{rng.randrange(40):02d}",
                pool_id=POOLS[rng.randrange(len(POOLS))].pool_id,
                flavor_id=flavor.code,
                node_count=1 + (rng.random() < 0.1),
                gpu=flavor.gpu,
                npu=flavor.npu,
                flavor_detail=i % 5 != 0,
            )
        )
    return jobs
