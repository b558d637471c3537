"""The bundled sample responses: everything in mavtools runs on them without credentials.

``data/samples/`` holds synthetic but realistic answers of the versions API, written by
``scripts/make_samples.py`` from :func:`mavtools.local.synth.simulate` (seeded, so the files are the same
on every run): ``versions/<workspace_id>/page-NNN.json`` exactly as the API pages them (newest
first, ``offset`` as a record offset), ``errors/`` with documented error bodies and a gateway page,
and ``manifest.json`` with the snapshot time and the (fictional) project.

:func:`samples_client` serves those records through the same :class:`~mavtools.api.client.Client`,
paging and parsing code as live responses, over an in-process transport instead of the network.
Frames it returns say so in their provenance (``source="samples"``).
"""

from __future__ import annotations

import functools
import json
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from mavtools.api.client import Client
from mavtools.errors import SamplesWarning
from mavtools.local.fake_api import FakeAdapter, FakeModelArts

__all__ = [
    "sample_api",
    "sample_manifest",
    "sample_records",
    "samples_client",
    "samples_dir",
    "warn_samples_fallback",
]

#: The warning registry of :func:`warn_samples_fallback`: the warning shows once per process.
_WARNED: dict[Any, Any] = {}


def warn_samples_fallback() -> None:
    """Warn, once per process, that no credentials were found and the samples are served.

    The warning names every place that was searched. It is issued with a fixed location
    (``mavtools``) so a notebook shows the same text on every machine.
    """
    from mavtools.api.config import SEARCHED

    message = (
        "No ModelArts credentials were found, so mavtools serves the bundled SAMPLE data "
        "(synthetic, not your account). It looked for: " + "; ".join(SEARCHED) + ", in this "
        "process's environment (variables exported after Jupyter started are not seen: restart "
        "it from a shell that has them). Pass client=mt.samples_client() to use the samples "
        "without this warning."
    )
    warnings.warn_explicit(message, SamplesWarning, "mavtools", 0, registry=_WARNED)


def samples_dir() -> Path:
    """The directory of the bundled samples (inside the wheel, or ``data/samples`` of a checkout)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_samples", package.parent / "data" / "samples"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise FileNotFoundError("The bundled samples are missing; reinstall mavtools.")


@functools.cache
def sample_manifest() -> dict[str, Any]:
    """What the samples are: generator, seed, snapshot time, project, endpoint, counts."""
    return json.loads((samples_dir() / "manifest.json").read_text(encoding="utf-8"))


def sample_records() -> list[dict[str, Any]]:
    """Every sample version as a wire record tagged with its ``workspace_id``."""
    records: list[dict[str, Any]] = []
    for ws_dir in sorted((samples_dir() / "versions").iterdir()):
        for page in sorted(ws_dir.glob("page-*.json")):
            doc = json.loads(page.read_bytes())
            records.extend(dict(v, workspace_id=ws_dir.name) for v in doc["versions"])
    return records


def sample_api(**options: Any) -> FakeModelArts:
    """A :class:`FakeModelArts` loaded with the samples (options as for FakeModelArts)."""
    options.setdefault("project_id", sample_manifest()["project_id"])
    return FakeModelArts(sample_records(), **options)


def samples_client(**options: Any) -> Client:
    """A client over the bundled sample responses; no credentials, no network.

    Example:
        >>> client = mt.samples_client()
        >>> df = client.list_versions(workspace_id=mt.ALL_WORKSPACES)
        >>> mt.provenance(df).is_sample
        True
    """
    manifest = sample_manifest()
    api = sample_api(auth_required=False)
    session = requests.Session()
    session.mount(manifest["endpoint"], FakeAdapter(api))
    client = Client(
        manifest["endpoint"], manifest["project_id"], session=session, source="samples", **options
    )
    client.snapshot = datetime.fromisoformat(manifest["snapshot"])
    return client
