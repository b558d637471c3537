"""``mavtools report --filter`` on capacity.ipynb, for selections a lead sends to one team.

Each selection runs the notebook in a real kernel, as the report does. They used to fail: a GPU
pool's report stacked an empty NPU chargeback of other columns; an Ascend or CPU pool's report
replayed the configured pool, which ran nothing of the selection; a window of two days had too
little history to backtest the start prediction on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mavtools.views.report_filter import ReportFilter
from mavtools.views.report_run import execute_notebook

CAPACITY = Path(__file__).resolve().parents[1] / "notebooks" / "capacity.ipynb"


def shown(notebook) -> str:
    """Everything the executed notebook shows as text (streams and plain-text outputs)."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            ["pool=pool-ascend-910"],
            [
                "Note: pool-a100-research ran no GPU or NPU job of these data; "
                "the what-if replays pool-ascend-910 instead.",
                "pool-ascend-910 replayed at other sizes",
                # whole nodes of 4 NPUs beside today's 12 (sizes once started at 12 // 2 = 6)
                "What if: pool-ascend-910: 12 NPUs today, p90 wait",
                "; with 16, ",
                "; with 20, ",
                "job submitted now (2026-10-01 15:00 UTC) on pool-ascend-910",
            ],
        ),
        (
            ["pool=pool-cpu-public"],
            [
                "there is no pool to replay.",
                "No prediction: no pool of a known size to ask about",
            ],
        ),
        (
            ["pool=pool-a100-research", "end=2026-07-05"],
            ["Note: the prediction is not backtested: pool 'pool-a100-research' has no started"],
        ),
    ],
    ids=["ascend-pool", "cpu-pool", "two-days"],
)
def test_a_report_of_one_selection_runs_and_says_what_it_left_out(filters, expected):
    notebook = execute_notebook(CAPACITY, selection=ReportFilter.parse(filters))
    text = shown(notebook)
    for sentence in expected:
        assert sentence in text
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
