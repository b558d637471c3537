"""Request authentication for the ModelArts API, as ``requests.auth.AuthBase`` objects.

Three ways in, one seam: every class here is a ``requests`` auth object, so the client just passes
``auth=...`` to its session and never handles a secret itself.

- :class:`TokenAuth`: a ready IAM token, sent as ``X-Auth-Token``.
- :class:`AkSkAuth`: access key / secret key; each request is signed with the API Gateway scheme
  ``SDK-HMAC-SHA256`` exactly as Huawei's official SDK (``huaweicloudsdkcore``) signs it.
  :func:`sign_request` and :func:`verify_request` are the pure functions behind it; the local fake
  server uses :func:`verify_request` to check requests.
- :class:`PasswordAuth`: user name and password; a project-scoped token is fetched from IAM
  (Keystone v3), kept in memory only, shared between threads and renewed before it expires.

Secrets never appear in ``repr``, log records or exception messages.

Example:
    >>> import requests
    >>> session = requests.Session()
    >>> session.auth = AkSkAuth("MYACCESSKEY", "my-secret-key")
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import requests
from requests.auth import AuthBase

from mavtools.errors import AuthError, ConfigError, ResponseFormatError, TransportError

__all__ = [
    "AkSkAuth",
    "PasswordAuth",
    "TokenAuth",
    "sign_request",
    "verify_request",
]

log = logging.getLogger("mavtools")

ALGORITHM: Final = "SDK-HMAC-SHA256"
DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
DEFAULT_MAX_SKEW: Final = timedelta(minutes=15)
DEFAULT_RENEW_BEFORE: Final = timedelta(hours=1)
DEFAULT_IAM_TIMEOUT: Final = 30.0

_HEADER_DATE: Final = "X-Sdk-Date"
_HEADER_CONTENT: Final = "X-Sdk-Content-Sha256"
_EMPTY_HASH: Final = hashlib.sha256(b"").hexdigest()
_AUTHORIZATION: Final = re.compile(
    r"SDK-HMAC-SHA256 Access=(?P<ak>[^,\s]+), SignedHeaders=(?P<signed>[^,\s]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
# Headers a proxy or the transport may rewrite on the way: signing them would break the signature.
_UNSIGNED: Final = frozenset(
    {
        "accept-encoding",
        "authorization",
        "connection",
        "content-length",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# What header values may hold: printable ASCII and tab, so requests never echoes a secret in an
# "invalid header value" error.
_HEADER_SAFE: Final = re.compile(r"[\x21-\x7e][\x20-\x7e]*")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _mask(value: str, keep: int = 0) -> str:
    return f"{value[:keep]}***" if keep else "***"


def _check_header_safe(value: str, what: str) -> None:
    if not isinstance(value, str) or not _HEADER_SAFE.fullmatch(value) or value != value.strip():
        raise ConfigError(
            f"The {what} is empty or holds spaces or characters a HTTP header cannot carry: "
            "check that it was copied completely."
        )


# --------------------------------------------------------------------------------------------------
# SDK-HMAC-SHA256, the signing scheme of Huawei Cloud's API Gateway
# --------------------------------------------------------------------------------------------------


def _url_encode(text: str) -> str:
    return quote(text, safe="~")


def _canonical_uri(path: str) -> str:
    encoded = "/".join(_url_encode(part) for part in unquote(path or "/").split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def _canonical_query(query: str) -> str:
    # The reference signer sorts (key, value) pairs of decoded text, then URI-encodes them.
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{_url_encode(k)}={_url_encode(v)}" for k, v in pairs)


def _payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    if not body:
        return _EMPTY_HASH
    declared = _get(headers, _HEADER_CONTENT)
    if declared:
        return declared
    return hashlib.sha256(body).hexdigest()


def _get(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _host_of(url: str) -> str:
    """The ``Host`` header that http.client would send for ``url``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    if parts.port is not None and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return host


