"""From new-version (v2) training-job search pages to the same typed frame as v1 versions.

``POST /v2/{project_id}/training-job-searches`` answers ``{total, count, limit, offset, items[]}``
where each item nests ``metadata``, ``status`` and ``spec.resource`` (see
``shared/reference/modelarts-v2-training.md``). :func:`parse_search_page` flattens a page into raw
records (:data:`V2_RAW_SCHEMA`); :func:`build_v2_frame` turns them into :data:`VERSION_SCHEMA` rows:

* ``api`` = ``"v2"``, ``job_id`` = ``metadata.id``, ``version_id`` null;
* ``status``/``status_name``/``outcome`` from ``phase``/``secondary_phase`` through
  :func:`mavtools.statuses.v2_status_code`;
* ``start_time`` from ``status.start_time`` (epoch ms, sent as a number or, in older
  deployments, a string; 0 = never started); ``end_time`` = start + duration for a job
  in a terminal state (one whose outcome is finished: Completed, Failed, Terminated, and
  Abnormal/Lost), null otherwise (the API sends no end time);
* ``gpu_num``/``npu_num`` = ``node_count`` x the flavor's cards, read from ``flavor_detail``
  (public pools); when it is absent, from ``main_container_allocated_resources.accelerator_num``
  (custom flavors), the dedicated-pool flavor ids ``modelarts.pool.visual.{x,2x,4x,8x}large``
  (1, 2, 4, 8 cards) or the flavor list the client passes in. A flavor found in none leaves both
  null: unknown, not zero. A heterogeneous job (``tasks[].task_resource``) sums nodes and cards
  over its tasks;
* ``workspace_id`` = ``metadata.workspace_id``, or the workspace asked for when absent;
* ``segments``/``restarts``/``node_counts``/``priority``/``preemptible`` from
  ``status.running_records``, ``status.node_count_metrics`` and ``spec.schedule_policy``
  (:mod:`mavtools.segments`). With segments, a finished job ends where its last segment ended
  (when that one has an end), and ``gpu_hours``/``npu_hours`` count the segments only; with
  node counts, cards per node x the node count over the held time.

Decisions where the API is silent: records are read with the standard ``json`` module (pages hold
at most 50 jobs, so speed is not the issue that made v1 use polars' reader), the plain fields by
the table :data:`mavtools.records.V2_FIELDS` and every value by the rules of
:mod:`mavtools.records`, the same as v1's; anything that breaks the documented shape raises
:class:`~mavtools.errors.ResponseFormatError` naming the page, the item and the field. The frame
is built with :mod:`mavtools.frame`'s column rules (times, unit-hours, the status join).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import polars as pl

from mavtools.errors import ResponseFormatError
from mavtools.frame import (
    OUTCOME_DTYPE,
    Batch,
    check_head,
    empty_frame,
    json_object,
    status_labels,
    to_schema,
    to_time,
    unit_hours,
)
from mavtools.records import (
    _DURATION,
    _MAX_CARDS,
    _MAX_INT64,
    _MAX_NODES,
    TIME,
    V2_FIELDS,
    raw_schema,
    read_int,
    read_object,
    read_record,
)
from mavtools.segments import (
    NODE_COUNTS_RAW,
    SEGMENTS_RAW,
    held_time,
    read_node_counts,
    read_running_records,
    read_schedule_policy,
)
from mavtools.statuses import FINISHED_OUTCOMES, v2_status_code

__all__ = [
    "DEDICATED_FLAVOR_CARDS",
    "V2_RAW_SCHEMA",
    "Cards",
    "build_v2_frame",
    "parse_search_page",
]

#: Accelerator cards per node of a flavor: (gpu, npu).
Cards = tuple[int, int]

V2_RAW_SCHEMA: Final = pl.Schema(
    raw_schema(V2_FIELDS)
    | {  # type: ignore[dict-item]  # polars' stubs reject a List instance in a dict literal
        "gpu_cards": pl.Int64,  # per node, from flavor_detail; null when it is absent
        "npu_cards": pl.Int64,
        "gpu_total": pl.Int64,  # all nodes of a heterogeneous job (summed over its tasks)
        "npu_total": pl.Int64,
        "priority": pl.Int64,
        "preemptible": pl.Boolean,
        "segments": SEGMENTS_RAW,  # null when the API sent no running_records
        "node_counts": NODE_COUNTS_RAW,  # null when it sent no node_count_metrics
        "held_ms": pl.Int64,  # summed segment lengths (mavtools.segments.held_time)
        "node_ms": pl.Int64,  # node count integrated over the held time
    }
)
_PLAIN: Final = tuple(f.column for f in V2_FIELDS)
#: Flavor ids of dedicated pools (SDK ``Resource.flavor_id``): cards per node. The public flavor
#: list does not hold them, and their jobs come without ``flavor_detail``.
DEDICATED_FLAVOR_CARDS: Final = {
    "modelarts.pool.visual.xlarge": 1,
    "modelarts.pool.visual.2xlarge": 2,
    "modelarts.pool.visual.4xlarge": 4,
    "modelarts.pool.visual.8xlarge": 8,
}


def parse_search_page(body: bytes, where: str) -> Batch:
    """Parse one body of ``POST .../training-job-searches`` (an :attr:`Endpoint.parse
    <mavtools.api.pager.Endpoint.parse>` as it is).

    Returns:
        The flattened jobs (:data:`V2_RAW_SCHEMA`), in the order sent, and the server's ``count``
        (else ``total``).

    Raises:
        ResponseFormatError: the body is not the documented JSON (transient when it looks cut or
            like a gateway page, so the client retries it).
    """
    check_head(body, where)
    doc = json_object(body, where)
    total = read_int(doc.get("count", doc.get("total")), "count", where, _MAX_INT64)
    items = doc.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ResponseFormatError(f"The API sent 'items' that is not a list for {where}.")
    rows = [_flatten(item, i, where) for i, item in enumerate(items)]
    return Batch(pl.DataFrame(rows, schema=V2_RAW_SCHEMA, orient="row"), total)


def _flatten(item: Any, index: int, where: str) -> tuple[Any, ...]:
    place = f"job #{index} of {where}"
    if not isinstance(item, dict):
        raise ResponseFormatError(f"The API sent {place} as {type(item).__name__}, not an object.")
    plain = dict(zip(_PLAIN, read_record(item, V2_FIELDS, place), strict=True))
    resource = read_object(read_object(item, "spec", place), "resource", place)
    status = read_object(item, "status", place)
    detail = resource.get("flavor_detail")
    gpu = npu = None
    if isinstance(detail, dict):
        raw_info = detail.get("flavor_info")
        if isinstance(raw_info, dict):
            gpu = _cards(raw_info.get("gpu"), "gpu", place)
            npu = _cards(raw_info.get("npu"), "npu", place)
            # An info naming neither device is a CPU flavor; a device without unit_num stays
            # unknown (null) so the flavor list is consulted, never a silent 0.
            if "gpu" not in raw_info and "npu" not in raw_info:
                gpu, npu = 0, 0
            else:
                gpu = 0 if "gpu" not in raw_info and npu is not None else gpu
                npu = 0 if "npu" not in raw_info and gpu is not None else npu
    elif detail is not None:
        raise ResponseFormatError(f"The API sent 'flavor_detail' that is not an object in {place}.")
    if gpu is None and npu is None:
        gpu, npu = _resource_cards(resource, place)
    nodes = plain["node_count"]
    gpu_total = npu_total = None
    tasks = item.get("tasks")
    if isinstance(tasks, list) and any(
        isinstance(t, dict) and t.get("task_resource") for t in tasks
    ):
        nodes, gpu_total, npu_total = _task_totals(tasks, place)
    start_time, duration = plain["start_time"], plain["duration"]
    segments = read_running_records(status, place)
    node_counts = read_node_counts(status, place)
    held_ms, node_ms = held_time(
        segments,
        node_counts,
        start_ms=start_time or None,
        duration_ms=duration,
        node_count=1 if nodes is None else nodes,
    )
    return (
        *(plain | {"node_count": nodes}).values(),
        gpu,
        npu,
        gpu_total,
        npu_total,
        *read_schedule_policy(read_object(item, "spec", place), place),
        segments,
        node_counts,
        held_ms,
        node_ms,
    )


def _resource_cards(resource: Mapping[str, Any], place: str) -> tuple[int | None, int | None]:
    """Cards per node of a job without ``flavor_detail``: (gpu, npu), None where unknown.

    A custom flavor carries them in ``main_container_allocated_resources.accelerator_num``
    (its ``accelerator_type``, e.g. ``ascend-snt9b``, says NPU or GPU); a dedicated pool's flavor
    id ``modelarts.pool.visual.*`` names them (:data:`DEDICATED_FLAVOR_CARDS`). Anything else
    is left to the flavor list.
    """
    allocated = read_object(resource, "main_container_allocated_resources", place)
    kind = str(allocated.get("accelerator_type") or "").lower()
    npu_kind = kind.startswith(("ascend", "npu"))
    raw = allocated.get("accelerator_num")
    count = None
    if isinstance(raw, float) and not raw.is_integer() and 0 < raw < _MAX_CARDS:
        pass  # a share of a card (typed float by the SDK): no whole-card count to give
    else:
        count = _number(
            allocated,
            "accelerator_num",
            f"main_container_allocated_resources of {place}",
            _MAX_CARDS,
        )
    if count is None:
        count = DEDICATED_FLAVOR_CARDS.get(str(resource.get("flavor_id") or ""))
    if count is None:
        return None, None
    return (0, count) if npu_kind else (count, 0)


def _task_totals(tasks: list[Any], place: str) -> tuple[int, int | None, int | None]:
    """Nodes and (gpu, npu) cards of a heterogeneous job, summed over its tasks.

    Each task's ``task_resource`` names its flavor (``flavor_info`` or a dedicated-pool flavor
    id) and its ``node_count`` (1 when absent). A task whose cards are unknown leaves the totals
    unknown (null), never zero.
    """
    nodes, gpu, npu, known = 0, 0, 0, True
    for i, task in enumerate(tasks):
        spot = f"task #{i} of {place}"
        if not isinstance(task, dict):
            raise ResponseFormatError(f"The API sent {spot} that is not an object.")
        res = read_object(task, "task_resource", spot)
        count = _number(res, "node_count", spot, _MAX_NODES)
        count = 1 if count is None else count
        info = read_object(res, "flavor_info", spot)
        if info.get("gpu") is not None or info.get("npu") is not None:
            cards = (
                _cards(info.get("gpu"), "gpu", spot) or 0,
                _cards(info.get("npu"), "npu", spot) or 0,
            )
        elif info:
            cards = (0, 0)  # a flavor_info without gpu/npu: CPU
        else:
            found = _resource_cards(res, spot)
            cards = (found[0] or 0, found[1] or 0)
            known = known and found != (None, None)
        nodes += count
        gpu += count * cards[0]
        npu += count * cards[1]
    return nodes, (gpu if known else None), (npu if known else None)


def _number(doc: Mapping[str, Any], name: str, place: str, high: int) -> int | None:
    return read_int(doc.get(name), name, place, high)


def _cards(device: Any, kind: str, place: str) -> int | None:
    if device is None:
        return None
    if not isinstance(device, dict):
        raise ResponseFormatError(
            f"The API sent 'flavor_info.{kind}' that is not an object in {place}."
        )
    # npu.unit_num is documented as a string, gpu.unit_num as a number: read both either way.
    return _number(device, "unit_num", f"flavor_info.{kind} of {place}", _MAX_CARDS)


def build_v2_frame(
    pages: Iterable[pl.DataFrame],
    workspace_id: str,
    flavor_cards: Mapping[str, Cards] | None = None,
    *,
    region: str | None = None,
    project_id: str | None = None,
) -> pl.DataFrame:
    """Turn raw v2 records of one workspace into rows of :data:`VERSION_SCHEMA`.

    Args:
        pages: ``Batch.records`` frames of :func:`parse_search_page`.
        workspace_id: the workspace asked for (used when a job does not name its own).
        flavor_cards: flavor id -> (gpu, npu) cards per node, for jobs without ``flavor_detail``.
        region: the region of the client that read them; it tags every row.
        project_id: the project that was asked for; it tags every row.
    """
    frames = [p for p in pages if p.height]
    if not frames:
        return empty_frame()
    raw = pl.concat(frames, how="vertical")
    cards = flavor_cards or {}
    known = pl.DataFrame(
        {
            "flavor_id": list(cards),
            "_gpu": [c[0] for c in cards.values()],
            "_npu": [c[1] for c in cards.values()],
        },
        schema={"flavor_id": pl.String, "_gpu": pl.Int64, "_npu": pl.Int64},
    )
    pairs = raw.select("phase", "secondary_phase").unique().rows()
    codes = {(p, c): v2_status_code(p, c) for p, c in pairs}
    code_frame = pl.DataFrame(
        {
            "phase": [p for p, _ in codes],
            "secondary_phase": [c for _, c in codes],
            "status": list(codes.values()),
        },
        schema={"phase": pl.String, "secondary_phase": pl.String, "status": pl.Int64},
    )
    nodes = pl.col("node_count").fill_null(1)
    start = pl.when(pl.col("start_time") > 0).then(pl.col("start_time"))
    duration = pl.col("duration").fill_null(0)
    # Finished by the mapping (Completed, Failed, Terminated, and Abnormal/Lost): no more change.
    terminal = pl.col("outcome").is_in(sorted(FINISHED_OUTCOMES))
    # Held time: the node-ms of an elastic job, else the run segments, else the reported run time.
    run_ms = pl.coalesce("held_ms", pl.col("duration").dt.total_milliseconds())

    def held_unit_hours(cards: str, units: str) -> pl.Expr:
        return pl.coalesce(
            unit_hours(pl.col(cards), pl.col("node_ms")), unit_hours(pl.col(units), run_ms)
        )

    last_end = pl.col("segments").list.last().struct.field("end")
    frame = (
        raw.lazy()
        .join(known.lazy(), on="flavor_id", how="left", maintain_order="left")
        .join(
            code_frame.lazy(),
            on=["phase", "secondary_phase"],
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        .join(status_labels(codes.values()).lazy(), on="status", how="left", maintain_order="left")
        .with_columns(
            version_id=pl.lit(None, dtype=pl.Int64),
            version_name=pl.col("job_name"),
            version_desc=pl.col("job_desc"),
            start_time=start,
            end_time=pl.when(terminal).then(pl.coalesce(last_end, start + duration)),
            duration=duration,
            flavor_code=pl.col("flavor_id"),
            gpu_cards=pl.coalesce("gpu_cards", "_gpu"),
            npu_cards=pl.coalesce("npu_cards", "_npu"),
            gpu_num=pl.coalesce("gpu_total", nodes * pl.coalesce("gpu_cards", "_gpu")),
            npu_num=pl.coalesce("npu_total", nodes * pl.coalesce("npu_cards", "_npu")),
            workspace_id=pl.coalesce("job_workspace", pl.lit(workspace_id)),
            api=pl.lit("v2"),
            job_id=pl.col("job_id"),
            observed_at=pl.lit(None, dtype=TIME),  # stamped per fetch
            region=pl.lit(region, dtype=pl.String),
            project_id=pl.lit(project_id, dtype=pl.String),
        )
        .with_columns(
            to_time(pl.col(c)).alias(c) for c in ("create_time", "start_time", "end_time")
        )
        .with_columns(
            pl.col("duration").cast(_DURATION),
            pl.col("outcome").cast(OUTCOME_DTYPE),
        )
        .with_columns(
            queue_wait=pl.col("start_time") - pl.col("create_time"),
            gpu_hours=held_unit_hours("gpu_cards", "gpu_num"),
            npu_hours=held_unit_hours("npu_cards", "npu_num"),
            restarts=pl.col("segments").list.len() - 1,
            segments=pl.col("segments").list.eval(
                pl.element().struct.with_fields(pl.field(["start", "end"]).cast(TIME))
            ),
            node_counts=pl.col("node_counts").list.eval(
                pl.element().struct.with_fields(pl.field("time").cast(TIME))
            ),
        )
    )
    return to_schema(frame)
