"""The report as a summary (issue 25): headline numbers first, a compact footer with workspace
names, and ``--filter`` narrowing the notebook's frame to one team's selection."""

from __future__ import annotations

from datetime import datetime

import nbformat
import polars as pl
import pytest

import mavtools as mt
from mavtools.errors import ConfigError
from mavtools.views.headline import capacity_headline, explore_headline, show_headline
from mavtools.views.report import report_html
from mavtools.views.report_filter import ReportFilter

VISION = "7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b"


@pytest.fixture(scope="module")
def client() -> mt.Client:
    return mt.samples_client()


@pytest.fixture(scope="module")
def df(client: mt.Client) -> pl.DataFrame:
    return client.list_versions(workspace_id=mt.ALL_WORKSPACES)


def test_filters_parse_and_say_what_they_select() -> None:
    chosen = ReportFilter.parse(
        ["workspace=vision-team", "pool=pool-a100-prod,pool-v100-batch", "start=2026-09-01"]
    )
    assert chosen.values == {
        "workspace": ("vision-team",),
        "pool": ("pool-a100-prod", "pool-v100-batch"),
    }
    assert chosen.describe() == (
        "workspace vision-team; pool pool-a100-prod, pool-v100-batch; 2026-09-01 to end"
    )
    assert not ReportFilter.parse([])
    for bad in ("team=x", "workspace", "start=yesterday"):
        with pytest.raises(ConfigError, match="--filter"):
            ReportFilter.parse([bad])


def test_the_filter_cell_selects_what_polars_selects(client: mt.Client, df: pl.DataFrame) -> None:
    chosen = ReportFilter.parse(["workspace=vision-team", "user=emil.berg", "end=2026-09-15"])
    namespace = {"client": client, "versions": df, "history": df}
    exec(chosen.code(), namespace)  # what the injected cell runs in the notebook's kernel
    expected = mt.overlapping(
        df.filter(pl.col("workspace_id") == VISION, pl.col("user_name") == "emil.berg"),
        end=datetime(2026, 9, 15),
    )
    assert namespace["versions"].equals(expected) and namespace["history"].equals(expected)
    assert 0 < expected.height < df.height


def test_headline_numbers_equal_polars(client: mt.Client, df: pl.DataFrame) -> None:
    head = dict(explore_headline(df, names=client.workspace_names()).facts)
    finished = df.filter(pl.col("outcome").is_in(["succeeded", "failed", "canceled"]))
    assert head["versions"] == f"{df.height:,}"
    assert head["GPU-hours"] == f"{df['gpu_hours'].sum():,.0f}"
    failed = (finished["outcome"] == "failed").mean()
    assert head["failed (of finished)"] == f"{failed:.1%}"
    assert head["top workspaces (unit-hours)"].startswith("default ")
    pools = capacity_headline(df, {"pool-a100-prod": 16}).table
    assert pools is not None
    a100 = pools.filter(pl.col("pool") == "pool-a100-prod").row(0, named=True)
    hours = df.filter(pl.col("pool_id") == "pool-a100-prod")["gpu_hours"].sum()
    assert a100["unit-hours"] == f"{hours:,.0f}" and a100["size"] == "16"
    assert show_headline({"x": 1}) is None  # a notebook without a frame shows nothing


def test_headline_first_and_provenance_in_a_footer_with_names() -> None:
    notebook = nbformat.v4.new_notebook()
    load = nbformat.v4.new_code_cell("load")
    load.outputs = [
        nbformat.v4.new_output(
            "stream",
            name="stdout",
            text=f"bundled sample data | project p1 | query: workspace_id=['{VISION}'] | "
            f"fetched 2026-10-01 15:00 UTC | 3 versions\nworkspaces read: eu/p1/{VISION}\n",
        )
    ]
    head = nbformat.v4.new_code_cell("headline", metadata={"tags": ["headline"]})
    head.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": "<div class='mavtools-headline'>3 versions</div>"},
            metadata={"mavtools": {"workspaces": ["vision-team"]}},
        )
    ]
    notebook.cells = [nbformat.v4.new_markdown_cell("# Title"), load, head]
    page, _, origin = report_html(notebook, name="n.ipynb", selection="workspace vision-team")
    assert page.index(">3 versions</div>") < page.index('<h1 id="Title"')
    footer = page[page.index('<footer class="mavtools-report-footer">') :]
    assert "Workspaces: vision-team." in footer and "fetched 2026-10-01 15:00 UTC" in footer
    assert VISION not in page  # neither the query nor the "workspaces read" ids
    assert "Selection: workspace vision-team." in page and origin.startswith("bundled")


def test_a_value_no_version_has_is_refused_with_the_values_there_are(
    client: mt.Client, df: pl.DataFrame
) -> None:
    names = client.workspace_names()
    ReportFilter.parse(["workspace=vision-team", f"workspace={VISION}"]).check(df, names)
    with pytest.raises(ValueError, match="workspace=visoin-team matches no version") as info:
        ReportFilter.parse(["workspace=visoin-team"]).check(df, names)
    assert "its workspaces: " in str(info.value) and "vision-team" in str(info.value)
    assert VISION not in str(info.value)  # named, not by id
    with pytest.raises(ValueError, match=r"pool=pool-h100 matches no version.*pool-a100-prod"):
        ReportFilter.parse(["pool=pool-a100-prod,pool-h100"]).check(df, names)
    # A window that holds nothing is a selection, not a typo.
    empty = ReportFilter.parse(["end=2026-01-01"])
    empty.check(df, names)
    assert empty.select(df, names).height == 0
