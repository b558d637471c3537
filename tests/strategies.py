"""Frames of every shape the frame contract (:data:`mavtools.VERSION_SCHEMA`) allows, for tests.

Importable by any test: :func:`version` builds one row (a dict of the whole schema) from a few
keywords, :func:`frame_of` types a list of them, and :func:`frames` is a hypothesis strategy of
whole frames: v1 and v2 rows, all six outcomes, every nullable column null, public-pool versions
without a pool id, 0-unit versions on GPU flavors, ties, ends after the snapshot, several
snapshot times in one frame, days with a DST change (Europe/Berlin), and :func:`windows` that
start or end outside the data.

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
_OUTCOMES = st.sampled_from(tuple(CODES))
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
        gpu_hours=None if gpu is None or hours is None else gpu * hours,
        npu_hours=None if npu is None or hours is None else npu * hours,
        workspace_id=workspace,
        observed_at=observed,
        api=api,
        job_id=str(ident) if api == "v1" else f"{ident:08x}-0000-4000-8000-000000000000",
        region="eu-de",
        project_id=project,
    )
    row.update(extra)
    return row


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
    )


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
