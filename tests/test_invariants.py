"""Invariants on every frame the contract allows, checked against each other and a brute force.

Frames come from :func:`tests.strategies.frames` (v1 and v2 rows, all outcomes, nulls, public
pools, ends after the snapshot, several snapshots, DST days, and v2 run segments and node counts
of every shape). The brute force below is written from the rules in the :mod:`mavtools.analysis`
docstring and docs/semantics.md ("Run segments and node counts"), in plain Python over each
version, without polars.

Each invariant runs first on the frame of every shape (:func:`tests.strategies.every_shape`, built
by hand), then on drawn frames: 100 seeded examples by default (50 for the two that call every
analysis several times per frame, to keep the default run near a minute), 2,000 random ones under
``-m heavy``. Each run checks that the frames it ran on showed every shape of :data:`SHAPES`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import mavtools as mt
from mavtools import analysis as A
from mavtools.statuses import FINISHED_OUTCOMES
from tests.strategies import BASES, ZONES, every_shape, frames, windows

FAST = settings(
    max_examples=100,  # besides the explicit examples on the frame of every shape
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HEAVY = settings(FAST, max_examples=2000, derandomize=False)
HOUR_MS = 3_600_000
UNITS = {"gpu": "gpu_num", "npu": "npu_num"}
HOURS = {"gpu": "gpu_hours", "npu": "npu_hours"}


#: What the frames an invariant ran on showed: rows per shape of :data:`SHAPES`, and frames with
#: several snapshot times, ties and DST days.
SEEN: dict[str, int] = {}


def saw(df: pl.DataFrame) -> pl.DataFrame:
    """Count the shapes of a frame an invariant runs on (see :func:`both`)."""
    counts = df.select(**{k: e.fill_null(False).sum() for k, e in SHAPES.items()}).row(0)
    for name, count in zip(SHAPES, counts, strict=True):
        SEEN[name] = SEEN.get(name, 0) + count
    if df.height:
        SEEN["several snapshots"] = SEEN.get("several snapshots", 0) + (
            df["observed_at"].n_unique() > 1
        )
        SEEN["ties"] = SEEN.get("ties", 0) + (df.height > df["create_time"].n_unique())
        SEEN["a DST day"] = SEEN.get("a DST day", 0) + bool(
            df["create_time"].dt.date().is_in([datetime(2026, 3, 29).date()]).any()
        )
    return df


def both(
    fn: Callable[..., None],
    *strategies: Any,
    examples: tuple[tuple[Any, ...], ...] = (),
    never: tuple[str, ...] = (),
    drawn: int = FAST.max_examples,
) -> tuple[Any, Any]:
    """The invariant as a default test (``drawn`` seeded examples) and a heavy one (2,000).

    Both run ``examples`` first: calls on :data:`SHAPED`, the frame of every shape. Each run then
    checks that the frames the invariant ran on showed every shape of :data:`SHAPES` (those in
    ``never`` excepted: what its frames cannot have), so a default run of few drawn examples
    still checks the invariant on every shape.
    """

    def checked(options: settings) -> Callable[[], None]:
        run = given(*strategies)(fn)
        for args in examples:
            run = example(*args)(run)
        run = options(run)

        def test() -> None:
            SEEN.clear()
            run()
            unseen = [k for k in (*SHAPES, *FRAME_SHAPES) if not SEEN.get(k) and k not in never]
            assert unseen == [NEVER], f"{fn.__name__} never ran on: {unseen}"
            assert SEEN[NEVER] == 0

        test.__doc__ = fn.__doc__
        return test

    return checked(settings(FAST, max_examples=drawn)), pytest.mark.heavy(checked(HEAVY))


# -- the brute force ---------------------------------------------------------------------------


def ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def dur_ms(value: timedelta | None) -> int | None:
    return None if value is None else value // timedelta(milliseconds=1)


def fallback_now(rows: list[dict[str, Any]]) -> int | None:
    """The latest moment a frame without snapshot times vouches for (module docstring)."""
    moments = [ms(r[c]) for r in rows for c in ("create_time", "start_time", "end_time")]
    for r in rows:
        d = dur_ms(r["duration"])
        ended = r["outcome"] in FINISHED_OUTCOMES or r["outcome"] == "unknown"
        if ended and r["end_time"] is None and r["start_time"] is not None and d is not None:
            moments.append(ms(r["start_time"]) + d)  # type: ignore[operator]
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def row_now(r: dict[str, Any], fallback: int | None) -> int | None:
    return ms(r["observed_at"]) if r["observed_at"] is not None else fallback


def held(r: dict[str, Any], fallback: int | None, queued: bool = False) -> tuple[int, int] | None:
    """The holding rule: [start (or creation), until), cut at the row's snapshot time."""
    s, e, d = ms(r["start_time"]), ms(r["end_time"]), dur_ms(r["duration"])
    now = row_now(r, fallback)
    if e is not None:
        until: int | None = e
    elif r["outcome"] in FINISHED_OUTCOMES or r["outcome"] == "unknown":
        until = s + d if s is not None and d is not None and d > 0 else None
    else:
        until = now
    begin = s
    if queued:
        c = ms(r["create_time"])
        begin = min(x for x in (c, s) if x is not None) if (c, s) != (None, None) else None
    if begin is None or until is None:
        return None
    if now is not None:
        until = min(until, now)
    return (begin, until) if until > begin else None


