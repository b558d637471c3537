"""Where to connect and with which credentials, as plain frozen data.

Settings come from arguments first (see :class:`mavtools.api.client.Client`), then from the
environment, then from an OpenStack ``clouds.yaml``; :func:`settings_from_env` reads the last two:

1. ``MODELARTS_ENDPOINT``, ``MODELARTS_PROJECT_ID`` and ``MODELARTS_TOKEN`` or
   ``MODELARTS_AK`` + ``MODELARTS_SK``;
2. else ``OS_CLOUD`` naming a profile of ``clouds.yaml`` (merged with ``secure.yaml``), found in
   ``OS_CLIENT_CONFIG_FILE``, ``./``, ``~/.config/openstack/``, ``/etc/openstack/``;
3. else the OpenStack CLI variables ``OS_AUTH_URL``, ``OS_USERNAME``, ``OS_PASSWORD``,
   ``OS_USER_DOMAIN_NAME``, ``OS_PROJECT_ID`` or ``OS_PROJECT_NAME``, ``OS_REGION_NAME``.

``MODELARTS_ENDPOINT`` and ``MODELARTS_PROJECT_ID`` override what a profile implies. Nothing is
read at import time. Secrets never appear in ``repr`` or in error messages.

Example:
    >>> settings = settings_from_env({"MODELARTS_ENDPOINT": endpoint_for_region("eu-de"),
    ...     "MODELARTS_PROJECT_ID": "0a1b2c", "MODELARTS_TOKEN": "MII..."})
    >>> settings.credentials
    Credentials(kind='token', token='***')
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import requests
import requests.auth

from mavtools.errors import ConfigError

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_ENDPOINT_TEMPLATE",
    "DEFAULT_IAM_TEMPLATE",
    "SEARCHED",
    "VENDOR_PROFILES",
    "Credentials",
    "Settings",
    "VendorProfile",
    "allow_http_from_env",
    "domain_of_iam",
    "endpoint_for_region",
    "region_of",
    "settings_from_env",
    "validate_endpoint",
    "validate_project_id",
]

DEFAULT_DOMAIN: Final = "otc.t-systems.com"
DEFAULT_ENDPOINT_TEMPLATE: Final = "https://modelarts.{region}.otc.t-systems.com"
#: IAM of Open Telekom Cloud, used for ``profile: otc`` clouds without an ``auth_url``.
DEFAULT_IAM_TEMPLATE: Final = "https://iam.{region}.otc.t-systems.com/v3"

CredentialKind = Literal["token", "aksk", "password"]

_PROJECT_ID: Final = re.compile(r"[A-Za-z0-9-]{1,64}")
_REGION: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LABEL: Final = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost."})


def _show(value: object) -> str:
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
            f"The project id {_show(value)} is not an IAM project id (1 to 64 letters, digits or "
            "'-'): copy it from 'My Credentials' in the console."
        )
    return value


def _is_loopback_url(url: object) -> bool:
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
        raise ConfigError(f"The {what} must be a non-empty URL string, not {_show(url)}.")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ConfigError(f"The {what} {_show(url)} contains whitespace or control characters.")
    return url


def _split_base_url(url: str, what: str, allow_http: bool) -> tuple[str, str, str]:
    """Check scheme, userinfo, query, fragment and host; return (scheme, netloc, path)."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("https", "http"):
        raise ConfigError(
            f"The {what} {_show(url)} must start with https://, for example "
            f"{endpoint_for_region('eu-de')!r}."
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(f"The {what} {_show(url)} is not a valid URL.") from None
    if "?" in url or "#" in url:
        raise ConfigError(f"The {what} {_show(url)} must not have a query (?) or fragment (#).")
    if "@" in parts.netloc:
        # the part before '@' may be a password: do not show it
        raise ConfigError(f"The {what} must not contain a user name or password before '@'.")
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise ConfigError(f"The {what} {_show(url)} has an invalid port.") from None
    if not host:
        raise ConfigError(f"The {what} {_show(url)} has no host name.")
    if port == 0:
        raise ConfigError(f"The {what} {_show(url)} has an invalid port.")
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(f"The {what} {_show(url)} has an invalid IPv6 address.") from None
    elif not _HOSTNAME.fullmatch(host):
        raise ConfigError(f"The {what} {_show(url)} has an invalid host name {_show(host)}.")
    if scheme == "http" and not allow_http:
        raise ConfigError(
            f"The {what} {_show(url)} uses plain http://: use https:// (credentials travel with "
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
            f"The endpoint {_show(url)} must not have a path: give only https://host[:port]."
        )
    return f"{scheme}://{netloc}"


def _validate_auth_url(url: str, allow_http: bool) -> str:
    """Like :func:`validate_endpoint`, but a path (``/v3``) is allowed."""
    _check_url_text(url, "IAM auth URL")
    scheme, netloc, path = _split_base_url(url, "IAM auth URL", allow_http)
    if ".." in path.split("/"):
        raise ConfigError(f"The IAM auth URL {_show(url)} must not contain '..'.")
    return f"{scheme}://{netloc}{path.rstrip('/')}"


def _validate_region(region: object) -> str:
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise ConfigError(f"The region {_show(region)} is not a region name such as 'eu-de'.")
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
    _validate_region(region)
    if not isinstance(domain, str) or not _HOSTNAME.fullmatch(domain):
        raise ConfigError(f"The domain {_show(domain)} is not a host name.")
    return f"https://modelarts.{region}.{domain.rstrip('.')}"


@dataclass(frozen=True)
class VendorProfile:
    """What an OpenStack SDK vendor profile (``profile:`` in clouds.yaml) supplies."""

    auth_url: str  # with {region_name}
    regions: tuple[str, ...]


#: The vendor profiles of the clouds ModelArts runs in, as openstacksdk ships them
#: (``openstack/config/vendors/otc.json``).
VENDOR_PROFILES: Final = {
    "otc": VendorProfile("https://iam.{region_name}.otc.t-systems.com/v3", ("eu-de", "eu-nl")),
}


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


# --------------------------------------------------------------------------------------------------
# Plain data
# --------------------------------------------------------------------------------------------------


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
            raise ConfigError(f"Unknown kind of credentials {_show(self.kind)}.")
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
            session: the session :class:`~mavtools.api.auth.PasswordAuth` talks to IAM with.
        """
        from mavtools.api import auth  # keeps import of config light; auth needs no config

        if self.kind == "token":
            assert self.token is not None
            return auth.TokenAuth(self.token)
        if self.kind == "aksk":
            assert self.ak is not None and self.sk is not None
            return auth.AkSkAuth(self.ak, self.sk)
        assert self.auth_url and self.username and self.password and self.domain_name
        return auth.PasswordAuth(
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
        endpoint = validate_endpoint(self.endpoint, allow_http=_is_loopback_url(self.endpoint))
        object.__setattr__(self, "endpoint", endpoint)
        if self.project_id is None:
            if self.credentials.kind != "password" or not self.credentials.project_name:
                validate_project_id(None)  # raises: only a name-scoped IAM user can learn it
        else:
            validate_project_id(self.project_id)
        if self.region is not None:
            _validate_region(self.region)


# --------------------------------------------------------------------------------------------------
# The environment and clouds.yaml
# --------------------------------------------------------------------------------------------------


def _getter(environ: Mapping[str, str]):
    def get(name: str) -> str | None:
        value = environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    return get


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings | None:
    """Read settings from environment variables or an OpenStack ``clouds.yaml``.

    Args:
        environ: the variables to read (default: ``os.environ``).

    Returns:
        The settings, or None when nothing is configured (callers then use the bundled samples).

    Raises:
        ConfigError: something is configured only in part, or a value is invalid.

    Example:
        >>> settings_from_env({}) is None
        True
    """
    env = os.environ if environ is None else environ
    get = _getter(env)
    endpoint = get("MODELARTS_ENDPOINT")
    project_id = get("MODELARTS_PROJECT_ID")
    token, ak, sk = get("MODELARTS_TOKEN"), get("MODELARTS_AK"), get("MODELARTS_SK")
    if endpoint is not None:
        endpoint = validate_endpoint(
            endpoint, allow_http=_is_loopback_url(endpoint) or allow_http_from_env(env)
        )

    if token or ak or sk:
        if bool(ak) != bool(sk):
            given, lacking = (
                ("MODELARTS_AK", "MODELARTS_SK") if ak else ("MODELARTS_SK", "MODELARTS_AK")
            )
            raise ConfigError(f"{given} is set but {lacking} is missing: set both or neither.")
        if token and ak:
            raise ConfigError(
                "Both MODELARTS_TOKEN and MODELARTS_AK/MODELARTS_SK are set: keep only one kind."
            )
        credentials = Credentials.from_token(token) if token else Credentials.from_aksk(ak, sk)  # type: ignore[arg-type]
        region = get("OS_REGION_NAME")
        if endpoint is None:
            if region is None:
                given = "MODELARTS_TOKEN" if token else "MODELARTS_AK"
                raise ConfigError(
                    f"{given} is set but MODELARTS_ENDPOINT is missing: set it, e.g. to "
                    f"{endpoint_for_region('eu-de')}."
                )
            endpoint = endpoint_for_region(region)
        project_id = project_id or get("OS_PROJECT_ID")
        if project_id is None:
            raise ConfigError(
                "MODELARTS_ENDPOINT/credentials are set but MODELARTS_PROJECT_ID is missing: set "
                "it to your IAM project id."
            )
        return Settings(endpoint, project_id, credentials, region=region)

    if get("OS_CLOUD"):
        return _settings_from_cloud(env, get("OS_CLOUD") or "", endpoint, project_id)

    os_vars = ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD")
    if any(get(name) for name in os_vars):
        return _settings_from_os_vars(get, endpoint, project_id)

    if endpoint is not None or project_id is not None:
        raise ConfigError(
            "MODELARTS_ENDPOINT or MODELARTS_PROJECT_ID is set but no credentials: set "
            "MODELARTS_TOKEN, or MODELARTS_AK and MODELARTS_SK, or OS_CLOUD."
        )
    return None


#: Where :func:`settings_from_env` looks for credentials, in order (for messages).
SEARCHED: Final = (
    "MODELARTS_TOKEN or MODELARTS_AK + MODELARTS_SK (with MODELARTS_ENDPOINT or OS_REGION_NAME, "
    "and MODELARTS_PROJECT_ID)",
    "OS_CLOUD naming a cloud of clouds.yaml (OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack/, "
    "/etc/openstack/)",
    "OS_AUTH_URL + OS_USERNAME + OS_PASSWORD",
)


def _settings_from_os_vars(get, endpoint: str | None, project_id: str | None) -> Settings:
    required = {
        "OS_AUTH_URL": get("OS_AUTH_URL"),
        "OS_USERNAME": get("OS_USERNAME"),
        "OS_PASSWORD": get("OS_PASSWORD"),
        "OS_USER_DOMAIN_NAME": get("OS_USER_DOMAIN_NAME") or get("OS_DOMAIN_NAME"),
    }
    missing = [name for name, value in required.items() if value is None]
    if missing:
        raise ConfigError(
            f"OpenStack variables are set only in part: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing."
        )
    scope_id = project_id or get("OS_PROJECT_ID")  # MODELARTS_PROJECT_ID scopes the token too
    scope_name = get("OS_PROJECT_NAME") or get("OS_TENANT_NAME")
    if scope_id is None and scope_name is None:
        raise ConfigError("OS_USERNAME is set but neither OS_PROJECT_ID nor OS_PROJECT_NAME is.")
    region = get("OS_REGION_NAME")
    auth_url = required["OS_AUTH_URL"]
    assert auth_url is not None
    credentials = Credentials.from_password(
        _validate_auth_url(auth_url, _is_loopback_url(auth_url)),
        required["OS_USERNAME"],  # type: ignore[arg-type]
        required["OS_PASSWORD"],  # type: ignore[arg-type]
        required["OS_USER_DOMAIN_NAME"],  # type: ignore[arg-type]
        project_id=scope_id,
        project_name=None if scope_id else scope_name,
    )
    if endpoint is None:
        if region is None:
            raise ConfigError("OS_REGION_NAME or MODELARTS_ENDPOINT must be set to find ModelArts.")
        endpoint = endpoint_for_region(region, domain=domain_of_iam(auth_url))
    return Settings(endpoint, project_id or scope_id, credentials, region=region)


def _config_dirs(environ: Mapping[str, str]) -> list[Path]:
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    xdg = environ.get("XDG_CONFIG_HOME")
    user_dir = (Path(xdg) if xdg else home / ".config") / "openstack"
    return [Path.cwd(), user_dir, Path("/etc/openstack")]


def _find_file(dirs: list[Path], stem: str) -> Path | None:
    for directory in dirs:
        for suffix in (".yaml", ".yml"):
            candidate = directory / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml  # only when a file is read

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {type(exc).__name__}.") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The error's own text quotes the offending line, which may hold a password.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}.") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} must hold a mapping with a 'clouds' key.")
    return doc


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` into a copy of ``base`` (secure.yaml wins, as in openstacksdk)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _clouds_files(environ: Mapping[str, str]) -> tuple[Path, Path | None]:
    explicit = environ.get("OS_CLIENT_CONFIG_FILE")
    if explicit:
        clouds = Path(explicit).expanduser()
        if not clouds.is_file():
            raise ConfigError(f"OS_CLIENT_CONFIG_FILE names {clouds}, which does not exist.")
    else:
        found = _find_file(_config_dirs(environ), "clouds")
        if found is None:
            raise ConfigError(
                "OS_CLOUD is set but no clouds.yaml was found in ./, ~/.config/openstack/ or "
                "/etc/openstack/: create one or set OS_CLIENT_CONFIG_FILE."
            )
        clouds = found
    secure_env = environ.get("OS_CLIENT_SECURE_FILE")
    if not secure_env:
        return clouds, _find_file([clouds.parent], "secure")
    secure = Path(secure_env).expanduser()
    if not secure.is_file():
        raise ConfigError(f"OS_CLIENT_SECURE_FILE names {secure}, which does not exist.")
    return clouds, secure


def _text(profile: Mapping[str, Any], key: str, where: str) -> str | None:
    value = profile.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        # YAML turns unquoted 0123 or 1e5 into numbers: refuse rather than guess the text.
        raise ConfigError(f"{key} in {where} is not text: put the value in quotes.")
    return value.strip() or None


def _settings_from_cloud(
    environ: Mapping[str, str], name: str, endpoint: str | None, project_id: str | None
) -> Settings:
    clouds_path, secure_path = _clouds_files(environ)
    doc = _load_yaml(clouds_path)
    if secure_path is not None:
        doc = _merge(doc, _load_yaml(secure_path))
    clouds = doc.get("clouds")
    if not isinstance(clouds, dict):
        raise ConfigError(f"{clouds_path} has no 'clouds' mapping.")
    profile = clouds.get(name)
    if not isinstance(profile, dict):
        known = ", ".join(sorted(str(k) for k in clouds)) or "none"
        raise ConfigError(
            f"OS_CLOUD names {name!r}, but {clouds_path} has no such cloud (it has: {known})."
        )
    where = f"cloud {name!r} of {clouds_path}"
    auth = profile.get("auth") or {}
    if not isinstance(auth, dict):
        raise ConfigError(f"'auth' of {where} is not a mapping.")

    # The region as the OpenStack SDK resolves it: the cloud's region_name, its first 'regions'
    # entry, OS_REGION_NAME, then the vendor profile's first region.
    vendor = _text(profile, "profile", where)
    region = _text(profile, "region_name", where) or _text(auth, "region_name", where)
    regions = profile.get("regions")
    if region is None and isinstance(regions, list) and regions:
        first = regions[0]
        region = first.get("name") if isinstance(first, dict) else first
        if not isinstance(region, str):
            raise ConfigError(f"'regions' of {where} does not start with a region name.")
    region = region or _getter(environ)("OS_REGION_NAME")
    if region is None and vendor in VENDOR_PROFILES:
        region = VENDOR_PROFILES[vendor].regions[0]
    if region is not None:
        _validate_region(region)

    def pick(key: str) -> str | None:
        return _text(auth, key, where) or _text(profile, key, where)

    auth_url = pick("auth_url")
    if auth_url is None and vendor in VENDOR_PROFILES and region is not None:
        auth_url = VENDOR_PROFILES[vendor].auth_url.format(region_name=region)
    if endpoint is None:
        if region is None:
            raise ConfigError(
                f"{where} has no region_name: set it, OS_REGION_NAME or MODELARTS_ENDPOINT."
            )
        endpoint = endpoint_for_region(region, domain=domain_of_iam(auth_url))

    scope_id = pick("project_id") or pick("tenant_id")
    auth_type = (_text(profile, "auth_type", where) or "password").lower()
    credentials: Credentials
    if auth_type in ("aksk", "ak/sk") or (auth_type == "password" and (pick("ak") or pick("sk"))):
        ak, sk = pick("ak") or pick("access_key"), pick("sk") or pick("secret_key")
        if not ak or not sk:
            raise ConfigError(f"{where} uses AK/SK but lacks {'sk' if ak else 'ak'}.")
        credentials = Credentials.from_aksk(ak, sk)
    elif auth_type in ("token", "v3token"):
        token = pick("token")
        if not token:
            raise ConfigError(f"{where} uses auth_type {auth_type} but has no auth.token.")
        credentials = Credentials.from_token(token)
    elif auth_type in ("password", "v3password"):
        fields = {
            "auth_url": auth_url,
            "username": pick("username"),
            "password": pick("password"),
            "user_domain_name": pick("user_domain_name") or pick("domain_name"),
        }
        missing = [key for key, value in fields.items() if value is None]
        if missing:
            raise ConfigError(f"{where} lacks auth.{', auth.'.join(missing)}.")
        scope_name = pick("project_name") or pick("tenant_name")
        # MODELARTS_PROJECT_ID overrides the project of the URL and of the token alike: a token
        # scoped to another project would be refused by ModelArts.
        scope_id = project_id or scope_id
        if scope_id is None and scope_name is None:
            raise ConfigError(f"{where} lacks auth.project_id or auth.project_name.")
        assert auth_url is not None
        credentials = Credentials.from_password(
            _validate_auth_url(auth_url, _is_loopback_url(auth_url)),
            fields["username"],  # type: ignore[arg-type]
            fields["password"],  # type: ignore[arg-type]
            fields["user_domain_name"],  # type: ignore[arg-type]
            project_id=scope_id,
            project_name=None if scope_id else scope_name,
        )
    else:
        raise ConfigError(
            f"{where} uses auth_type {auth_type!r}; mavtools supports password, token and aksk."
        )
    project = project_id or scope_id
    if project is None and credentials.kind != "password":
        raise ConfigError(f"{where} lacks project_id: set it or MODELARTS_PROJECT_ID.")
    return Settings(endpoint, project, credentials, region=region)
