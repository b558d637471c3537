"""One self-contained HTML report of a notebook: executed, interactive figures, works offline.

:func:`render_report` executes a notebook with nbclient (the notebook chooses its data itself, via
:func:`mavtools.load_versions`: the configured ModelArts project, else the bundled samples) and
writes a single HTML file that opens without a network or a kernel::

    >>> render_report("notebooks/explore.ipynb", "explore.html")
    Report(path=PosixPath('explore.html'), plots=3, provenance='bundled sample data ...')

The steps are public so a test or another tool can inspect the executed notebook before it is
converted: :func:`execute_notebook`, then :func:`report_html`.

Decisions:

* Figures: the kernel runs with ``PLOTLY_RENDERER=plotly_mimetype`` (the in-kernel default anyway,
  forced so a user's environment cannot change it), so each figure is a small
  ``application/vnd.plotly.v1+json`` output. nbconvert drops that mimetype; each one becomes a
  ``text/html`` output: a ``<div>`` plus a ``Plotly.newPlot(...)`` call, with ids numbered in
  document order (``mavtools-plot-1``...) instead of random UUIDs, so reports of the same data are
  byte-identical (set ``SOURCE_DATE_EPOCH`` to fix the generation time too).
* plotly.js comes from the installed plotly package (:func:`plotly.offline.get_plotlyjs`) and is
  inlined once, in the ``<head>``. No require.js is put on the page, so the UMD bundle defines
  ``window.Plotly`` instead of registering an AMD module.
* Nothing is loaded from the network: the template (nbconvert's ``lab``) is extended with empty
  require.js, MathJax, mermaid and widget-manager blocks (LaTeX in Markdown shows as its source),
  and :func:`external_resources` checks the result; a remaining external ``src``/``href`` is an
  error rather than a silent request.
* Widgets need a kernel. Each widget view is replaced by the note :data:`WIDGET_NOTE` followed by
  a static snapshot of what it showed when execution ended: the text of ``Label``/``HTML`` widgets
  and the outputs captured in ``Output`` widgets, walked depth-first through boxes; controls
  (selects, sliders, buttons) are left out. A snapshot figure identical to a plain figure output
  of the notebook is shown only once (the plain one), so a notebook that displays its default
  selection after the dashboard is not repeated.
* The report is for readers of the results: code cells' input is left out unless
  ``show_code`` (``--show-code``), and cells tagged :data:`KERNEL_ONLY_TAG` are left out always.
* The kernel talks to nbclient over IPC (Unix sockets in a private temporary folder), not TCP on
  localhost: no other process can connect, and the kernel prints no warning on stderr.
* Provenance: the header repeats the first output line that reads like ``str(Provenance)``
  (``... | project ... | fetched ...``), found in the executed notebook's stdout, plain-text
  outputs or widget labels. Scanning the outputs needs no knowledge of the notebook's variable
  names, which an injected ``mt.provenance(df)`` cell would.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mavtools.errors import ConfigError, MavtoolsError

if TYPE_CHECKING:  # nbformat takes about 2 s to import: only when a report is made
    import nbformat

__all__ = [
    "DEFAULT_TIMEOUT",
    "FILTER_KEYS",
    "INJECTED_TAG",
    "KERNEL_ONLY_TAG",
    "PLOTLY_MIMETYPE",
    "WIDGET_NOTE",
    "Report",
    "ReportFilter",
    "execute_notebook",
    "external_resources",
    "render_report",
    "report_html",
]

#: Seconds one cell may run before the execution is abandoned.
DEFAULT_TIMEOUT: Final = 600
PLOTLY_MIMETYPE: Final = "application/vnd.plotly.v1+json"
#: Cell tag of cells that only make sense with a kernel (for example "enter your pool sizes in the
#: marked cell"): the report leaves them out.
KERNEL_ONLY_TAG: Final = "kernel-only"
WIDGET_VIEW_MIMETYPE: Final = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIMETYPE: Final = "application/vnd.jupyter.widget-state+json"
#: Shown where the notebook displayed a widget.
WIDGET_NOTE: Final = "Interactive filters need a running kernel; figures below show the notebook's default selection."
#: plotly.js config of every figure of a report: no "Share chart" button (plotly.js 4 shows it
#: unless told not to, and it uploads the chart to Plotly's cloud), PNG export at 2x.
_PLOTLY_CONFIG: Final = {
    "responsive": True,
    "displaylogo": False,
    "showSendToCloud": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
_PROVENANCE_LINE: Final = re.compile(r"^.+ \| project \S+ \| .*fetched .+$", re.MULTILINE)
_EXTERNAL: Final = re.compile(
    r"<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)",
    re.IGNORECASE,
)
# Extends nbconvert's lab template: no script from a CDN, plotly.js once, the report header.
_TEMPLATE: Final = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}
<style type="text/css">
.mavtools-report-header { margin: 16px 0 24px; padding: 12px 16px; border-left: 4px solid #4e79a7;
  background: #f5f7fa; font-family: var(--jp-ui-font-family); font-size: 14px; line-height: 1.5; }
.mavtools-report-header h1 { font-size: 20px; margin: 0 0 6px; }
.mavtools-report-header p { margin: 2px 0; }
.mavtools-widget-note { padding: 8px 12px; border: 1px dashed #999; background: #fffbe6;
  font-family: var(--jp-ui-font-family); }
.mavtools-plot { width: 100%; min-height: 450px; }
.mavtools-report-footer { margin: 32px 0 16px; padding: 8px 16px; border-top: 1px solid #ccc;
  color: #555; font-family: var(--jp-ui-font-family); font-size: 12px; line-height: 1.4; }
.mavtools-report-footer p { margin: 2px 0; }
</style>
<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>
<script type="text/javascript">{{ resources.mavtools.plotly_js }}</script>
{%- endblock html_head_css -%}
{%- block body_header -%}
{{ super() }}
<header class="mavtools-report-header">
<h1>{{ resources.mavtools.title | e }}</h1>
{%- for line in resources.mavtools.lines %}
<p>{{ line | e }}</p>
{%- endfor %}
</header>
{%- endblock body_header -%}
{%- block body_footer -%}
<footer class="mavtools-report-footer">
{%- for line in resources.mavtools.footer %}
<p>{{ line | e }}</p>
{%- endfor %}
</footer>
{{ super() }}
{%- endblock body_footer -%}
"""


