"""The queue now: per pool, units in use and free, and who waits, in which position, since when.

Two sources, and every row says which one it came from (``source``):

``"workloads"``
    ``GET /v2/{project_id}/pools/{pool_name}/workloads`` (Huawei's SDK: ``ListWorkloads``), the
    pool's own view of every workload on it, whoever submitted it: ``status``, ``pendingPosition``,
    ``pendingDuration`` and ``runningDuration`` (seconds), ``createTime`` (epoch ms) and
    ``resourceRequirement`` (``nvidia.com/gpu``, ``huawei.com/ascend-1980``/``-310``, as strings).
    Dedicated pools answer it. Workloads in ``Queue`` or ``Pending`` wait; ``Running``,
    ``Creating``, ``Terminating`` and ``Abnormal`` ones hold their units.
``"search"``
    The v2 job search's Pending and Running jobs, for pools whose workloads API does not answer
    (public pools: 404; a least-privilege user: 403). It sees only the project's own jobs, so a
    shared pool may be fuller than it shows; positions are ranks by creation among those jobs and
    waits are read time - creation.

A refusal never stops the rest: it becomes a sentence in :attr:`QueueNow.notes`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import polars as pl

from mavtools.errors import AccessWarning, ApiError, AuthError, NotFoundError, ResponseFormatError

if TYPE_CHECKING:
    from mavtools.api.client import Client

__all__ = ["POOL_COLUMNS", "WAITING_COLUMNS", "QueueNow", "parse_workloads", "queue_now"]

#: Workload statuses that wait for units, and those that hold them.
WAITING_STATUSES: Final = frozenset({"Queue", "Pending"})
HOLDING_STATUSES: Final = frozenset({"Running", "Creating", "Terminating", "Abnormal"})
_GPU_KEYS: Final = ("nvidia.com/gpu",)
_NPU_KEYS: Final = ("huawei.com/ascend-1980", "huawei.com/ascend-310")
_PAGE: Final = 500

POOL_COLUMNS: Final = pl.Schema(
    {  # type: ignore[arg-type]  # a dict of polars dtypes
        "pool_id": pl.String,
        "source": pl.String,  # "workloads" or "search"
        "units": pl.Int64,  # pool size (null: unknown, a public pool)
        "units_in_use": pl.Int64,
        "units_free": pl.Int64,
        "waiting": pl.Int64,
        "units_waiting": pl.Int64,
        "oldest_wait": pl.Duration("ms"),
    }
)
WAITING_COLUMNS: Final = pl.Schema(
    {  # type: ignore[arg-type]
        "pool_id": pl.String,
        "source": pl.String,
        "position": pl.Int64,
        "name": pl.String,
        "job_id": pl.String,
        "user_name": pl.String,
        "gpu": pl.Int64,
        "npu": pl.Int64,
        "waited": pl.Duration("ms"),
        "create_time": pl.Datetime("ms", "UTC"),
    }
)


@dataclass(frozen=True)
class QueueNow:
    """What the pools look like at ``read_at``.

    Attributes:
        pools: one row per pool (:data:`POOL_COLUMNS`).
        waiting: every waiting workload (:data:`WAITING_COLUMNS`), per pool oldest first.
        read_at: when it was read (``Client.clock``: the snapshot time of a recorded snapshot).
        notes: one sentence per source that refused or was not there.
    """

    pools: pl.DataFrame
    waiting: pl.DataFrame
    read_at: datetime
    notes: tuple[str, ...] = field(default=())


def _int(value: Any, what: str) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise ResponseFormatError(f"The workloads API sent {what} {str(value)[:20]!r}.") from None


def parse_workloads(doc: dict[str, Any], pool_id: str) -> list[dict[str, Any]]:
    """The items of one ``ListWorkloadsResponse`` as flat rows (status, units, times)."""
    items = doc.get("items") or []
    if not isinstance(items, list):
        raise ResponseFormatError("The workloads API sent 'items' that is not a list.")
    rows = []
    for item in items:
        if not isinstance(item, dict):
            raise ResponseFormatError("The workloads API sent a workload that is not an object.")
        need = item.get("resourceRequirement") or {}
        rows.append(
            {
                "pool_id": pool_id,
                "status": str(item.get("status") or ""),
                "name": item.get("jobName") or item.get("name"),
                "job_id": item.get("jobUUID") or item.get("uid"),
                "user_name": item.get("userName"),
                "gpu": sum(_int(need.get(k), "a GPU request") for k in _GPU_KEYS),
                "npu": sum(_int(need.get(k), "an NPU request") for k in _NPU_KEYS),
                "position": item.get("pendingPosition"),
                "pending_s": _int(item.get("pendingDuration"), "a pending duration"),
                "create_ms": item.get("createTime"),
            }
        )
    return rows


def read_workloads(client: Client, pool_id: str) -> list[dict[str, Any]]:
    """Every workload of a pool, paged by ``offset``/``limit`` until a short page."""
    api = client.v2
    rows: list[dict[str, Any]] = []
    for page in range(1000):
        path = f"/v2/{api.project_id}/pools/{quote(pool_id, safe='')}/workloads"
        params = {"offset": str(page * _PAGE), "limit": str(_PAGE), "sort": "create_time"}
        doc = api.get(path, params, f"the workloads of pool {pool_id}")
        got = parse_workloads(doc, pool_id)
        rows.extend(got)
        if len(got) < _PAGE:
            break
    return rows


def _search_rows(client: Client, read_ms: int) -> list[dict[str, Any]]:
    """Pending and running v2 jobs of every workspace the credentials see, as workload rows."""
    from mavtools.api.v2 import JobSearch

    workspaces, _ = client.resolve_workspaces()
    rows = []
    for ws in workspaces or ["0"]:
        frame = client.v2.read_jobs(JobSearch(ws, codes=(7, 8))).frame
        for r in frame.iter_rows(named=True):
            if r["pool_id"] is None:
                continue
            rows.append(
                {
                    "pool_id": str(r["pool_id"]),
                    "status": "Pending" if r["status"] == 7 else "Running",
                    "name": r.get("version_name"),
                    "job_id": r.get("job_id"),
                    "user_name": r.get("user_name"),
                    "gpu": int(r["gpu_num"] or 0),
                    "npu": int(r["npu_num"] or 0),
                    "position": None,
                    "pending_s": None,
                    "create_ms": int(r["create_time"].timestamp() * 1000),
                }
            )
    return rows


def _summarise(
    rows: list[dict[str, Any]], sources: dict[str, str], sizes: dict[str, int], read_ms: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    schema = {
        "pool_id": pl.String,
        "status": pl.String,
        "name": pl.String,
        "job_id": pl.String,
        "user_name": pl.String,
        "gpu": pl.Int64,
        "npu": pl.Int64,
        "position": pl.Int64,
        "pending_s": pl.Int64,
        "create_ms": pl.Int64,
    }
    flat = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    flat = flat.with_columns(
        source=pl.col("pool_id").replace_strict(sources, default=None, return_dtype=pl.String),
        units=pl.col("gpu") + pl.col("npu"),
    )
    waits = flat.filter(pl.col("status").is_in(list(WAITING_STATUSES)))
    # The API's wait when it gives one; else read time - creation (search rows).
    waited_ms = pl.coalesce(pl.col("pending_s") * 1000, pl.lit(read_ms) - pl.col("create_ms"))
    waiting = (
        waits.with_columns(_waited=waited_ms.clip(lower_bound=0))
        .sort("pool_id", "position", -pl.col("_waited"), nulls_last=True)
        .with_columns(
            position=pl.coalesce(
                "position", pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("pool_id")
            )
        )
        .sort("pool_id", "position")
        .select(
            "pool_id",
            "source",
            "position",
            "name",
            "job_id",
            "user_name",
            "gpu",
            "npu",
            waited=pl.col("_waited").cast(pl.Duration("ms")),
            create_time=pl.col("create_ms").cast(pl.Datetime("ms", "UTC")),
        )
    )
    pools = pl.DataFrame(
        {
            "pool_id": list(sources),
            "source": list(sources.values()),
            "units": [sizes.get(p) for p in sources],
        },
        schema={"pool_id": pl.String, "source": pl.String, "units": pl.Int64},
    )
    held = (
        flat.filter(pl.col("status").is_in(list(HOLDING_STATUSES)))
        .group_by("pool_id")
        .agg(units_in_use=pl.col("units").sum())
    )
    queued = waiting.group_by("pool_id").agg(
        waiting=pl.len().cast(pl.Int64),
        units_waiting=(pl.col("gpu") + pl.col("npu")).sum(),
        oldest_wait=pl.col("waited").max(),
    )
    summary = (
        pools.join(held, on="pool_id", how="left")
        .join(queued, on="pool_id", how="left")
        .with_columns(
            units_in_use=pl.col("units_in_use").fill_null(0),
            waiting=pl.col("waiting").fill_null(0),
            units_waiting=pl.col("units_waiting").fill_null(0),
        )
        .with_columns(
            units_free=(pl.col("units") - pl.col("units_in_use")).clip(lower_bound=0),
        )
        .select(list(POOL_COLUMNS))
        .cast(POOL_COLUMNS)
        .sort("pool_id")
    )
    return summary, waiting.cast(WAITING_COLUMNS)


def client_queue_now(client: Client, pools: Iterable[str] | None = None) -> QueueNow:
    """:meth:`mavtools.api.client.Client.queue_now` (see there)."""
    read_at = client.clock()
    read_ms = int(read_at.timestamp() * 1000)
    notes: list[str] = []
    sizes: dict[str, int] = {}
    try:
        # Pools are context (client.pools warns and returns an empty table when refused): the
        # warning becomes one of this answer's notes.
        with warnings.catch_warnings(record=True) as refused:
            warnings.simplefilter("always", AccessWarning)
            table = client.pools()
        notes.extend(str(w.message) for w in refused if issubclass(w.category, AccessWarning))
        sizes = {
            str(p): int(u)
            for p, u in zip(table["pool_id"], table["units"], strict=True)
            if u is not None and u > 0
        }
    except ApiError as exc:
        notes.append(f"The pool list was refused ({exc.http_status}): pool sizes are unknown.")
    wanted = list(pools) if pools is not None else list(sizes)
    sources: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for pool_id in wanted:
        try:
            rows.extend(read_workloads(client, pool_id))
            sources[pool_id] = "workloads"
        except NotFoundError:
            pass  # a public pool: the search below
        except AuthError as exc:
            notes.append(
                f"The workloads of {pool_id} were refused ({exc.http_status}): it shows your "
                "project's pending and running jobs from the job search instead."
            )
    if pools is None or set(wanted) - set(sources):
        try:
            found = [r for r in _search_rows(client, read_ms) if r["pool_id"] not in sources]
        except ApiError as exc:
            notes.append(f"The job search was refused ({exc.http_status}): {exc}")
            found = []
        for r in found:
            if pools is None or r["pool_id"] in wanted:
                sources.setdefault(r["pool_id"], "search")
                rows.append(r)
        for pool_id in wanted:
            sources.setdefault(pool_id, "search")
    summary, waiting = _summarise(rows, sources, sizes, read_ms)
    if "search" in set(sources.values()):
        notes.append(
            "Pools marked 'search' show only this project's jobs (the job search); other "
            "projects' jobs on a shared pool are not seen."
        )
    return QueueNow(summary, waiting, read_at, tuple(notes))


def queue_now(clients: Client | Sequence[Client], pools: Iterable[str] | None = None) -> QueueNow:
    """The queue now, for one client or several (projects, regions), as one :class:`QueueNow`.

    Args:
        clients: a :class:`~mavtools.Client` or a list of them.
        pools: pool ids to read (default: every pool the pool list names, plus pools of the
            project's pending and running jobs).

    Returns:
        A :class:`QueueNow`; with several clients the frames are concatenated, ``read_at`` is
        the earliest read time and the notes are joined.

    Example:
        >>> now = mt.queue_now(mt.samples_client())
        >>> now.waiting.filter(pl.col("pool_id") == "pool-a100-research")
    """
    many = [clients] if not isinstance(clients, Sequence) else list(clients)
    parts = [c.queue_now(pools) for c in many]
    if len(parts) == 1:
        return parts[0]
    return QueueNow(
        pl.concat([p.pools for p in parts]),
        pl.concat([p.waiting for p in parts]),
        min(p.read_at for p in parts),
        tuple(n for p in parts for n in p.notes),
    )
