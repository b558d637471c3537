"""The public API is declared once, sorted and complete; importing does nothing on disk."""

from __future__ import annotations

import subprocess
import sys

import mavtools


def test_all_is_sorted_and_every_name_exists():
    names = mavtools.__all__

    def isort_style(name: str) -> tuple[int, str]:  # CONSTANTS, then Classes, then functions
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=isort_style)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(mavtools, name) is not None


def test_every_public_callable_documents_itself():
    for name in mavtools.__all__:
        obj = getattr(mavtools, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__.strip()) > 20, name


def test_import_creates_no_directory_and_opens_no_socket(tmp_path):
    code = (
        "import os, socket\n"
        "def refuse(*a, **k): raise SystemExit('socket opened at import')\n"
        "socket.socket.connect = refuse\n"
        "import mavtools, mavtools.views.style, mavtools.views.timeseries, mavtools.views.widgets\n"
        "print(sorted(os.listdir(os.environ['HOME'])))\n"
    )
    cache = tmp_path / "home" / "cache"
    cache.parent.mkdir()
    env = {
        "MAVTOOLS_CACHE_DIR": str(cache),
        "HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", "nothing may be created at import time"