def nodes_at(r: dict[str, Any], t: int) -> int:
    """An elastic version's node count at ``t``: the last point at or before it, else the
    spec's ``node_count`` (docs/semantics.md, "Run segments and node counts")."""
    count = r["node_count"]
    for point in sorted(r["node_counts"], key=lambda p: ms(p["time"])):
        if ms(point["time"]) <= t:
            count = point["nodes"]
    return count


def pieces(
    r: dict[str, Any], span: tuple[int, int], units: int, queued: bool, faults: bool = False
) -> list[tuple[int, int, int]]:
    """The documented rule for run detail, minute by minute: a version with ``segments`` holds
    only inside them, each cut at the version's own end (an open one runs until it); an elastic
    version holds units per node x its node count at each moment; ``include_queued`` asks for
    the whole ``[creation, end)``, gaps included, never less than it holds at any moment.
    ``faults`` keeps only segments that ended in a fault (followed by another, or with an
    ``end_recover``)."""
    begin, until = span
    segments = r.get("segments") or []
    if queued or not segments:
        if faults:
            return []
        runs = [(begin, until)]
    else:
        runs = []
        for k, seg in enumerate(segments):
            if faults and k == len(segments) - 1 and not seg["end_recover"]:
                continue
            s, e = ms(seg["start"]), ms(seg["end"])
            runs.append((s, until if e is None else min(e, until)))
    elastic = r.get("node_counts") is not None and (r.get("node_count") or 0) > 0
    out = []
    for s, e in runs:
        if e <= s:
            continue
        if not elastic:
            out.append((s, e, units))
            continue
        per_node = units // r["node_count"]
        # Minute by minute (the generated times are whole minutes), merged into runs of one level.
        t = s
        while t < e:
            level = per_node * nodes_at(r, t)
            if queued:
                level = max(level, units)
            t_next = min(e, t - t % 60_000 + 60_000)
            if out and out[-1][1] == t and out[-1][2] == level:
                out[-1] = (out[-1][0], t_next, level)
            else:
                out.append((t, t_next, level))
            t = t_next
    return [p for p in out if p[2] > 0]


def intervals(
    df: pl.DataFrame, resource: str, queued: bool = False, faults: bool = False
) -> list[tuple[int, int, int, dict[str, Any]]]:
    rows = df.to_dicts()
    fallback = fallback_now(rows)
    out = []
    for r in rows:
        units = r[UNITS[resource]]
        span = held(r, fallback, queued)
        if units and units > 0 and span is not None:
            out.extend((s, e, u, r) for s, e, u in pieces(r, span, units, queued, faults))
    return out


def window_of(
    spans: list[tuple[int, int, int, dict[str, Any]]],
    start: datetime | None,
    end: datetime | None,
) -> tuple[int, int] | None:
    lo = ms(start) if start is not None else min((s for s, *_ in spans), default=None)
    hi = ms(end) if end is not None else max((e for _, e, *_ in spans), default=None)
    return None if lo is None or hi is None or hi <= lo else (lo, hi)


