"""Running a notebook for a report: a fresh kernel, the selection and headline cells added.

:func:`execute_notebook` runs every cell with nbclient and returns the executed notebook (widget
state kept), which :func:`mavtools.views.report.report_html` turns into HTML.

Decisions:

* The kernel talks to nbclient over IPC (Unix sockets in a private temporary folder), not TCP on
  localhost: no other process can connect, and the kernel prints no warning on stderr.
* Figures: the kernel runs with ``PLOTLY_RENDERER=plotly_mimetype`` (the in-kernel default anyway,
  forced so a user's environment cannot change it), so each figure is a small
  ``application/vnd.plotly.v1+json`` output.
* A lost ``execute_reply`` (the kernel went idle, the reply never came) is recovered from IOPub
  after :data:`REPLY_GRACE_S` seconds instead of waiting for the cell timeout.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mavtools.errors import ConfigError, MavtoolsError

if TYPE_CHECKING:  # nbformat takes about 2 s to import: only when a report is made
    import nbformat

    from mavtools.views.report_filter import ReportFilter

__all__ = ["DEFAULT_TIMEOUT", "INJECTED_TAG", "REPLY_GRACE_S", "execute_notebook"]

#: Seconds one cell may run before the execution is abandoned.
DEFAULT_TIMEOUT: Final = 600
#: Tag of the cells :func:`execute_notebook` adds (a selection, the headline numbers).
INJECTED_TAG: Final = "mavtools-injected"
#: How long to wait for a cell's execute_reply once the kernel said it is idle again.
REPLY_GRACE_S: Final = 5.0


def execute_notebook(
    notebook_path: str | os.PathLike[str],
    *,
    timeout: int = DEFAULT_TIMEOUT,
    selection: ReportFilter | None = None,
    headline: bool = True,
) -> nbformat.NotebookNode:
    """Run every cell of a notebook in a fresh kernel and return the executed notebook.

    The widget state at the end of the run is kept in the notebook's metadata, as JupyterLab's
    "save widget state" does. With ``selection``, a cell that narrows the frame is added after
    the cell that loads it (the first calling ``mt.load_versions(``); with ``headline``, a last
    cell shows :func:`mavtools.views.headline.show_headline` (tagged :data:`HEADLINE_TAG`, so a
    report puts it first). Added cells are tagged :data:`INJECTED_TAG`.

    Raises:
        ConfigError: the notebook cannot be read.
        MavtoolsError: a cell failed or timed out.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(notebook_path)
    try:
        notebook = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read the notebook {path}: {exc}.") from None
    _inject(notebook, selection, headline)
    _NotebookClient = _lost_reply_tolerant(NotebookClient)
    running = [1]  # the number of the cell being executed (markdown cells count), for errors

    def started(cell: Any, cell_index: int) -> None:
        running[:] = [cell_index + 1]

    # IPC (Unix sockets in a private folder) instead of TCP on localhost: nothing else on the
    # machine can connect, and the kernel does not print its "TCP without encryption" warning.
    from traitlets.config import Config

    sockets = Path(tempfile.mkdtemp(prefix="mavtools-kernel-"))
    config = Config({"KernelManager": {"transport": "ipc", "ip": str(sockets / "kernel")}})
    client = _NotebookClient(
        notebook,
        config=config,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.resolve().parent)}},
        store_widget_state=True,
        on_cell_start=started,
    )
    env = {**os.environ, "PLOTLY_RENDERER": "plotly_mimetype"}
    try:
        client.execute(env=env)
    except CellTimeoutError:
        raise MavtoolsError(
            f"Cell {running[0]} of {path.name} ran longer than {timeout} s; raise --timeout or "
            "run the notebook in JupyterLab (mavtools lab) to see where it hangs."
        ) from None
    except DeadKernelError:
        raise MavtoolsError(
            f"The kernel died while running cell {running[0]} of {path.name} (out of memory?); "
            "run the notebook in JupyterLab (mavtools lab) to see where."
        ) from None
    except CellExecutionError as exc:
        raise MavtoolsError(
            f"Cell {running[0]} of {path.name} failed: {exc.ename}: {exc.evalue} (run it in "
            "JupyterLab, mavtools lab, to see the traceback)."
        ) from None
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    return notebook


