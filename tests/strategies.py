"""Frames of every shape the frame contract (:data:`mavtools.VERSION_SCHEMA`) allows, for tests.

Importable by any test: :func:`version` builds one row (a dict of the whole schema) from a few
keywords, :func:`frame_of` types a list of them, and :func:`frames` is a hypothesis strategy of
whole frames: v1 and v2 rows, all six outcomes, every nullable column null, public-pool versions
without a pool id, 0-unit versions on GPU flavors, ties, ends after the snapshot, several
snapshot times in one frame, days with a DST change (Europe/Berlin), and :func:`windows` that
start or end outside the data. v2 rows also carry the run-segment columns (v1 rows have them
null): ``segments`` null, empty, one or several with gaps, an open last one, ones ending after
the row's end or its snapshot; ``node_counts`` steps before the start, inside and after the end;
``priority`` 1-3 or null and ``preemptible`` true, false or null. Their ``gpu_hours`` and
``npu_hours`` are computed as :mod:`mavtools.frame_v2` computes them
(:func:`mavtools.segments.held_time`).

``frames(consistent=True)`` keeps to rows whose API numbers agree with the holding rule (duration
= the time held, nothing after the row's snapshot), for invariants that compare ``usage`` (the
API's unit-hours) with the hours the analyses integrate.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import strategies as st

from mavtools.frame import VERSION_SCHEMA
from mavtools.segments import held_time
from mavtools.statuses import outcome_of, status_name

#: Bases of the generated histories: an ordinary Monday, and the two Berlin DST days of 2026.
BASES = (
    datetime(2026, 3, 2, tzinfo=UTC),
    datetime(2026, 3, 28, 12, tzinfo=UTC),  # Europe/Berlin springs forward on the 29th
    datetime(2026, 10, 24, 12, tzinfo=UTC),  # and falls back on the 25th
)
SPAN_MIN = 3 * 24 * 60  # histories last up to three days (minutes)
ZONES = ("UTC", "Europe/Berlin")

#: Status codes covering the six outcomes (99 is undocumented: unknown).
CODES: dict[str, tuple[int, ...]] = {
    "pending": (1, 7),
    "running": (8, 9),
    "succeeded": (10,),
    "failed": (11, 14, 5),
    "canceled": (12, 13),
    "unknown": (0, 6, 99),
}
FLAVORS = {"gpu.8": (8, 0), "gpu.1": (1, 0), "npu.4": (0, 4), "cpu": (0, 0)}

# Strategies built once (building them per draw costs more than drawing).
_APIS = st.sampled_from(("v1", "v2"))
# "unknown" twice: its rows have the most shapes (with or without a duration, v1 or v2)
_OUTCOMES = st.sampled_from((*CODES, "unknown"))
_CODES = {outcome: st.sampled_from(codes) for outcome, codes in CODES.items()}
# Times on a 30-minute grid half of the time: ties between creations, starts and ends.
_MOMENT = st.one_of(st.integers(0, SPAN_MIN // 30).map(lambda k: k * 30), st.integers(0, SPAN_MIN))
_WAIT = st.integers(0, 600)
_RUN = st.integers(0, 2 * 24 * 60)
_TENTH = st.integers(0, 9)
_FLAVOR = st.sampled_from((*FLAVORS, None))
_NODES = st.sampled_from((1, 1, 2))
_EIGHT = st.integers(0, 7)
_TWELVE = st.integers(0, 11)
_TWENTY = st.integers(0, 19)
_POOL = st.sampled_from(("p1", "p2", None))  # None: a public pool without an id
_WORKSPACE = st.sampled_from(("0", "ws-b", None))
_PROJECT = st.sampled_from(("proj-a", "proj-b"))
_DESC = st.sampled_from((None, "", "desc"))
_USER = st.sampled_from((None, "ana"))
_REGION = st.sampled_from(("eu-de", None))
_NO_DURATION = st.sampled_from((None, 0))
_PRIORITY = st.sampled_from((1, 2, 3, None))
_PREEMPTIBLE = st.sampled_from((True, False, None))
_SEGMENT_COUNT = st.sampled_from((None, 0, 1, 2, 2, 3, 3))  # None: no running_records
_RECOVER = st.sampled_from((None, None, "", "proc_restart", "job_reschedule"))
_PAST = st.sampled_from((0, 90, 600, 600))  # minutes segments may run past the row's end
_REASON = st.sampled_from((None, "Completed", "NodeFault", "OOM"))
_STEPS = st.lists(
    st.tuples(st.integers(-180, 2 * 24 * 60 + 180), st.sampled_from((0, 1, 2, 3))),
    min_size=1,
    max_size=3,
)


def version(
    *,
    api: str = "v1",
    ident: int = 1,
    status: int = 10,
    create: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    duration: timedelta | None = None,
    pool: str | None = "p1",
    flavor: str | None = "gpu.8",
    gpu: int | None = 1,
    npu: int | None = 0,
    workspace: str | None = "0",
    observed: datetime | None = None,
    project: str | None = "proj-a",
    **extra: Any,
) -> dict[str, Any]:
    """One row of :data:`VERSION_SCHEMA`, derived columns computed as the frame builders do.

    ``duration`` defaults to ``end - start`` (0 without both). Columns the schema gains later
    are null unless given in ``extra``.
    """
    if duration is None and start is not None and end is not None:
        duration = end - start
    hours = None if duration is None else duration / timedelta(hours=1)
    nodes = extra.get("node_count") or 1
    per_node: dict[str, float | None] = {}
    if extra.get("segments") is not None or extra.get("node_counts") is not None:
        # As frame_v2 computes them: the run segments only, cards per node x the node count.
        held_ms, node_ms = held_time(
            _ms_list(extra.get("segments"), ("start", "end")),
            _ms_list(extra.get("node_counts"), ("time",)),
            start_ms=None if start is None else _epoch_ms(start),
            duration_ms=None if duration is None else duration // timedelta(milliseconds=1),
            node_count=nodes,
        )
        if node_ms is not None:
            per_node = {"gpu": node_ms / 3_600_000 / nodes, "npu": node_ms / 3_600_000 / nodes}
        elif held_ms is not None:
            hours = held_ms / 3_600_000
    row: dict[str, Any] = dict.fromkeys(VERSION_SCHEMA.names())
    row.update(
        version_id=ident if api == "v1" else None,
        version_name=f"job-{ident}",
        status=status,
        status_name=status_name(status),
        outcome=outcome_of(status),
        create_time=create,
        start_time=start,
        end_time=end,
        duration=duration,
        queue_wait=start - create if start is not None and create is not None else None,
        pool_id=pool,
        flavor_code=flavor,
        gpu_num=gpu,
        npu_num=npu,
        gpu_hours=_unit_hours(gpu, hours, per_node.get("gpu")),
        npu_hours=_unit_hours(npu, hours, per_node.get("npu")),
        workspace_id=workspace,
        observed_at=observed,
        api=api,
        job_id=str(ident) if api == "v1" else f"{ident:08x}-0000-4000-8000-000000000000",
        region="eu-de",
        project_id=project,
    )
    row.update(extra)
    return row


def _epoch_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def _ms_list(items: list[dict[str, Any]] | None, fields: tuple[str, ...]) -> Any:
    """Segments or node-count points with their times in epoch ms, as the wire reader gives."""
    if not items:  # an empty list is read as none sent
        return None
    return [
        {k: (_epoch_ms(v) if k in fields and v is not None else v) for k, v in item.items()}
        for item in items
    ]


def _unit_hours(units: int | None, hours: float | None, node_hours: float | None) -> float | None:
    if units is None:
        return None
    if node_hours is not None:
        return units * node_hours  # units per node x node-hours = cards x node_ms
    return None if hours is None else units * hours


def frame_of(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame of :data:`VERSION_SCHEMA` from :func:`version` rows."""
    return pl.DataFrame(rows, schema=VERSION_SCHEMA, orient="row")


