"""mavtools.api.auth and .iam: the AK/SK signer against Huawei's reference signer, PasswordAuth
over HTTP."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from mavtools.api.auth import (
    AkSkAuth,
    TokenAuth,
    _signature,
    sign_request,
    verify_request,
)
from mavtools.api.iam import PasswordAuth
from mavtools.errors import AuthError, ConfigError, ResponseFormatError, TransportError

AK = "HPUAEXAMPLEAK0000001"
SK = "sEcReT/sk+with=chars0123456789abcdefghij"
WHEN = datetime(2026, 11, 28, 3, 56, 7, tzinfo=UTC)
HOST = "modelarts.eu-de.otc.t-systems.com"
BASE = f"https://{HOST}"


# --------------------------------------------------------------------------------------------------
# AK/SK signing
# --------------------------------------------------------------------------------------------------


def reference_authorization(
    method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes
) -> str:
    """What huaweicloudsdkcore's own Signer puts in ``Authorization``."""
    sdk_signer = pytest.importorskip("huaweicloudsdkcore.signer.signer")
    from huaweicloudsdkcore.sdk_request import SdkRequest

    class Creds:
        ak = AK
        sk = SK

    header_params = dict(headers)
    header_params["X-Sdk-Date"] = WHEN.strftime("%Y%m%dT%H%M%SZ")
    request = SdkRequest(
        method=method,
        schema="https",
        host=HOST,
        resource_path=path,
        query_params=list(query),
        header_params=header_params,
        body=body,
    )
    return sdk_signer.Signer(Creds()).sign(request).header_params["Authorization"]


CASES = [
    pytest.param("GET", "/v1/p1/training-jobs/versions", [], {}, b"", id="empty-query"),
    pytest.param(
        "GET",
        "/v1/0123abcd/training-jobs/versions",
        [("offset", "20"), ("limit", "20"), ("status", "11"), ("sort_by", "create_time")],
        {"Content-Type": "application/json"},
        b"",
        id="params",
    ),
    pytest.param(
        "GET",
        "/v1/p1/training-jobs/versions",
        [("status", "5"), ("limit", "0"), ("status", "11"), ("status", "13"), ("a", "")],
        {},
        b"",
        id="repeated-keys",
    ),
    pytest.param(
        "GET",
        "/v1/p1/workspaces",
        [("name", "my team/ä b+c&d=e~*'()!"), ("x y", "1;2,3"), ("%", "100%")],
        {"X-Project-Id": "p1"},
        b"",
        id="escaping",
    ),
    pytest.param(
        "GET",
        "/v1/p1/a%20b/c~d",
        [("q", "é")],
        {},
        b"",
        id="escaped-path",
    ),
    pytest.param(
        "POST",
        "/v1/p1/training-jobs",
        [("workspace_id", "0")],
        {"Content-Type": "application/json;charset=UTF-8", "X-Project-Id": "p1"},
        b'{"job_name": "bench", "config": {"worker_server_num": 2}}',
        id="post-json",
    ),
    pytest.param(
        "PUT",
        "/v1/p1/files",
        [],
        {"Content-Type": "text/plain", "User-Agent": "mavtools/0.1"},
        b"some text",
        id="unsigned-payload",
    ),
]


def _url(path: str, query: list[tuple[str, str]]) -> str:
    prepared = requests.Request("GET", BASE + path, params=query).prepare()
    assert prepared.url is not None
    return prepared.url


@pytest.mark.parametrize(("method", "path", "query", "headers", "body"), CASES)
def test_signature_matches_reference_signer(method, path, query, headers, body):
    url = _url(path, query)
    ours = sign_request(method, url, headers, body, AK, SK, WHEN)
    assert ours["Authorization"] == reference_authorization(method, path, query, headers, body)
    assert ours["X-Sdk-Date"] == "20261128T035607Z"
    assert ours["Host"] == HOST


def test_signature_changes_with_every_input():
    url = _url("/v1/p1/x", [("a", "1")])
    base = sign_request("GET", url, {}, b"", AK, SK, WHEN)["Authorization"]
    variants = [
        sign_request("GET", _url("/v1/p1/x", [("a", "2")]), {}, b"", AK, SK, WHEN),
        sign_request("GET", _url("/v1/p1/y", [("a", "1")]), {}, b"", AK, SK, WHEN),
        sign_request("POST", url, {}, b"", AK, SK, WHEN),
        sign_request("GET", url, {}, b"x", AK, SK, WHEN),
        sign_request("GET", url, {}, b"", AK, SK + "x", WHEN),
        sign_request("GET", url, {}, b"", AK, SK, WHEN + timedelta(seconds=1)),
    ]
    assert all(v["Authorization"] != base for v in variants)


