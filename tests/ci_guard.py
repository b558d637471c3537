"""Under CI (``CI=true``), a test skipped for a missing module or program fails the run.

A CI run that passes because the TLS trials skipped (no ``cryptography``) or the browser tests
skipped (no chromium) proves nothing. Locally such skips stay skips, with their reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

#: Skip reasons that mean "something is not installed" (pytest.importorskip, shutil.which...).
MISSING: re.Pattern[str] = re.compile(
    r"could not import|no module named|not installed|is missing|not found on path|"
    r"executable .* not found",
    re.IGNORECASE,
)


def under_ci() -> bool:
    """Whether this run is a CI run (``CI`` set to ``true``/``1``/``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not (report.skipped and under_ci()):
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if MISSING.search(reason):
        report.outcome = "failed"
        report.longrepr = (
            f"CI=true: {item.nodeid} was skipped for a missing dependency ({reason}); "
            "install the test extras (pip install -e '.[test]') instead of skipping."
        )
