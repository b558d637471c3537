"""The status table and the outcome grouping against the API reference's job_statuses.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mavtools import statuses

REFERENCE = Path(__file__).parent / "data" / "job_statuses.csv"  # copied from the API reference


def reference_rows() -> list[dict[str, str]]:
    with REFERENCE.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_documented_code_has_its_documented_name():
    rows = reference_rows()
    assert len(rows) == 22
    for row in rows:
        assert statuses.status_name(int(row["code"])) == row["constant"].removeprefix("JOBSTAT_")


def test_every_code_belongs_to_exactly_one_outcome():
    seen: dict[int, str] = {}
    for outcome in statuses.OUTCOMES:
        for code in statuses.codes_for_outcome(outcome):
            assert code not in seen, f"{code} is both {seen[code]} and {outcome}"
            seen[code] = outcome
    assert sorted(seen) == list(range(22))


@pytest.mark.parametrize(
    ("meaning", "outcome"),
    [
        ("completed", "succeeded"),
        ("run failed", "failed"),
        ("canceled", "canceled"),
        ("canceled successfully", "canceled"),
        ("queuing", "pending"),
        ("running", "running"),
        ("lost", "failed"),
        ("job image creation failed", "failed"),
    ],
)
def test_outcomes_follow_the_documented_meanings(meaning, outcome):
    code = next(int(r["code"]) for r in reference_rows() if r["meaning"] == meaning)
    assert statuses.outcome_of(code) == outcome


def test_unknown_codes_stay_readable():
    assert statuses.status_name(57) == "STATUS_57"
    assert statuses.outcome_of(57) == "unknown"
    assert "unknown" in statuses.UNFINISHED_OUTCOMES


def test_status_values_are_read_from_codes_and_names():
    assert statuses.status_code("JOBSTAT_RUNNING") == 8
    assert statuses.status_code(" completed ") == 10
    assert statuses.status_code("11") == 11
    with pytest.raises(ValueError, match="not a job status"):
        statuses.status_code("SLEEPING")
    with pytest.raises(ValueError):
        statuses.status_code(True)