def test_authorization_header_shape():
    auth = sign_request("GET", BASE + "/v1/p", {}, b"", AK, SK, WHEN)["Authorization"]
    assert auth.startswith(
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature="
    )
    assert len(auth.rsplit("=", 1)[1]) == 64


def test_naive_time_is_utc_and_aware_time_is_converted():
    cet = WHEN.astimezone(timezone(timedelta(hours=1)))
    a = sign_request("GET", BASE + "/v1/p", {}, b"", AK, SK, WHEN.replace(tzinfo=None))
    b = sign_request("GET", BASE + "/v1/p", {}, b"", AK, SK, cet)
    assert a == b


def _signed(method="GET", url=BASE + "/v1/p1/versions?limit=5&offset=0", body=b"", headers=None):
    headers = dict(headers or {"Content-Type": "application/json"})
    headers.update(sign_request(method, url, headers, body, AK, SK, WHEN))
    return method, url, headers, body


def _lookup(ak: str) -> str | None:
    return SK if ak == AK else None


def test_verify_accepts_a_good_request():
    method, url, headers, body = _signed("POST", body=b'{"a": 1}')
    assert verify_request(method, url, headers, body, _lookup, now=WHEN)
    # a server sees only path and query, and header names in any case
    path = url[len(BASE) :]
    lower = {k.lower(): v for k, v in headers.items()}
    assert verify_request(method, path, lower, body, _lookup, now=WHEN + timedelta(minutes=14))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda m, u, h, b: (m, u.replace("limit=5", "limit=6"), h, b), id="query"),
        pytest.param(lambda m, u, h, b: (m, u + "&extra=1", h, b), id="added-param"),
        pytest.param(lambda m, u, h, b: (m, u.replace("/p1/", "/p2/"), h, b), id="path"),
        pytest.param(lambda m, u, h, b: (m, u, h, b + b" "), id="body"),
        pytest.param(lambda m, u, h, b: ("PUT", u, h, b), id="method"),
        pytest.param(lambda m, u, h, b: (m, u, {**h, "Host": "evil.example"}, b), id="host-header"),
        pytest.param(
            lambda m, u, h, b: (m, u, {**h, "Content-Type": "text/plain"}, b), id="signed-header"
        ),
        pytest.param(
            lambda m, u, h, b: (m, u, {k: v for k, v in h.items() if k != "Authorization"}, b),
            id="no-authorization",
        ),
        pytest.param(
            lambda m, u, h, b: (
                m,
                u,
                {**h, "Authorization": h["Authorization"].replace(AK, "OTHERAK")},
                b,
            ),
            id="unknown-ak",
        ),
        pytest.param(
            lambda m, u, h, b: (m, u, {**h, "X-Sdk-Date": "20261128T035608Z"}, b), id="date"
        ),
    ],
)
def test_verify_rejects_a_tampered_request(tamper):
    method, url, headers, body = tamper(*_signed("POST", body=b'{"a": 1}'))
    assert not verify_request(method, url, headers, body, _lookup, now=WHEN)


def test_verify_rejects_wrong_sk():
    method, url, headers, body = _signed()
    assert not verify_request(method, url, headers, body, lambda ak: SK + "!", now=WHEN)


def test_verify_rejects_a_skewed_date():
    method, url, headers, body = _signed()
    for now in (WHEN + timedelta(minutes=16), WHEN - timedelta(minutes=16)):
        assert not verify_request(method, url, headers, body, _lookup, now=now)
    assert verify_request(
        method,
        url,
        headers,
        body,
        _lookup,
        now=WHEN + timedelta(minutes=3),
        max_skew=timedelta(minutes=5),
    )
    assert not verify_request(
        method,
        url,
        headers,
        body,
        _lookup,
        now=WHEN + timedelta(minutes=6),
        max_skew=timedelta(minutes=5),
    )


def test_verify_requires_signed_date_and_host():
    url = BASE + "/v1/p"
    date = WHEN.strftime("%Y%m%dT%H%M%SZ")
    headers = {"Host": HOST, "X-Sdk-Date": date}
    for signed in (["x-sdk-date"], ["host"]):
        signature = _signature("GET", url, headers, signed, b"", SK, date)
        headers["Authorization"] = (
            f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders={';'.join(signed)}, Signature={signature}"
        )
        assert not verify_request("GET", url, headers, b"", _lookup, now=WHEN)
    signature = _signature("GET", url, headers, ["host", "x-sdk-date"], b"", SK, date)
    headers["Authorization"] = (
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date, Signature={signature}"
    )
    assert verify_request("GET", url, headers, b"", _lookup, now=WHEN)


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 when verify_request accepts the request, 401 otherwise."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        ok = verify_request(self.command, self.path, self.headers, body, _lookup)
        self.server.seen.append(dict(self.headers))  # type: ignore[attr-defined]
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_aksk_auth_over_real_http(recorder):
    base = f"http://127.0.0.1:{recorder.server_address[1]}"
    with requests.Session() as session:
        session.auth = AkSkAuth(AK, SK)
        r = session.get(
            base + "/v1/p1/training-jobs/versions",
            params=[("status", "11"), ("status", "5"), ("q", "a b/ä")],
        )
        assert r.status_code == 200
        r = session.post(base + "/v1/p1/jobs", json={"name": "ä"})
        assert r.status_code == 200
        r = session.post(base + "/v1/p1/jobs", data="plain ä text")
        assert r.status_code == 200
        session.auth = AkSkAuth(AK, "wrong-sk")
        assert session.get(base + "/v1/p1/x").status_code == 401
    assert all("Authorization" in seen and "X-Sdk-Date" in seen for seen in recorder.seen)


