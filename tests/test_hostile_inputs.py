"""Trials 7 and 8: secrets never written anywhere; hostile ids, plain http and TLS verification."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import pickle
import ssl
import subprocess
import sys
import traceback
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mavtools.api.client import Client, RetryPolicy, Timeout
from mavtools.errors import ConfigError, MavtoolsError, TransportError
from mavtools.local.fake import FakeModelArts, RunningServer, serve
from mavtools.store import load_versions
from tests.conftest import PROJECT
from tests.hostile_support import wire_records

REPO = Path(__file__).resolve().parents[1]
SECRET_TOKEN = "tok-HOSTILE-s3cr3t-7d1e4a9b"
SECRET_AK = "AKHOSTILE5E9C2F7A1B"
SECRET_SK = "SK-HOSTILE-9f8e7d6c5b4a-secret"
SECRETS = (SECRET_TOKEN, SECRET_AK, SECRET_SK)
FAST = RetryPolicy(attempts=2, backoff=0.001, max_wait=0.01, total=1.0)


def hits(data: bytes | str) -> list[str]:
    """The secrets found in ``data`` (also percent- or JSON-escaped forms)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    forms = [text, urllib.parse.unquote(text), text.replace("\\", "")]
    return [s for s in SECRETS if any(s in form for form in forms)]


def scan_tree(root: Path) -> dict[str, list[str]]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and (got := hits(path.read_bytes())):
            found[str(path)] = got
    return found


@pytest.fixture
def secret_server() -> Iterator[RunningServer]:
    api = FakeModelArts(
        wire_records(300), project_id=PROJECT, token=SECRET_TOKEN, aksk={SECRET_AK: SECRET_SK}
    )
    running = serve(api)
    yield running
    running.stop()


# -- trial 7: secrets ----------------------------------------------------------------------------


def _exercise_client(make: Any, server: RunningServer, cache_dir: Path) -> list[str]:
    """Successes and every kind of failure; returns all the text the user could see."""
    seen: list[str] = []

    def record(exc: BaseException) -> None:
        seen.append(str(exc))
        seen.append(repr(exc))
        seen.append("".join(traceback.format_exception(exc)))
        seen.append(repr(pickle.loads(pickle.dumps(exc))))
        seen.append(repr(vars(exc)))

    client = make()
    seen += [repr(client), str(client), repr(client._auth), str(vars(client))]
    load_versions(client, cache_dir=cache_dir)
    for kind in ("500", "429", "reset", "truncate", "html", "timeout"):
        server.api.inject(kind, times=5, retry_after=0, stall=0.3)
        try:
            make().list_versions()
        except MavtoolsError as exc:
            record(exc)
    for bad in (
        lambda: Client(server.url, "f" * 32, token=SECRET_TOKEN, allow_http=True, retry=FAST),
        lambda: Client(server.url, PROJECT, token=SECRET_TOKEN + "x", allow_http=True, retry=FAST),
        lambda: Client(
            server.url, PROJECT, ak=SECRET_AK, sk=SECRET_SK + "x", allow_http=True, retry=FAST
        ),
        lambda: Client(
            server.url.replace("http:", "https:"), PROJECT, token=SECRET_TOKEN, retry=FAST
        ),
        lambda: Client("http://modelarts.example.com", PROJECT, token=SECRET_TOKEN),
        lambda: Client(server.url, PROJECT, token=SECRET_TOKEN, ak=SECRET_AK, sk=SECRET_SK),
        lambda: Client(server.url, PROJECT, token="bad\ntoken" + SECRET_TOKEN, allow_http=True),
    ):
        try:
            bad().list_versions()
        except MavtoolsError as exc:
            record(exc)
    return seen


@pytest.mark.parametrize("kind", ["token", "aksk"])
def test_trial7_client_cache_and_logs_never_hold_a_secret(secret_server, tmp_path, caplog, kind):
    def make() -> Client:
        credentials = (
            {"token": SECRET_TOKEN} if kind == "token" else {"ak": SECRET_AK, "sk": SECRET_SK}
        )
        return Client(
            secret_server.url,
            PROJECT,
            allow_http=True,
            page_size=100,
            retry=FAST,
            timeout=Timeout(connect=1, read=0.1, total=2),
            **credentials,
        )

    with caplog.at_level(logging.DEBUG):  # every logger, urllib3's included
        seen = _exercise_client(make, secret_server, tmp_path / "cache")
    assert len(seen) > 20
    assert not [s for s in seen if hits(s)], [s[:200] for s in seen if hits(s)]
    assert not hits(caplog.text)
    assert not scan_tree(tmp_path)


