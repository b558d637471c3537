"""The 22 ModelArts job-status codes and mavtools' grouping of them into outcomes.

The API reports a small integer per version (see ``job_statuses.csv`` in the API reference). Its own
documentation is inconsistent about which codes mean "failed" (it names 3, 5, 6 and 13, yet 11 is
"run failed" and 13 is "canceled"), so the grouping below is mavtools' decision, stated once here:

============  ==========================================================================
outcome       codes
============  ==========================================================================
pending       1 INIT, 2 IMAGE_CREATING, 4 SUBMIT_TRYING, 7 WAITING, 18 CHECK_INIT
running       8 RUNNING, 9 KILLING, 15 SCALING, 19 CHECK_RUNNING (resources still held)
succeeded     10 COMPLETED, 20 CHECK_RUNNING_COMPLETED
failed        3 IMAGE_FAILED, 5 SUBMIT_FAILED, 11 FAILED, 14 LOST, 16 SUBMIT_MODEL_FAILED,
              17 DEPLOY_SERVICE_FAILED, 21 CHECK_FAILED
canceled      12 KILLED, 13 CANCELED
unknown       0 UNKNOWN, 6 DELETE_FAILED (says nothing about the run), any undocumented code
============  ==========================================================================

New-version (v2) training jobs have no status code: they report a ``phase`` and a more detailed
``secondary_phase`` (the API reference warns the latter may change). mavtools maps each v2 job onto
the v1 code that means the same thing, so ``status``, ``status_name`` and ``outcome`` read alike for
both kinds of job and status filters work across them (:func:`v2_status_code`):

=================  ============================  ===========
phase              code                          outcome
=================  ============================  ===========
Creating           1 INIT                        pending
Pending            7 WAITING                     pending
Running            8 RUNNING                     running
Terminating        9 KILLING                     running (resources still held)
Completed          10 COMPLETED                  succeeded
Failed             11 FAILED                     failed
Terminated         12 KILLED                     canceled
Abnormal           0 UNKNOWN                     unknown
(anything else)    0 UNKNOWN                     unknown
=================  ============================  ===========

Two secondary phases say more than their phase and win: ``CreateFailed`` -> 5 SUBMIT_FAILED
(failed, never started) and ``Lost`` -> 14 LOST (failed). The others repeat or refine the phase
(``Queuing`` is Pending) and are ignored. A v2 job whose outcome is finished (succeeded, failed,
canceled: the phases in :data:`V2_TERMINAL_PHASES`, and Abnormal/Lost) is terminal: its end time is
start + duration (the API sends no end time).

``pending`` and ``running`` versions are *unfinished*: their end time and duration can still change,
which is what the cache's incremental refresh relies on. ``unknown`` versions are treated as
unfinished too, because nothing proves they will not change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = [
    "FINISHED_OUTCOMES",
    "OUTCOMES",
    "STATUS_NAMES",
    "UNFINISHED_OUTCOMES",
    "V2_PHASE_CODES",
    "V2_TERMINAL_PHASES",
    "outcome_of",
    "status_code",
    "status_name",
    "v2_phases_for_codes",
    "v2_status_code",
]

#: Documented codes -> constant without the ``JOBSTAT_`` prefix.
STATUS_NAMES: Final[dict[int, str]] = {
    0: "UNKNOWN",
    1: "INIT",
    2: "IMAGE_CREATING",
    3: "IMAGE_FAILED",
    4: "SUBMIT_TRYING",
    5: "SUBMIT_FAILED",
    6: "DELETE_FAILED",
    7: "WAITING",
    8: "RUNNING",
    9: "KILLING",
    10: "COMPLETED",
    11: "FAILED",
    12: "KILLED",
    13: "CANCELED",
    14: "LOST",
    15: "SCALING",
    16: "SUBMIT_MODEL_FAILED",
    17: "DEPLOY_SERVICE_FAILED",
    18: "CHECK_INIT",
    19: "CHECK_RUNNING",
    20: "CHECK_RUNNING_COMPLETED",
    21: "CHECK_FAILED",
}

#: The outcome categories, in the order figures and tables show them.
OUTCOMES: Final[tuple[str, ...]] = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "canceled",
    "unknown",
)
FINISHED_OUTCOMES: Final[frozenset[str]] = frozenset({"succeeded", "failed", "canceled"})
UNFINISHED_OUTCOMES: Final[frozenset[str]] = frozenset({"pending", "running", "unknown"})

_OUTCOME_CODES: Final[dict[str, tuple[int, ...]]] = {
    "pending": (1, 2, 4, 7, 18),
    "running": (8, 9, 15, 19),
    "succeeded": (10, 20),
    "failed": (3, 5, 11, 14, 16, 17, 21),
    "canceled": (12, 13),
    "unknown": (0, 6),
}
_OUTCOME_BY_CODE: Final[dict[int, str]] = {
    code: outcome for outcome, codes in _OUTCOME_CODES.items() for code in codes
}

#: v2 ``phase`` -> the v1 code meaning the same (see the module docstring).
V2_PHASE_CODES: Final[dict[str, int]] = {
    "Creating": 1,
    "Pending": 7,
    "Running": 8,
    "Terminating": 9,
    "Completed": 10,
    "Failed": 11,
    "Terminated": 12,
    "Abnormal": 0,
}
#: v2 ``secondary_phase`` values that override their phase's code.
V2_SECONDARY_CODES: Final[dict[str, int]] = {"CreateFailed": 5, "Lost": 14}
#: Phases after which a v2 job no longer changes: its end time is start + duration.
V2_TERMINAL_PHASES: Final[frozenset[str]] = frozenset({"Completed", "Failed", "Terminated"})


def v2_status_code(phase: str | None, secondary_phase: str | None = None) -> int:
    """Return the v1 status code a v2 job's phase (and secondary phase) corresponds to.

    Example:
        >>> v2_status_code("Running"), v2_status_code("Failed", "CreateFailed")
        (8, 5)
    """
    if secondary_phase in V2_SECONDARY_CODES:
        return V2_SECONDARY_CODES[secondary_phase]
    return V2_PHASE_CODES.get(phase or "", 0)


def v2_phases_for_codes(codes: Iterable[int]) -> list[str] | None:
    """The v2 phases a server-side ``phase in [...]`` filter needs to select ``codes``.

    Codes no v2 job can have (3 IMAGE_FAILED, 15 SCALING, ...) need no phase, so the list may be
    empty: no v2 job matches. Returns None when the phases cannot be told: 0 UNKNOWN (also any
    phase the table does not know) and the codes only a secondary phase yields (5, 14), whose
    phase the documentation does not fix; the caller then reads every phase and filters locally.

    Example:
        >>> v2_phases_for_codes([8, 9, 15, 19])
        ['Running', 'Terminating']
    """
    wanted = set(codes)
    if wanted & {0, *V2_SECONDARY_CODES.values()}:
        return None
    return sorted(phase for phase, code in V2_PHASE_CODES.items() if code in wanted)


def status_name(code: int) -> str:
    """Return the readable name of a status code; undocumented codes read ``STATUS_<code>``.

    Example:
        >>> status_name(10), status_name(42)
        ('COMPLETED', 'STATUS_42')
    """
    return STATUS_NAMES.get(code, f"STATUS_{code}")


def outcome_of(code: int) -> str:
    """Return the outcome (one of :data:`OUTCOMES`) a status code belongs to."""
    return _OUTCOME_BY_CODE.get(code, "unknown")


def status_code(value: int | str) -> int:
    """Turn a status given as a code, a numeric string or a name (``"RUNNING"``) into its code.

    Raises:
        ValueError: the value names no status.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a job status")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    name = text.upper().removeprefix("JOBSTAT_")
    for code, known in STATUS_NAMES.items():
        if known == name:
            return code
    raise ValueError(
        f"{value!r} is not a job status; use a code 0-21 or a name such as RUNNING or COMPLETED"
    )


def codes_for_outcome(outcome: str) -> tuple[int, ...]:
    """Return the documented codes grouped under ``outcome``."""
    try:
        return _OUTCOME_CODES[outcome]
    except KeyError:
        raise ValueError(
            f"{outcome!r} is not an outcome; choose from {', '.join(OUTCOMES)}"
        ) from None