def test_aksk_auth_uses_its_clock():
    auth = AkSkAuth(AK, SK, clock=lambda: WHEN)
    prepared = requests.Request("GET", BASE + "/v1/p?limit=1").prepare()
    auth(prepared)
    assert prepared.headers["X-Sdk-Date"] == "20261128T035607Z"
    assert prepared.headers["Host"] == HOST
    assert verify_request("GET", prepared.url, prepared.headers, b"", _lookup, now=WHEN)


def test_reprs_hide_secrets():
    assert repr(TokenAuth("tok-123-secret")) == "TokenAuth(token='***')"
    text = repr(AkSkAuth(AK, SK))
    assert AK not in text and SK not in text and AK[:4] in text
    assert AK[:5] not in text


@pytest.mark.parametrize("bad", ["", " t0k-s3cret", "t0k-s3cret\r\nX-Evil: 1", "t0k-sëcret"])
def test_bad_token_is_refused_without_echo(bad):
    with pytest.raises(ConfigError) as info:
        TokenAuth(bad)
    if bad:
        assert bad not in str(info.value)


def test_token_auth_sets_header():
    prepared = requests.Request("GET", BASE + "/v1/p").prepare()
    assert TokenAuth("abc")(prepared).headers["X-Auth-Token"] == "abc"


# --------------------------------------------------------------------------------------------------
# PasswordAuth against a fake IAM over real HTTP
# --------------------------------------------------------------------------------------------------

USER, PASSWORD, DOMAIN = "alice", "pa55-w0rd!Secret", "OTC-EU-DE-000001"
PROJECT_ID, PROJECT_NAME = "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "eu-de_team"
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class FakeIam(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _IamHandler)
        self.calls: list[dict[str, Any]] = []
        self.lifetime = timedelta(hours=24)
        self.now = T0
        self.status: int | None = None  # force an answer status
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _IamHandler(BaseHTTPRequestHandler):
    server: FakeIam

    def do_POST(self) -> None:
        if self.path != "/v3/auth/tokens":
            self._send(404, {"error": "not found"})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.calls.append(body)
            n = len(self.server.calls)
        if self.server.status is not None:
            self._send(self.server.status, {"error": {"message": "forced"}})
            return
        user = body["auth"]["identity"]["password"]["user"]
        if (user["name"], user["password"], user["domain"]["name"]) != (USER, PASSWORD, DOMAIN):
            self._send(
                401, {"error": {"code": 401, "message": "The username or password is wrong."}}
            )
            return
        expires = (self.server.now + self.server.lifetime).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
        token = {"expires_at": expires, "project": {"id": PROJECT_ID, "name": PROJECT_NAME}}
        self._send(201, {"token": token}, token_header=f"token-{n}")

    def _send(self, status: int, doc: dict[str, Any], token_header: str | None = None) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if token_header:
            self.send_header("X-Subject-Token", token_header)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def iam() -> Iterator[FakeIam]:
    server = FakeIam()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _prepared() -> requests.PreparedRequest:
    return requests.Request("GET", BASE + "/v1/p/training-jobs/versions").prepare()


def _auth(iam: FakeIam, clock: Clock, **kw: Any) -> PasswordAuth:
    args: dict[str, Any] = {"project_id": PROJECT_ID, "password": PASSWORD}
    args.update(kw)
    return PasswordAuth(iam.url + "/v3", USER, domain_name=DOMAIN, clock=clock, **args)


def test_one_iam_call_for_many_requests_from_many_threads(iam):
    auth = _auth(iam, Clock(T0))
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda _: auth(_prepared()).headers["X-Auth-Token"], range(50)))
    assert set(tokens) == {"token-1"}
    assert len(iam.calls) == 1
    sent = iam.calls[0]["auth"]
    assert sent["identity"]["methods"] == ["password"]
    assert sent["scope"] == {"project": {"id": PROJECT_ID}}
    assert auth.expires_at == T0 + timedelta(hours=24)


