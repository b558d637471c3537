"""Tables for people: words, human durations, percentages, separators, the same HTML every run."""

from __future__ import annotations

import re

import polars as pl
import pytest

import mavtools as mt
from mavtools.views.tables import human_hours, table


def cells(html: str) -> list[str]:
    return re.findall(r"<td[^>]*>([^<]*)</td>", html)


@pytest.mark.parametrize(
    ("hours", "text"),
    [(10 / 3600, "10 s"), (0.05, "3 min"), (0.5, "30 min"), (4.8, "4.8 h"), (60, "2.5 d"),
     (None, "–")],
)  # fmt: skip
def test_human_hours(hours: float | None, text: str) -> None:
    assert human_hours(hours) == text


def test_a_table_speaks_words_units_and_separators() -> None:
    frame = pl.DataFrame(
        {
            "workspace_id": ["0", "abc"],
            "versions": [1498, 12],
            "gpu_hours": [27153.04, 3.0],
            "share": [0.456, 0.0001],
            "wait_p50_hours": [4.8, 0.04],
        }
    )
    html = table(frame, table_id="t", title="Usage", names={"0": "default"}).gt.as_raw_html()
    assert cells(html)[1:] == [
        "default", "0", "1,498", "27,153.0", "45.6%", "4.8 h",
        "abc", "abc", "12", "3.0", "0.0%", "2 min",
    ]  # fmt: skip
    for label in ("workspace", "id", "GPU-hours", "share", "wait p50"):
        assert f">{label}<" in html
    assert "i64" not in html and "shape:" not in html and '"default"' not in html
    assert 'id="t"' in html
    shown = table(frame, table_id="t", title="Usage", names={"0": "default"})._repr_mimebundle_()
    assert shown["text/html"].startswith(html) and "Download CSV" in shown["text/html"]
    assert shown["text/plain"].startswith("Usage\n") and "0x" not in shown["text/plain"]


def test_queue_wait_by_pool_reads_in_minutes_and_hours() -> None:
    df = mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)
    waits = mt.queue_wait(df, by="pool_id")
    texts = cells(table(waits, table_id="w").gt.as_raw_html())  # no title: no header cell
    row = texts.index("pool-a100-research")
    p50 = waits.filter(pl.col("pool_id") == "pool-a100-research")["wait_p50_hours"].item()
    assert texts[row + 2] == human_hours(p50) and texts[row + 2].endswith(" h")


def test_shares_of_what_if_and_per_unit_read_as_percentages() -> None:
    frame = pl.DataFrame(
        {
            "units": [16],
            "share_waited_over_1h": [0.714829],
            "gpu_share": [0.445],
            "npu_share": [0.5],
        }
    )
    html = table(frame, table_id="w").gt.as_raw_html()
    assert cells(html) == ["16", "71.5%", "44.5%", "50.0%"]
    assert "waited over 1 h" in html and "GPU share" in html and "NPU share" in html


def test_chargeback_amounts_and_sizing_utilization_read_as_numbers_and_percentages() -> None:
    frame = pl.DataFrame(
        {
            "unit_hours": [1234.56],  # GPU-hours held, an amount: not "1.4 months"
            "idle_unit_hours": [50.0],
            "utilization_now": [0.6593],
            "coverage": [0.8],
            "wait_now_hours": [42.15],
        }
    )
    html = table(frame, table_id="c").gt.as_raw_html()
    assert cells(html) == ["1,234.6", "50.0", "65.9%", "80.0%", "42.1 h"]


def test_verdicts_read_as_a_list_with_their_subject_in_bold_and_as_lines_in_plain_text():
    lines = [
        "pool-a: add 1 node (8 GPUs): p90 wait 11 h -> 1.2 h",
        "pool-b in 13w (forecast demand x1.68): add 3 nodes",
        "A sentence with no subject, and <markup> to escape.",
    ]
    bundle = mt.tables.sentences(lines, title="What to change")._repr_mimebundle_()
    assert bundle["text/plain"] == "What to change\n" + "\n".join(lines)
    items = re.findall(r"<li>(.*?)</li>", bundle["text/html"])
    assert items == [
        "<b>pool-a</b>: add 1 node (8 GPUs): p90 wait 11 h -&gt; 1.2 h",
        "<b>pool-b in 13w (forecast demand x1.68)</b>: add 3 nodes",
        "A sentence with no subject, and &lt;markup&gt; to escape.",
    ]
    assert "<pre" not in bundle["text/html"]  # the page's font, wrapped at spaces
