"""Start JupyterLab on the mavtools notebooks, on 127.0.0.1 with a token.

:func:`lab_command` builds the command (argv, environment, URL) and :func:`run_lab` runs it; the
browser test starts JupyterLab through the same :func:`lab_command`, so what it proves is what
``mavtools lab`` does::

    >>> command = lab_command(open_browser=False)
    >>> command.url
    'http://127.0.0.1:8888/lab/tree/explore.ipynb?token=...'
    >>> run_lab(command)          # until Ctrl-C

Decisions:

* Bound to ``127.0.0.1`` only. The token is random (:func:`secrets.token_urlsafe`) and handed to
  Jupyter through the ``JUPYTER_TOKEN`` environment variable, not the command line, where any
  local user could read it in ``ps``. The URL with the token is printed, as Jupyter itself does:
  that URL is the user's key.
* The port is chosen before the start (the first free one from 8888, or ``--port``) and Jupyter is
  told not to move to another one (``port_retries=0``), so the printed URL is the one that works.
* ``--allow-root`` when running as root (containers), since Jupyter refuses to start otherwise;
  the update check is off (``NeverCheckForUpdate``): it would reach the internet.
* The notebooks are found next to the package in a checkout (``<checkout>/notebooks``); they are
  not part of the wheel, and the error says where to get them. A notebook path given on the
  command line is opened with its own folder as JupyterLab's root.
* :func:`run_lab` waits for Jupyter and lets it handle Ctrl-C itself (it asks to confirm, then
  stops its kernels), rather than killing it and leaving kernels behind.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import quote

from mavtools.errors import ConfigError

__all__ = [
    "DEFAULT_NOTEBOOK",
    "DEFAULT_PORT",
    "LabCommand",
    "free_port",
    "lab_command",
    "notebooks_dir",
    "run_lab",
]

#: The notebook ``mavtools lab`` opens when none is given.
DEFAULT_NOTEBOOK: Final = "explore.ipynb"
#: Jupyter's usual port; the first free one from here is used when none is given.
DEFAULT_PORT: Final = 8888
HOST: Final = "127.0.0.1"
_PORT_TRIES: Final = 50


@dataclass(frozen=True)
class LabCommand:
    """How to start JupyterLab, and where it will answer.

    Attributes:
        argv: the command line (no secret in it).
        env: variables to add to the environment (``JUPYTER_TOKEN``).
        root_dir: JupyterLab's root folder.
        notebook: the notebook opened, relative to ``root_dir`` ("" for none).
        port: the port on 127.0.0.1.
        token: the token the server accepts (kept out of ``repr``).
    """

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    root_dir: Path
    notebook: str
    port: int
    token: str = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The URL to open: the notebook (or the file browser) with the token."""
        path = f"/lab/tree/{quote(self.notebook)}" if self.notebook else "/lab"
        return f"{self.base_url}{path}?token={self.token}"


def notebooks_dir() -> Path:
    """The ``notebooks`` folder of the checkout mavtools runs from.

    Raises:
        ConfigError: mavtools was installed without its notebooks (from a wheel).
    """
    import mavtools

    folder = Path(mavtools.__file__).resolve().parents[1] / "notebooks"
    if not (folder / DEFAULT_NOTEBOOK).is_file():
        raise ConfigError(
            "The mavtools notebooks are not installed (the wheel does not contain them). Get "
            "them from the notebooks/ folder of a mavtools checkout (git clone the repository, "
            "then pip install -e . in it) or pass a notebook: mavtools lab path/to/explore.ipynb."
        )
    return folder


def free_port(start: int = DEFAULT_PORT) -> int:
    """The first port from ``start`` that is free on 127.0.0.1 (any free one after 50 tries)."""
    for port in [*range(start, start + _PORT_TRIES), 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise ConfigError(f"No free port on {HOST}.")  # pragma: no cover - port 0 always binds


def lab_command(
    notebook: str | os.PathLike[str] | None = None,
    *,
    port: int | None = None,
    token: str | None = None,
    open_browser: bool = True,
    python: str = sys.executable,
) -> LabCommand:
    """Build the command that starts JupyterLab on a notebook.

    Args:
        notebook: a notebook file (its folder becomes the root), a folder (opened without a
            notebook), or the name of one of the mavtools notebooks; None: ``explore.ipynb``.
        port: the port on 127.0.0.1; None: the first free one from 8888.
        token: the token to require; None: a new random one.
        open_browser: let Jupyter open the URL in the default browser.
        python: the interpreter that runs JupyterLab (the kernel is the same Python).

    Raises:
        ConfigError: the notebook does not exist, or the notebooks are not installed.

    Example:
        >>> lab_command("notebooks/capacity.ipynb", port=9000, open_browser=False).url
        'http://127.0.0.1:9000/lab/tree/capacity.ipynb?token=...'
    """
    root, name = _locate(notebook)
    if port is None:
        port = free_port()
    elif not 1 <= port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, not {port}.")
    token = token or secrets.token_urlsafe(32)
    argv = [
        python,
        "-m",
        "jupyterlab",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.open_browser={open_browser}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if _is_root():
        argv.append("--allow-root")
    if name:
        argv.append(str(root / name))  # opened in the browser as /lab/tree/<name>
    return LabCommand(tuple(argv), {"JUPYTER_TOKEN": token}, root, name, port, token)


def run_lab(command: LabCommand) -> int:
    """Start JupyterLab and wait until it stops; returns its exit code.

    Ctrl-C reaches Jupyter too (same terminal): it asks to confirm and shuts its kernels down;
    this function keeps waiting meanwhile. SIGTERM is passed on to Jupyter. Call it from the
    main thread (it installs a signal handler).
    """
    print(f"JupyterLab on {command.root_dir}; open {command.url}", flush=True)
    process = subprocess.Popen(command.argv, env={**os.environ, **command.env})
    # A SIGTERM for mavtools (a service manager, `timeout`) stops Jupyter the same way.
    previous = signal.signal(signal.SIGTERM, lambda signum, _: process.send_signal(signum))
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _locate(notebook: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """(root folder, notebook name relative to it or "") of what the user asked to open."""
    if notebook is None:
        return notebooks_dir(), DEFAULT_NOTEBOOK
    path = Path(notebook).expanduser()
    if path.is_dir():
        return path.resolve(), ""
    if path.is_file():
        path = path.resolve()
        return path.parent, path.name
    if path.name == str(notebook):  # a bare name: one of the mavtools notebooks?
        try:
            folder = notebooks_dir()
        except ConfigError:
            folder = None
        if folder is not None and (folder / path.name).is_file():
            return folder, path.name
    raise ConfigError(f"No notebook at {notebook}; give the path of an .ipynb file.")