def test_token_is_renewed_within_renew_before(iam):
    clock = Clock(T0)
    auth = _auth(iam, clock, renew_before=timedelta(hours=1))
    assert auth.token() == "token-1"
    clock.now = T0 + timedelta(hours=22, minutes=59)
    assert auth.token() == "token-1"
    assert len(iam.calls) == 1
    clock.now = T0 + timedelta(hours=23)  # exactly renew_before left
    iam.now = clock.now
    assert auth.token() == "token-2"
    assert auth.expires_at == clock.now + timedelta(hours=24)
    clock.now += timedelta(hours=1)
    assert auth.token() == "token-2"
    assert len(iam.calls) == 2


def test_invalidate_forces_a_new_token(iam):
    auth = _auth(iam, Clock(T0))
    assert auth(_prepared()).headers["X-Auth-Token"] == "token-1"
    auth.invalidate()
    assert auth(_prepared()).headers["X-Auth-Token"] == "token-2"
    assert auth(_prepared()).headers["X-Auth-Token"] == "token-2"
    assert len(iam.calls) == 2


def test_scope_by_project_name_discovers_the_id(iam):
    auth = _auth(iam, Clock(T0), project_id=None, project_name=PROJECT_NAME)
    assert auth.project_id is None
    assert auth.resolve_project_id() == PROJECT_ID
    assert auth.project_id == PROJECT_ID
    assert iam.calls[0]["auth"]["scope"] == {
        "project": {"name": PROJECT_NAME, "domain": {"name": DOMAIN}}
    }
    auth.token()
    assert len(iam.calls) == 1


def test_wrong_password_raises_auth_error_without_secrets(iam, caplog):
    caplog.set_level(logging.DEBUG, logger="mavtools")
    auth = _auth(iam, Clock(T0), password="wrong-Pa55")
    with pytest.raises(AuthError) as info:
        auth(_prepared())
    text = str(info.value)
    assert "IAM refused the user name or password for alice@OTC-EU-DE-000001" in text
    assert info.value.http_status == 401
    assert "wrong-Pa55" not in text and "wrong-Pa55" not in repr(info.value)
    assert "wrong-Pa55" not in caplog.text
    assert "IAM" in caplog.text  # the debug log says what happened


def test_token_never_logged(iam, caplog):
    caplog.set_level(logging.DEBUG, logger="mavtools")
    auth = _auth(iam, Clock(T0))
    assert auth.token() == "token-1"
    assert "token-1" not in caplog.text and PASSWORD not in caplog.text


def test_iam_server_error_is_transport_error(iam):
    iam.status = 503
    with pytest.raises(TransportError, match="HTTP 503") as info:
        _auth(iam, Clock(T0)).token()
    assert PASSWORD not in str(info.value)


def test_iam_unreachable_is_transport_error(iam):
    url = iam.url
    iam.shutdown()
    iam.server_close()
    auth = PasswordAuth(url, USER, PASSWORD, DOMAIN, project_id=PROJECT_ID, timeout=5)
    with pytest.raises(TransportError, match="Could not reach IAM") as info:
        auth.token()
    assert PASSWORD not in str(info.value)


def test_iam_answer_without_expiry_is_format_error():
    def fake_post(url: str, **kw: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 201
        response.headers["X-Subject-Token"] = "tok"
        response._content = b'{"token": {}}'
        return response

    session = requests.Session()
    session.post = fake_post  # type: ignore[method-assign]
    auth = PasswordAuth("https://iam.example", USER, PASSWORD, DOMAIN, PROJECT_ID, session=session)
    with pytest.raises(ResponseFormatError, match="expires_at"):
        auth.token()


def test_password_auth_needs_a_scope():
    with pytest.raises(ConfigError, match="project"):
        PasswordAuth("https://iam.example", USER, PASSWORD, DOMAIN)


def test_password_auth_repr_has_no_secrets(iam):
    auth = _auth(iam, Clock(T0))
    auth.token()
    text = repr(auth)
    assert PASSWORD not in text and "token-1" not in text
    assert USER in text and "***" in text


def test_client_style_retry_after_401(iam):
    """A 401 from the API, invalidate(), one retry: the retry carries a fresh token."""
    auth = _auth(iam, Clock(T0))
    seen: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers["X-Auth-Token"])
            self.send_response(401 if len(seen) == 1 else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{api.server_address[1]}/v1/p"
        with requests.Session() as session:
            r = session.get(url, auth=auth)
            assert r.status_code == 401
            auth.invalidate()
            r = session.get(url, auth=auth)
            assert r.status_code == 200
    finally:
        api.shutdown()
        api.server_close()
        thread.join()
    assert seen == ["token-1", "token-2"]
