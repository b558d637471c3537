"""``mavtools lab``: the JupyterLab command line, and a real start on 127.0.0.1 with a token."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mavtools
from mavtools.errors import ConfigError
from mavtools.views.lab import DEFAULT_NOTEBOOK, free_port, lab_command, notebooks_dir
from tests.browser_util import http_status

ROOT = Path(__file__).resolve().parents[1]


def test_command_opens_explore_on_loopback_with_a_token_outside_argv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    command = lab_command(port=9123, open_browser=False)
    argv = list(command.argv)
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ServerApp.ip=127.0.0.1" in argv and "--ServerApp.port=9123" in argv
    assert "--ServerApp.port_retries=0" in argv and "--ServerApp.open_browser=False" in argv
    assert "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate" in argv
    assert f"--ServerApp.root_dir={ROOT / 'notebooks'}" in argv
    assert argv[-1] == str(ROOT / "notebooks" / DEFAULT_NOTEBOOK)
    assert "--allow-root" not in argv
    assert len(command.token) >= 40 and command.env == {"JUPYTER_TOKEN": command.token}
    assert command.token not in " ".join(argv) and command.token not in repr(command)
    assert command.url == f"http://127.0.0.1:9123/lab/tree/explore.ipynb?token={command.token}"
    assert lab_command(port=9123).token != command.token


def test_root_gets_allow_root_and_names_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    command = lab_command("capacity.ipynb", port=9123, token="t")
    assert "--allow-root" in command.argv and "--ServerApp.open_browser=True" in command.argv
    assert command.root_dir == notebooks_dir() and command.notebook == "capacity.ipynb"
    folder = lab_command(ROOT / "docs", port=9123, token="t")
    assert folder.notebook == "" and folder.url == "http://127.0.0.1:9123/lab?token=t"


def test_missing_notebooks_say_where_to_get_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "site-packages" / "mavtools" / "__init__.py"
    monkeypatch.setattr(mavtools, "__file__", str(fake))
    with pytest.raises(ConfigError, match="notebooks/ folder of a mavtools checkout"):
        lab_command(port=9123)
    with pytest.raises(ConfigError, match=r"No notebook at nope\.ipynb"):
        lab_command("nope.ipynb", port=9123)
    with pytest.raises(ConfigError, match="between 1 and 65535"):
        lab_command(ROOT / "notebooks" / "explore.ipynb", port=70000)


def test_free_port_skips_a_busy_one() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert free_port(taken) != taken


def test_mavtools_lab_serves_with_its_token_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The real command: 200 with the printed token, 403 without, gone after SIGTERM."""
    env = dict(os.environ)
    for name in ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        (tmp_path / name).mkdir()
        env[name] = str(tmp_path / name)
    port = free_port(20000)
    process = subprocess.Popen(
        [sys.executable, "-m", "mavtools", "lab", "--no-browser", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        prefix = f"JupyterLab on {ROOT / 'notebooks'}; open http://127.0.0.1:{port}/lab/tree/"
        assert line.startswith(f"{prefix}explore.ipynb?token="), line
        token = line.strip().rsplit("token=", 1)[1]
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while http_status(f"{base}/api/status", token) != 200:
            assert process.poll() is None and time.monotonic() < deadline, (
                "JupyterLab did not start"
            )
            time.sleep(0.1)  # polling a socket
        assert http_status(f"{base}/api/contents") == 403
        assert http_status(f"{base}/api/contents", "wrong") == 403
        assert http_status(f"{base}/api/contents/explore.ipynb", token) == 200

        process.send_signal(signal.SIGTERM)  # to mavtools only: it passes it on to Jupyter
        assert process.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while http_status(f"{base}/api/status", token) != 0:
            assert time.monotonic() < deadline, (
                "JupyterLab still answers after mavtools lab stopped"
            )
            time.sleep(0.1)  # polling a socket
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
