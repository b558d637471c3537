"""Where to connect: endpoints, regions and project ids, checked and normalised.

Settings come from arguments first (see :class:`mavtools.api.client.Client`), then from the
environment, then from an OpenStack ``clouds.yaml``. The rooms of that story:

- this module: the value rules (endpoint URLs, regions, project ids, the cloud's domain);
- :mod:`mavtools.api.credentials`: :class:`~mavtools.api.credentials.Credentials` and
  :class:`~mavtools.api.credentials.Settings`, plain frozen data with masked reprs;
- :mod:`mavtools.api.env`: :func:`~mavtools.api.env.settings_from_env`, the environment variables;
- :mod:`mavtools.api.clouds`: ``clouds.yaml``, ``secure.yaml`` and ``clouds-public.yaml``, found and
  merged as openstacksdk does.

Nothing is read at import time. Secrets never appear in ``repr`` or in error messages.

Example:
    >>> endpoint_for_region("eu-de")
    'https://modelarts.eu-de.otc.t-systems.com'
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from mavtools.errors import ConfigError

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_ENDPOINT_TEMPLATE",
    "DEFAULT_IAM_TEMPLATE",
    "allow_http_from_env",
    "domain_of_iam",
    "endpoint_for_region",
    "env_value",
    "is_loopback_url",
    "region_of",
    "show_value",
    "validate_auth_url",
    "validate_endpoint",
    "validate_project_id",
    "validate_region",
]

DEFAULT_DOMAIN: Final = "otc.t-systems.com"
DEFAULT_ENDPOINT_TEMPLATE: Final = "https://modelarts.{region}.otc.t-systems.com"
#: IAM of Open Telekom Cloud, used for ``profile: otc`` clouds without an ``auth_url``.
DEFAULT_IAM_TEMPLATE: Final = "https://iam.{region}.otc.t-systems.com/v3"

_PROJECT_ID: Final = re.compile(r"[A-Za-z0-9-]{1,64}")
_REGION: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LABEL: Final = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost."})


def show_value(value: object) -> str:
    """A short, printable rendering of a non-secret value for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_project_id(value: object) -> str:
    """Check an IAM project id: 1 to 64 letters, digits or ``-``.

    Returns:
        The project id, unchanged.

    Raises:
        ConfigError: it is not such a string.

    Example:
        >>> validate_project_id("0a1b2c3d4e5f60718293a4b5c6d7e8f9")
        '0a1b2c3d4e5f60718293a4b5c6d7e8f9'
    """
    if value is None:
        raise ConfigError(
            "The project id is unknown: set MODELARTS_PROJECT_ID (or project_id in clouds.yaml) "
            "to your IAM project id."
        )
    if not isinstance(value, str) or not _PROJECT_ID.fullmatch(value):
        raise ConfigError(
            f"The project id {show_value(value)} is not an IAM project id (1 to 64 letters, digits or "
            "'-'): copy it from 'My Credentials' in the console."
        )
    return value


def is_loopback_url(url: object) -> bool:
    """Whether ``url`` points at this machine (plain http is then acceptable)."""
    if not isinstance(url, str):
        return False
    try:
        return _is_loopback(urlsplit(url).hostname or "")
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url_text(url: object, what: str) -> str:
    if not isinstance(url, str) or not url:
        raise ConfigError(f"The {what} must be a non-empty URL string, not {show_value(url)}.")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ConfigError(
            f"The {what} {show_value(url)} contains whitespace or control characters."
        )
    return url


def _split_base_url(url: str, what: str, allow_http: bool) -> tuple[str, str, str]:
    """Check scheme, userinfo, query, fragment and host; return (scheme, netloc, path)."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("https", "http"):
        raise ConfigError(
            f"The {what} {show_value(url)} must start with https://, for example "
            f"{endpoint_for_region('eu-de')!r}."
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(f"The {what} {show_value(url)} is not a valid URL.") from None
    if "?" in url or "#" in url:
        raise ConfigError(
            f"The {what} {show_value(url)} must not have a query (?) or fragment (#)."
        )
    if "@" in parts.netloc:
        # the part before '@' may be a password: do not show it
        raise ConfigError(f"The {what} must not contain a user name or password before '@'.")
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise ConfigError(f"The {what} {show_value(url)} has an invalid port.") from None
    if not host:
        raise ConfigError(f"The {what} {show_value(url)} has no host name.")
    if port == 0:
        raise ConfigError(f"The {what} {show_value(url)} has an invalid port.")
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(
                f"The {what} {show_value(url)} has an invalid IPv6 address."
            ) from None
    elif not _HOSTNAME.fullmatch(host):
        raise ConfigError(
            f"The {what} {show_value(url)} has an invalid host name {show_value(host)}."
        )
    if scheme == "http" and not allow_http:
        raise ConfigError(
            f"The {what} {show_value(url)} uses plain http://: use https:// (credentials travel with "
            "every request), or set MAVTOOLS_ALLOW_HTTP=1 for a test server you trust."
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return scheme, netloc, parts.path


def allow_http_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``MAVTOOLS_ALLOW_HTTP`` opts in to plain ``http://`` endpoints (``1``/``true``/``yes``)."""
    env = os.environ if environ is None else environ
    return env.get("MAVTOOLS_ALLOW_HTTP", "").strip().lower() in ("1", "true", "yes")