def _cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mavtools", "-v", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELARTS_", "OS_"))}
    env.update(
        HOME=str(tmp_path / "home"),
        MAVTOOLS_CACHE_DIR=str(tmp_path / "cache"),
        MAVTOOLS_ALLOW_HTTP="1",
        MODELARTS_PROJECT_ID=PROJECT,
        PYTHONPATH=str(REPO),
    )
    (tmp_path / "home").mkdir()
    return env


@pytest.mark.parametrize("kind", ["token", "aksk"])
def test_trial7_cli_verbose_writes_no_secret(secret_server, tmp_path, cli_env, kind):
    env = dict(cli_env, MODELARTS_ENDPOINT=secret_server.url)
    if kind == "token":
        env["MODELARTS_TOKEN"] = SECRET_TOKEN
    else:
        env.update(MODELARTS_AK=SECRET_AK, MODELARTS_SK=SECRET_SK)
    out = tmp_path / "out"
    out.mkdir()
    runs = [
        _cli(env, "fetch", "--format", "csv", "-o", str(out / "v.csv"), cwd=out),
        _cli(env, "fetch", "--format", "json", "--refresh", cwd=out),
        _cli(env, "cache", "list", cwd=out),
    ]
    # Failures that are not retried (the CLI uses the default, patient retry policy; retried
    # failures are covered through the library above and in test_cli.py).
    wrong = {"MODELARTS_TOKEN": SECRET_TOKEN + "x"} if kind == "token" else {"MODELARTS_SK": "x"}
    runs.append(_cli(dict(env, **wrong), "fetch", "--refresh", cwd=out))
    runs.append(_cli(dict(env, MODELARTS_ENDPOINT="https://127.0.0.1:1/x"), "fetch", cwd=out))
    runs.append(_cli(dict(env, MODELARTS_PROJECT_ID="../etc"), "fetch", cwd=out))
    assert runs[0].returncode == 0, runs[0].stderr.decode()
    assert [r.returncode for r in runs[3:]] == [1, 1, 1]
    for run in runs:
        assert not hits(run.stdout) and not hits(run.stderr), run.stderr.decode()[-2000:]
    assert b"DEBUG" in runs[0].stderr, "-v logged nothing: the scan proves little"
    assert not scan_tree(tmp_path)


def test_trial7_notebook_report_writes_no_secret(secret_server, tmp_path, cli_env):
    notebook = REPO / "notebooks" / "explore.ipynb"
    from mavtools import cli

    if not notebook.exists() or "report" not in {c.name for c in cli.COMMANDS}:
        pytest.skip("notebooks/explore.ipynb or `mavtools report` does not exist yet")
    env = dict(cli_env, MODELARTS_ENDPOINT=secret_server.url, MODELARTS_TOKEN=SECRET_TOKEN)
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )
    work = tmp_path / "work"
    work.mkdir()
    copy = work / "explore.ipynb"
    copy.write_bytes(notebook.read_bytes())
    run = _cli(env, "report", str(copy), "-o", str(work / "report.html"), cwd=work)
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    html = (work / "report.html").read_bytes()
    assert b"live" in html or PROJECT.encode() in html, "the report did not use the local server"
    assert not hits(run.stdout) and not hits(run.stderr)
    assert not scan_tree(tmp_path)


# -- trial 8: hostile ids, plain http, TLS ----------------------------------------------------------

