"""The samples are chosen at the top: the client and the store know nothing of them.

``mavtools.load`` decides "no credentials -> samples" and that the samples are never cached;
``local.samples.SamplesClient`` says in the provenance that the data are samples, frozen at the
samples' snapshot time. A plain ``Client`` has no samples mode: its clock is an ordinary
injectable, and its frames are always ``live``.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

import mavtools as mt
from mavtools.api.client import Client
from mavtools.load import load_versions
from mavtools.local import synth
from mavtools.local.samples import sample_manifest
from mavtools.provenance import provenance
from tests.conftest import PROJECT, TOKEN

PACKAGE = Path(__file__).resolve().parents[1] / "mavtools"


def test_a_frozen_clock_stamps_a_live_fetch_and_the_frame_stays_live(start_server) -> None:
    server = start_server([dict(r, workspace_id="0") for r in synth.bulk(5).to_dicts()])
    moment = datetime(2026, 3, 1, 12, tzinfo=UTC)
    client = Client(server.url, PROJECT, token=TOKEN, allow_http=True, clock=lambda: moment)
    df = client.list_versions(api="v1")
    info = provenance(df)
    assert info is not None and info.source == "live" and not info.is_sample
    assert info.fetched_at == moment
    assert df.height == 5 and df["observed_at"].unique().to_list() == [moment]


def test_samples_carry_their_snapshot_time_on_every_read() -> None:
    snapshot = datetime.fromisoformat(sample_manifest()["snapshot"])
    client = mt.samples_client()
    first = client.list_versions(workspace_id=mt.ALL_WORKSPACES)
    again = mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)
    info = provenance(first)
    assert info is not None and info.is_sample and info.fetched_at == snapshot
    assert provenance(again) == info
    assert first["observed_at"].unique().to_list() == [snapshot]
    assert str(info).startswith("bundled sample data (synthetic, not your account)")


def test_loading_samples_explicitly_reads_through_and_writes_no_cache(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    df = load_versions(mt.samples_client(), workspace_id=mt.ALL_WORKSPACES, cache_dir=cache_dir)
    info = provenance(df)
    assert info is not None and info.is_sample and info.note == "bundled samples, not cached"
    assert not info.from_cache and not cache_dir.exists()
    direct = mt.samples_client().list_versions(workspace_id=mt.ALL_WORKSPACES)
    order = ["create_time", "version_id", "job_id"]
    assert_frame_equal(df.sort(order), direct.sort(order))
    failed = load_versions(mt.samples_client(), status="failed", cache_dir=cache_dir)
    assert failed.height and set(failed["outcome"]) == {"failed"}
    assert (
        failed.height
        == df.filter((pl.col("outcome") == "failed") & (pl.col("workspace_id") == "0")).height
    )


def _code_strings(path: Path) -> set[str]:
    """The string constants of a module's code (docstrings left out: prose may name samples)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    }


def test_neither_the_store_nor_the_api_branches_on_samples() -> None:
    modules = sorted((PACKAGE / "store").glob("*.py")) + sorted((PACKAGE / "api").glob("*.py"))
    naming = [p.name for p in modules if "samples" in _code_strings(p)]
    assert naming == []
    client = Client("https://modelarts.eu-de.otc.t-systems.com", PROJECT, token=TOKEN)
    assert not hasattr(client, "snapshot") and not hasattr(client, "source")
