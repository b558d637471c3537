"""How to authenticate and where: :class:`Credentials` and :class:`Settings`, plain frozen data.

Secrets never appear in ``repr`` or in error messages.

Example:
    >>> Settings("https://modelarts.eu-de.otc.t-systems.com", "0a1b2c",
    ...          Credentials.from_token("MII...")).credentials
    Credentials(kind='token', token='***')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import requests
import requests.auth

from mavtools.api.config import (
    is_loopback_url,
    show_value,
    validate_auth_url,
    validate_endpoint,
    validate_project_id,
    validate_region,
)
from mavtools.errors import ConfigError

__all__ = ["CredentialKind", "Credentials", "Settings", "iam_user"]

CredentialKind = Literal["token", "aksk", "password"]


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """How to authenticate: an IAM token, an AK/SK pair, or an IAM user and password.

    Build one with :meth:`from_token`, :meth:`from_aksk` or :meth:`from_password`. The ``repr``
    shows the kind and non-secret facts only.

    Example:
        >>> Credentials.from_aksk("ABCDEFGH", "secret")
        Credentials(kind='aksk', ak='ABCD***', sk='***')
    """

    kind: CredentialKind
    token: str | None = field(default=None, repr=False)
    ak: str | None = field(default=None, repr=False)
    sk: str | None = field(default=None, repr=False)
    auth_url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    domain_name: str | None = None
    project_id: str | None = None
    project_name: str | None = None

    def __post_init__(self) -> None:
        needed: dict[str, tuple[str, ...]] = {
            "token": ("token",),
            "aksk": ("ak", "sk"),
            "password": ("auth_url", "username", "password", "domain_name"),
        }
        if self.kind not in needed:
            raise ConfigError(f"Unknown kind of credentials {show_value(self.kind)}.")
        missing = [name for name in needed[self.kind] if not getattr(self, name)]
        if missing:
            raise ConfigError(f"{self.kind} credentials lack {', '.join(missing)}.")
        if self.kind == "password" and not (self.project_id or self.project_name):
            raise ConfigError("password credentials need a project_id or a project_name.")
        if self.project_id is not None:
            validate_project_id(self.project_id)

    @classmethod
    def from_token(cls, token: str) -> Credentials:
        """An IAM token sent as ``X-Auth-Token``."""
        return cls("token", token=token)

    @classmethod
    def from_aksk(cls, ak: str, sk: str) -> Credentials:
        """An access key and secret key for ``SDK-HMAC-SHA256`` signing."""
        return cls("aksk", ak=ak, sk=sk)

    @classmethod
    def from_password(
        cls,
        auth_url: str,
        username: str,
        password: str,
        domain_name: str,
        project_id: str | None = None,
        project_name: str | None = None,
    ) -> Credentials:
        """An IAM user: a token is fetched from ``auth_url`` (``https://iam.../v3``)."""
        return cls(
            "password",
            auth_url=auth_url,
            username=username,
            password=password,
            domain_name=domain_name,
            project_id=project_id,
            project_name=project_name,
        )

    def to_auth(self, session: requests.Session | None = None) -> requests.auth.AuthBase:
        """Return the ``requests`` auth object for these credentials.

        Args:
            session: the session :class:`~mavtools.api.iam.PasswordAuth` talks to IAM with.
        """
        from mavtools.api import auth, iam  # keeps import of config light; auth needs no config

        if self.kind == "token":
            assert self.token is not None
            return auth.TokenAuth(self.token)
        if self.kind == "aksk":
            assert self.ak is not None and self.sk is not None
            return auth.AkSkAuth(self.ak, self.sk)
        assert self.auth_url and self.username and self.password and self.domain_name
        return iam.PasswordAuth(
            self.auth_url,
            self.username,
            self.password,
            self.domain_name,
            project_id=self.project_id,
            project_name=self.project_name,
            session=session,
        )

    def __repr__(self) -> str:
        if self.kind == "token":
            shown = "token='***'"
        elif self.kind == "aksk":
            shown = f"ak='{(self.ak or '')[:4]}***', sk='***'"
        else:
            scope = (
                f"project_id={self.project_id!r}"
                if self.project_id
                else f"project_name={self.project_name!r}"
            )
            shown = (
                f"auth_url={self.auth_url!r}, user='{self.username}@{self.domain_name}', "
                f"{scope}, password='***'"
            )
        return f"Credentials(kind={self.kind!r}, {shown})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the API is and how to authenticate.

    Attributes:
        endpoint: ``https://modelarts.<region>.<domain>``, normalised; plain ``http://`` is
            accepted for loopback hosts only (local test servers).
        project_id: the IAM project id, or None when password credentials are scoped by project
            name: then ``credentials.to_auth().resolve_project_id()`` learns it from IAM.
        credentials: how to authenticate.
        region: the region name, when known.

    Example:
        >>> Settings("https://modelarts.eu-de.otc.t-systems.com", "0a1b2c",
        ...          Credentials.from_token("MII..."), region="eu-de").endpoint
        'https://modelarts.eu-de.otc.t-systems.com'
    """

    endpoint: str
    project_id: str | None
    credentials: Credentials
    region: str | None = None

    def __post_init__(self) -> None:
        endpoint = validate_endpoint(self.endpoint, allow_http=is_loopback_url(self.endpoint))
        object.__setattr__(self, "endpoint", endpoint)
        if self.project_id is None:
            if self.credentials.kind != "password" or not self.credentials.project_name:
                validate_project_id(None)  # raises: only a name-scoped IAM user can learn it
        else:
            validate_project_id(self.project_id)
        if self.region is not None:
            validate_region(self.region)


def iam_user(
    fields: Iterable[str | None], project_id: str | None, project_name: str | None
) -> Credentials:
    """An IAM user read from a configuration, its auth URL checked (``http://`` on loopback only).

    Args:
        fields: the auth URL, user name, password and user domain name, in this order, all set.
        project_id: the project the token is scoped to, when known.
        project_name: the project's name, used only without ``project_id``.
    """
    auth_url, username, password, domain_name = fields
    assert auth_url and username and password and domain_name  # callers name what is missing
    return Credentials.from_password(
        validate_auth_url(auth_url, is_loopback_url(auth_url)),
        username,
        password,
        domain_name,
        project_id=project_id,
        project_name=None if project_id else project_name,
    )