@dataclass(frozen=True)
class Report:
    """What :func:`render_report` wrote.

    Attributes:
        path: the HTML file.
        plots: number of interactive figures in it.
        provenance: the provenance line found in the notebook's outputs ("" when none).
    """

    path: Path
    plots: int
    provenance: str


#: ``--filter`` keys and the frame column each one selects on.
FILTER_KEYS: Final = {"pool": "pool_id", "workspace": "workspace_id", "user": "user_name"}
#: Tag of the cells :func:`execute_notebook` adds (a selection, the headline numbers).
INJECTED_TAG: Final = "mavtools-injected"


@dataclass(frozen=True)
class ReportFilter:
    """The selection a report is made of (``mavtools report --filter key=value``).

    Attributes:
        values: ``"pool"``, ``"workspace"`` (id or name), ``"user"`` -> the values kept.
        start, end: days ``YYYY-MM-DD``: versions that ran (or were created) in
            ``[start, end)`` (as :func:`mavtools.overlapping`); None: no bound.
    """

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    start: str | None = None
    end: str | None = None

    @classmethod
    def parse(cls, items: Iterable[str]) -> ReportFilter:
        """``["workspace=vision-team", "pool=a,b", "start=2026-09-01"]`` -> a filter.

        Raises:
            ConfigError: an item is not ``key=value`` with a known key, or a day is not a date.
        """
        values: dict[str, tuple[str, ...]] = {}
        days: dict[str, str] = {}
        for item in items:
            key, sep, value = item.partition("=")
            key = key.strip().lower()
            if not sep or not value.strip() or key not in (*FILTER_KEYS, "start", "end"):
                raise ConfigError(
                    f"--filter {item!r} is not key=value with key pool, workspace, user, start "
                    "or end (e.g. --filter workspace=vision-team --filter start=2026-09-01)."
                )
            if key in ("start", "end"):
                try:
                    datetime.strptime(value.strip(), "%Y-%m-%d")
                except ValueError:
                    raise ConfigError(
                        f"--filter {key}={value} is not a day: write YYYY-MM-DD."
                    ) from None
                days[key] = value.strip()
            else:
                values[key] = (*values.get(key, ()), *(v.strip() for v in value.split(",") if v))
        return cls(values, days.get("start"), days.get("end"))

    def __bool__(self) -> bool:
        return bool(self.values or self.start or self.end)

    def describe(self) -> str:
        """The selection in words, for the report's title: ``workspace vision-team; from ...``."""
        parts = [f"{key} {', '.join(v)}" for key, v in self.values.items()]
        if self.start or self.end:
            parts.append(f"{self.start or 'start'} to {self.end or 'end'}")
        return "; ".join(parts)

    def code(self) -> str:
        """The cell that narrows the notebook's ``versions`` (and ``history``) to the selection."""
        lines = [
            "# Added by mavtools report --filter: the report shows this selection only.",
            "import polars as _pl",
            "import mavtools as _mt",
            "from datetime import datetime as _dt",
            "try:",
            "    _names = client.workspace_names()",
            "except Exception:  # names are optional: ids still match",
            "    _names = {}",
            "",
            "def _selected(_df):",
        ]
        for key, values in self.values.items():
            column = FILTER_KEYS[key]
            wanted = list(values)
            if key == "workspace":
                lines.append(
                    f"    _ids = [i for i, n in _names.items() if n in {wanted!r}] + {wanted!r}"
                )
                lines.append(
                    f"    _df = _df.filter(_pl.col({column!r}).cast(_pl.String).is_in(_ids))"
                )
            else:
                lines.append(
                    f"    _df = _df.filter(_pl.col({column!r}).cast(_pl.String).is_in({wanted!r}))"
                )
        if self.start or self.end:
            start = f"_dt.fromisoformat({self.start!r})" if self.start else "None"
            end = f"_dt.fromisoformat({self.end!r})" if self.end else "None"
            lines.append(f"    _df = _mt.overlapping(_df, start={start}, end={end})")
        lines += [
            "    return _df",
            "",
            "versions = _selected(versions)",
            "if 'history' in globals():",
            "    history = _selected(history)",
        ]
        return "\n".join(lines)