def brute_unit_hours(spans: Any, window: tuple[int, int] | None) -> float:
    if window is None:
        return 0.0
    lo, hi = window
    return sum(max(0, min(e, hi) - max(s, lo)) * u for s, e, u, _ in spans) / HOUR_MS


def brute_peak(spans: Any, window: tuple[int, int] | None) -> int:
    if window is None:
        return 0
    lo, hi = window
    cut = [(max(s, lo), min(e, hi), u) for s, e, u, _ in spans if min(e, hi) > max(s, lo)]
    moments = {s for s, _, _ in cut}
    return max((sum(u for s, e, u in cut if s <= t < e) for t in moments), default=0)


def alloc_unit_hours(alloc: pl.DataFrame, every: str) -> float:
    length = (pl.col("time").dt.offset_by(every) - pl.col("time")).dt.total_milliseconds()
    return float(
        alloc.select(
            (pl.col("allocated_mean").fill_null(0) * pl.col("coverage") * length / HOUR_MS).sum()
        ).item()
    )


def priced(df: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, float]]:
    """Every flavor (null ones named) at 1 per unit-hour, for bills that must not refuse."""
    named = df.with_columns(pl.col("flavor_code").cast(pl.String).fill_null("(none)"))
    named = named.with_columns(pl.col("flavor_code").cast(pl.Categorical()))
    flavors = named["flavor_code"].cast(pl.String).unique().to_list()
    return named, dict.fromkeys(flavors, 1.0)


resources = st.sampled_from(("gpu", "npu"))
everies = st.sampled_from(("1h", "1d"))
zones = st.sampled_from(ZONES)


# -- unit-hours ---------------------------------------------------------------------------------


@st.composite
def frame_and_window(
    draw: st.DrawFn, *, consistent: bool | None = None, maybe: bool = False
) -> tuple[pl.DataFrame, datetime | None, datetime | None, bool]:
    """``(df, start, end, consistent)``: a frame and a window around it (with ``maybe``, half of
    the time none); ``consistent`` None draws it."""
    if consistent is None:
        consistent = draw(st.booleans())
    df = draw(frames(consistent=consistent))
    start, end = draw(windows(df)) if not maybe or draw(st.booleans()) else (None, None)
    return df, start, end, consistent


#: The frame of every shape (tests/strategies.py), and a window inside it that cuts runs.
SHAPED = every_shape()
#: The same with no snapshot time at all (a frame built by hand): "now" is the latest moment the
#: frame vouches for. Pinned, because drawn frames meet it only in some environments (CI met it).
UNSTAMPED = SHAPED.with_columns(observed_at=pl.lit(None, dtype=SHAPED.schema["observed_at"]))
SHAPED_WINDOWS = ((None, None), (BASES[1] + timedelta(hours=1), BASES[1] + timedelta(hours=23)))


def inv_unit_hours(
    case: tuple[pl.DataFrame, datetime | None, datetime | None, bool],
    resource: str,
    every: str,
    tz: str,
) -> None:
    """usage = sum of allocation mean x coverage x bin hours = cost's billed unit-hours (every
    idle mode) = the brute force, with and without a window."""
    df, start, end, consistent = case
    saw(df)
    spans = intervals(df, resource)
    expected = brute_unit_hours(spans, window_of(spans, start, end))
    alloc = mt.allocation(df, every=every, by=None, start=start, end=end, tz=tz, resource=resource)
    assert alloc_unit_hours(alloc, every) == pytest.approx(expected, abs=1e-6)
    named, rates = priced(df)
    # Sizes for the pools used in the window: flavor rates price a pool's idle capacity at its
    # mean rate, which an unused pool does not have (cost refuses that, saying so).
    window = window_of(spans, start, end)
    used = {
        r["pool_id"]
        for s, e, _, r in spans
        if window and r["pool_id"] and min(e, window[1]) > max(s, window[0])
    }
    for idle in ("share", "row", "leave"):
        bill = mt.cost(
            named,
            rates=rates,
            rate_by="flavor_code",
            by="pool_id",
            idle=idle,
            pool_sizes=dict.fromkeys(used, 10_000),
            start=start,
            end=end,
            tz=tz,
            resource=resource,
        )
        assert bill["unit_hours"].sum() == pytest.approx(expected, abs=1e-6), idle
    if consistent and start is None and end is None:
        usage = mt.usage(df, by=None, resource=resource)[HOURS[resource]].item() or 0.0
        assert usage == pytest.approx(expected, abs=1e-6)
    # fault_hours counts the same unit-hours, and of them those of segments that ended in a fault.
    faults = mt.fault_hours(df, by=None, start=start, end=end, tz=tz, resource=resource)
    assert (faults["unit_hours"].sum() or 0.0) == pytest.approx(expected, abs=1e-6)
    lost = intervals(df, resource, faults=True)
    expected_lost = brute_unit_hours(lost, window)
    assert (faults["fault_unit_hours"].sum() or 0.0) == pytest.approx(expected_lost, abs=1e-6)


