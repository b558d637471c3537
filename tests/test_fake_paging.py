"""One paging rule for the stand-in's listings, held to the API references it was decided from.

The v1 versions listing (``modelarts-api.md``: ``limit`` default 20, ``0`` for all, quirk 10: a
gateway caps pages silently) and the v2 job search (``modelarts-v2-training.md``: ``limit`` 1-50)
page through :class:`mavtools.local.fake.paging.Paging`. Over real HTTP each page is compared
with a brute force: every record the listing holds, sorted as asked, sliced by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from mavtools.local import synth
from mavtools.local.fake import FakeV2, RunningServer, v2_job
from mavtools.local.fake.paging import Paging, PagingError
from tests.conftest import PROJECT, TOKEN

V1 = Paging(default_limit=20)
V2 = Paging(default_limit=10, min_limit=1, max_limit=50, over_max="refuse")


@pytest.mark.parametrize(
    ("paging", "offset", "limit", "count", "expected"),
    [
        (V1, 0, 0, 7, range(7)),  # limit=0: every record, whatever the offset
        (V1, 5, 0, 7, range(7)),
        (V1, 40, 20, 45, range(40, 45)),  # the last, short page
        (V1, 50, 20, 45, range(45, 45)),  # past the end: empty, not an error
        (Paging(20, offset_mode="page"), 2, 20, 45, range(40, 45)),
        (Paging(20, offset_mode="page1"), 2, 20, 45, range(20, 40)),
        (Paging(20, offset_mode="page1"), 0, 20, 45, range(0, 20)),  # page 0 read as page 1
        # a gateway's silent cap: 30 asked, 7 served; a page index counts pages of 7
        (Paging(20, max_limit=7), 3, 30, 45, range(3, 10)),
        (Paging(20, max_limit=7, offset_mode="page"), 2, 30, 45, range(14, 21)),
        (Paging(20, max_limit=7), 0, 0, 45, range(0, 7)),  # "all" is capped too
        (V2, 0, 50, 120, range(0, 50)),
        (Paging(10, 1, 50, "refuse", "page"), 2, 50, 120, range(100, 120)),
    ],
)
def test_window_is_the_hand_worked_page(
    paging: Paging, offset: int, limit: int, count: int, expected: range
) -> None:
    assert paging.window(offset, limit, count) == expected


@pytest.mark.parametrize(
    ("paging", "offset", "limit"),
    [(V1, -1, 20), (V1, 0, -1), (V2, 0, 0), (V2, 0, 51), (V2, -1, 10)],
)
def test_window_refuses_what_the_api_refuses(paging: Paging, offset: int, limit: int) -> None:
    with pytest.raises(PagingError):
        paging.window(offset, limit, 100)


def _v1(server: RunningServer, **params: Any) -> requests.Response:
    return requests.get(
        f"{server.url}/v1/{PROJECT}/training-jobs/versions",
        params=params,
        headers={"X-Auth-Token": TOKEN},
        timeout=10,
    )


@pytest.mark.parametrize("mode", ["record", "page", "page1"])
def test_v1_gateway_cap_is_silent_and_total_count_tells_the_truth(
    start_server: Callable[..., RunningServer], mode: str
) -> None:
    records = synth.simulate(60, seed=3)
    server = start_server(records, offset_mode=mode, max_limit=7)
    newest_first = sorted(
        (r for r in records if r["workspace_id"] == "0"),
        key=lambda r: (r["create_time"] is not None, r["create_time"] or 0, r["version_id"]),
        reverse=True,
    )
    ids = [r["version_id"] for r in newest_first]
    offset = {"record": 7, "page": 1, "page1": 2}[mode]  # the second page of 7, in each reading
    doc = _v1(server, offset=offset, limit=20).json()
    assert [v["version_id"] for v in doc["versions"]] == ids[7:14]
    assert doc["limit"] == 20 and doc["offset"] == offset  # the answer does not say it capped
    assert doc["total_count"] == len(ids)
    everything = _v1(server, limit=0).json()
    assert [v["version_id"] for v in everything["versions"]] == ids[:7]  # "all", capped


def _search(server: RunningServer, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{server.url}/v2/{PROJECT}/training-job-searches",
        json=body,
        headers={"X-Auth-Token": TOKEN},
        timeout=10,
    )


def _jobs(n: int) -> list[dict[str, Any]]:
    return [
        v2_job(
            f"job-{i:04d}", name=f"j{i}", create_time=1_780_000_000_000 + i * 1000, phase="Running"
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("limit", [0, 51, -1])
def test_v2_limit_outside_1_to_50_is_refused_not_capped(
    start_server: Callable[..., RunningServer], limit: int
) -> None:
    server = start_server()
    FakeV2(_jobs(60)).attach(server.api)
    answer = _search(server, {"limit": limit})
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "ModelArts.2701"
    assert len(_search(server, {"limit": 50}).json()["items"]) == 50


@pytest.mark.parametrize("mode", ["record", "page"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_v2_pages_of_a_time_window_are_the_brute_force_slices(
    start_server: Callable[..., RunningServer], mode: str, order: str
) -> None:
    server = start_server()
    FakeV2(_jobs(100), offset_mode=mode).attach(server.api)
    lo, hi = 1_780_000_000_000 + 10_000, 1_780_000_000_000 + 72_000  # jobs 10..72: 63 jobs
    window = [f"job-{i:04d}" for i in range(10, 73)]
    expected = window if order == "asc" else window[::-1]
    time_filter = {"key": "create_time", "operator": "between", "value": [str(lo), str(hi)]}
    seen = []
    for page in range(5):
        offset = page * 20 if mode == "record" else page
        body = {"offset": offset, "limit": 20, "order": order, "filters": [time_filter]}
        doc = _search(server, body).json()
        assert doc["count"] == 63 and doc["total"] == 100
        items = [item["metadata"]["id"] for item in doc["items"]]
        assert items == expected[page * 20 : page * 20 + 20]
        seen += items
    assert seen == expected


def test_v1_workspaces_offset_is_a_page_index(start_server: Callable[..., RunningServer]) -> None:
    records = synth.simulate(300, seed=11)
    server = start_server(records)
    url = f"{server.url}/v1/{PROJECT}/workspaces"
    headers = {"X-Auth-Token": TOKEN}
    every = sorted({r["workspace_id"] for r in records} | {"0"})
    assert len(every) >= 3

    def ids(**params: Any) -> list[str]:
        doc = requests.get(url, params=params, headers=headers, timeout=10).json()
        assert doc["total_count"] == len(every)
        return [w["id"] for w in doc["workspaces"]]

    assert ids() == every  # the documented default limit, 1000
    assert ids(offset=1, limit=2) == every[2:4]  # the second page of two
    assert ids(offset=0, limit=0) == every
    refused = requests.get(url, params={"offset": -1}, headers=headers, timeout=10)
    assert refused.status_code == 400 and refused.json()["error_code"] == "ModelArts.0104"