def render_report(
    notebook_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    timeout: int = DEFAULT_TIMEOUT,
    show_code: bool = False,
    selection: ReportFilter | None = None,
) -> Report:
    """Execute a notebook and write it as one self-contained, offline HTML report.

    Args:
        notebook_path: the ``.ipynb`` file; it runs with its own directory as working directory.
        output_path: the HTML file to write (replaced if it exists).
        timeout: seconds one cell may run.
        show_code: include the code cells' input (left out by default: the report is for
            readers of the results). Cells tagged :data:`KERNEL_ONLY_TAG` are always left out.
        selection: the versions to report on (``--filter``): the notebook's frame is narrowed
            right after it is loaded, so every number and figure is of that selection.

    Returns:
        The :class:`Report` written.

    Raises:
        ConfigError: the notebook cannot be read.
        MavtoolsError: a cell failed or timed out (the message names the cell and the error).

    Example:
        >>> render_report("notebooks/explore.ipynb", "explore.html").plots
        3
    """
    source = Path(notebook_path)
    executed = execute_notebook(source, timeout=timeout, selection=selection)
    text, plots, origin = report_html(
        executed, name=source.name, show_code=show_code,
        selection=selection.describe() if selection else "",
    )  # fmt: skip
    target = Path(output_path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return Report(target, plots, origin)


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


def report_html(
    notebook: nbformat.NotebookNode, *, name: str, show_code: bool = False, selection: str = ""
) -> tuple[str, int, str]:
    """Convert an executed notebook to the report's HTML.

    Args:
        notebook: the notebook :func:`execute_notebook` returned (left unchanged).
        name: the notebook's file name, for the title.
        show_code: include code cells' input (default: outputs and Markdown only).
        selection: the selection in words (``ReportFilter.describe``), for the title.

    The report reads as a summary: the outputs of cells tagged :data:`HEADLINE_TAG` come first,
    then the notebook's Markdown and outputs without prompts; the provenance the notebook
    printed when loading its data moves to a compact footer that names workspaces (ids and the
    query are left out).

    Returns:
        ``(html, number of interactive figures, provenance line or "")``.

    Raises:
        MavtoolsError: the HTML would still load something from the network.
    """
    import jinja2
    from nbconvert import HTMLExporter
    from plotly.offline import get_plotlyjs

    notebook = copy.deepcopy(notebook)
    notebook.cells = [
        c for c in notebook.cells if KERNEL_ONLY_TAG not in c.get("metadata", {}).get("tags", ())
    ]
    states = _widget_states(notebook)
    origin = _provenance_line(notebook, states)
    workspaces = _headline_workspaces(notebook)
    _move_headlines(notebook)
    _drop_provenance_outputs(notebook)
    figures = (_figure(o) for cell in notebook.cells for o in cell.get("outputs", ()))
    plain = {_canonical(f) for f in figures if f is not None}
    counter = _Counter()
    for cell in notebook.cells:
        if "outputs" in cell:
            cell.outputs = list(_static_outputs(cell.outputs, states, plain, counter))
    notebook.metadata.pop("widgets", None)

    generated = _generation_time()
    lines = [f"Selection: {selection}."] if selection else []
    footer = [
        f"Data: {_compact(origin)}" if origin else "",
        f"Workspaces: {', '.join(workspaces)}." if workspaces else "",
        f"Generated {generated:%Y-%m-%d %H:%M} UTC by executing {name} (mavtools report"
        + (f" --filter {selection}" if selection else "")
        + "). Figures are interactive and work offline; the modebar saves a PNG.",
    ]
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"mavtools_report.html.j2": _TEMPLATE})],
        template_file="mavtools_report.html.j2",
        exclude_input=not show_code,
        exclude_input_prompt=not show_code,
        exclude_output_prompt=not show_code,  # a summary, not a notebook: no "Out[5]:"
    )
    resources = {
        "metadata": {"name": Path(name).stem},
        "mavtools": {
            "title": f"{Path(name).stem} — mavtools report",
            "lines": lines,
            "footer": [line for line in footer if line],
            "plotly_js": get_plotlyjs(),
        },
    }
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    remote = external_resources(body)
    if remote:
        raise MavtoolsError(
            f"The report would load {', '.join(sorted(set(remote)))} from the network; "
            "this is a bug in mavtools.views.report."
        )
    return body, counter.value, origin