def _minutes(base: datetime, value: int | None) -> datetime | None:
    return None if value is None else base + timedelta(minutes=value)


@st.composite
def _row(
    draw: st.DrawFn,
    ident: int,
    base: datetime,
    snaps: list[int],
    consistent: bool,
    observed_nulls: bool,
) -> dict[str, Any]:
    api = draw(_APIS)
    outcome = draw(_OUTCOMES)
    status = draw(_CODES[outcome])
    snap = snaps[draw(st.integers(0, len(snaps) - 1))] if len(snaps) > 1 else snaps[0]
    observed = None if observed_nulls and draw(st.booleans()) else _minutes(base, snap)
    create: int | None = min(draw(_MOMENT), snap)
    started = outcome in ("running", "succeeded") or (
        outcome in ("failed", "canceled", "unknown") and draw(st.booleans())
    )
    start = end = None
    duration: int | None = 0
    if started:
        assert create is not None
        start = min(create + draw(_WAIT), snap)
        if outcome == "running":
            duration = snap - start
        elif outcome == "unknown":
            # v2 Abnormal: a duration and no end; sometimes no duration at all
            duration = draw(_NO_DURATION) if draw(st.booleans()) else draw(_RUN)
            if consistent:
                duration = min(duration or 0, snap - start)
            if api == "v1" and draw(st.booleans()):
                end = start + (duration or 0)
        else:
            duration = draw(_RUN)
            if consistent:
                duration = min(duration, snap - start)
            if api == "v2" or draw(_TENTH) > 0:
                end = start + duration  # v2: start + duration; v1: the API's end, mostly
            # (not consistent: the end can lie after the snapshot; the analyses cut it there)
    elif outcome in ("failed", "canceled") and api == "v1":
        assert create is not None
        end = create + draw(_WAIT)  # v1 never-started versions carry an end
        if consistent:
            end = min(end, snap)
    if not consistent and start is not None and end is not None and draw(_TENTH) == 0:
        duration = draw(_WAIT)  # the API's duration disagrees with its times
    if not consistent and draw(_TENTH) == 0:
        create = None  # v1 sends 0 for a create time
    if not consistent and draw(_TWENTY) == 0:
        duration = None
    flavor = draw(_FLAVOR)
    per_node = FLAVORS.get(flavor or "", (0, 0))
    nodes = draw(_NODES)
    gpu: int | None = per_node[0] * nodes
    npu: int | None = per_node[1] * nodes
    if flavor is not None and flavor.startswith("gpu") and draw(_EIGHT) == 0:
        gpu = 0  # a 0-unit version on a GPU flavor
    if draw(_TWELVE) == 0:
        gpu = npu = None  # a flavor found nowhere: unknown cards
    detail: dict[str, Any] = {}
    if api == "v2":
        detail = draw(_run_detail(base, start, end, duration, snap, outcome, consistent))
        if detail.get("segments"):
            last = detail["segments"][-1]["end"]
            # frame_v2: a finished job ends where its last segment ended; a frame built by hand
            # (not consistent) may keep an end before its segments' (three rows in ten).
            keep_end = not consistent and end is not None and draw(_TENTH) < 3
            if outcome in ("succeeded", "failed", "canceled") and last is not None and not keep_end:
                end = (last - base) // timedelta(minutes=1)
    return version(
        api=api,
        ident=ident,
        status=status,
        create=_minutes(base, create),
        start=_minutes(base, start),
        end=_minutes(base, end),
        duration=None if duration is None else timedelta(minutes=duration),
        pool=draw(_POOL),
        flavor=flavor,
        gpu=gpu,
        npu=npu,
        workspace=draw(_WORKSPACE),
        observed=observed,
        project=draw(_PROJECT),
        version_desc=draw(_DESC),
        user_name=draw(_USER) if api == "v2" else None,
        node_count=nodes if api == "v2" else None,
        region=draw(_REGION),
        **detail,
    )


