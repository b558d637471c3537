"""The ``mavtools`` command, run as ``python -m mavtools`` against a served local API."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from mavtools import cli
from mavtools.local.fake import RunningServer, serve
from mavtools.local.samples import sample_api, sample_manifest

TOKEN = "tok-SECRET-cli-5c2e"


@pytest.fixture
def server() -> Iterator[RunningServer]:
    running = serve(sample_api(token=TOKEN))
    yield running
    running.stop()


@pytest.fixture
def env(server: RunningServer, tmp_path: Path) -> dict[str, str]:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("MODELARTS_", "OS_", "MAVTOOLS_"))
    }
    return base | {
        "MODELARTS_ENDPOINT": server.url,
        "MODELARTS_PROJECT_ID": server.api.project_id,
        "MODELARTS_TOKEN": TOKEN,
        "MAVTOOLS_ALLOW_HTTP": "1",
        "MAVTOOLS_CACHE_DIR": str(tmp_path / "cache"),
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mavtools", *args], env=env, capture_output=True, timeout=120
    )


def test_fetch_table_then_cached(env: dict[str, str], server: RunningServer) -> None:
    done = run(env, "fetch")
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert f"ModelArts {server.url}" in out and "full fetch" in out
    # Every workspace by default, as the notebooks load (the samples: 3 workspaces, 3,000).
    assert "3,000 versions created" in out and "By outcome:" in out and "succeeded" in out
    assert done.stderr == b""
    count = server.api.requests
    again = run(env, "fetch")
    assert again.returncode == 0 and "from cache" in again.stdout.decode()
    assert server.api.requests == count


def test_fetch_formats_match_the_library(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    assert (
        run(env, "fetch", "--workspace", "*", "--format", "parquet", "-o", str(target)).returncode
        == 0
    )
    frame = pl.read_parquet(target)
    assert frame.height == 3000 and frame["workspace_id"].n_unique() == 3
    csv = run(env, "fetch", "--workspace", "*", "--format", "csv", "--offline")
    assert csv.returncode == 0, csv.stderr
    table = pl.read_csv(io.BytesIO(csv.stdout))
    assert table.height == 3000 and "duration_ms" in table.columns
    assert table["duration_ms"].to_list() == frame["duration"].dt.total_milliseconds().to_list()
    js = run(env, "fetch", "--workspace", "*", "--format", "json", "--offline")
    rows = json.loads(js.stdout)
    assert len(rows) == 3000 and rows[0]["version_id"] == frame["version_id"][0]


def test_fetch_filters(env: dict[str, str]) -> None:
    done = run(env, "fetch", "--status", "failed", "--status", "CANCELED", "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = pl.read_csv(io.BytesIO(done.stdout))
    assert set(table["outcome"]) == {"failed", "canceled"}


def test_samples_flag_needs_no_credentials(env: dict[str, str]) -> None:
    bare = {k: v for k, v in env.items() if not k.startswith("MODELARTS_")}
    done = run(bare, "fetch", "--samples", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert pl.read_csv(io.BytesIO(done.stdout)).height == 3000
    assert not Path(env["MAVTOOLS_CACHE_DIR"]).exists()  # samples are never cached


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (
            ("fetch", "--offline"),
            1,
            "mavtools: error: Nothing is cached for ",
        ),
        # Every value is checked where it is read: the error names the flag, in the CLI's words.
        (
            ("fetch", "--status", "BOGUS"),
            2,
            "mavtools fetch: error: argument --status: 'BOGUS' is not a job status: use an "
            "outcome (pending, running, succeeded, failed, canceled, unknown), a status name",
        ),
        (
            ("fetch", "--status", "99"),
            2,
            "mavtools fetch: error: argument --status: '99' is not a job status",
        ),
        (
            ("fetch", "--max-age", "soon"),
            2,
            "mavtools fetch: error: argument --max-age: 'soon' is not an age: use a number and "
            "a unit (30s, 15m, 1h, 2d, 1w), 0 or never",
        ),
        (
            ("cache", "clear", "--older-than", "a week"),
            2,
            "mavtools cache clear: error: argument --older-than: 'a week' is not an age",
        ),
        (
            ("cache", "clear", "--older-than", "never"),
            2,
            "mavtools cache clear: error: argument --older-than: 'never' is not an age",
        ),
        (
            ("fetch", "--workspace", "../etc"),
            2,
            "mavtools fetch: error: argument --workspace: '../etc' is not a workspace id",
        ),
        (("fetch", "--pool", "a b"), 2, "mavtools fetch: error: argument --pool: 'a b' is not"),
        (
            ("report", "x.ipynb", "-o", "x.html", "--timeout", "-5"),
            2,
            "mavtools report: error: argument --timeout: '-5' is not a number of seconds",
        ),
        (
            ("serve-samples", "--port", "99999"),
            2,
            "mavtools serve-samples: error: argument --port: '99999' is not a port",
        ),
        (
            ("lab", "--port", "http"),
            2,
            "mavtools lab: error: argument --port: 'http' is not a port",
        ),
        (
            ("fetch", "--format", "xml"),
            2,
            "mavtools fetch: error: argument --format: invalid choice",
        ),
        (
            ("fetch", "--refresh", "--offline"),
            2,
            "mavtools fetch: error: argument --offline: not allowed",
        ),
        (("frobnicate",), 2, "mavtools: error: argument COMMAND: invalid choice"),
    ],
)
def test_errors_are_one_line(
    env: dict[str, str], args: tuple[str, ...], code: int, expected: str
) -> None:
    done = run(env, *args)
    assert done.returncode == code
    err = done.stderr.decode()
    assert err.count("\n") == 1 and err.startswith(expected), err
    assert "Traceback" not in err and done.stdout == b""


def test_bad_credentials_one_line_no_secret(env: dict[str, str]) -> None:
    bad = env | {"MODELARTS_TOKEN": "tok-SECRET-wrong-0000"}
    done = run(bad, "fetch")
    assert done.returncode == 1
    err = done.stderr.decode()
    assert err.startswith("mavtools: error: ModelArts answered HTTP 401") and err.count("\n") == 1
    assert "SECRET" not in err
    verbose = run(bad, "fetch", "-v")
    assert verbose.returncode == 1
    text = verbose.stderr.decode()
    assert "Traceback" in text and "DEBUG" in text and "SECRET" not in text


def test_unreachable_endpoint(env: dict[str, str], server: RunningServer) -> None:
    server.stop()
    done = run(env | {"MODELARTS_ENDPOINT": server.url}, "fetch", "--refresh")
    assert done.returncode == 1
    assert done.stderr.decode().startswith("mavtools: error: The connection to ")


def test_verbose_logs_without_secrets(env: dict[str, str]) -> None:
    done = run(env, "-v", "fetch", "--format", "csv")
    assert done.returncode == 0
    assert b"DEBUG" in done.stderr and TOKEN.encode() not in done.stderr
    sub = run(env, "fetch", "-v", "--format", "csv", "--max-age", "0")
    assert b"DEBUG" in sub.stderr and TOKEN.encode() not in sub.stderr + sub.stdout


def test_cache_list_and_clear(env: dict[str, str]) -> None:
    assert run(env, "cache", "list").stdout.decode().startswith("No cached datasets in ")
    assert run(env, "fetch").returncode == 0
    assert run(env, "fetch", "--status", "running").returncode == 0  # the same dataset answers
    listing = run(env, "cache", "list")
    assert listing.returncode == 0
    out = listing.stdout.decode()
    # fetch reads every workspace by default (as the notebooks do): one dataset per workspace
    assert out.startswith("3 datasets in ") and "full fetch" in out
    assert all(str(n) in out for n in (1498, 898, 604))
    kept = run(env, "cache", "clear", "--older-than", "7d")
    assert kept.stdout.decode().startswith("Removed 0 cached datasets")
    cleared = run(env, "cache", "clear")
    assert cleared.returncode == 0 and cleared.stdout.decode().startswith(
        "Removed 3 cached datasets"
    )
    assert run(env, "fetch", "--offline").returncode == 1


def test_serve_samples_then_fetch(env: dict[str, str], tmp_path: Path) -> None:
    bare = {k: v for k, v in env.items() if not k.startswith(("MODELARTS_", "MAVTOOLS_ALLOW"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mavtools",
            "serve-samples",
            "--offset-mode",
            "page",
            "--token",
            "t1",
        ],
        env=bare,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        exports = dict(
            proc.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(4)
        )
        assert exports["MODELARTS_ENDPOINT"].startswith("http://127.0.0.1:")
        assert exports["MODELARTS_PROJECT_ID"] == sample_manifest()["project_id"]
        assert exports["MODELARTS_TOKEN"] == "t1" and exports["MAVTOOLS_ALLOW_HTTP"] == "1"
        done = run(
            bare | exports,
            "fetch",
            "--workspace",
            "*",
            "--format",
            "parquet",
            "-o",
            str(tmp_path / "a.parquet"),
        )
        assert done.returncode == 0, done.stderr
        served = pl.read_parquet(tmp_path / "a.parquet")
        from mavtools.local.samples import samples_client

        local = samples_client().list_versions(workspace_id="*")
        # Same versions; the snapshot time is the fetch's own (now vs the samples' snapshot), and
        # served over HTTP the samples come from another endpoint, hence another region.
        assert served["region"].unique().to_list() == [
            exports["MODELARTS_ENDPOINT"][7:].replace(":", "-")
        ]
        assert_frame_equal(
            served.drop("observed_at", "region"), local.drop("observed_at", "region")
        )
        without_http = {k: v for k, v in (bare | exports).items() if k != "MAVTOOLS_ALLOW_HTTP"}
        refused = run(without_http, "fetch", "--refresh")
        assert refused.returncode == 1 and refused.stderr.count(b"\n") == 1
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_registry_lets_others_add_a_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def configure(parser: Any) -> None:
        parser.add_argument("--name", default="world")

    def hello(args: Any) -> int:
        print(f"hello {args.name}")
        return 3

    monkeypatch.setattr(
        cli, "COMMANDS", [*cli.COMMANDS, cli.Command("hello", "greet", configure, hello)]
    )
    assert cli.main(["hello", "--name", "lab"]) == 3
    assert capsys.readouterr().out == "hello lab\n"
    names = [c.name for c in cli.COMMANDS]
    assert names[:3] == ["fetch", "cache", "serve-samples"]
