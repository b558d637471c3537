"""Samples are never a surprise: the Python API warns once and says where it looked; the CLI
refuses to fetch samples unless asked with --samples."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mavtools.errors import SamplesWarning
from mavtools.load import load_versions
from mavtools.local import samples
from mavtools.provenance import provenance

REPO = Path(__file__).resolve().parents[1]


def _bare_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MODELARTS_", "OS_", "MAVTOOLS_"))
    }
    return env | {"HOME": str(tmp_path), "MAVTOOLS_CACHE_DIR": str(tmp_path / "cache")}


def test_the_python_api_warns_once_naming_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setattr(samples, "_WARNED", {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # what a notebook or a script does
        df = load_versions(cache_dir=tmp_path)
        load_versions(cache_dir=tmp_path)
    assert provenance(df).is_sample  # type: ignore[union-attr]
    notices = [w for w in caught if issubclass(w.category, SamplesWarning)]
    assert len(notices) == 1
    text = str(notices[0].message)
    for place in ("MODELARTS_TOKEN", "MODELARTS_AK", "OS_CLOUD", "clouds.yaml", "OS_AUTH_URL"):
        assert place in text
    assert "samples_client()" in text and "restart" in text


def test_the_warning_is_visible_with_default_filters(tmp_path):
    """A fresh interpreter (as a notebook kernel) shows it on stderr, once, the same everywhere."""
    code = "import mavtools as mt\nmt.load_versions()\nmt.load_versions()\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_bare_env(tmp_path) | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("SamplesWarning") == 1
    assert done.stderr.startswith("mavtools:0: SamplesWarning: No ModelArts credentials")
    assert str(tmp_path) not in done.stderr  # no machine-specific path in a notebook output


def test_an_explicit_samples_client_does_not_warn(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = load_versions(samples.samples_client(), cache_dir=tmp_path)
    assert provenance(df).is_sample  # type: ignore[union-attr]


def test_cli_fetch_refuses_samples_it_was_not_asked_for(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mavtools", "fetch", "--format", "csv"],
        env=_bare_env(tmp_path) | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--samples" in lines[0] and "credentials" in lines[0]


@pytest.mark.parametrize("args", [("fetch", "--samples", "--format", "csv")])
def test_cli_fetch_with_samples_says_nothing_extra(tmp_path, args):
    done = subprocess.run(
        [sys.executable, "-m", "mavtools", *args],
        env=_bare_env(tmp_path) | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "SamplesWarning" not in done.stderr