test_unit_hours_agree, test_unit_hours_agree_heavy = both(
    inv_unit_hours,
    frame_and_window(maybe=True),
    resources,
    everies,
    zones,
    examples=tuple(
        ((SHAPED, *w, False), r, e, z)
        for w, (r, e, z) in itertools.product(
            SHAPED_WINDOWS, (("gpu", "1h", "Europe/Berlin"), ("npu", "1d", "UTC"))
        )
    ),
)


# -- peaks and demand ---------------------------------------------------------------------------


def inv_peaks(
    case: tuple[pl.DataFrame, datetime | None, datetime | None, bool], resource: str, tz: str
) -> None:
    """capacity_needed(q=1) = its peak = the allocation's peak = the brute-force peak; demand
    (include_queued) >= allocation in every bin."""
    df, start, end, _ = case
    saw(df)
    spans = intervals(df, resource)
    window = window_of(spans, start, end)
    need = mt.capacity_needed(df, by=None, q=1.0, start=start, end=end, tz=tz, resource=resource)
    peak = brute_peak(spans, window)
    if need.height:
        assert need["needed"].item() == need["peak"].item() == peak
    else:
        assert window is None
    alloc = mt.allocation(df, every="1h", by=None, start=start, end=end, tz=tz, resource=resource)
    assert (alloc["allocated_peak"].max() or 0) == peak
    # Demand against allocation on one explicit window, so both have the same bins.
    lo = start or BASES[0] - timedelta(days=1)
    hi = end or max(BASES) + timedelta(days=5)
    if hi <= lo:
        return
    args = dict(every="1h", by=None, start=lo, end=hi, tz=tz, resource=resource)
    held = mt.allocation(df, **args)  # type: ignore[arg-type]
    asked = mt.allocation(df, include_queued=True, **args)  # type: ignore[arg-type]
    both_ = held.join(asked, on="time", suffix="_q")
    assert both_.height == held.height == asked.height
    area = pl.col("allocated_mean").fill_null(0) * pl.col("coverage")
    area_q = pl.col("allocated_mean_q").fill_null(0) * pl.col("coverage_q")
    bad = both_.filter(
        (area_q < area - 1e-9) | (pl.col("allocated_peak_q") < pl.col("allocated_peak"))
    )
    assert bad.height == 0, bad


test_peaks_and_demand, test_peaks_and_demand_heavy = both(
    inv_peaks,
    frame_and_window(consistent=False),
    resources,
    zones,
    examples=tuple(
        ((SHAPED, *w, False), r, "Europe/Berlin")
        for w, r in itertools.product(SHAPED_WINDOWS, ("gpu", "npu"))
    ),
)


# -- replays ------------------------------------------------------------------------------------


def inv_replays(df: pl.DataFrame, resource: str) -> None:
    """At a size nobody waits for, every replayed version starts when it was created; under
    FIFO more units never raise a wait quantile."""
    saw(df)
    units = UNITS[resource]
    for pool in df["pool_id"].drop_nulls().cast(pl.String).unique().to_list():
        mine = df.filter((pl.col("pool_id").cast(pl.String) == pool) & (pl.col(units) > 0))
        roomy = int(mine[units].sum() or 0) + 1
        for policy in ("fifo", "backfill"):
            sim = mt.simulate(df, pool_id=pool, units=roomy, policy=policy, resource=resource)  # type: ignore[arg-type]
            ran = sim.filter(pl.col("left_out").is_null())
            assert (ran["sim_start"] == ran["create_time"]).all()
            out = sim.filter(pl.col("left_out").is_not_null())
            assert out["sim_start"].null_count() == out.height
        replayable = mine.filter(
            pl.col("start_time").is_not_null() & pl.col("create_time").is_not_null()
        )
        if not replayable.height:
            continue
        big = int(replayable[units].max())  # type: ignore[arg-type]
        sizes = [big, big + 1, big + 3, 2 * big, roomy + big]
        table = mt.what_if(
            df, pool_id=pool, sizes=sizes, quantiles=(0.5, 0.9, 1.0), resource=resource
        )
        assert table["versions"].n_unique() == 1  # every size fits every version
        for name in ("wait_p50_hours", "wait_p90_hours", "wait_p100_hours"):
            waits = table[name].to_list()
            assert all(b <= a + 1e-9 for a, b in itertools.pairwise(waits)), (
                name,
                waits,
            )
        assert table[-1, "wait_p100_hours"] == pytest.approx(0.0)