def external_resources(text: str) -> list[str]:
    """The URLs of scripts, styles, images or frames an HTML page would fetch from a network."""
    return _EXTERNAL.findall(text)


# ------------------------------------------------------------------------------------- helpers

#: How long to wait for a cell's execute_reply once the kernel said it is idle again.
REPLY_GRACE_S: Final = 5.0


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


class _Counter:
    """Numbers the figure divs in document order (deterministic ids)."""

    def __init__(self) -> None:
        self.value = 0

    def next_id(self) -> str:
        self.value += 1
        return f"mavtools-plot-{self.value}"


def _generation_time() -> datetime:
    """Now, or ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) when set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), UTC)
        except ValueError:
            raise ConfigError(
                f"SOURCE_DATE_EPOCH must be whole seconds since 1970, not {epoch!r}."
            ) from None
    return datetime.now(UTC)


def _widget_states(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    widgets = notebook.metadata.get("widgets", {}).get(WIDGET_STATE_MIMETYPE, {})
    return dict(widgets.get("state", {}))


def _children(state: dict[str, Any], model_id: str, seen: set[str]) -> Iterator[dict[str, Any]]:
    """The models of a widget tree, depth-first, each once (boxes may share a child)."""
    if model_id in seen or model_id not in state:
        return
    seen.add(model_id)
    model = state[model_id]
    yield model
    for child in model.get("state", {}).get("children", ()):
        if isinstance(child, str) and child.startswith("IPY_MODEL_"):
            yield from _children(state, child.removeprefix("IPY_MODEL_"), seen)


def _view_model(output: dict[str, Any]) -> str | None:
    view = output.get("data", {}).get(WIDGET_VIEW_MIMETYPE)
    return view.get("model_id") if isinstance(view, dict) else None


def _figure(output: dict[str, Any]) -> dict[str, Any] | None:
    figure = output.get("data", {}).get(PLOTLY_MIMETYPE)
    return figure if isinstance(figure, dict) else None


def _canonical(figure: dict[str, Any]) -> str:
    return json.dumps(figure, sort_keys=True, separators=(",", ":"))


def _static_outputs(
    outputs: Iterable[dict[str, Any]], states: dict[str, Any], plain: set[str], counter: _Counter
) -> Iterator[dict[str, Any]]:
    """The outputs as nbconvert can show them: figures as HTML, widget views as a snapshot."""
    for output in outputs:
        figure = _figure(output)
        model_id = _view_model(output)
        if figure is not None:
            yield _html_output(_figure_html(figure, counter.next_id()))
        elif model_id is not None:
            yield _html_output(
                f'<div class="mavtools-widget-note">{html.escape(WIDGET_NOTE)}</div>'
            )
            yield from _snapshot(states, model_id, plain, counter)
        else:
            yield output


def _snapshot(
    states: dict[str, Any], model_id: str, plain: set[str], counter: _Counter
) -> Iterator[dict[str, Any]]:
    for model in _children(states, model_id, set()):
        name, state = model.get("model_name", ""), model.get("state", {})
        classes = html.escape(" ".join(["mavtools-widget-text", *state.get("_dom_classes", ())]))
        if name == "LabelModel" and state.get("value"):
            yield _html_output(f'<p class="{classes}">{html.escape(state["value"])}</p>')
        elif name in ("HTMLModel", "HTMLMathModel") and state.get("value"):
            yield _html_output(f'<div class="{classes}">{state["value"]}</div>')
        elif name == "OutputModel":
            inner = [
                o
                for o in state.get("outputs", ()) or ()
                if (f := _figure(o)) is None or _canonical(f) not in plain
            ]
            yield from _static_outputs(inner, states, plain, counter)
        elif (
            state.get("_anywidget_id") == _PLOT_VIEW  # a dashboard figure redrawn in place
            and state.get("figure")
            and _canonical(state["figure"]) not in plain
        ):
            yield _html_output(_figure_html(state["figure"], counter.next_id()))


_PLOT_VIEW = "mavtools.views.plot.PlotView"  # anywidget's id of the class: module.name


def _html_output(text: str) -> dict[str, Any]:
    from nbformat import v4

    return v4.new_output("display_data", data={"text/html": text})


def _figure_html(figure: dict[str, Any], div_id: str) -> str:
    # An offline report never offers the upload, whatever config the figure came with.
    config = {**_PLOTLY_CONFIG, **(figure.get("config") or {}), "showSendToCloud": False}
    args = ", ".join(
        _script_json(part) for part in (figure.get("data", []), figure.get("layout", {}), config)
    )
    return (
        f'<div id="{div_id}" class="mavtools-plot"></div>\n'
        f'<script type="text/javascript">Plotly.newPlot("{div_id}", {args});</script>'
    )


def _script_json(value: Any) -> str:
    """JSON that cannot end the ``<script>`` element it is written into."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _provenance_line(notebook: nbformat.NotebookNode, states: dict[str, Any]) -> str:
    texts: list[str] = []
    for cell in notebook.cells:
        for output in cell.get("outputs", ()):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                texts.append(_text(output.get("text", "")))
            texts.append(_text(output.get("data", {}).get("text/plain", "")))
    texts += [
        str(m.get("state", {}).get("value", ""))
        for m in states.values()
        if m.get("model_name") == "LabelModel"
    ]
    for text in texts:
        match = _PROVENANCE_LINE.search(text)
        if match:
            return match.group(0).strip()
    return ""


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


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


