"""One self-contained HTML report of a notebook: executed, interactive figures, works offline.

:func:`render_report` executes a notebook with nbclient (the notebook chooses its data itself, via
:func:`mavtools.load_versions`: the configured ModelArts project, else the bundled samples) and
writes a single HTML file that opens without a network or a kernel::

    >>> render_report("notebooks/explore.ipynb", "explore.html")
    Report(path=PosixPath('explore.html'), plots=3, provenance='bundled sample data ...')

The steps are public so a test or another tool can inspect the executed notebook before it is
converted: :func:`mavtools.views.report_run.execute_notebook` (the kernel, and the cells a
``--filter`` selection, :mod:`mavtools.views.report_filter`, and the headline add), then
:func:`report_html` (this module).

Decisions:

* Figures: each one comes from the kernel as a small ``application/vnd.plotly.v1+json`` output
  (see :mod:`mavtools.views.report_run`). nbconvert drops that mimetype; each one becomes a
  ``text/html`` output: a ``<div>`` plus a ``Plotly.newPlot(...)`` call (its modebar saves a PNG
  or an SVG: :mod:`mavtools.views.modebar`), with ids numbered in
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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from mavtools.errors import ConfigError, MavtoolsError
from mavtools.views.mime import PLOTLY_MIMETYPE
from mavtools.views.report_run import DEFAULT_TIMEOUT, execute_notebook

if TYPE_CHECKING:  # nbformat takes about 2 s to import: only when a report is made
    import nbformat

    from mavtools.views.report_filter import ReportFilter

__all__ = [
    "KERNEL_ONLY_TAG",
    "WIDGET_NOTE",
    "Report",
    "external_resources",
    "render_report",
    "report_html",
]

#: Cell tag of cells that only make sense with a kernel (for example "enter your pool sizes in the
#: marked cell"): the report leaves them out.
KERNEL_ONLY_TAG: Final = "kernel-only"
WIDGET_VIEW_MIMETYPE: Final = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIMETYPE: Final = "application/vnd.jupyter.widget-state+json"
#: Shown where the notebook displayed a widget.
WIDGET_NOTE: Final = "Interactive filters need a running kernel; figures below show the notebook's default selection."
#: plotly.js config of every figure of a report: no "Share chart" button (plotly.js 4 shows it
#: unless told not to, and it uploads the chart to Plotly's cloud), PNG export at 2x; the SVG
#: button is added in the page (:data:`mavtools.views.modebar.SVG_BUTTON_JS`).
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
.jp-OutputArea-output pre { word-break: normal; overflow-wrap: break-word; }
.mavtools-report-footer { margin: 32px 0 16px; padding: 8px 16px; border-top: 1px solid #ccc;
  color: #555; font-family: var(--jp-ui-font-family); font-size: 12px; line-height: 1.4; }
.mavtools-report-footer p { margin: 2px 0; }
</style>
<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>
<script type="text/javascript">{{ resources.mavtools.plotly_js }}</script>
<script type="text/javascript">{{ resources.mavtools.modebar_js }}</script>
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

    from mavtools.views.modebar import SVG_BUTTON_JS

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
        + "). Figures are interactive and work offline; the modebar saves a PNG or an SVG.",
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
            "modebar_js": SVG_BUTTON_JS,
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
        _script_json(part) for part in (figure.get("data", []), figure.get("layout", {}))
    )
    return (
        f'<div id="{div_id}" class="mavtools-plot"></div>\n'
        f'<script type="text/javascript">Plotly.newPlot("{div_id}", {args}, '
        f"mavtoolsModebar(Plotly, {_script_json(config)}));</script>"
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
    reader of the report needs as much as the notebook's user. Other lines go, such as the
    notebooks' ``Setup: ...`` (no credentials found: what to set, for whoever runs the notebook;
    the footer says where the data came from).
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
