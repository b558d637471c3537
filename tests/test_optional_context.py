"""Pools, flavors and workspace names are context: without them notebooks and reports run on (issue 19).

A least-privilege user gets 403 on ``/v2/{project_id}/pools``; a region without the v2 pool API
answers 404. Either way the client returns what it could read and says in one line what is
missing and why; ``strict=True`` makes it an error. The notebooks run into a report with the
note in their output (over real HTTP, ``mavtools report`` in a subprocess, as a user runs it).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import mavtools as mt
from mavtools.errors import AccessWarning, AuthError, NotFoundError
from mavtools.local.fake import Permissions, serve
from mavtools.local.samples import sample_api
from tests.test_permissions import cli_for

ROOT = Path(__file__).resolve().parent.parent
FULL = "tok-full-access-0a9b"
NO_POOLS = "tok-no-pools-3e7d"
GRANTS = {NO_POOLS: Permissions(list_pools=False)}


def situation(kind: str) -> tuple[Any, str, str]:
    """(server, token, what the note says) for a 403 on pools or a server without the pool API."""
    if kind == "403":
        return sample_api(grants=GRANTS, token=FULL), NO_POOLS, "is not permitted (HTTP 403"
    return sample_api(token=FULL, pools_api=False), FULL, "is not offered by this server (HTTP 404)"


@pytest.mark.parametrize("kind", ["403", "404"])
def test_pools_refused_or_missing_give_an_empty_table_and_one_note(kind: str) -> None:
    api, token, says = situation(kind)
    with serve(api) as server:
        client = mt.Client(server.url, api.project_id, token=token, allow_http=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = client.pools()
        assert table.height == 0 and mt.pool_sizes(table) == {}
        [note] = [str(w.message) for w in caught if issubclass(w.category, AccessWarning)]
        assert says in note and "/pools" in note and "\n" not in note
        assert token not in note
        df = client.list_versions(workspace_id="0")  # jobs are still read, cards and all
        assert df.height > 0 and df["gpu_num"].null_count() < df.height
        with pytest.raises(AuthError if kind == "403" else NotFoundError):
            client.pools(strict=True)
        full = mt.Client(server.url, api.project_id, token=FULL, allow_http=True)
        if kind == "403":  # the same server gives the full-access user every pool
            assert full.pools().height > 0


@pytest.mark.parametrize(
    ("notebook", "kind"),
    # explore reads no pools: these show it is untouched by their absence
    [
        ("capacity.ipynb", "403"),
        ("capacity.ipynb", "404"),
        ("explore.ipynb", "403"),
        ("explore.ipynb", "404"),
    ],
)
def test_notebooks_and_report_run_without_pools(tmp_path: Path, notebook: str, kind: str) -> None:
    api, token, says = situation(kind)
    out = tmp_path / "report.html"
    with serve(api) as server:
        path = str(ROOT / "notebooks" / notebook)
        done = cli_for(server, api.project_id, token, tmp_path, "report", path, "-o", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    page = out.read_text(encoding="utf-8")
    if notebook == "capacity.ipynb":
        assert says in page  # the one-line note, in the executed notebook's output
        assert "No size known for" in page and "No pool sizes known" in page
    assert token not in page


def test_a_refused_flavor_list_leaves_those_cards_unknown_with_one_note() -> None:
    no_flavors = "tok-no-flavors-8c1a"
    api = sample_api(grants={no_flavors: Permissions(list_flavors=False)}, token=FULL)
    with serve(api) as server:
        full = mt.Client(server.url, api.project_id, token=FULL, allow_http=True)
        narrow = mt.Client(server.url, api.project_id, token=no_flavors, allow_http=True)
        expected = full.list_versions(workspace_id=mt.ALL_WORKSPACES, api="v2")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = narrow.list_versions(workspace_id=mt.ALL_WORKSPACES, api="v2")
    [note] = [str(w.message) for w in caught if issubclass(w.category, AccessWarning)]
    assert "training-job-flavors" in note and "HTTP 403" in note
    assert got.height == expected.height
    # jobs whose cards came with them keep them; the others are unknown (null), never zero
    lost = got.join(expected, on="job_id", suffix="_full").filter(
        pl.col("gpu_num") != pl.col("gpu_num_full")
    )
    assert lost.height == 0
    unknown = got.filter(pl.col("gpu_num").is_null())
    assert unknown.height > 0
    assert (
        expected.filter(pl.col("job_id").is_in(unknown["job_id"].implode()))["gpu_num"].null_count()
        == 0
    )


def test_the_readme_permissions_table_lists_every_endpoint_mavtools_calls() -> None:
    """Each path the client code builds (``/vN/{project}/name``) has a row in the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("**Permissions.**") : readme.index("What was read and what")]
    called = set()
    for source in (ROOT / "mavtools" / "api").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        for version, name in re.findall(r"/(v[12])/\{[a-z_.]*project(?:_id)?\}/([a-z/-]+)", text):
            called.add(f"/{version}/{{project_id}}/{name}")
    assert called >= {
        "/v1/{project_id}/training-jobs/versions",
        "/v2/{project_id}/training-job-searches",
        "/v2/{project_id}/pools",
        "/v1/{project_id}/resourceflavors",
        "/v2/{project_id}/training-job-flavors",
        "/v1/{project_id}/workspaces",
    }
    assert [
        c for c in sorted(called) if f"`GET {c}" not in table and f"`POST {c}" not in table
    ] == []
    assert "/v3/auth/tokens" in table
