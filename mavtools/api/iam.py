"""IAM password authentication: a project-scoped token from Keystone v3, as a ``requests`` auth.

:class:`PasswordAuth` fetches the token on the first request, keeps it in memory only, shares it
between threads and renews it before it expires; :mod:`mavtools.api.transport` calls
:meth:`PasswordAuth.invalidate` on a 401 so one retry gets a fresh token. The other ways in (a
ready token, AK/SK signing) are in :mod:`mavtools.api.auth`.

Secrets never appear in ``repr``, log records or exception messages.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import requests
from requests.auth import AuthBase

from mavtools.api.auth import HEADER_SAFE, utcnow
from mavtools.errors import AuthError, ConfigError, ResponseFormatError, TransportError

__all__ = ["PasswordAuth"]

log = logging.getLogger("mavtools")

DEFAULT_RENEW_BEFORE: Final = timedelta(hours=1)
DEFAULT_IAM_TIMEOUT: Final = 30.0


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
        clock: Callable[[], datetime] = utcnow,
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
        if not token or not HEADER_SAFE.fullmatch(token):
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