def validate_endpoint(url: str, allow_http: bool = False) -> str:
    """Check a ModelArts endpoint and return it normalised (lower-case scheme and host, no ``/``).

    Args:
        url: ``https://host[:port]``, without path, query, fragment or user name.
        allow_http: accept ``http://`` (local test servers).

    Returns:
        The endpoint without trailing slash.

    Raises:
        ConfigError: anything else.

    Example:
        >>> validate_endpoint("https://ModelArts.eu-de.otc.t-systems.com/")
        'https://modelarts.eu-de.otc.t-systems.com'
    """
    _check_url_text(url, "endpoint")
    scheme, netloc, path = _split_base_url(url, "endpoint", allow_http)
    if path not in ("", "/"):
        raise ConfigError(
            f"The endpoint {show_value(url)} must not have a path: give only https://host[:port]."
        )
    return f"{scheme}://{netloc}"


def validate_auth_url(url: str, allow_http: bool) -> str:
    """Like :func:`validate_endpoint`, but a path (``/v3``) is allowed."""
    _check_url_text(url, "IAM auth URL")
    scheme, netloc, path = _split_base_url(url, "IAM auth URL", allow_http)
    if ".." in path.split("/"):
        raise ConfigError(f"The IAM auth URL {show_value(url)} must not contain '..'.")
    return f"{scheme}://{netloc}{path.rstrip('/')}"


def validate_region(region: object) -> str:
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise ConfigError(f"The region {show_value(region)} is not a region name such as 'eu-de'.")
    return region


def region_of(endpoint: str) -> str:
    """The region an endpoint serves: ``eu-de`` for ``https://modelarts.eu-de.otc.t-systems.com``.

    Endpoints that name no region (a local server) give their host and port, so two local
    servers stay apart: ``127.0.0.1-8080``.

    Example:
        >>> region_of("https://modelarts.eu-nl.otc.t-systems.com")
        'eu-nl'
    """
    host = urlsplit(endpoint).netloc.rsplit("@", 1)[-1].lower()
    match = re.match(r"modelarts\.([a-z0-9]+(?:-[a-z0-9]+)*)\.", host)
    if match:
        return match.group(1)
    return re.sub(r"[^a-z0-9._-]+", "-", host).strip(".-_")[:64] or "unknown"


def endpoint_for_region(region: str, domain: str = DEFAULT_DOMAIN) -> str:
    """Return the ModelArts endpoint of a region.

    Example:
        >>> endpoint_for_region("eu-nl")
        'https://modelarts.eu-nl.otc.t-systems.com'
        >>> endpoint_for_region("ap-southeast-1", domain="myhuaweicloud.com")
        'https://modelarts.ap-southeast-1.myhuaweicloud.com'
    """
    validate_region(region)
    if not isinstance(domain, str) or not _HOSTNAME.fullmatch(domain):
        raise ConfigError(f"The domain {show_value(domain)} is not a host name.")
    return f"https://modelarts.{region}.{domain.rstrip('.')}"


def domain_of_iam(auth_url: str | None) -> str:
    """The cloud's domain, read from its IAM URL (ModelArts lives beside IAM).

    Example:
        >>> domain_of_iam("https://iam.ap-southeast-1.myhuaweicloud.com/v3")
        'myhuaweicloud.com'
        >>> domain_of_iam("https://iam.eu-de.otc.t-systems.com/v3")
        'otc.t-systems.com'
        >>> domain_of_iam(None)
        'otc.t-systems.com'
    """
    host = urlsplit(auth_url or "").hostname or ""
    labels = host.split(".")
    if len(labels) < 3 or not labels[0].startswith("iam"):
        return DEFAULT_DOMAIN
    rest = labels[1:]
    if len(rest) > 2 and _REGION.fullmatch(rest[0]) and "-" in rest[0]:
        rest = rest[1:]  # iam.<region>.<domain>; the global iam.myhuaweicloud.com has none
    return ".".join(rest)


def env_value(environ: Mapping[str, str], name: str) -> str | None:
    """The variable ``name`` of ``environ`` stripped, or None when unset or blank."""
    value = environ.get(name)
    if value is None:
        return None
    return value.strip() or None