@st.composite
def _run_detail(
    draw: st.DrawFn,
    base: datetime,
    start: int | None,
    end: int | None,
    duration: int | None,
    snap: int,
    outcome: str,
    consistent: bool,
) -> dict[str, Any]:
    """The v2 run-detail columns of one row (minutes from ``base`` in, datetimes out).

    ``consistent`` keeps the segments inside ``[start, start + duration]`` with the last one
    ending there (or open), so the API's numbers agree with the holding rule.
    """
    out: dict[str, Any] = {"priority": draw(_PRIORITY), "preemptible": draw(_PREEMPTIBLE)}
    count = draw(_SEGMENT_COUNT) if start is not None else None
    if count is not None:
        held_end = end if end is not None else start + (duration or 0)
        # Not consistent: segments may run on past the row's end and its snapshot.
        reach = held_end if consistent else held_end + draw(_PAST)
        reach = max(reach, start)
        points = sorted(
            draw(st.lists(st.integers(start, reach), min_size=2 * count, max_size=2 * count))
        )
        if points and draw(_TENTH) < 7:
            points[0] = start  # the first segment starts with the job, mostly
        if points and consistent:
            points[-1] = held_end
        segments = []
        for k in range(count):
            s_, e_ = points[2 * k], points[2 * k + 1]
            segments.append(
                {
                    "start": _minutes(base, s_),
                    "end": _minutes(base, e_),
                    "start_type": "init_or_rescheduled"
                    if k == 0
                    else draw(st.sampled_from(("restarted", "init_or_rescheduled"))),
                    "end_reason": draw(_REASON),
                    "end_recover": draw(_RECOVER),
                }
            )
        if (
            segments
            and (outcome in ("running", "unknown") or not consistent)
            and draw(st.booleans())
        ):
            segments[-1]["end"] = None  # the last segment still open
        out["segments"] = segments
        out["restarts"] = len(segments) - 1 if segments else None
    if start is not None and draw(_TENTH) < 5:
        out["node_counts"] = [
            {"time": _minutes(base, start + t), "nodes": n} for t, n in sorted(draw(_STEPS))
        ]
    return out


