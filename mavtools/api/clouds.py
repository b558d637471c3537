"""Settings from an OpenStack ``clouds.yaml``, found and merged as openstacksdk finds and merges it.

openstacksdk (``openstack.config.loader``) looks for three files, each the first of
``clouds``/``secure``/``clouds-public`` + ``.yaml``/``.yml``/``.json`` in its search path: the
working directory, the user's config directory (``$XDG_CONFIG_HOME/openstack``, else
``~/.config/openstack``), ``~/.config/openstack``, the site's (``$XDG_CONFIG_DIRS`` entries, else
``/etc/xdg``, + ``/openstack``) and ``/etc/openstack``. ``OS_CLIENT_CONFIG_FILE`` and
``OS_CLIENT_SECURE_FILE`` name a file that comes first. ``secure.yaml`` is deep-merged over
``clouds.yaml``; a cloud's ``profile:`` is looked up in the ``public-clouds`` of
``clouds-public.yaml``, else among the vendor profiles openstacksdk ships (:data:`VENDOR_PROFILES`),
and the cloud's own keys win over the profile's (``auth`` merged key by key).

Two deliberate differences, both where openstacksdk would read nothing: a file named by
``OS_CLIENT_CONFIG_FILE``/``OS_CLIENT_SECURE_FILE`` that does not exist is an error rather than
skipped, and a ``secure.yaml`` beside the ``clouds.yaml`` is read when none is in the search path.
A file that is not valid YAML is an error too (openstacksdk logs it and reads the next one).
``tests/test_clouds.py`` compares the outcome with ``openstack.config`` on the same files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mavtools.api.config import (
    domain_of_iam,
    endpoint_for_region,
    env_value,
    validate_region,
)
from mavtools.api.credentials import Credentials, Settings, iam_user
from mavtools.errors import ConfigError

__all__ = ["VENDOR_PROFILES", "VendorProfile", "config_dirs", "settings_from_cloud"]

_SUFFIXES: Final = (".yaml", ".yml", ".json")


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


def config_dirs(environ: Mapping[str, str]) -> list[Path]:
    """openstacksdk's search path for clouds.yaml, secure.yaml and clouds-public.yaml, in order."""
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    xdg = environ.get("XDG_CONFIG_HOME")
    user_dir = (Path(xdg) if xdg else home / ".config") / "openstack"
    site = [
        Path(d) / "openstack"
        for d in (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")
        if d
    ]
    dirs = [Path.cwd(), user_dir, home / ".config" / "openstack", *site, Path("/etc/openstack")]
    return list(dict.fromkeys(dirs))  # the same directory twice is read once


def _find_file(dirs: list[Path], stem: str) -> Path | None:
    for directory in dirs:
        for suffix in _SUFFIXES:
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
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON at line {exc.lineno}.") from None
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


def _explicit(environ: Mapping[str, str], variable: str) -> Path | None:
    named = environ.get(variable)
    if not named:
        return None
    path = Path(named).expanduser()
    if not path.is_file():
        raise ConfigError(f"{variable} names {path}, which does not exist.")
    return path


def _clouds_files(environ: Mapping[str, str]) -> tuple[Path, Path | None]:
    dirs = config_dirs(environ)
    clouds = _explicit(environ, "OS_CLIENT_CONFIG_FILE") or _find_file(dirs, "clouds")
    if clouds is None:
        raise ConfigError(
            "OS_CLOUD is set but no clouds.yaml was found in ./, ~/.config/openstack/ or "
            "/etc/openstack/: create one or set OS_CLIENT_CONFIG_FILE."
        )
    secure = (
        _explicit(environ, "OS_CLIENT_SECURE_FILE")
        or _find_file(dirs, "secure")
        or _find_file([clouds.parent], "secure")
    )
    return clouds, secure


def _public_profile(
    environ: Mapping[str, str], vendor: str | None, where: str
) -> dict[str, Any] | None:
    """The ``public-clouds`` entry of the first clouds-public.yaml naming ``vendor``, if any."""
    if vendor is None:
        return None
    path = _find_file(config_dirs(environ), "clouds-public")
    if path is None:
        return None
    public = _load_yaml(path).get("public-clouds")
    profile = public.get(vendor) if isinstance(public, dict) else None
    if profile is None:
        return None  # openstacksdk then falls back to the profiles it ships
    if not isinstance(profile, dict) or not isinstance(profile.get("auth") or {}, dict):
        raise ConfigError(f"The profile {vendor!r} of {path}, used by {where}, is not a mapping.")
    return profile


def _first_region(profile: Mapping[str, Any], where: str) -> str | None:
    """A profile's region: its ``region_name`` (or ``auth.region_name``), else its first ``regions``."""
    auth = profile.get("auth") or {}
    region = _text(profile, "region_name", where) or _text(auth, "region_name", where)
    regions = profile.get("regions")
    if region is None and isinstance(regions, list) and regions:
        first = regions[0]
        region = first.get("name") if isinstance(first, dict) else first
        if not isinstance(region, str):
            raise ConfigError(f"'regions' of {where} does not start with a region name.")
    return region


def _text(profile: Mapping[str, Any], key: str, where: str) -> str | None:
    value = profile.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        # YAML turns unquoted 0123 or 1e5 into numbers: refuse rather than guess the text.
        raise ConfigError(f"{key} in {where} is not text: put the value in quotes.")
    return value.strip() or None


def settings_from_cloud(
    environ: Mapping[str, str], name: str, endpoint: str | None, project_id: str | None
) -> Settings:
    """The settings of cloud ``name`` of clouds.yaml (``MODELARTS_*`` given override it)."""
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
    # entry, OS_REGION_NAME, then the vendor profile's (clouds-public.yaml, else shipped).
    vendor = _text(profile, "profile", where)
    public = _public_profile(environ, vendor, where)
    region = _first_region(profile, where) or env_value(environ, "OS_REGION_NAME")
    if region is None and public is not None:
        region = _first_region(public, f"profile {vendor!r} of clouds-public.yaml")
    elif region is None and vendor in VENDOR_PROFILES:
        region = VENDOR_PROFILES[vendor].regions[0]
    if region is not None:
        validate_region(region)
    if public is not None:
        # openstacksdk's _auth_update: the cloud's keys win, its auth merged over the profile's
        auth = {**(public.get("auth") or {}), **auth}
        profile = {**public, **profile, "auth": auth}

    def pick(key: str) -> str | None:
        return _text(auth, key, where) or _text(profile, key, where)

    auth_url = pick("auth_url")
    if auth_url is None and vendor in VENDOR_PROFILES and public is None and region is not None:
        auth_url = VENDOR_PROFILES[vendor].auth_url
    if auth_url is not None and "{region_name}" in auth_url:
        if region is None:
            raise ConfigError(f"{where} has no region_name for its auth_url {auth_url!r}.")
        auth_url = auth_url.replace("{region_name}", region)  # openstacksdk's str.format
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
        credentials = iam_user(list(fields.values()), scope_id, scope_name)
    else:
        raise ConfigError(
            f"{where} uses auth_type {auth_type!r}; mavtools supports password, token and aksk."
        )
    project = project_id or scope_id
    if project is None and credentials.kind != "password":
        raise ConfigError(f"{where} lacks project_id: set it or MODELARTS_PROJECT_ID.")
    return Settings(endpoint, project, credentials, region=region)
