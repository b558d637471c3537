"""The bundled sample responses: everything in mavtools runs on them without credentials.

``data/samples/`` holds synthetic but realistic answers of an account that migrated from old-version
(v1) to new-version (v2) training, written by ``scripts/make_samples.py`` from
:func:`mavtools.local.synth.simulate_migrated` (seeded, so the files are the same on every run):
``versions/<workspace_id>/page-NNN.json`` exactly as the v1 listing pages them (newest first,
``offset`` as a record offset), ``jobs/<workspace_id>/page-NNN.json`` as the v2 search pages them
(50 per page), ``errors/`` with documented error bodies and a gateway page, and ``manifest.json``
with the snapshot time, the (fictional) project and the pool sizes.

:func:`samples_client` serves those records through the same :class:`~mavtools.api.client.Client`,
paging and parsing code as live responses, over an in-process transport instead of the network.
Frames it returns say so in their provenance (``source="samples"``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import requests

from mavtools.api.client import Client
from mavtools.errors import SamplesWarning
from mavtools.local.fake import FakeAdapter, FakeModelArts, FakeV2, FakeWorkloads, PoolSpec
from mavtools.local.synth import FLAVORS
from mavtools.provenance import Provenance

__all__ = [
    "SamplesClient",
    "sample_api",
    "sample_jobs",
    "sample_manifest",
    "sample_pools",
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
    from mavtools.api.env import SEARCHED

    message = (
        "No ModelArts credentials were found, so mavtools serves the bundled SAMPLE data "
        "(synthetic, not your account). It looked for: " + "; ".join(SEARCHED) + ", in this "
        "process's environment (variables exported after Jupyter started are not seen: restart "
        "it from a shell that has them). Pass client=mt.samples_client() to use the samples "
        "without this warning."
    )
    warnings.warn_explicit(message, SamplesWarning, "mavtools", 0, registry=_WARNED)
    # In a kernel stderr and stdout are separate streams sent on their own schedule: flush, so the
    # warning always comes before what the cell prints next (saved outputs stay deterministic).
    sys.stderr.flush()


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


#: The names the local server gives the sample workspaces (what ModelArts' workspace API lists).
SAMPLE_WORKSPACE_NAMES: Final = {
    "0": "default",
    "7f3a8c6e1b2d4e5f9a0b1c2d3e4f5a6b": "vision-team",
    "c91e5b2d7f3a48c6a3f1c9e2b7d84f0a": "speech-lab",
}


def sample_jobs() -> list[dict[str, Any]]:
    """Every sample v2 job as a search item (it names its own ``workspace_id``)."""
    jobs: list[dict[str, Any]] = []
    for ws_dir in sorted((samples_dir() / "jobs").iterdir()):
        for page in sorted(ws_dir.glob("page-*.json")):
            jobs.extend(json.loads(page.read_bytes())["items"])
    return jobs


def sample_pools() -> list[PoolSpec]:
    """The sample pools as the v2 pools API describes them (sizes from the manifest)."""
    manifest = sample_manifest()
    return [
        PoolSpec(
            pool,
            pool.removeprefix("pool-"),
            spec["flavor"],
            spec["nodes"],
            gpu=spec["units_per_node"] if ".gpu." in spec["flavor"] else 0,
            npu=spec["units_per_node"] if ".npu." in spec["flavor"] else 0,
            accelerator_type=_accelerator(spec["flavor"]),
        )
        for pool, spec in manifest["pool_nodes"].items()
    ]


def _accelerator(flavor: str) -> str:
    """``modelarts.pool.gpu.8a100`` -> ``nvidia-a100`` (the resource flavors' ``type``)."""
    model = flavor.rsplit(".", 1)[-1].lstrip("0123456789")
    if ".gpu." in flavor:
        return f"nvidia-{model}"
    return model.replace("ascend", "ascend-") if ".npu." in flavor else ""


def sample_api(*, pools_api: bool = True, **options: Any) -> FakeModelArts:
    """A :class:`FakeModelArts` serving the samples, v1 and v2 (options as for FakeModelArts).

    ``pools_api=False`` acts out a region where the v2 pool API is not published (404).
    """
    options.setdefault("project_id", sample_manifest()["project_id"])
    options.setdefault("workspace_names", SAMPLE_WORKSPACE_NAMES)
    api = FakeModelArts(sample_records(), **options)
    flavors = {f.code: (f.gpu, f.npu) for f in FLAVORS.values()}
    pools = sample_pools()
    v2 = FakeV2(sample_jobs(), flavors=flavors, pools=pools, pools_api=pools_api).attach(api)
    # Dedicated (accelerator) pools show their workloads, read at the samples' snapshot time;
    # the CPU pool stands for a public pool, which does not.
    snapshot_ms = int(datetime.fromisoformat(sample_manifest()["snapshot"]).timestamp() * 1000)
    dedicated = {p.pool_id for p in pools if p.gpu or p.npu}
    FakeWorkloads(v2, dedicated=dedicated, now_ms=snapshot_ms).attach(api)
    return api


def samples_client(**options: Any) -> SamplesClient:
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
    snapshot = datetime.fromisoformat(manifest["snapshot"])
    # The samples' snapshot time, not the clock: outputs on the samples are the same every run.
    options.setdefault("clock", lambda: snapshot)
    return SamplesClient(manifest["endpoint"], manifest["project_id"], session=session, **options)


class SamplesClient(Client):
    """A :class:`~mavtools.api.client.Client` over the bundled samples (see :func:`samples_client`).

    The same client in every way but one: the provenance of its frames says they are the bundled
    samples (``source="samples"``), so nothing shown on them passes for an account's data.
    """

    def describe(self, query: Mapping[str, Any], rows: int, **extra: Any) -> Provenance:
        """The provenance of a frame just read from the samples."""
        return dataclasses.replace(super().describe(query, rows, **extra), source="samples")
