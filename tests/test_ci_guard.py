"""Under CI=true, a test skipped for a missing module or program fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TRIAL = """
import pytest

def test_needs_a_module():
    pytest.importorskip("mavtools_no_such_module_xyz")

def test_skipped_for_another_reason():
    pytest.skip("nothing to compare on this platform")
"""


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_trial.py").write_text(TRIAL)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(REPO)}
    if ci is not None:
        env["CI"] = ci
    args = ["-q", "-p", "tests.ci_guard", "-p", "no:cacheprovider", "-c", "pytest.ini"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "test_trial.py"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_a_missing_module_fails_the_run(tmp_path, ci):
    done = _run(tmp_path, ci)
    assert done.returncode == 1, done.stdout
    assert "1 failed, 1 skipped" in done.stdout
    assert "missing dependency" in done.stdout and "mavtools_no_such_module_xyz" in done.stdout


def test_locally_it_stays_a_skip(tmp_path):
    done = _run(tmp_path, None)
    assert done.returncode == 0, done.stdout
    assert "2 skipped" in done.stdout


def test_the_test_extras_hold_every_module_the_tests_import():
    """The TLS trials' cryptography among them: a fresh machine runs them instead of skipping."""
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["test"]
    names = {e.split(">")[0].split("=")[0].split("[")[0].strip().lower() for e in extras}
    for needed in (
        "cryptography",
        "huaweicloudsdkcore",
        "huaweicloudsdkmodelarts",
        "hypothesis",
        "duckdb",
        "playwright",
    ):
        assert needed in names
