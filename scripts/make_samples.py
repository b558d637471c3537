"""Write data/samples/ from the seeded simulation in mavtools.local.synth (same bytes on every run).

The sample account migrated from old-version (v1) to new-version (v2) training: ``versions/`` holds
the v1 listing's pages, ``jobs/`` the v2 search's pages (50 jobs each, the API's cap, newest
first, ``offset`` a page index), both from ONE simulation with one FIFO queue per pool
(:func:`mavtools.local.synth.simulate_migrated`). The manifest names the pool sizes.

Usage: python scripts/make_samples.py
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mavtools.frame import WIRE_FIELDS
from mavtools.local import synth
from mavtools.local.fake.wire import GATEWAY_PAGE

OUT = Path(__file__).resolve().parents[1] / "data" / "samples"
PAGE_SIZE = 500
V2_PAGE_SIZE = 50
SEED = 7
PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
ENDPOINT = "https://modelarts.eu-de.otc.t-systems.com"


def write_json(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    records, jobs = synth.simulate_migrated(3000, days=90, seed=SEED, migration=synth.MIGRATION)
    if OUT.exists():
        shutil.rmtree(OUT)
    by_ws: dict[str, list[dict]] = {}
    for rec in records:
        by_ws.setdefault(rec["workspace_id"], []).append({k: rec[k] for k in WIRE_FIELDS})
    for ws, versions in sorted(by_ws.items()):
        versions.sort(
            key=lambda v: (v["create_time"], v["version_id"]), reverse=True
        )  # API default
        for n, offset in enumerate(range(0, len(versions), PAGE_SIZE), start=1):
            page = {
                "is_success": True,
                "total_count": len(versions),
                "offset": offset,
                "limit": PAGE_SIZE,
                "versions": versions[offset : offset + PAGE_SIZE],
            }
            write_json(OUT / "versions" / ws / f"page-{n:03d}.json", page)
    jobs_by_ws: dict[str, list[dict]] = {}
    for job in jobs:
        jobs_by_ws.setdefault(job["metadata"]["workspace_id"], []).append(job)
    for ws, items in sorted(jobs_by_ws.items()):
        items.sort(key=lambda j: (j["metadata"]["create_time"], j["metadata"]["id"]), reverse=True)
        for n, start in enumerate(range(0, len(items), V2_PAGE_SIZE), start=1):
            page = {
                "total": len(items),
                "count": len(items),
                "limit": V2_PAGE_SIZE,
                "offset": n - 1,
                "sort_by": "create_time",
                "order": "desc",
                "workspace_id": ws,
                "items": items[start : start + V2_PAGE_SIZE],
            }
            write_json(OUT / "jobs" / ws / f"page-{n:03d}.json", page)
    errors = {
        "401-invalid-token.json": {
            "is_success": False,
            "error_code": "ModelArts.0203",
            "error_message": "Invalid token.",
        },
        "403-project-mismatch.json": {
            "is_success": False,
            "error_code": "ModelArts.0210",
            "error_message": "The project id in the request URL does not match the token.",
        },
        "403-invalid-aksk.json": {
            "is_success": False,
            "error_code": "ModelArts.0206",
            "error_message": "Invalid AK/SK.",
        },
        "400-undocumented-code.json": {
            "is_success": False,
            "error_code": "ModelArts.0105",
            "error_message": "Error string",
        },
        "404-api-not-found.json": {
            "error_code": "APIGW.0101",
            "error_msg": "The API does not exist or has not been published in the environment",
        },
        "429-throttled.json": {
            "is_success": False,
            "error_code": "ModelArts.0120",
            "error_message": "Too many requests.",
        },
        "500-internal.json": {
            "is_success": False,
            "error_code": "ModelArts.0010",
            "error_message": "Internal error.",
        },
    }
    for name, doc in errors.items():
        write_json(OUT / "errors" / name, doc)
    (OUT / "errors" / "502-gateway.html").write_bytes(GATEWAY_PAGE + b"\n")
    write_json(
        OUT / "manifest.json",
        {
            "synthetic": True,
            "generator": "scripts/make_samples.py (mavtools.local.synth.simulate_migrated)",
            "seed": SEED,
            "snapshot": synth.SNAPSHOT.isoformat(),
            "days": 90,
            "project_id": PROJECT_ID,
            "endpoint": ENDPOINT,
            "page_size": PAGE_SIZE,
            "workspaces": {ws: len(v) for ws, v in sorted(by_ws.items())},
            "pools": {p.pool_id: p.capacity for p in synth.POOLS},
            "pool_nodes": {
                pool: {"flavor": flavor, "nodes": nodes, "units_per_node": units}
                for pool, (flavor, nodes, units) in synth.POOL_NODES.items()
            },
            "dedicated_pools": sorted(synth.DEDICATED_POOLS),
            "migration": synth.MIGRATION.isoformat(),
            "versions": len(records),
            "jobs_v2": len(jobs),
            "workspaces_v2": {ws: len(v) for ws, v in sorted(jobs_by_ws.items())},
            "users": sorted({j["metadata"]["user_name"] for j in jobs}),
        },
    )
    print(f"wrote {len(records)} v1 versions and {len(jobs)} v2 jobs to {OUT}")


if __name__ == "__main__":
    main()
