"""Settings from the environment: :func:`settings_from_env` and the variables it reads, in order.

1. ``MODELARTS_ENDPOINT``, ``MODELARTS_PROJECT_ID`` and ``MODELARTS_TOKEN`` or
   ``MODELARTS_AK`` + ``MODELARTS_SK``;
2. else ``OS_CLOUD`` naming a profile of ``clouds.yaml`` (merged with ``secure.yaml`` and
   ``clouds-public.yaml``, found as openstacksdk finds them: see :mod:`mavtools.api.clouds`);
3. else the OpenStack CLI variables ``OS_AUTH_URL``, ``OS_USERNAME``, ``OS_PASSWORD``,
   ``OS_USER_DOMAIN_NAME``, ``OS_PROJECT_ID`` or ``OS_PROJECT_NAME``, ``OS_REGION_NAME``.

``MODELARTS_ENDPOINT`` and ``MODELARTS_PROJECT_ID`` override what a profile implies. Nothing is
read at import time. Secrets never appear in ``repr`` or in error messages.

Example:
    >>> from mavtools.api.config import endpoint_for_region
    >>> settings = settings_from_env({"MODELARTS_ENDPOINT": endpoint_for_region("eu-de"),
    ...     "MODELARTS_PROJECT_ID": "0a1b2c", "MODELARTS_TOKEN": "MII..."})
    >>> settings.credentials
    Credentials(kind='token', token='***')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from mavtools.api.clouds import settings_from_cloud
from mavtools.api.config import (
    allow_http_from_env,
    domain_of_iam,
    endpoint_for_region,
    env_value,
    is_loopback_url,
    validate_endpoint,
)
from mavtools.api.credentials import Credentials, Settings, iam_user
from mavtools.errors import ConfigError

__all__ = ["SEARCHED", "settings_from_env"]


def _getter(environ: Mapping[str, str]):
    def get(name: str) -> str | None:
        return env_value(environ, name)

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
            endpoint, allow_http=is_loopback_url(endpoint) or allow_http_from_env(env)
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
        return settings_from_cloud(env, get("OS_CLOUD") or "", endpoint, project_id)

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
    credentials = iam_user(list(required.values()), scope_id, scope_name)
    if endpoint is None:
        if region is None:
            raise ConfigError("OS_REGION_NAME or MODELARTS_ENDPOINT must be set to find ModelArts.")
        endpoint = endpoint_for_region(region, domain=domain_of_iam(auth_url))
    return Settings(endpoint, project_id or scope_id, credentials, region=region)