test_replays, test_replays_heavy = both(
    inv_replays, frames(), resources, examples=((SHAPED, "gpu"), (SHAPED, "npu"))
)


# -- every analysis accepts every frame --------------------------------------------------------

#: One call per public analysis; a frame may be refused with a ValueError of ours, never break
#: inside polars or Python.
CALLS: dict[str, Callable[[pl.DataFrame, str], Any]] = {
    "allocation": lambda df, r: mt.allocation(df, resource=r, tz="Europe/Berlin"),  # type: ignore[arg-type]
    "allocation_queued": lambda df, r: mt.allocation(df, every="1d", include_queued=True),
    "overlapping": lambda df, r: mt.overlapping(df, start=BASES[1], end=BASES[2]),
    "usage": lambda df, r: mt.usage(df, by=["pool_id", "api"], resource=r),  # type: ignore[arg-type]
    "utilization": lambda df, r: mt.utilization(df, capacity={"p1": 16}, resource=r),  # type: ignore[arg-type]
    "weekly_profile": lambda df, r: A.weekly_profile(df, tz="Europe/Berlin"),
    "capacity_needed": lambda df, r: mt.capacity_needed(df, resource=r),  # type: ignore[arg-type]
    "capacity_queued": lambda df, r: mt.capacity_needed(df, include_queued=True, by=None),
    "cost": lambda df, r: mt.cost(df, rates={"p1": 1.0, "p2": 2.0}, pool_sizes={"p1": 64}),
    "cost_flavor": lambda df, r: mt.cost(
        df, rates={"gpu.8": 1.0, "gpu.1": 1.0, "npu.4": 1.0, "cpu": 0.0}, rate_by="flavor_code"
    ),
    "failure_rate": lambda df, r: mt.failure_rate(df, every="1w", tz="Europe/Berlin"),
    "finished_shares": lambda df, r: str(mt.finished_shares(df)),
    "version_counts": lambda df, r: A.version_counts(df, every="1d"),
    "queue_wait": lambda df, r: mt.queue_wait(df, every="1d", by="gpu_num"),
    "durations": lambda df, r: mt.durations(df, by="outcome"),
    "duration_histogram": lambda df, r: A.duration_histogram(df),
    "quality_report": lambda df, r: mt.quality_report(df),
    "fault_hours": lambda df, r: mt.fault_hours(df, resource=r),  # type: ignore[arg-type]
    "simulate": lambda df, r: mt.simulate(df, pool_id="p1", units=16, policy="backfill"),
    "what_if": lambda df, r: mt.what_if(df, pool_id="p1", sizes=[1, 8, 16]),
    "size_for": lambda df, r: mt.size_for(df, pool_id="p1", wait="1h"),
    "replay_check": lambda df, r: mt.replay_check(df, pool_id="p1"),
    "chargeback": lambda df, r: mt.chargeback(df, resource=r, pool_sizes={"p1": 64}),  # type: ignore[arg-type]
    "chargeback_rates": lambda df, r: mt.chargeback(
        df,
        rates={"p1": 1.0, "p2": 2.0},
        by=["workspace_id", "user_name"],
        resource=r,  # type: ignore[arg-type]
    ),
}


