"""Headless Debian chromium through Playwright, for the browser tests.

Playwright drives the chromium the system package installed (``/usr/bin/chromium``); it never
downloads a browser (``playwright install`` needs the internet and is not used).

Without chromium the tests are skipped with the command that installs it, except under CI
(``CI=true``), where a missing browser fails: CI must not pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest

from mavtools.views.lab import LabCommand, lab_command

CHROMIUM = os.environ.get("MAVTOOLS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def require_chromium() -> str:
    """The chromium executable; skips (or fails under CI) when it or Playwright is missing."""
    reason = "install Debian chromium: apt-get install chromium"
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found, reason = None, "install Playwright for Python: pip install playwright"
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"The browser tests cannot run in CI: {reason}.")
        pytest.skip(reason)
    return found


@contextmanager
def chromium(
    *, allow_hosts: tuple[str, ...] = (), viewport: tuple[int, int] = (1400, 1000)
) -> Iterator[tuple[Any, list[str]]]:
    """A fresh browser context that may only load ``file:`` URLs and ``allow_hosts``.

    ``viewport`` is the window's (width, height) in CSS pixels.

    Yields:
        ``(context, blocked)``: the Playwright context and, filled as the pages run, every URL a
        page tried to load from anywhere else (those requests are aborted).
    """
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    blocked: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        host = url.split("/")[2].split(":")[0] if "://" in url else ""
        if url.startswith(("file:", "data:", "blob:", "about:")) or host in allow_hosts:
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            width, height = viewport
            context = browser.new_context(viewport={"width": width, "height": height})
            context.route("**/*", guard)
            yield context, blocked
            context.close()
        finally:
            browser.close()


def artifact(name: str) -> Path:
    """A path in the (git-ignored) ``artifacts/`` folder of the checkout."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: no proxy


def http_status(url: str, token: str | None = None, *, method: str = "GET") -> int:
    """The HTTP status of a request to a local server (0: no answer), token as Jupyter's header."""
    headers = {"Authorization": f"token {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers, method=method)
    try:
        with _DIRECT.open(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code
    except OSError:
        return 0


@contextmanager
def offline_page(path: Path) -> Iterator[tuple[Any, list[str]]]:
    """``(page, blocked URLs)``: the file ``path`` open in an offline chromium.

    Fails on leaving when the page raised a JavaScript error.
    """
    with chromium() as (context, blocked):
        context.set_offline(True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path.as_uri())
        yield page, blocked
        assert errors == [], errors


# -- JupyterLab, started as `mavtools lab` starts it, for the browser tests and benchmark --

START_TIMEOUT_S = 60
UI_TIMEOUT_MS = 30_000

# Some code cell left "[ ]:": Run All has started.
_STARTED = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
    .some(p => p.textContent.trim() !== '[ ]:' && p.textContent.trim() !== '')"""


def lab_page(context: Any) -> tuple[Any, list[str]]:
    """A new page with the suite's timeout that records page errors and answers JupyterLab's
    "official Jupyter news" toast whenever it shows (it may cover the buttons).

    Returns:
        ``(page, errors)``: the Playwright page and the page errors seen so far.
    """
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(UI_TIMEOUT_MS)
    news = page.locator(".jp-Notification-Toast-default", has_text="official Jupyter news")
    page.add_locator_handler(
        news, lambda toast: toast.get_by_role("button", name="No", exact=True).click()
    )
    return page, errors


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """Child processes (recursively) of ``pid``, read from /proc (kernels have their own group)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _stop(process: subprocess.Popen[bytes], command: LabCommand) -> None:
    """Ask JupyterLab to shut down (it stops its kernels); kill whatever is left."""
    children = _descendants(process.pid)
    http_status(f"{command.base_url}/api/shutdown", command.token, method="POST")
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    for pid in children:  # kernels run in their own session: not reached by killpg
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _wait_until_up(
    process: subprocess.Popen[bytes], command: LabCommand, log: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if http_status(f"{command.base_url}/api/status", command.token) == 200:
            return
        time.sleep(0.1)  # polling a socket: there is nothing to wait on
    pytest.fail(f"JupyterLab did not answer in {timeout_s:g} s:\n{log.read_text()[-3000:]}")


def run_all_cells(page: Any, tries: int = 3) -> None:
    """Run -> Run All Cells, until a prompt shows the run started (a click can be lost when the
    news toast is answered between opening the menu and choosing the item)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(tries):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            page.wait_for_function(_STARTED, timeout=15_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")  # close the menu if it is still open
    pytest.fail(f"Run -> Run All Cells did not start the notebook ({tries} tries)")


def cleared_copy(notebook: Path, folder: Path) -> Path:
    """A copy of ``notebook`` in ``folder`` without outputs or saved widget state, so what the
    page shows comes from this run."""
    copy = nbformat.read(notebook, as_version=4)
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    copy.metadata.pop("widgets", None)
    nbformat.write(copy, folder / notebook.name)
    return folder / notebook.name


def serve_lab(
    notebook: Path, tmp_path: Path, log_name: str, start_timeout_s: float = START_TIMEOUT_S
) -> Iterator[LabCommand]:
    """JupyterLab on ``notebook`` with temporary Jupyter folders, in its own process group;
    stopped afterwards, its log kept as the artifact ``log_name`` (a generator: ``yield from``
    it in a fixture, or wrap it in :func:`contextlib.contextmanager`)."""
    command = lab_command(notebook, port=_unused_port(), open_browser=False)
    env = {**os.environ, **command.env}
    for name, folder in (
        ("HOME", "home"),
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
    ):
        (tmp_path / folder).mkdir()
        env[name] = str(tmp_path / folder)
    log = tmp_path / "jupyterlab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command.argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_up(process, command, log, start_timeout_s)
        yield command
    finally:
        _stop(process, command)
        shutil.copy(log, artifact(log_name))


def open_notebook(page: Any, lab: LabCommand, notebook: str) -> None:
    """Open ``notebook`` in a fresh JupyterLab workspace (no tabs left from an earlier run)."""
    workspace = f"mavtools-test-{os.getpid()}-{time.monotonic_ns()}"
    page.goto(f"{lab.base_url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={lab.token}")
