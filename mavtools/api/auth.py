"""Request authentication for the ModelArts API, as ``requests.auth.AuthBase`` objects.

Three ways in, one seam: every class here is a ``requests`` auth object, so the client just passes
``auth=...`` to its session and never handles a secret itself.

- :class:`TokenAuth`: a ready IAM token, sent as ``X-Auth-Token``.
- :class:`AkSkAuth`: access key / secret key; each request is signed with the API Gateway scheme
  ``SDK-HMAC-SHA256`` exactly as Huawei's official SDK (``huaweicloudsdkcore``) signs it.
  :func:`sign_request` and :func:`verify_request` are the pure functions behind it; the local fake
  server uses :func:`verify_request` to check requests.
- :class:`~mavtools.api.iam.PasswordAuth` (in :mod:`mavtools.api.iam`): user name and password;
  a project-scoped token is fetched from IAM (Keystone v3), kept in memory only, shared between
  threads and renewed before it expires.

Secrets never appear in ``repr``, log records or exception messages.

Example:
    >>> import requests
    >>> session = requests.Session()
    >>> session.auth = AkSkAuth("MYACCESSKEY", "my-secret-key")
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import requests
from requests.auth import AuthBase

from mavtools.errors import ConfigError

__all__ = [
    "AkSkAuth",
    "TokenAuth",
    "sign_request",
    "verify_request",
]

ALGORITHM: Final = "SDK-HMAC-SHA256"
DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
DEFAULT_MAX_SKEW: Final = timedelta(minutes=15)

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
#: What header values may hold: printable ASCII and tab, so requests never echoes a secret in an
#: "invalid header value" error.
HEADER_SAFE: Final = re.compile(r"[\x21-\x7e][\x20-\x7e]*")


def utcnow() -> datetime:
    """The current time in UTC (the default clock of the auth objects)."""
    return datetime.now(UTC)


def _mask(value: str, keep: int = 0) -> str:
    return f"{value[:keep]}***" if keep else "***"


def _check_header_safe(value: str, what: str) -> None:
    if not isinstance(value, str) or not HEADER_SAFE.fullmatch(value) or value != value.strip():
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
    if abs((now or utcnow()) - when) > max_skew:
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
        clock: Callable[[], datetime] = utcnow,
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