def _inject(
    notebook: nbformat.NotebookNode, selection: ReportFilter | None, headline: bool
) -> None:
    from nbformat import v4

    from mavtools.views.headline import HEADLINE_TAG

    if selection:
        loads = [
            i for i, c in enumerate(notebook.cells)
            if c.cell_type == "code" and "mt.load_versions(" in c.source
        ]  # fmt: skip
        if not loads:
            raise ConfigError(
                "--filter needs a notebook that loads its data with mt.load_versions( (in a "
                "code cell); this one does not."
            )
        cell = v4.new_code_cell(selection.code(), metadata={"tags": [INJECTED_TAG]})
        cell.id = "mavtools-selection"  # fixed: reports of the same data are byte-identical
        notebook.cells.insert(loads[0] + 1, cell)
    if headline:
        text = selection.describe() if selection else ""
        source = (
            "from mavtools.views.headline import show_headline as _show_headline\n"
            f"_show_headline(globals(), selection={text!r})"
        )
        cell = v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG, HEADLINE_TAG]})
        cell.id = "mavtools-headline"
        notebook.cells.append(cell)


def _lost_reply_tolerant(base: type) -> type:
    """``NotebookClient`` that does not wait forever for an execute_reply the kernel lost.

    Measured here: about one run in fifteen, ipykernel 7.4 finishes a cell that opens widget
    comms (outputs, then status ``idle`` on IOPub) but the ``execute_reply`` never reaches the
    shell channel; nbclient then waits until the cell timeout. Once IOPub said idle, the reply is
    given :data:`REPLY_GRACE_S` seconds; after that one is made from what IOPub delivered (status
    ``error`` when the cell shows an error). This overrides nbclient's private
    ``_async_poll_for_reply`` (checked against nbclient 0.10 and 0.11); if a future nbclient
    renames it, the override is simply not called.
    """
    import asyncio

    class Tolerant(base):  # type: ignore[misc, valid-type]
        async def _async_poll_for_reply(  # type: ignore[override]
            self,
            msg_id: str,
            cell: Any,
            timeout: Any,
            task_poll_output_msg: Any,
            task_poll_kernel_alive: Any,
        ) -> dict[str, Any]:
            reply = asyncio.ensure_future(
                super()._async_poll_for_reply(
                    msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive
                )
            )
            await asyncio.wait({reply, task_poll_output_msg}, return_when=asyncio.FIRST_COMPLETED)
            if not reply.done() and _succeeded(task_poll_output_msg):
                await asyncio.wait({reply}, timeout=REPLY_GRACE_S)
            if reply.done() or not _succeeded(task_poll_output_msg):
                return await reply
            reply.cancel()
            task_poll_kernel_alive.cancel()
            # Recovered in full (the outputs are IOPub's, the same the reply would have kept), and
            # nothing for the user to do: said at info level (shown with -v), not as a warning on
            # every report's stderr.
            self.log.info("No execute_reply after the kernel went idle; using IOPub's outputs.")
            errors = [o for o in cell.get("outputs", ()) if o.get("output_type") == "error"]
            content: dict[str, Any] = {
                "status": "ok",
                "execution_count": cell.get("execution_count"),
            }
            if errors:
                content.update(
                    status="error",
                    ename=errors[0].get("ename", ""),
                    evalue=errors[0].get("evalue", ""),
                    traceback=errors[0].get("traceback", []),
                )
            return {"content": content, "parent_header": {"msg_id": msg_id}}

    return Tolerant


def _succeeded(task: Any) -> bool:
    return bool(task.done() and not task.cancelled() and task.exception() is None)