HOSTILE_IDS = [
    "../etc",
    "a/b",
    "..",
    "a?b=1",
    "a#frag",
    "a b",
    " a",
    "a\n",
    "a\tb",
    "a\x00b",
    "a\x7fb",
    "%2e%2e",
    "a%2Fb",
    "\u202eab",
    "ａｂ",
    "",
    "a" * 200,
]


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_trial8_hostile_project_id_is_refused(secret_server, value):
    with pytest.raises(ConfigError) as info:
        Client(secret_server.url, value, token=SECRET_TOKEN, allow_http=True)
    assert "\n" not in str(info.value)
    assert secret_server.api.requests == 0


@pytest.mark.parametrize("field", ["workspace_id", "pool_id"])
@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_trial8_hostile_filters_are_refused_before_any_request(secret_server, field, value):
    client = Client(secret_server.url, PROJECT, token=SECRET_TOKEN, allow_http=True)
    with pytest.raises(ConfigError):
        client.list_versions(**{field: value})
    assert secret_server.api.requests == 0


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=st.text(min_size=1, max_size=40), field=st.sampled_from(["workspace_id", "pool_id"]))
def test_trial8_any_filter_value_is_refused_or_sent_verbatim(secret_server, value, field):
    """Whatever the text: a ConfigError, or the request path is untouched and the server reads
    back exactly the value given."""
    client = Client(secret_server.url, PROJECT, token=SECRET_TOKEN, allow_http=True, retry=FAST)
    before = len(secret_server.api.request_log)
    try:
        client.list_versions(**{field: value})
    except ConfigError:
        assert len(secret_server.api.request_log) == before
        return
    for target in secret_server.api.request_log[before:]:
        parts = urllib.parse.urlsplit(target)
        assert parts.path == f"/v1/{PROJECT}/training-jobs/versions"
        assert urllib.parse.parse_qs(parts.query)[field] == [value]


@pytest.mark.parametrize(
    "endpoint",
    ["http://modelarts.eu-de.otc.t-systems.com", "http://10.0.0.1", "HTTP://127.0.0.1:1"],
)
def test_trial8_plain_http_is_refused_unless_allowed(endpoint):
    with pytest.raises(ConfigError, match=r"(?i)http"):
        Client(endpoint, PROJECT, token=SECRET_TOKEN)


def test_trial8_plain_http_from_the_environment_only_for_loopback():
    from mavtools.api.env import settings_from_env

    env = {"MODELARTS_PROJECT_ID": PROJECT, "MODELARTS_TOKEN": SECRET_TOKEN}
    with pytest.raises(ConfigError):
        settings_from_env(env | {"MODELARTS_ENDPOINT": "http://modelarts.example.com"})
    assert settings_from_env(env | {"MODELARTS_ENDPOINT": "http://127.0.0.1:8080"}) is not None


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made here (the cryptography package)."""
    crypto = pytest.importorskip("cryptography")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def https_server(certificate) -> Iterator[RunningServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    running = serve(
        FakeModelArts(wire_records(50), project_id=PROJECT, token=SECRET_TOKEN), tls=context
    )
    yield running
    running.stop()


def test_trial8_tls_verification_is_on_by_default(https_server, monkeypatch):
    """This machine sets REQUESTS_CA_BUNDLE (requests then uses it for verify=True): verification
    must fail with that bundle, and without it (the system store)."""
    assert https_server.url.startswith("https://127.0.0.1:")
    for bundle in (os.environ.get("REQUESTS_CA_BUNDLE"), None):
        if bundle is None:
            monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
            monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        client = Client(https_server.url, PROJECT, token=SECRET_TOKEN, retry=FAST)
        with pytest.raises(
            TransportError, match=r"TLS certificate .* could not be verified"
        ) as info:
            client.list_versions()
        assert "\n" not in str(info.value)
        assert info.value.cause == "tls"
    assert https_server.api.requests == 0


def test_trial8_an_explicit_ca_bundle_wins_over_the_environment(https_server, certificate):
    cert_path, _ = certificate
    assert os.environ.get("REQUESTS_CA_BUNDLE") != str(cert_path)
    client = Client(https_server.url, PROJECT, token=SECRET_TOKEN, verify=str(cert_path))
    assert client.list_versions().height == 50


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_trial8_verify_false_is_not_overridden_by_the_environment(https_server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    client = Client(https_server.url, PROJECT, token=SECRET_TOKEN, verify=False)
    assert client.list_versions().height == 50