def _signature(
    method: str,
    url: str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    body: bytes,
    sk: str,
    date: str,
) -> str:
    """Hex HMAC-SHA256 of the string to sign, built as ``huaweicloudsdkcore`` builds it."""
    parts = urlsplit(url)
    values = {key.lower(): str(value).strip() for key, value in headers.items()}
    canonical_headers = "".join(f"{key}:{values.get(key, '')}\n" for key in signed_headers)
    canonical_request = "\n".join(
        [
            method.upper(),
            _canonical_uri(parts.path),
            _canonical_query(parts.query),
            canonical_headers,
            ";".join(signed_headers),
            _payload_hash(headers, body),
        ]
    )
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{date}\n{digest}"
    return hmac.new(sk.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    ak: str,
    sk: str,
    when: datetime,
) -> dict[str, str]:
    """Sign one request with ``SDK-HMAC-SHA256``.

    Every given header whose name has no ``_`` is signed, as the reference signer does; pass only
    headers that reach the server unchanged. ``Host`` is derived from ``url`` when missing, and
    ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` is added for content types other than JSON/BSON,
    both exactly as in ``huaweicloudsdkcore``.

    Args:
        method: the HTTP method.
        url: the full URL, query string included (the query is signed).
        headers: the headers to sign; an ``X-Sdk-Date`` among them is replaced by ``when``.
        body: the exact body bytes (None or ``b""`` for none).
        ak: access key id.
        sk: secret access key.
        when: signing time (aware; naive values are taken as UTC).

    Returns:
        The headers to add to the request: ``X-Sdk-Date``, ``Authorization`` and, when they were
        not given, ``Host`` and ``X-Sdk-Content-Sha256``.

    Example:
        >>> extra = sign_request("GET", "https://h.example/v1/p?limit=5", {}, b"", "AK", "SK",
        ...                      datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
        >>> extra["X-Sdk-Date"]
        '20260102T030405Z'
    """
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    date = when.strftime(DATE_FORMAT)
    body = body or b""
    added: dict[str, str] = {}
    all_headers = {k: v for k, v in headers.items() if k.lower() != _HEADER_DATE.lower()}
    content_type = _get(all_headers, "Content-Type")
    if content_type and not content_type.startswith(("application/json", "application/bson")):
        added[_HEADER_CONTENT] = "UNSIGNED-PAYLOAD"
    added[_HEADER_DATE] = date
    if _get(all_headers, "Host") is None:
        added["Host"] = _host_of(url)
    all_headers.update(added)
    signed = sorted(key.lower() for key in all_headers if "_" not in key)
    signature = _signature(method, url, all_headers, signed, body, sk, date)
    added["Authorization"] = (
        f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    return added


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    lookup_sk: Callable[[str], str | None],
    *,
    now: datetime | None = None,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> bool:
    """Check the ``SDK-HMAC-SHA256`` signature of a received request (server side).

    Args:
        method: the HTTP method.
        url: the request target, a full URL or just path and query (``/v1/p/x?a=1``).
        headers: the received headers (any mapping; names are matched case-insensitively).
        body: the received body bytes.
        lookup_sk: gives the secret key of an access key id, or None for an unknown one.
        now: the server's time (default: now).
        max_skew: how far ``X-Sdk-Date`` may be from ``now``.

    Returns:
        True when the signature is valid, ``Host`` and ``X-Sdk-Date`` are signed, the date is
        within ``max_skew`` and a declared body hash matches the body.

    Example:
        >>> verify_request("GET", "/v1/p", {}, b"", lambda ak: None)
        False
    """
    auth = _get(headers, "Authorization")
    match = _AUTHORIZATION.fullmatch(auth.strip()) if auth else None
    if match is None:
        return False
    signed = match["signed"].split(";")
    lowered = {key.lower() for key in headers}
    if (
        signed != sorted(signed)
        or not {"host", "x-sdk-date"} <= set(signed)
        or not set(signed) <= lowered
    ):
        return False
    date = _get(headers, _HEADER_DATE) or ""
    try:
        when = datetime.strptime(date, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return False
    if abs((now or _utcnow()) - when) > max_skew:
        return False
    body = body or b""
    declared = _get(headers, _HEADER_CONTENT)
    if (
        body
        and declared
        and declared != "UNSIGNED-PAYLOAD"
        and declared != hashlib.sha256(body).hexdigest()
    ):
        return False
    sk = lookup_sk(match["ak"])
    if not sk:
        return False
    expected = _signature(method, url, headers, signed, body, sk, date)
    return hmac.compare_digest(expected, match["signature"])


# --------------------------------------------------------------------------------------------------
# requests auth objects
# --------------------------------------------------------------------------------------------------


class TokenAuth(AuthBase):
    """Send a ready IAM token as ``X-Auth-Token``.

    Example:
        >>> TokenAuth("MIIxyz...")
        TokenAuth(token='***')
    """

    #: The kind of credentials, for error hints.
    kind = "token"

    def __init__(self, token: str) -> None:
        _check_header_safe(token, "token")
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["X-Auth-Token"] = self._token
        return r

    def __repr__(self) -> str:
        return "TokenAuth(token='***')"


class AkSkAuth(AuthBase):
    """Sign every request with an access key and secret key (``SDK-HMAC-SHA256``).

    The ``Host`` header is set explicitly so the signed value is the one sent; with a
    ``project_id`` (the client sets its own), ``X-Project-Id`` is sent and signed, as Huawei's
    SDK does and IAM sub-projects require. Headers that the
    transport or a proxy may rewrite (``Connection``, ``Accept-Encoding``, ``Content-Length``...)
    are not signed.

    Args:
        ak: access key id.
        sk: secret access key.
        clock: gives the signing time (tests inject a fixed one).

    Example:
        >>> AkSkAuth("ABCDEFGHIJ", "secret")
        AkSkAuth(ak='ABCD***', sk='***')
    """

    kind = "aksk"

    def __init__(
        self,
        ak: str,
        sk: str,
        *,
        project_id: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        _check_header_safe(ak, "access key (AK)")
        _check_header_safe(sk, "secret key (SK)")
        if project_id is not None:
            _check_header_safe(project_id, "project id")
        if "," in ak:
            raise ConfigError("The access key (AK) holds a comma: check that it was copied alone.")
        self._ak = ak
        self._sk = sk
        self._clock = clock
        #: Sent (and signed) as ``X-Project-Id``, as huaweicloudsdkcore's ``BasicCredentials``
        #: does: IAM sub-projects refuse AK/SK calls without it.
        self.project_id = project_id

    def for_project(self, project_id: str) -> AkSkAuth:
        """The same keys, signing for ``project_id`` (the client's project)."""
        return AkSkAuth(self._ak, self._sk, project_id=project_id, clock=self._clock)

    def now(self) -> datetime:
        """The time requests are signed with (compared with the server's on a refusal)."""
        return self._clock()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body
        if isinstance(body, str):
            # http.client would send a str as Latin-1; send (and sign) UTF-8 bytes instead.
            body = body.encode("utf-8")
            r.body = body
            if "Content-Length" in r.headers:
                r.headers["Content-Length"] = str(len(body))
        if body is not None and not isinstance(body, bytes):
            raise ConfigError("AkSkAuth can only sign a body given as bytes, not a stream.")
        if "Host" not in r.headers:
            r.headers["Host"] = _host_of(r.url or "")
        if self.project_id and "X-Project-Id" not in r.headers:
            r.headers["X-Project-Id"] = self.project_id
        to_sign = {k: v for k, v in r.headers.items() if k.lower() not in _UNSIGNED}
        r.headers.update(
            sign_request(
                r.method or "GET", r.url or "", to_sign, body, self._ak, self._sk, self._clock()
            )
        )
        return r

    def __repr__(self) -> str:
        return f"AkSkAuth(ak={_mask(self._ak, 4)!r}, sk='***')"


class PasswordAuth(AuthBase):
    """Get a project-scoped token from IAM with a user name and password, and send it.

    The token is fetched on the first request, kept in memory only, shared by all threads and
    renewed when it is within ``renew_before`` of its expiry. After a 401 from the API, call
    :meth:`invalidate` and retry once: the retry gets a fresh token.

    Args:
        iam_endpoint: IAM base URL, e.g. ``https://iam.eu-de.otc.t-systems.com`` (a trailing
            ``/v3``, as in ``clouds.yaml``, is accepted).
        username: the IAM user name.
        password: the user's password.
        domain_name: the user's domain (tenant) name.
        project_id: scope the token to this project id ...
        project_name: ... or to this project name (in ``domain_name``); the id is then learnt
            from the token, see :attr:`project_id`.
        session: the session that talks to IAM (default: a new one).
        renew_before: renew a token this long before it expires.
        clock: gives the current time (tests inject one).
        timeout: seconds to wait for IAM.

    Raises:
        ConfigError: neither ``project_id`` nor ``project_name`` was given.

    Example:
        >>> auth = PasswordAuth("https://iam.eu-de.otc.t-systems.com", "alice", "pw",
        ...                     "OTC-EU-DE-0001", project_name="eu-de")
        >>> auth
        PasswordAuth(user='alice@OTC-EU-DE-0001', project_name='eu-de', password='***')
    """

    kind = "password"

    def __init__(
        self,
        iam_endpoint: str,
        username: str,
        password: str,
        domain_name: str,
        project_id: str | None = None,
        project_name: str | None = None,
        session: requests.Session | None = None,
        renew_before: timedelta = DEFAULT_RENEW_BEFORE,
        *,
        clock: Callable[[], datetime] = _utcnow,
        timeout: float = DEFAULT_IAM_TIMEOUT,
    ) -> None:
        if not project_id and not project_name:
            raise ConfigError(
                "PasswordAuth needs a project_id or a project_name to scope its IAM token."
            )
        base = iam_endpoint.rstrip("/")
        if base.endswith("/v3"):
            base = base[: -len("/v3")]
        self._tokens_url = f"{base}/v3/auth/tokens"
        self._username = username
        self._password = password
        self._domain_name = domain_name
        self._project_id = project_id or None
        self._project_name = None if project_id else project_name
        self._session = session if session is not None else requests.Session()
        self._renew_before = renew_before
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: datetime | None = None

    @property
    def project_id(self) -> str | None:
        """The project id: the one given, or the one IAM named in the token (None before it)."""
        return self._project_id

    @property
    def expires_at(self) -> datetime | None:
        """When the cached token expires (None when there is none)."""
        return self._expires_at

    def resolve_project_id(self) -> str:
        """Return the project id, fetching a token first when it was scoped by name."""
        if self._project_id is None:
            self.token()
        assert self._project_id is not None  # token() sets it or raises
        return self._project_id

    def token(self) -> str:
        """Return a valid token, asking IAM only when none is cached or it is about to expire.

        Raises:
            AuthError: IAM refused the credentials (401/403).
            TransportError: IAM could not be reached or failed.
            ResponseFormatError: IAM's answer lacked the token or its expiry.
        """
        with self._lock:
            now = self._clock()
            if (
                self._token is None
                or self._expires_at is None
                or self._expires_at - now <= self._renew_before
            ):
                self._token, self._expires_at = self._fetch()
            return self._token

    def invalidate(self, stale: str | None = None) -> None:
        """Forget the cached token: the next request asks IAM for a new one.

        Args:
            stale: the token a refused request carried. When another thread has already
                replaced it, nothing is forgotten, so concurrent 401s for one expired token
                cause one IAM request (single flight), not one each.
        """
        with self._lock:
            if stale is not None and stale != self._token:
                return
            self._token = None
            self._expires_at = None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["X-Auth-Token"] = self.token()
        return r

    def __repr__(self) -> str:
        scope = (
            f"project_id={self._project_id!r}"
            if self._project_name is None
            else f"project_name={self._project_name!r}"
        )
        return f"PasswordAuth(user='{self._username}@{self._domain_name}', {scope}, password='***')"

    def _request_body(self) -> dict[str, Any]:
        project: dict[str, Any]
        if self._project_name is None:
            project = {"id": self._project_id}
        else:
            project = {"name": self._project_name, "domain": {"name": self._domain_name}}
        return {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self._username,
                            "password": self._password,
                            "domain": {"name": self._domain_name},
                        }
                    },
                },
                "scope": {"project": project},
            }
        }

    def _fetch(self) -> tuple[str, datetime]:
        """Ask IAM for a token (called with the lock held)."""
        who = f"{self._username}@{self._domain_name}"
        url = self._tokens_url
        log.debug("Asking IAM at %s for a token of %s", url, who)
        try:
            response = self._session.post(
                url,
                data=json.dumps(self._request_body()).encode("utf-8"),
                headers={"Content-Type": "application/json;charset=utf8"},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise TransportError(
                f"Could not reach IAM at {url} ({type(exc).__name__}): check the auth URL and "
                "the network, then retry."
            ) from None
        with response:
            status = response.status_code
            if status in (401, 403):
                raise AuthError(
                    status,
                    None,
                    None,
                    url,
                    hint=(
                        f"IAM refused the user name or password for {who}: check the user name, "
                        "password and domain name, and that the user may access the project."
                    ),
                    service="IAM",
                )
            if not 200 <= status < 300:
                raise TransportError(
                    f"IAM at {url} answered HTTP {status} instead of a token: check the auth URL "
                    "and retry later."
                )
            token = response.headers.get("X-Subject-Token", "")
            try:
                body = response.json()
                expires_text = body["token"]["expires_at"]
                project_id = (body["token"].get("project") or {}).get("id")
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ResponseFormatError(
                    f"IAM at {url} answered without token.expires_at in a JSON body."
                ) from None
        if not token or not _HEADER_SAFE.fullmatch(token):
            raise ResponseFormatError(f"IAM at {url} answered without a usable X-Subject-Token.")
        try:
            expires_at = datetime.fromisoformat(str(expires_text))
        except ValueError:
            raise ResponseFormatError(
                f"IAM at {url} sent an expiry that is not ISO 8601: {str(expires_text)[:40]!r}."
            ) from None
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if self._project_id is None:
            if not isinstance(project_id, str) or not project_id:
                raise ResponseFormatError(
                    f"IAM at {url} answered without token.project.id for project "
                    f"{self._project_name!r}."
                )
            self._project_id = project_id
        log.debug("IAM token of %s obtained, expires at %s", who, expires_at.isoformat())
        return token, expires_at
