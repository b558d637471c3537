"""Re-execute the notebooks in place against the bundled samples, as the nbval run executes them.

Run: ``python scripts/execute_notebooks.py [notebook ...]`` (default: ``notebooks/*.ipynb``), then
commit the notebooks. ``python -m pytest notebooks`` re-executes them under nbval and compares
every output with what this script stored.

Same execution as nbval (``--nbval-current-env`` in pyproject):

* the kernel is nbval's own "current environment" kernel (this interpreter, ``ipykernel``), started
  in the notebook's directory, so plotly's default renderer inside it is ``plotly_mimetype``
  (left alone: no ``PLOTLY_RENDERER``);
* the kernel gets no ModelArts credentials (``MODELARTS_*``, ``OS_*``, ``MAVTOOLS_*`` are removed,
  and the cache directory is a fresh temporary one), so the notebooks load the bundled samples,
  whose provenance carries no clock: the outputs are the same on every run.

What is stored, so that files stay small and identical run to run:

* no widget state (``metadata.widgets``): live widgets need a kernel anyway, and the state would
  hold every figure again;
* no ``application/vnd.jupyter.widget-view+json`` output: without the state it can only render as
  "model not found"; the output's ``text/plain`` (for the dashboard, its summary line) stays.
  nbval never compares that mimetype (widget model ids are random);
* no execution timing metadata;
* beside each plotly figure, a static ``image/png`` of it (the project's own renderer: kaleido
  drives Debian's chromium offline, no CDN), so the notebook reads on GitHub and nbviewer, which do
  not run plotly's JavaScript. JupyterLab still shows the interactive figure; nbval never compares
  ``image/png`` (only the figure's JSON, which holds the numbers).
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import nbformat
from jupyter_client import KernelManager
from nbclient import NotebookClient
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"
PNG_WIDTH = 1000  # pixels; the height is the figure's own (plotly's default 450)
_PRIVATE_ENV = ("MODELARTS_", "OS_", "MAVTOOLS_")


def kernel_env(cache_dir: str) -> dict[str, str]:
    """This environment without credentials or mavtools settings, with an empty cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV)}
    env.pop("PLOTLY_RENDERER", None)
    env["MAVTOOLS_CACHE_DIR"] = cache_dir
    return env


def strip(nb: nbformat.NotebookNode) -> None:
    """Drop widget state, widget views and timing metadata (see the module docstring)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and "text/plain" in data:
                del data[WIDGET_VIEW]


def add_static_images(nb: nbformat.NotebookNode) -> int:
    """Put a PNG of each plotly figure into the same output (``image/png``); returns how many."""
    import kaleido
    import plotly.io as pio

    figures = [
        output["data"]
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if PLOTLY in output.get("data", {}) and "image/png" not in output["data"]
    ]
    if not figures:
        return 0
    kaleido.start_sync_server(silence_warnings=True)  # one browser for all figures
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "kopts are ignored when using a server"
            for data in figures:
                figure = {k: v for k, v in data[PLOTLY].items() if k != "config"}
                png = pio.to_image(figure, format="png", width=PNG_WIDTH, validate=False)
                data["image/png"] = base64.b64encode(png).decode("ascii")
    finally:
        kaleido.stop_sync_server(silence_warnings=True)
    return len(figures)


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="mavtools-nb-cache-") as cache_dir:
        km = KernelManager(
            kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager()
        )
        client = NotebookClient(
            nb,
            km=km,
            timeout=600,
            record_timing=False,
            store_widget_state=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        t0 = time.perf_counter()
        client.execute(cwd=str(path.parent), env=kernel_env(cache_dir))
        elapsed = time.perf_counter() - t0
    strip(nb)
    add_static_images(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        elapsed = execute(path)
        size = path.stat().st_size
        print(f"{path.relative_to(ROOT)}: executed in {elapsed:.1f} s, {size / 1024:.0f} KB")
        if size >= 3 * 1024 * 1024:
            print(f"  {path.name} is over 3 MB", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
