"""JupyterLab in headless chromium: run explore.ipynb, use the dashboard's pool filter.

JupyterLab is started through :func:`mavtools.views.lab.lab_command` (the code path of ``mavtools lab``)
on 127.0.0.1 with a token, with every Jupyter and IPython folder in a temporary directory and a
copy of the notebook (outputs cleared, so what the page shows comes from this run). The browser
may only talk to 127.0.0.1; any other request is aborted and fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from mavtools.views.lab import LabCommand, lab_command
from tests.browser_util import artifact, chromium, http_status, require_chromium

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "explore.ipynb"
START_TIMEOUT_S = 60
RUN_TIMEOUT_MS = 120_000
UI_TIMEOUT_MS = 30_000

# Every code cell shows "[n]:" and the kernel is idle: Run All has finished.
_ALL_RUN = """() => {
    const prompts = [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
    const idle = document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]');
    return idle !== null && prompts.length > 0
        && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
}"""
# Some code cell left "[ ]:": Run All has started.
_STARTED = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
    .some(p => p.textContent.trim() !== '[ ]:' && p.textContent.trim() !== '')"""
# The plotly data of each dashboard figure, by CSS class ("" while a figure is not drawn).
_FIGURE_DATA = """() => Object.fromEntries(
    [...document.querySelectorAll('.mavtools-dashboard [class*="mavtools-figure-"]')].map(out => {
        const name = [...out.classList].find(c => c.startsWith('mavtools-figure-'));
        const plot = out.querySelector('.js-plotly-plot');
        const drawn = plot && plot.querySelector('.main-svg') && plot.data;
        return [name, drawn ? JSON.stringify(plot.data) : ''];
    }))"""
_CHANGED = """([before, summary]) => {
    const now = (FIGURE_DATA)();
    const label = document.querySelector('.mavtools-summary');
    return label && label.textContent !== summary
        && Object.keys(before).every(k => now[k] && now[k] !== before[k]);
}""".replace("FIGURE_DATA", _FIGURE_DATA)


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


def _wait_until_up(process: subprocess.Popen[bytes], command: LabCommand, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if http_status(f"{command.base_url}/api/status", command.token) == 200:
            return
        time.sleep(0.1)  # polling a socket: there is nothing to wait on
    pytest.fail(f"JupyterLab did not answer in {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def _run_all_cells(page: Any) -> None:
    """Run -> Run All Cells, until a prompt shows the run started (a click can be lost when the
    news toast is answered between opening the menu and choosing the item)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            page.wait_for_function(_STARTED, timeout=15_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")  # close the menu if it is still open
    pytest.fail("Run -> Run All Cells did not start the notebook (3 tries)")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabCommand]:
    """JupyterLab on a fresh copy of explore.ipynb, in its own process group, always stopped."""
    require_chromium()
    if not NOTEBOOK.is_file():
        pytest.fail(f"{NOTEBOOK} is missing")
    root = tmp_path / "root"
    root.mkdir()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, root / NOTEBOOK.name)

    command = lab_command(root / NOTEBOOK.name, port=_unused_port(), open_browser=False)
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
        _wait_until_up(process, command, log)
        yield command
    finally:
        _stop(process, command)
        shutil.copy(log, artifact("jupyterlab.log"))


def test_explore_dashboard_follows_the_pool_filter(lab: LabCommand) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    started = time.monotonic()
    with chromium(allow_hosts=("127.0.0.1",)) as (context, blocked):
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(UI_TIMEOUT_MS)
        # The "official Jupyter news" toast may cover the buttons: answer it whenever it shows.
        news = page.locator(".jp-Notification-Toast-default", has_text="official Jupyter news")
        page.add_locator_handler(
            news, lambda toast: toast.get_by_role("button", name="No", exact=True).click()
        )
        workspace = f"mavtools-test-{os.getpid()}-{time.monotonic_ns()}"
        page.goto(
            f"{lab.base_url}/lab/workspaces/{workspace}/tree/{lab.notebook}?reset&token={lab.token}"
        )
        expect(page.locator(".jp-NotebookPanel .jp-Notebook")).to_be_visible()
        expect(page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')).to_be_attached()

        _run_all_cells(page)
        try:
            page.wait_for_function(_ALL_RUN, timeout=RUN_TIMEOUT_MS)
        except PlaywrightTimeout:
            prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
            state = page.locator(".jp-Notebook-ExecutionIndicator").get_attribute("data-status")
            page.screenshot(path=artifact("explore-timeout.png"))
            pytest.fail(f"Run All did not finish: prompts {prompts}, kernel {state}")
        assert not page.locator(".jp-OutputArea-output[data-mime-type*='error']").count(), (
            page.locator(".jp-OutputArea-output[data-mime-type*='error']").first.inner_text()
        )

        dashboard = page.locator(".mavtools-dashboard")
        expect(dashboard).to_have_count(1)
        figures = dashboard.locator('[class*="mavtools-figure-"]')
        names = figures.evaluate_all(
            "els => els.flatMap(e => [...e.classList].filter(c => c.startsWith('mavtools-figure-')))"
        )
        assert names, "the dashboard shows no figure Output"
        page.wait_for_function(
            f"() => Object.values(({_FIGURE_DATA})()).every(d => d !== '')",
            timeout=UI_TIMEOUT_MS,
        )
        before: dict[str, Any] = page.evaluate(_FIGURE_DATA)
        assert sorted(before) == sorted(names) and all(before.values())
        summary = dashboard.locator(".mavtools-summary")
        summary_before = summary.inner_text()
        assert summary_before.strip()

        pools = dashboard.locator(".mavtools-pool-filter select")
        labels = pools.locator("option").all_inner_texts()
        selected = pools.evaluate("s => [...s.selectedOptions].map(o => o.textContent)")
        assert len(labels) >= 2, labels
        choice = next(label for label in labels if [label] != selected)
        pools.select_option(label=choice)
        page.wait_for_function(
            _CHANGED, arg=[before, summary_before.strip()], timeout=UI_TIMEOUT_MS
        )
        after = page.evaluate(_FIGURE_DATA)
        summary_after = summary.inner_text()
        assert summary_after != summary_before
        for name in names:
            assert after[name] and after[name] != before[name], name
            assert json.loads(after[name]), name
        assert pools.evaluate("s => [...s.selectedOptions].map(o => o.textContent)") == [choice]

        if news.is_visible():
            news.get_by_role("button", name="No", exact=True).click()
        expect(news).to_have_count(0)
        dashboard.scroll_into_view_if_needed()
        dashboard.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=artifact("explore.png"))
        assert blocked == [], f"the page tried to reach the network: {blocked}"
        assert errors == [], errors
    print(f"browser cycle: {time.monotonic() - started:.1f} s, figures {names}, chose {choice}")