def inv_accepts(df: pl.DataFrame, resource: str) -> None:
    saw(df)
    for name, call in CALLS.items():
        try:
            call(df, resource)
        except pl.exceptions.PolarsError as exc:  # pragma: no cover - the failure message
            raise AssertionError(f"{name} broke inside polars: {exc!r}") from exc
        except ValueError as exc:
            message = str(exc)
            # A documented refusal names what is missing in one sentence of ours.
            assert "no rate for" in message or "has no" in message or "no versions" in message, (
                name,
                message,
            )


test_every_analysis_accepts_every_frame, test_every_analysis_accepts_every_frame_heavy = both(
    inv_accepts,
    frames(),
    resources,
    examples=((SHAPED, "gpu"), (SHAPED, "npu"), (UNSTAMPED, "gpu")),
    drawn=50,
)


def inv_no_rows_same_columns(df: pl.DataFrame, resource: str) -> None:
    """An analysis of a selection with no rows has the columns and types of one with rows, so
    callers can stack results (a report of one GPU pool stacks its GPU and NPU chargebacks)."""
    saw(df)
    for name, call in CALLS.items():
        try:
            some, none = call(df, resource), call(df.clear(), resource)
        except ValueError:
            continue  # a documented refusal, judged by inv_accepts
        if isinstance(some, pl.DataFrame):
            assert none.schema == some.schema, (name, none.schema, some.schema)


test_no_rows_same_columns, test_no_rows_same_columns_heavy = both(
    inv_no_rows_same_columns,
    frames(),
    resources,
    examples=((SHAPED, "gpu"), (SHAPED, "npu"), (UNSTAMPED, "gpu")),
    drawn=20,
)


# -- filtering, sorting, concatenating, splitting by project ------------------------------------

T_LO = datetime(2026, 3, 1, tzinfo=UTC)
T_HI = datetime(2026, 10, 30, tzinfo=UTC)


def _split_calls(df: pl.DataFrame) -> dict[str, Callable[[pl.DataFrame], pl.DataFrame]]:
    _, rates = priced(df)
    window = dict(start=T_LO, end=T_HI)
    return {
        "allocation": lambda d: mt.allocation(
            d, every="1d", by=["project_id", "pool_id"], **window
        ),  # type: ignore[arg-type]
        "capacity_needed": lambda d: mt.capacity_needed(
            d,
            by=["project_id", "pool_id"],
            q=0.9,
            **window,  # type: ignore[arg-type]
        ),
        "cost": lambda d: mt.cost(
            priced(d)[0],
            rates=rates,
            rate_by="flavor_code",
            by=["project_id", "workspace_id"],
            idle="leave",
            **window,  # type: ignore[arg-type]
        ),
        "failure_rate": lambda d: mt.failure_rate(d, by=["project_id", "pool_id"], every="1d"),
        "queue_wait": lambda d: mt.queue_wait(d, by=["project_id", "api"]),
        "usage": lambda d: mt.usage(d, by=["project_id", "pool_id"]).drop("share"),
        "fault_hours": lambda d: mt.fault_hours(
            d,
            by=["project_id", "pool_id", "user_name"],
            **window,  # type: ignore[arg-type]
        ),
        "version_counts": lambda d: A.version_counts(d, by=["project_id", "outcome"]),
        "durations": lambda d: mt.durations(d, by=["project_id", "outcome"]),
    }


def _canonical(frame: pl.DataFrame) -> pl.DataFrame:
    out = frame.with_columns(
        pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t in (pl.Categorical, pl.Enum)
    )
    return out.sort(out.columns, nulls_last=True)


def inv_split(df: pl.DataFrame, seed: int) -> None:
    saw(df)
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=seed)
    projects = df["project_id"].unique().to_list()
    for name, call in _split_calls(df).items():
        # The whole frame shuffled against its parts in their original order: sorting,
        # splitting and concatenating at once.
        whole = _canonical(call(shuffled))
        parts = [call(df.filter(pl.col("project_id") == p)) for p in projects]
        filled = [p for p in parts if p.height]
        if not whole.height or not filled:
            assert not whole.height and not filled, name
            continue
        joined = _canonical(pl.concat(filled, how="vertical_relaxed"))
        assert_frame_equal(joined, whole, check_exact=False, abs_tol=1e-9, check_dtypes=False)


test_split_by_project, test_split_by_project_heavy = both(
    inv_split,
    frames(observed=True),
    st.integers(0, 99),
    # The frame of every shape, read by a client: every row carries its snapshot time.
    examples=((SHAPED.with_columns(pl.col("observed_at").fill_null(BASES[2])), 7),),
    never=("no observed_at",),
    drawn=50,
)


