"""What a failed answer or connection means: the :mod:`mavtools.errors` exception and its hint.

:func:`api_error` turns an answer with an error status (or ``is_success: false``) into the
:class:`~mavtools.errors.ApiError` of its kind, with the API's code and message (a bare code is
explained from ``error_code.csv``) and one sentence of what to do; :func:`auth_hint` words that
sentence for the credentials in use (an AK/SK signature, a clock off by more than the gateway
accepts, an IAM password token). :func:`connection_error` names why a connection failed (refused,
DNS, stalled, cut). :mod:`mavtools.api.transport` sends the requests and calls these.
"""

from __future__ import annotations

import csv
import email.utils
import functools
import socket
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Final

import requests
import urllib3

from mavtools import errors
from mavtools.frame import json_object

__all__ = ["MAX_CLOCK_SKEW", "api_error", "auth_hint", "connection_error", "full_url", "safe_url"]

#: How far the AK/SK signing clock may be from the gateway's (seconds) before it refuses.
MAX_CLOCK_SKEW: Final = 15 * 60


def full_url(url: str, params: Mapping[str, str]) -> str:
    """The URL with its query, for error messages (built only when an error needs it)."""
    return requests.Request("GET", url, params=dict(params)).prepare().url or url


def safe_url(url: str) -> str:
    """The URL without its query string (shorter in messages; never carries secrets anyway)."""
    return url.split("?", 1)[0]


@functools.cache
def _documented_errors() -> dict[str, str]:
    with resources.files("mavtools").joinpath("error_codes.csv").open(encoding="utf-8") as fh:
        return {row["error_code"]: row["message"] for row in csv.DictReader(fh)}


def api_error(
    status: int, body: bytes, url: str, attempt: int, auth_hint: str | None = None
) -> errors.ApiError:
    """Build the error for an answer with an error status or ``is_success: false``."""
    code = message = None
    try:
        doc = json_object(body, url)
    except errors.ResponseFormatError:
        doc = {}
    raw_code = doc.get("error_code")
    raw_message = doc.get("error_message", doc.get("error_msg"))
    if isinstance(doc.get("error"), dict):  # Keystone style
        raw_message = doc["error"].get("message")
    code = str(raw_code)[:64] if raw_code is not None else None
    message = str(raw_message)[:300] if raw_message is not None else None
    if message is None and code is not None:
        message = _documented_errors().get(code)
    tries = f" after {attempt} attempts" if attempt > 1 else ""
    kind, hint = _kind_and_hint(status, code, tries)
    if status in (401, 403) and auth_hint:
        hint = auth_hint
    return kind(status, code, message, url, hint)


def _kind_and_hint(status: int, code: str | None, tries: str) -> tuple[type[errors.ApiError], str]:
    """The exception class of an error status and the default sentence of what to do."""
    if status == 401:
        return errors.AuthError, (
            "The token is missing, expired or for another project: get a new token (or use "
            "AK/SK or a password) and check MODELARTS_PROJECT_ID."
        )
    if status == 403:
        if code == "ModelArts.0206":
            return errors.AuthError, "The AK/SK pair was refused: check both keys."
        return errors.AuthError, (
            "The credentials are not allowed here: check that the project id matches the "
            "token's project and your IAM permissions for ModelArts."
        )
    if status == 404:
        return errors.NotFoundError, (
            "Check the endpoint (https://modelarts.<region>.otc.t-systems.com) and the project id."
        )
    if status == 429:
        return errors.ThrottledError, (
            f"The API kept throttling{tries}; wait a minute, or lower `connections`."
        )
    if status >= 500:
        return errors.ServerError, f"ModelArts kept failing{tries}; retry later."
    if status == 400:
        return errors.ApiError, (
            "A query parameter was refused: check the status, pool and workspace values."
        )
    return errors.ApiError, ""


def auth_hint(auth: object, status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """The hint of a 401/403 for the kind of credentials ``auth`` is (None: the default one).

    Auth objects name their kind in ``kind`` (``"aksk"``, ``"password"``); an AK/SK object's
    ``now`` is its signing clock, compared with the answer's ``Date``.
    """
    kind = getattr(auth, "kind", None)
    if status not in (401, 403) or kind is None:
        return None
    if kind == "aksk":
        code = _error_code(body)
        if status == 403 and code not in (None, "ModelArts.0206", "APIGW.0301"):
            return None  # a permission problem, not the signature
        hint = (
            "The AK/SK signature was refused: check that the secret key (SK) belongs to the "
            "access key (AK) and that both are active."
        )
        skew = _clock_skew(headers, getattr(auth, "now", None))
        if skew is not None and abs(skew) > MAX_CLOCK_SKEW:
            ahead = "ahead of" if skew > 0 else "behind"
            hint += (
                f" Your clock is {abs(skew) / 60:.0f} minutes {ahead} the server's (the "
                "gateway accepts 15): correct the system clock (enable NTP)."
            )
        return hint
    if kind == "password" and status == 401:
        return (
            "The token IAM issued for your user and password was refused even after renewing "
            "it: check that the project it is scoped to (MODELARTS_PROJECT_ID, or the "
            "project in clouds.yaml) is the endpoint's project."
        )
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (causes, contexts, urllib3 reasons, exception args)."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        inner = [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
        pending.extend(x for x in inner if isinstance(x, BaseException))


def connection_error(exc: BaseException, url: str) -> errors.TransportError:
    """Name the cause of a failed connection: refused, DNS, or cut."""
    chain = list(_causes(exc))
    host = urllib.parse.urlsplit(url).netloc
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return errors.TransportError(
            f"The connection to {host} was refused (nothing accepts connections there); check "
            "the endpoint's host and port.",
            cause="refused",
        )
    if any(isinstance(e, socket.gaierror) for e in chain):
        return errors.TransportError(
            f"The host name in {safe_url(url)} could not be resolved (DNS); check the endpoint, "
            "your network or your proxy settings.",
            cause="dns",
        )
    if any(isinstance(e, TimeoutError | urllib3.exceptions.ReadTimeoutError) for e in chain):
        # A read timeout while the body streams surfaces as a ConnectionError.
        return errors.TransportError(
            f"{safe_url(url)} stopped sending in the middle of its answer (timeout: a stalled "
            "server); retry later.",
            cause="stalled",
        )
    return errors.TransportError(
        f"The connection to {safe_url(url)} failed or was cut (reset); check the endpoint and "
        "your network, then retry.",
        cause="reset",
    )


def _error_code(body: bytes) -> str | None:
    try:
        code = json_object(body, "").get("error_code")
    except errors.ResponseFormatError:
        return None
    return str(code) if code is not None else None


def _clock_skew(headers: Mapping[str, str], now: Callable[[], datetime] | None) -> float | None:
    """Seconds the local (signing) clock is ahead of the server's ``Date`` header, if known."""
    value = headers.get("Date")
    if not value:
        return None
    try:
        server = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None:
        server = server.replace(tzinfo=UTC)
    local = now() if now is not None else datetime.now(UTC)
    return (local - server).total_seconds()
