"""What nbval does not check about the stored notebooks: size, no widget state, how they open.

nbval (``--nbval`` in pyproject) re-executes them and compares their outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import mavtools as mt

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
#: How each notebook's configuration cell chooses the period (capacity: a window by overlap).
WINDOW_SETTINGS = {
    "capacity.ipynb": ("WINDOW_START", "WINDOW_END", "TIMEZONE"),
    "explore.ipynb": ("WINDOW_START", "WINDOW_END", "TIMEZONE"),
}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_both_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == ["capacity.ipynb", "explore.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_small_and_without_widget_state(path: Path) -> None:
    assert path.stat().st_size < 3 * 1024 * 1024
    nb = load(path)
    assert "widgets" not in nb["metadata"]
    for cell in code_cells(nb):
        assert "execution" not in cell["metadata"]
        for output in cell["outputs"]:
            assert output["output_type"] != "error", cell["source"]
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opens_with_introduction_configuration_and_provenance(path: Path) -> None:
    nb = load(path)
    assert nb["cells"][0]["cell_type"] == "markdown"
    assert "".join(nb["cells"][0]["source"]).startswith("# ")
    config, load_cell = code_cells(nb)[:2]
    source = "".join(config["source"])
    for setting in ("SOURCE", "WORKSPACES", *WINDOW_SETTINGS[path.name]):
        assert f"{setting} =" in source
    assert "mt.load_versions(" in "".join(load_cell["source"])
    first_output = "".join(load_cell["outputs"][0]["text"])
    assert first_output.startswith("bundled sample data (synthetic, not your account)")
    assert "fetched 2026-10-01 15:00 UTC" in first_output
    # Without credentials the samples' warning is a visible, deterministic line under the origin
    # (issue 14: the workspaces read and refused follow).
    lines = first_output.splitlines()
    assert lines[1].startswith("Setup: No ModelArts credentials were found")
    assert lines[2].startswith("workspaces read: eu-de/0a1b2c3d4e5f60718293a4b5c6d7e8f9/0, ")
    assert lines[3] == "workspaces refused: none"
    assert "1,511 v1, 1,489 v2" in lines[4]  # jobs of both APIs, counted
    streams = [o.get("name") for c in code_cells(nb) for o in c["outputs"]]
    assert "stderr" not in streams


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_in_order(path: Path) -> None:
    counts = [c["execution_count"] for c in code_cells(load(path))]
    assert counts == list(range(1, len(counts) + 1))


def test_explore_shows_the_dashboard_and_static_figures() -> None:
    nb = load(next(p for p in NOTEBOOKS if p.name == "explore.ipynb"))
    texts = [
        "".join(o.get("data", {}).get("text/plain", ""))
        for c in code_cells(nb)
        for o in c["outputs"]
    ]
    assert any(t.startswith("Dashboard: 3,000 of 3,000 versions") for t in texts)
    plotly = [
        o
        for c in code_cells(nb)
        for o in c["outputs"]
        if "application/vnd.plotly.v1+json" in o.get("data", {})
    ]
    titles = [
        o["data"]["application/vnd.plotly.v1+json"]["layout"]["title"]["text"] for o in plotly
    ]
    # Every pool the samples' versions name, the public-pool job without a pool id as one more.
    samples = mt.load_versions(mt.samples_client(), workspace_id=mt.ALL_WORKSPACES)
    pools = samples["pool_id"].n_unique()
    assert titles == [
        "Queue wait by pool",
        "Queue wait by GPUs per version",
        f"Queue wait by pool (3 with the longest p90 wait; {pools - 3} more) over time",
        "GPUs allocated by pool",
        "GPU-hours by workspace",
        "Versions created per week by outcome (hatched: partial week)",
        "Run time of finished versions",
    ]
    # Usage by workspace shows names, ids in hover; tables are for people (no dtype rows).
    (usage,) = [
        o for c in code_cells(nb) for o in c["outputs"]
        if "".join(o.get("data", {}).get("text/plain", "")).startswith("Usage by workspace")
    ]  # fmt: skip
    html = "".join(usage["data"]["text/html"])
    # Workspace 0's GPU-hours, summed here from the samples rather than copied from the notebook.
    ws0 = samples.filter(pl.col("workspace_id") == "0")["gpu_hours"].sum()
    assert "vision-team" in html and "speech-lab" in html and f"{ws0:,.1f}" in html
    assert "str</" not in html and "f64" not in html
    # The instruction that needs a kernel is tagged, so reports leave it out.
    tagged = [c for c in nb["cells"] if "kernel-only" in c["metadata"].get("tags", [])]
    assert len(tagged) == 5 and "Run All" in "".join(tagged[0]["source"])
    assert "model not found" in "".join(tagged[1]["source"])  # how to bring a reloaded one back
    # Several projects in one frame (issue 11): a CLIENTS setting, passed to load_versions.
    config, load_cell = ("".join(c["source"]) for c in code_cells(nb)[:2])
    assert "CLIENTS = None" in config and 'mt.Client.from_cloud("otc-nl-team-b")' in config
    assert "client = CLIENTS" in load_cell and "now=" not in "".join(
        "".join(c["source"]) for c in code_cells(nb)
    )
    # Who uses and who waits: by user next to by workspace, v1 jobs as one group.
    for title in ("Usage by user", "Queue wait by user", "Queue wait by workspace"):
        (out,) = [t for t in texts if t.startswith(title + "\n")]
        assert "(v1 job, no user)" in out or "workspace" in title


def test_capacity_has_one_marked_pool_sizes_cell() -> None:
    nb = load(next(p for p in NOTEBOOKS if p.name == "capacity.ipynb"))
    marked = [c for c in code_cells(nb) if "POOL SIZES (edit)" in "".join(c["source"])]
    assert len(marked) == 1
    source = "".join(marked[0]["source"])
    # ModelArts' sizes by default; the hand-typed dictionary replaces them only when filled.
    assert "POOL_SIZES_OVERRIDE = {}" in source
    assert "POOL_SIZES = POOL_SIZES_OVERRIDE or mt.pool_sizes(pools)" in source
    assert "pools = client.pools()" in source


def test_capacity_reads_v1_and_v2_and_reports_shares_apart() -> None:
    nb = load(next(p for p in NOTEBOOKS if p.name == "capacity.ipynb"))
    sources = "".join("".join(c["source"]) for c in code_cells(nb))
    assert "now=" not in sources and "CREATED_FROM" not in sources  # issue 9: observed_at, overlap
    texts = [
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for c in code_cells(nb)
        for o in c["outputs"]
    ]
    everything = "\n".join(texts)
    assert "1,511 v1, 1,489 v2" in everything  # the samples' jobs of both APIs, counted
    assert "(v1 job, no user)" in everything and "anna.keller" in everything
    assert "failed_share" in everything and "canceled_share" in everything
    assert "failure_rate" not in everything  # never their sum
    assert "NaN" not in everything and "SamplesWarning" not in everything


def test_capacity_tables_figures_and_kernel_only_instruction() -> None:
    nb = load(next(p for p in NOTEBOOKS if p.name == "capacity.ipynb"))
    sources = "\n".join("".join(c["source"]) for c in code_cells(nb))
    # One palette of all pools for every figure; shares drawn by the library's figure.
    assert "COLORS = mt.style.palette(" in sources and "colors=COLORS" in sources
    assert "failure_rate_figure(" in sources and "go.Bar" not in sources
    # Tables for people: every table output is a Great Table (HTML with its fixed id).
    html_outputs = [
        o["data"] for c in code_cells(nb) for o in c["outputs"] if "text/html" in o.get("data", {})
    ]
    # Four HTML outputs are lists of sentences, not tables: the sizing verdicts, the pools with
    # no forecast shown, the summaries of capacity needed and of demand with queued versions.
    lists = [
        "".join(d["text/html"])
        for d in html_outputs
        if "mavtools-sentences" in "".join(d["text/html"])
    ]
    tables = [d for d in html_outputs if "mavtools-sentences" not in "".join(d["text/html"])]
    assert len(lists) == 4
    assert "<li><b>pool-a100-prod</b>: add 1 node" in lists[0]
    assert "<li><b>pool-a100-prod</b>: no forecast shown" in lists[1]
    assert "pool-a100-prod needs 34 GPUs to cover 95% of hours without queueing" in lists[3]
    # 9, the Decision section (verdicts, backtest, two chargebacks), the queue now (pools, waiting)
    assert len(tables) == 15
    for data in tables:
        html = "".join(data["text/html"])
        assert '<div id="' in html and "shape:" not in html and "f64" not in html
    # The instruction to type pool sizes needs a kernel: the report leaves it out.
    tagged = [
        "".join(c["source"]) for c in nb["cells"] if "kernel-only" in c["metadata"].get("tags", [])
    ]
    assert len(tagged) == 5 and any("fill the marked dictionary" in t for t in tagged)
    # The what-if picker needs a kernel too: a report shows the configured pool's figure once.
    assert any("WhatIfNodes" in t for t in tagged)


def test_capacity_decision_gives_the_replays_answer_once_per_pool() -> None:
    nb = load(next(p for p in NOTEBOOKS if p.name == "capacity.ipynb"))
    cell = next(c for c in code_cells(nb) if "decision = mt.sizing(" in "".join(c["source"]))
    printed = "".join(
        next(o for o in cell["outputs"] if o["output_type"] == "display_data")["data"]["text/plain"]
    )
    table = next(o["data"] for o in cell["outputs"] if o["output_type"] == "execute_result")
    shown = "".join(table["text/plain"])
    pools = ["pool-a100-prod", "pool-a100-research", "pool-ascend-910", "pool-v100-batch",
             "pool-v100-shared"]  # fmt: skip
    for pool in pools:  # one verdict and one table row per pool
        assert printed.count(f"{pool}: ") == 1 and shown.count(f"{pool} ") == 1
    # pool-a100-research: 4 nodes of 8 (32 GPUs), not capacity_needed's 16 nor the 92 without
    # queueing, which stand beside it as context.
    assert "pool-a100-research: add 2 nodes (16 GPUs): p90 wait 42 h -> 17 min" in printed
    row = next(line for line in shown.splitlines() if "pool-a100-research" in line)
    assert [c.strip() for c in row.split("┆")][1:4] == ["8", "2", "4"]
    assert "┆ 16 " in row and "┆ 92 " in row
