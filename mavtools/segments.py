"""Run segments, node counts over time and scheduling of v2 jobs: from the wire to frame columns.

A new-version (v2) job that failed over runs in several segments. Huawei's SDK
(``huaweicloudsdkmodelarts.v1.Status`` and ``RunningRecord``) defines them, in the search answer's
``items[].status``:

* ``running_records[]``: one record per run segment, ``start_at`` and ``end_at`` in epoch
  **seconds** (``end_at`` absent or 0 while the segment runs), ``start_type``
  (``init_or_rescheduled``: the first run after scheduling, also after a reschedule; ``restarted``:
  a process restart in place), ``end_reason`` (why the segment ended) and ``end_recover`` (the
  fault tolerance taken after it: ``proc_restart``, ``pod_reschedule``, ``job_reschedule`` ...);
* ``node_count_metrics``: ``[[time, nodes], ...]``, the node count of an elastic job from each
  time on. The SDK types it ``list[list[int]]`` without a unit; our API notes say epoch ms. A
  time below 10^11 can only be seconds (it would be 1973 in ms), so it is read as seconds;

and in ``items[].spec.schedule_policy`` (``SchedulePolicy``): ``priority`` (1-3 on dedicated pools,
the SDK allows 0-3) and ``preemptible``.

The frame (:data:`mavtools.frame.VERSION_SCHEMA`) carries them as ``segments`` (list of
:data:`SEGMENT` structs, times in ms), ``node_counts`` (list of :data:`NODE_COUNT` structs),
``restarts`` (segments after the first), ``priority`` and ``preemptible``; each is null where the
API sent nothing (every v1 row). An empty ``running_records`` list is read as none sent.

:func:`held_time` is the one place that says how long a job held its nodes from these records,
for the frame's ``gpu_hours``; :func:`mavtools.analysis.timeline.held_intervals` applies the same
rule on the time axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import polars as pl

from mavtools.errors import ResponseFormatError
from mavtools.records import _MAX_EPOCH_MS, _MAX_EPOCH_S, _MAX_NODES, TIME, read_int, read_text

__all__ = [
    "NODE_COUNT",
    "NODE_COUNTS_RAW",
    "SEGMENT",
    "SEGMENTS_RAW",
    "held_time",
    "read_node_counts",
    "read_running_records",
    "read_schedule_policy",
]

#: One run segment in the frame: ``end`` null while it runs.
SEGMENT: Final = pl.Struct(
    {
        "start": TIME,
        "end": TIME,
        "start_type": pl.String,
        "end_reason": pl.String,
        "end_recover": pl.String,
    }
)
#: One point of an elastic job's node count: ``nodes`` from ``time`` on.
NODE_COUNT: Final = pl.Struct({"time": TIME, "nodes": pl.Int32})
#: The same as read from the wire (epoch ms as integers), before :func:`build_v2_frame` types it.
SEGMENTS_RAW: Final = pl.List(
    pl.Struct(
        {
            "start": pl.Int64,
            "end": pl.Int64,
            "start_type": pl.String,
            "end_reason": pl.String,
            "end_recover": pl.String,
        }
    )
)
NODE_COUNTS_RAW: Final = pl.List(pl.Struct({"time": pl.Int64, "nodes": pl.Int64}))

_SECONDS_BELOW: Final = 10**11  # an epoch ms below this is before 1973: it is seconds
_TEXT_FIELDS: Final = ("start_type", "end_reason", "end_recover")

Segment = dict[str, Any]
NodePoint = dict[str, int]


def _items(doc: Mapping[str, Any], name: str, place: str) -> list[tuple[str, Any]] | None:
    """The items of the list ``name``, each with where it is (for messages); None when not sent."""
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise ResponseFormatError(
            f"The API sent '{name}' as {type(value).__name__}, not a list, in {place}."
        )
    if not value:  # an empty list says as little as none
        return None
    return [(f"{name}[{i}] of {place}", item) for i, item in enumerate(value)]


def read_running_records(status: Mapping[str, Any], place: str) -> list[Segment] | None:
    """``status.running_records`` as segments in epoch ms, in start order; None when not sent.

    Raises:
        ResponseFormatError: a record that is not an object, a time that is not an epoch in
            seconds, or an end before its start.
    """
    records = _items(status, "running_records", place)
    if records is None:
        return None
    out: list[Segment] = []
    for where, record in records:
        if not isinstance(record, dict):
            raise ResponseFormatError(f"The API sent {where} as {type(record).__name__}.")
        start = read_int(record.get("start_at"), "start_at", where, _MAX_EPOCH_S)
        end = read_int(record.get("end_at"), "end_at", where, _MAX_EPOCH_S) or None  # 0: running
        if start is None:
            raise ResponseFormatError(f"The API sent no 'start_at' in {where}.")
        if end is not None and end < start:
            raise ResponseFormatError(
                f"The API sent 'end_at' ({end}) before 'start_at' ({start}) in {where}."
            )
        texts = {name: read_text(record.get(name), name, where) for name in _TEXT_FIELDS}
        out.append({"start": start * 1000, "end": None if end is None else end * 1000} | texts)
    return sorted(out, key=lambda s: s["start"])


def read_node_counts(status: Mapping[str, Any], place: str) -> list[NodePoint] | None:
    """``status.node_count_metrics`` as ``{time (epoch ms), nodes}`` in time order; None when
    not sent."""
    points = _items(status, "node_count_metrics", place)
    if points is None:
        return None
    out: list[NodePoint] = []
    for where, point in points:
        if not isinstance(point, list) or len(point) != 2:
            raise ResponseFormatError(f"The API sent {where} that is not a [time, nodes] pair.")
        time = read_int(point[0], "time", where, _MAX_EPOCH_MS)
        nodes = read_int(point[1], "nodes", where, _MAX_NODES)
        if time is None or nodes is None:
            raise ResponseFormatError(f"The API sent {where} with a null time or node count.")
        out.append({"time": time * 1000 if time < _SECONDS_BELOW else time, "nodes": nodes})
    return sorted(out, key=lambda p: p["time"])


def read_schedule_policy(spec: Mapping[str, Any], place: str) -> tuple[int | None, bool | None]:
    """``(priority, preemptible)`` from ``spec.schedule_policy``; None for what was not sent."""
    policy = spec.get("schedule_policy")
    if policy is None:
        return None, None
    if not isinstance(policy, dict):
        raise ResponseFormatError(
            f"The API sent 'schedule_policy' that is not an object in {place}."
        )
    priority = read_int(policy.get("priority"), "priority", place, 3)
    preemptible = policy.get("preemptible")
    if preemptible is not None and not isinstance(preemptible, bool):
        raise ResponseFormatError(
            f"The API sent 'preemptible' as {type(preemptible).__name__}, expected a boolean, "
            f"in {place}."
        )
    return priority, preemptible


def _nodes_at(points: Sequence[NodePoint], default: int) -> list[tuple[int, int]]:
    """Change points ``(from_ms, nodes)``: ``default`` nodes before the first point."""
    return [(-(2**62), default), *((p["time"], p["nodes"]) for p in points)]


def held_time(
    segments: Sequence[Segment] | None,
    node_counts: Sequence[NodePoint] | None,
    *,
    start_ms: int | None,
    duration_ms: int | None,
    node_count: int,
) -> tuple[int | None, int | None]:
    """How long a job held its nodes: ``(held_ms, node_ms)``.

    ``held_ms`` is the summed length of the run segments, a segment still open ending at
    ``start_ms + duration_ms`` (the run time the API reports); null without segments (the caller
    then uses ``duration``). ``node_ms`` is the integral of the node count over the held time
    (over ``[start_ms, start_ms + duration_ms)`` without segments), with ``node_count`` nodes
    before the first ``node_counts`` point; null without ``node_counts``.
    """
    reported_end = None if start_ms is None else start_ms + (duration_ms or 0)
    if segments is not None:
        spans = [
            (s["start"], max(s["start"], s["end"] if s["end"] is not None else reported_end or 0))
            for s in segments
        ]
    elif start_ms is not None and reported_end is not None:
        spans = [(start_ms, reported_end)]
    else:
        spans = []
    held_ms = sum(e - s for s, e in spans) if segments is not None else None
    if node_counts is None:
        return held_ms, None
    steps = _nodes_at(node_counts, node_count)
    node_ms = 0
    for s, e in spans:
        for k, (t, nodes) in enumerate(steps):
            t_next = steps[k + 1][0] if k + 1 < len(steps) else 2**62
            lo, hi = max(s, t), min(e, t_next)
            if hi > lo:
                node_ms += (hi - lo) * nodes
    return held_ms, node_ms