def _tags(cell: Any) -> tuple[str, ...]:
    return tuple(cell.get("metadata", {}).get("tags", ()))


def _move_headlines(notebook: nbformat.NotebookNode) -> None:
    """Cells tagged ``headline`` first: the numbers come before any text."""
    from mavtools.views.headline import HEADLINE_TAG

    heads = [c for c in notebook.cells if HEADLINE_TAG in _tags(c)]
    rest = [c for c in notebook.cells if HEADLINE_TAG not in _tags(c)]
    notebook.cells = heads + rest


def _headline_workspaces(notebook: nbformat.NotebookNode) -> list[str]:
    for cell in notebook.cells:
        for output in cell.get("outputs", ()):
            found = output.get("metadata", {}).get("mavtools", {}).get("workspaces")
            if found:
                return [str(w) for w in found]
    return []


def _drop_provenance_outputs(notebook: nbformat.NotebookNode) -> None:
    """The load cell's printout (origin, workspace ids) goes to the footer instead.

    Its notes stay (``Note: ...``, a skipped listing): they say what is missing and why, which a
    reader of the report needs as much as the notebook's user.
    """
    for cell in notebook.cells:
        outputs = cell.get("outputs", ())
        if any(
            o.get("output_type") == "stream" and _PROVENANCE_LINE.search(_text(o.get("text", "")))
            for o in outputs
        ):
            notes = [
                line
                for o in outputs
                if o.get("output_type") == "stream"
                for line in _text(o.get("text", "")).splitlines(keepends=True)
                if line.startswith("Note: ") or " listing skipped: " in line
            ]
            kept = [o for o in outputs if o.get("output_type") != "stream"]
            if notes:
                from nbformat import v4

                kept.insert(0, v4.new_output("stream", name="stdout", text="".join(notes)))
            cell.outputs = kept
            return


def _compact(origin: str) -> str:
    """The provenance line without its query (which lists workspace ids)."""
    return " | ".join(p for p in origin.split(" | ") if not p.startswith("query:"))
