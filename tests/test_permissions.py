"""Least-privilege IAM users (issue 14), over real HTTP to a local server with narrowed tokens.

``NO_LIST`` may not list workspaces (``modelarts:workspace:list``); ``NO_WS`` may list them but is
refused ``modelarts:trainJob:list`` in one workspace. Expected rows come from the records the
server holds, filtered by plain Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mavtools as mt
from mavtools.errors import AccessWarning, AuthError
from mavtools.local import synth
from mavtools.local.fake import Permissions, RunningServer, serve
from mavtools.local.samples import sample_api
from mavtools.provenance import provenance
from tests.conftest import PROJECT

NO_LIST = "tok-lead-nolist-5c2e"
NO_WS = "tok-lead-partial-9d1f"
WS_A, WS_B = sorted(w for w in synth.WORKSPACES if w != "0")  # 7f3a..., c91e...
GRANTS = {
    NO_LIST: Permissions(list_workspaces=False),
    NO_WS: Permissions(refused_workspaces=frozenset({WS_A})),
}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(start_server: Callable[..., RunningServer]) -> RunningServer:
    return start_server(synth.simulate(1200, seed=8), grants=GRANTS)


def client(server: RunningServer, token: str, **options: Any) -> mt.Client:
    return mt.Client(server.url, PROJECT, token=token, allow_http=True, **options)


def ids_in(server: RunningServer, *workspaces: str) -> list[int]:
    return sorted(
        r["version_id"] for r in server.api.versions if r.get("workspace_id", "0") in workspaces
    )


def access_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, AccessWarning)]


def test_without_workspace_list_all_means_0_plus_configured(
    server: RunningServer, tmp_path: Path
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = mt.load_versions(
            client(server, NO_LIST), workspace_id=mt.ALL_WORKSPACES, cache_dir=tmp_path
        )
    [message] = access_warnings(caught)  # once
    assert "modelarts:workspace:list" in message and "MODELARTS_WORKSPACES" in message
    assert sorted(df["version_id"].to_list()) == ids_in(server, "0")
    # Configured ids (an argument here, MODELARTS_WORKSPACES below) join workspace 0.
    with pytest.warns(AccessWarning, match="workspace\\(s\\) 0, " + WS_B):
        more = mt.load_versions(
            client(server, NO_LIST, workspaces=[WS_B]), workspace_id="*", cache_dir=tmp_path / "2"
        )
    assert sorted(more["version_id"].to_list()) == ids_in(server, "0", WS_B)
    env = {
        "MODELARTS_ENDPOINT": server.url,
        "MODELARTS_PROJECT_ID": PROJECT,
        "MODELARTS_TOKEN": NO_LIST,
        "MODELARTS_WORKSPACES": f"{WS_A},{WS_B}",
    }
    from_env = mt.Client.from_env(env, allow_http=True)
    with pytest.warns(AccessWarning):
        every = from_env.list_versions(workspace_id=mt.ALL_WORKSPACES)  # bypassing the cache
    assert sorted(every["version_id"].to_list()) == ids_in(server, "0", WS_A, WS_B)
    with pytest.raises(AuthError, match="workspace:list"):
        mt.load_versions(
            client(server, NO_LIST), workspace_id="*", strict=True, cache_dir=tmp_path / "3"
        )


def test_a_refused_workspace_is_left_out_named_and_not_cached(
    server: RunningServer, tmp_path: Path
) -> None:
    with pytest.warns(AccessWarning, match=f"Workspace {WS_A} .*modelarts:trainJob:list") as got:
        df = mt.load_versions(client(server, NO_WS), workspace_id="*", cache_dir=tmp_path)
    assert len(access_warnings(got.list)) == 1
    assert sorted(df["version_id"].to_list()) == ids_in(server, "0", WS_B)
    info = provenance(df)
    assert info is not None
    assert list(info.extra["workspaces_refused"]) == [f"{server_region(server)}/{PROJECT}/{WS_A}"]
    assert len(info.extra["workspaces_read"]) == 2 and "refused: " in info.note
    # Nothing cached for the refused workspace: the next load asks for it again.
    assert not list(tmp_path.rglob(f"workspace_id={WS_A}/*.parquet"))
    before = len(server.api.request_log)
    with pytest.warns(AccessWarning):
        again = mt.load_versions(client(server, NO_WS), workspace_id="*", cache_dir=tmp_path)
    assert any(f"workspace_id={WS_A}" in t for t in server.api.request_log[before:])
    assert sorted(again["version_id"].to_list()) == ids_in(server, "0", WS_B)
    with pytest.raises(AuthError, match="trainJob:list"):
        mt.load_versions(client(server, NO_WS), workspace_id="*", strict=True, cache_dir=tmp_path)
    with pytest.raises(AuthError):  # asked for that workspace alone: nothing to return
        mt.load_versions(client(server, NO_WS), workspace_id=WS_A, cache_dir=tmp_path)


def server_region(server: RunningServer) -> str:
    return client(server, NO_WS).region


def _cli(server: RunningServer, token: str, tmp_path: Path, *args: str) -> Any:
    return cli_for(server, PROJECT, token, tmp_path, *args)


@pytest.mark.parametrize(("token", "says"), [(NO_LIST, "modelarts:workspace:list"), (NO_WS, WS_A)])
def test_cli_warns_on_stderr_and_strict_fails(
    server: RunningServer, tmp_path: Path, token: str, says: str
) -> None:
    done = _cli(server, token, tmp_path, "fetch", "--workspace", "*", "--format", "csv")
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("mavtools: warning: ")]
    assert says in line and token not in done.stderr
    strict = _cli(server, token, tmp_path, "fetch", "--workspace", "*", "--strict", "--refresh")
    assert strict.returncode == 1 and strict.stderr.startswith("mavtools: error: ")


@pytest.mark.parametrize("notebook", ["explore.ipynb", "capacity.ipynb"])
@pytest.mark.parametrize(("token", "says"), [(NO_LIST, "modelarts:workspace:list"), (NO_WS, WS_A)])
def test_notebooks_and_report_run_for_a_least_privilege_user(
    start_server: Callable[..., RunningServer],
    tmp_path: Path,
    notebook: str,
    token: str,
    says: str,
) -> None:
    """The bundled samples served with narrowed tokens; the notebook runs into a report."""
    api = sample_api(grants=GRANTS, token="full-access")
    out = tmp_path / "report.html"
    with serve(api) as server:
        path = str(ROOT / "notebooks" / notebook)
        done = cli_for(server, api.project_id, token, tmp_path, "report", path, "-o", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    page = out.read_text(encoding="utf-8")
    assert says in page  # the warning is in the executed notebook's output


def cli_for(server: RunningServer, project: str, token: str, tmp_path: Path, *args: str) -> Any:
    """``python -m mavtools ARGS`` against ``server`` with only this token (no other settings)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MODELARTS_", "OS_", "MAVTOOLS_"))
    }
    env |= {
        "MODELARTS_ENDPOINT": server.url,
        "MODELARTS_PROJECT_ID": project,
        "MODELARTS_TOKEN": token,
        "MAVTOOLS_ALLOW_HTTP": "1",
        "MAVTOOLS_CACHE_DIR": str(tmp_path / "cache"),
    }
    return subprocess.run(
        [sys.executable, "-m", "mavtools", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