@st.composite
def frames(
    draw: st.DrawFn,
    *,
    max_rows: int = 12,
    consistent: bool = False,
    observed: bool = False,
) -> pl.DataFrame:
    """A frame of 0..``max_rows`` versions of every shape (see the module docstring).

    Args:
        consistent: only rows whose ``duration`` is the time they hold (for ``usage``).
        observed: every row carries its snapshot time (frames read by a client); otherwise some
            rows have none, as in frames built by hand.
    """
    base = draw(st.sampled_from(BASES))
    snaps = sorted(draw(st.lists(st.integers(SPAN_MIN // 2, SPAN_MIN), min_size=1, max_size=3)))
    n = draw(st.integers(0, max_rows))
    observed_nulls = not observed and not consistent and draw(st.booleans())
    rows = [draw(_row(i + 1, base, snaps, consistent, observed_nulls)) for i in range(n)]
    return frame_of(rows)


@st.composite
def windows(draw: st.DrawFn, df: pl.DataFrame) -> tuple[datetime | None, datetime | None]:
    """``(start, end)`` around the frame's data: none, inside, or starting/ending outside it."""
    times = [
        t
        for c in ("create_time", "start_time", "end_time", "observed_at")
        for t in df[c].drop_nulls().to_list()
    ]
    base = min(times) if times else BASES[0]
    pick = st.one_of(
        st.none(),
        st.integers(-2 * 24 * 60, SPAN_MIN + 3 * 24 * 60).map(
            lambda m: base + timedelta(minutes=m)
        ),
    )
    start, end = draw(pick), draw(pick)
    if start is not None and end is not None and end <= start:
        start, end = end, start + timedelta(hours=1) if end == start else start
    return start, end


def _segment(start: datetime, end: datetime | None, recover: str | None = None) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "start_type": "init_or_rescheduled",
        "end_reason": None,
        "end_recover": recover,
    }


def every_shape() -> pl.DataFrame:
    """One frame with a row of every shape :func:`frames` draws (built by hand, not drawn).

    The invariants run on it besides the frames hypothesis draws, so each of them sees every
    shape however few examples it draws. Base: 2026-03-28 12:00 UTC (Berlin springs forward on
    the 29th); two snapshot times, two rows created at the same minute.
    """
    base = BASES[1]

    def t(minutes: int) -> datetime:
        return base + timedelta(minutes=minutes)

    snap, early = t(2880), t(2000)
    v2: dict[str, Any] = {"api": "v2", "user_name": "ana", "node_count": 1, "observed": snap}
    rows = [
        # v1: succeeded; canceled before starting on a public pool (same creation: a tie);
        # pending without a create time or workspace at the earlier snapshot.
        version(ident=1, create=t(0), start=t(30), end=t(90), gpu=8, observed=snap),
        version(
            ident=2, status=12, create=t(0), end=t(20), pool=None, flavor="gpu.1", observed=snap
        ),
        version(ident=3, status=1, create=None, workspace=None, observed=early),
        # unknown without a duration, 0 units on a GPU flavor, no snapshot time
        version(ident=4, status=6, create=t(100), start=t(110), duration=timedelta(0), gpu=0),
        # failed, ending after the snapshot; its duration unknown (patched below)
        version(ident=5, status=11, create=t(200), start=t(210), end=t(3000), observed=snap),
        # a flavor found nowhere: no unit counts
        version(
            ident=6,
            create=t(300),
            start=t(300),
            end=t(400),
            flavor=None,
            gpu=None,
            npu=None,
            observed=snap,
        ),
        # running on NPUs, created on the DST day
        version(
            ident=7,
            status=8,
            create=t(1500),
            start=t(1510),
            duration=snap - t(1510),
            flavor="npu.4",
            gpu=0,
            npu=4,
            observed=snap,
        ),
        # v2: Abnormal with a duration, no segments; failed before starting; empty segments
        version(
            ident=8,
            status=0,
            create=t(500),
            start=t(510),
            duration=timedelta(hours=1),
            priority=1,
            preemptible=True,
            **v2,
        ),
        version(ident=9, status=11, create=t(600), priority=2, preemptible=False, **v2),
        version(ident=10, create=t(700), start=t(700), end=t(800), priority=3, segments=[], **v2),
        # one segment, no priority
        version(
            ident=11,
            create=t(900),
            start=t(900),
            end=t(1000),
            restarts=0,
            segments=[_segment(t(900), t(1000))],
            **v2,
        ),
        # a fault, a gap, a segment past the row's end; node counts before the start, 0 nodes,
        # a point after the end
        version(
            ident=12,
            status=11,
            create=t(1100),
            start=t(1100),
            end=t(1300),
            gpu=16,
            restarts=1,
            priority=2,
            preemptible=False,
            segments=[_segment(t(1100), t(1150), "job_reschedule"), _segment(t(1200), t(1400))],
            node_counts=[
                {"time": t(1050), "nodes": 2},
                {"time": t(1250), "nodes": 0},
                {"time": t(1500), "nodes": 1},
            ],
            **(v2 | {"node_count": 2}),
        ),
        # running at the earlier snapshot, a segment past it, the last one open
        version(
            ident=13,
            status=8,
            create=t(1800),
            start=t(1800),
            duration=early - t(1800),
            restarts=1,
            segments=[_segment(t(1800), t(2100)), _segment(t(2100), None)],
            **(v2 | {"observed": early}),
        ),
    ]
    rows[4]["duration"] = None
    for row in rows[1::2]:  # two projects, for splitting by project
        row["project_id"] = "proj-b"
    return frame_of(rows)