# -- the shapes every invariant runs on ---------------------------------------------------------

#: A shape the generator must never produce.
NEVER: Final = "v1 with run detail (must stay 0)"
#: Shapes of whole frames, counted by :func:`saw` besides :data:`SHAPES`.
FRAME_SHAPES: Final = ("several snapshots", "ties", "a DST day")
#: Shapes of rows (tests/strategies.py's module docstring): each invariant's frames must show
#: every one (:func:`both`).
SHAPES: dict[str, pl.Expr] = {
    "v1": pl.col("api") == "v1",
    "v2": pl.col("api") == "v2",
    **{f"outcome {o}": pl.col("outcome") == o for o in mt.OUTCOMES},
    "v2 unknown with a duration": (pl.col("api") == "v2")
    & (pl.col("outcome") == "unknown")
    & (pl.col("duration").dt.total_milliseconds() > 0),
    "unknown without a duration": (pl.col("outcome") == "unknown")
    & pl.col("start_time").is_not_null()
    & ~(pl.col("duration").dt.total_milliseconds() > 0).fill_null(False),
    "never-started v2 failure": (pl.col("api") == "v2")
    & (pl.col("outcome") == "failed")
    & pl.col("start_time").is_null(),
    "public pool without id": pl.col("pool_id").is_null() & (pl.col("gpu_num") > 0),
    "0 units on a GPU flavor": (pl.col("flavor_code") == "gpu.8") & (pl.col("gpu_num") == 0),
    "end after the snapshot": pl.col("end_time") > pl.col("observed_at"),
    "no create_time": pl.col("create_time").is_null(),
    "no observed_at": pl.col("observed_at").is_null(),
    "no duration": pl.col("duration").is_null(),
    "no gpu_num": pl.col("gpu_num").is_null(),
    "no workspace": pl.col("workspace_id").is_null(),
    "npu": pl.col("npu_num") > 0,
    # issue 19's columns, on v2 rows only
    "v2 without segments": (pl.col("api") == "v2") & pl.col("segments").is_null(),
    "empty segments": pl.col("segments").list.len() == 0,
    "one segment": pl.col("segments").list.len() == 1,
    "several segments": pl.col("segments").list.len() > 1,
    "a gap between segments": (
        pl.col("segments").list.get(1, null_on_oob=True).struct.field("start")
        > pl.col("segments").list.first().struct.field("end")
    ),
    "an open last segment": pl.col("segments").list.last().struct.field("end").is_null(),
    "a segment past the row's end": pl.col("segments")
    .list.eval(pl.element().struct.field("end").max())
    .list.first()
    > pl.col("end_time"),
    "a segment past the snapshot": pl.col("segments")
    .list.eval(pl.element().struct.field("end").max())
    .list.first()
    > pl.col("observed_at"),
    "a faulted segment": pl.col("segments")
    .list.eval(pl.element().struct.field("end_recover").fill_null("") != "")
    .list.any(),
    "node counts": pl.col("node_counts").is_not_null(),
    "a node count before the start": pl.col("node_counts").list.first().struct.field("time")
    < pl.col("start_time"),
    "a node count after the end": pl.col("node_counts").list.last().struct.field("time")
    > pl.col("end_time"),
    "0 nodes": pl.col("node_counts").list.eval(pl.element().struct.field("nodes") == 0).list.any(),
    "segments and node counts": pl.col("segments").list.len().fill_null(0).gt(0)
    & pl.col("node_counts").is_not_null(),
    **{f"priority {p}": pl.col("priority") == p for p in (1, 2, 3)},
    "v2 without priority": (pl.col("api") == "v2") & pl.col("priority").is_null(),
    "preemptible": pl.col("preemptible"),
    "not preemptible": ~pl.col("preemptible"),
    "v2 preemptible unknown": (pl.col("api") == "v2") & pl.col("preemptible").is_null(),
    # v1 rows never carry them
    NEVER: (pl.col("api") == "v1")
    & pl.any_horizontal(
        pl.col(c).is_not_null()
        for c in ("segments", "node_counts", "restarts", "priority", "preemptible")
    ),
}
