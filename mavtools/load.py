"""The public loaders, where the "no credentials -> bundled samples" choice is made.

:func:`load_versions` and :func:`scan_cache` are the entry points ``mavtools`` exports. The cache
(:mod:`mavtools.store`) works with whatever client it is given and knows nothing of the samples;
this module, above it, picks the client when none is given: the one the environment configures
(:mod:`mavtools.api.env`), several for ``OS_CLOUD=a,b``, else the bundled samples
(:mod:`mavtools.local.samples`) with a warning saying so.

Example:
    >>> import mavtools as mt
    >>> df = mt.load_versions(max_age="1h")      # env credentials, else the bundled samples
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

import polars as pl

from mavtools.store import cache
from mavtools.store.cache import scan_cache

__all__ = ["default_client", "load_versions", "scan_cache"]


def default_client(environ: Mapping[str, str] | None = None, *, many: bool = False) -> Any:
    """The client(s) configured in the environment, else the bundled samples.

    ``OS_CLOUD=a,b`` gives one client per named ``clouds.yaml`` profile (a list; ``many=True``
    makes a list of a single profile too, read from the profile alone);
    ``MAVTOOLS_ALLOW_HTTP=1`` lets the configured endpoint be plain ``http://`` (a local server
    such as ``mavtools serve-samples``).
    """
    from mavtools.api.client import Client
    from mavtools.api.env import settings_from_env
    from mavtools.local.samples import samples_client, warn_samples_fallback

    env = os.environ if environ is None else environ
    options: dict[str, Any] = {}
    if env.get("MAVTOOLS_ALLOW_HTTP", "").strip() == "1":
        options["allow_http"] = True
    clouds = [c.strip() for c in env.get("OS_CLOUD", "").split(",") if c.strip()]
    if len(clouds) > 1 or (clouds and many):
        return [Client.from_cloud(cloud, env, **options) for cloud in clouds]
    if settings_from_env(env) is None:
        warn_samples_fallback()  # never a surprise: say so, and where credentials were looked for
        return samples_client()
    return Client.from_env(env, **options)


@functools.wraps(cache.load_versions)
def load_versions(client: Any = None, **options: Any) -> pl.DataFrame:
    """See :func:`mavtools.store.cache.load_versions`; ``client=None`` is :func:`default_client`.

    The bundled samples are read straight through, never cached: they are local already, and
    frozen at their snapshot time, so outputs on them do not depend on the clock.
    """
    from mavtools.local.samples import SamplesClient

    client = client if client is not None else default_client()
    group = client if isinstance(client, list | tuple) else [client]
    if group and all(isinstance(c, SamplesClient) for c in group):
        cache_dir = options.pop("cache_dir", None)
        return cache.VersionCache(cache_dir).load(client, direct="bundled samples", **options)
    return cache.load_versions(client, **options)
