"""Issue 22: outside readers of the cache never see half a refresh; partitions stay strings."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import pytest

import mavtools as mt
from mavtools.frame import VERSION_SCHEMA
from mavtools.local import synth
from mavtools.local.fake import RunningServer
from mavtools.store.dataset import PARTITIONS
from tests.conftest import PROJECT, TOKEN

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cache.md"


def client(server: RunningServer) -> mt.Client:
    return mt.Client(server.url, PROJECT, token=TOKEN, allow_http=True, page_size=1000)


class SparkLikeReader:
    """What Spark does with a DataFrame defined before a refresh: it lists the files and their
    sizes once, and reads them later trusting those sizes (the footer is at ``size - 8``)."""

    def __init__(self, root: Path) -> None:
        self.files = {p: p.stat().st_size for p in sorted(root.rglob("*.parquet"))}

    def read(self) -> pl.DataFrame:
        frames = []
        for path, size in self.files.items():
            with path.open("rb") as handle:  # FileNotFoundError: fails loudly
                data = handle.read(size)
            frames.append(pl.read_parquet(io.BytesIO(data)))
        return pl.concat(frames)


def test_a_reader_listing_before_a_refresh_reads_the_old_snapshot_or_fails_loudly(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    records = [dict(r, workspace_id="0") for r in synth.simulate(1_200, seed=3)]
    server = start_server(records[:400])
    old = mt.load_versions(client(server), cache_dir=tmp_path, workspace_id="0")
    root = tmp_path / "versions"
    spark = SparkLikeReader(root)
    [listed] = spark.files
    opened = listed.open("rb")  # a reader that already opened the file keeps its bytes
    server.api.add_versions(records[400:])  # the refresh more than doubles the file
    new = mt.load_versions(client(server), cache_dir=tmp_path, workspace_id="0", max_age=0)
    assert new.height == len(records) > 2 * old.height
    with pytest.raises(FileNotFoundError):  # never a silently partial answer
        spark.read()
    kept = pl.read_parquet(io.BytesIO(opened.read()))
    opened.close()
    assert sorted(kept["version_id"]) == sorted(old["version_id"])
    # A reader listing now sees exactly the new snapshot: one file, the old one moved away.
    [now] = root.rglob("*.parquet")
    assert now != listed and pl.read_parquet(now).height == new.height
    retired = list((tmp_path / "readers").rglob(listed.name))
    assert len(retired) == 1 and pl.read_parquet(retired[0]).height == old.height


def test_partition_values_stay_strings_for_duckdb_with_the_documented_settings(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = start_server([dict(r, workspace_id="0") for r in synth.simulate(50, seed=2)])
    mt.load_versions(client(server), cache_dir=tmp_path, workspace_id="0")
    docs = DOCS.read_text()
    assert "hive_types_autocast = false" in docs  # the setting the docs show for DuckDB
    assert "partitionColumnTypeInference.enabled" in docs  # ... and for Spark
    glob = str(tmp_path / "versions" / "**" / "*.parquet")
    row = duckdb.sql(
        f"SELECT typeof(workspace_id), workspace_id, typeof(project_id) FROM read_parquet("
        f"'{glob}', hive_partitioning = true, hive_types_autocast = false) LIMIT 1"
    ).fetchall()[0]
    assert row == ("VARCHAR", "0", "VARCHAR")  # "0", not the integer 0


def nested_flat(text: str) -> str:
    """The DDL with every parenthesised group replaced by '<>' (innermost first)."""
    while re.search(r"\([^()]*\)", text):
        text = re.sub(r"\([^()]*\)", "<>", text)
    return text


def test_trino_ddl_in_the_docs_lists_every_column_of_the_contract() -> None:
    ddl = re.search(
        r"CREATE TABLE hive\.mavtools\.versions \((.*?)\)\s*WITH \(external_location",
        DOCS.read_text(),
        re.S,
    )
    assert ddl is not None
    # Split at the top level only: a nested column's ROW(...) has commas of its own.
    columns = [c.split()[0] for c in nested_flat(ddl.group(1)).split(",") if c.strip()]
    stored = [c for c in VERSION_SCHEMA if c not in PARTITIONS]
    assert columns == stored + list(PARTITIONS)  # partitions last, as Trino wants
