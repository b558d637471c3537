"""The local server answers like ModelArts: the tests of the client are only as good as it is."""

from __future__ import annotations

import json

import pytest
import requests

from mavtools.local.samples import (
    sample_api,
    sample_jobs,
    sample_manifest,
    sample_records,
    samples_dir,
)
from tests.conftest import PROJECT, TOKEN


def get(server, **params):
    return requests.get(
        f"{server.url}/v1/{PROJECT}/training-jobs/versions",
        params=params,
        headers={"X-Auth-Token": TOKEN},
        timeout=10,
    )


def test_limit_zero_returns_every_record_in_one_answer(start_server, records):
    server = start_server(records)
    doc = get(server, limit=0, workspace_id="0").json()
    ws0 = [r for r in records if r["workspace_id"] == "0"]
    assert doc["is_success"] is True
    assert doc["total_count"] == len(ws0) == len(doc["versions"])
    assert "workspace_id" not in doc["versions"][0], "the API does not say the workspace"


def test_default_page_is_20_newest_first(start_server, records):
    server = start_server(records)
    doc = get(server).json()
    created = [v["create_time"] for v in doc["versions"]]
    assert len(created) == 20
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize(("mode", "offset"), [("record", 40), ("page", 2), ("page1", 3)])
def test_both_offset_meanings_reach_the_same_records(start_server, records, mode, offset):
    server = start_server(records, offset_mode=mode)
    ids = [v["version_id"] for v in get(server, offset=offset, limit=20).json()["versions"]]
    everything = [v["version_id"] for v in get(server, limit=0).json()["versions"]]
    assert ids == everything[40:60]


def test_status_and_pool_filters(start_server, records):
    server = start_server(records)
    doc = get(server, limit=0, status=11, pool_id="pool-a100-prod").json()
    expected = {
        r["version_id"]
        for r in records
        if r["workspace_id"] == "0" and r["status"] == 11 and r["pool_id"] == "pool-a100-prod"
    }
    assert {v["version_id"] for v in doc["versions"]} == expected


def test_errors_look_like_the_documented_bodies(start_server, records):
    server = start_server(records)
    missing = requests.get(f"{server.url}/v1/{PROJECT}/training-jobs/versions", timeout=10)
    assert missing.status_code == 401
    assert missing.json() == {
        "is_success": False,
        "error_code": "ModelArts.0203",
        "error_message": "Invalid token.",
    }
    assert get(server, limit="many").json()["error_code"] == "ModelArts.0104"
    server.api.inject("429", retry_after=7)
    throttled = get(server)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"


def test_only_loopback_is_listened_on(start_server):
    server = start_server([])
    assert server.url.startswith("http://127.0.0.1:")


def test_samples_are_realistic_and_consistent_with_their_manifest():
    manifest = sample_manifest()
    recs = sample_records()
    jobs = sample_jobs()
    assert manifest["synthetic"] is True
    assert len(recs) == manifest["versions"] and len(jobs) == manifest["jobs_v2"]
    assert len(recs) + len(jobs) >= 2000
    assert {r["workspace_id"] for r in recs} == set(manifest["workspaces"]) and len(
        manifest["workspaces"]
    ) == 3
    assert {j["metadata"]["workspace_id"] for j in jobs} == set(manifest["workspaces_v2"])
    assert len({r["pool_id"] for r in recs}) >= 5
    assert {r["gpu_num"] for r in recs} >= {0, 1, 2, 4, 8}
    assert any(r["npu_num"] > 0 for r in recs)
    assert any(r["version_desc"] is None for r in recs)
    assert any(r["status"] not in range(22) for r in recs), "an undocumented status code"
    # A migrated account: the old jobs have ended; queued and running jobs are new-version ones.
    phases = {j["status"]["phase"] for j in jobs}
    assert {"Running", "Pending", "Completed", "Failed"} <= phases
    assert {j["metadata"]["user_name"] for j in jobs} == set(manifest["users"])
    created = [r["create_time"] for r in recs] + [j["metadata"]["create_time"] for j in jobs]
    span_days = (max(created) - min(created)) / 864e5
    assert 80 <= span_days <= 90
    # Pages are stored as the API sends them: valid JSON with the documented envelope.
    page = json.loads(next((samples_dir() / "versions" / "0").glob("page-*.json")).read_text())
    assert set(page) == {"is_success", "total_count", "offset", "limit", "versions"}
    v2_page = json.loads(next((samples_dir() / "jobs" / "0").glob("page-*.json")).read_text())
    assert {"total", "count", "items"} <= set(v2_page) and len(v2_page["items"]) <= 50


def test_sample_generation_is_deterministic(tmp_path):
    from mavtools.local import synth

    assert synth.simulate(500, seed=3) == synth.simulate(500, seed=3)
    assert synth.simulate_migrated(500, seed=3) == synth.simulate_migrated(500, seed=3)
    assert synth.bulk(1000, seed=2).equals(synth.bulk(1000, seed=2))


def test_samples_serve_without_credentials():
    api = sample_api(auth_required=False)
    answer = api.handle(
        "GET", f"/v1/{sample_manifest()['project_id']}/training-jobs/versions?limit=5", {}
    )
    assert answer.status == 200 and len(json.loads(answer.body)["versions"]) == 5
