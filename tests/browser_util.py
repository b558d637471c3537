"""Headless Debian chromium through Playwright, for the browser tests.

Playwright drives the chromium the system package installed (``/usr/bin/chromium``); it never
downloads a browser (``playwright install`` needs the internet and is not used).

Without chromium the tests are skipped with the command that installs it, except under CI
(``CI=true``), where a missing browser fails: CI must not pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

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
