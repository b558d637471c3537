"""mavtools: how your teams use a ModelArts training cluster.

Fetch every training-job version of a project as a typed polars frame, keep it in a local cache,
and turn it into answers about queueing, failures and GPU capacity.

Example:
    >>> import mavtools as mt
    >>> client = mt.samples_client()          # bundled synthetic data, no credentials
    >>> df = client.list_versions(workspace_id=mt.ALL_WORKSPACES)
"""

from mavtools.analysis import (
    allocation,
    capacity_needed,
    durations,
    failure_rate,
    quality_report,
    queue_wait,
    usage,
    utilization,
)
from mavtools.api.client import ALL_WORKSPACES, Client, RetryPolicy, Timeout
from mavtools.errors import (
    AccessWarning,
    ApiError,
    AuthError,
    CacheError,
    CacheMissError,
    ConfigError,
    IncompleteError,
    MavtoolsError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
    ThrottledError,
    TransportError,
)
from mavtools.frame import VERSION_SCHEMA
from mavtools.local.samples import samples_client
from mavtools.provenance import Provenance, provenance
from mavtools.statuses import OUTCOMES, outcome_of, status_name
from mavtools.store import NEVER_EXPIRE, load_versions, scan_cache

__all__ = [
    "ALL_WORKSPACES",
    "NEVER_EXPIRE",
    "OUTCOMES",
    "VERSION_SCHEMA",
    "AccessWarning",
    "ApiError",
    "AuthError",
    "CacheError",
    "CacheMissError",
    "Client",
    "ConfigError",
    "IncompleteError",
    "MavtoolsError",
    "NotFoundError",
    "Provenance",
    "ResponseFormatError",
    "RetryPolicy",
    "ServerError",
    "ThrottledError",
    "Timeout",
    "TransportError",
    "allocation",
    "capacity_needed",
    "durations",
    "failure_rate",
    "load_versions",
    "outcome_of",
    "provenance",
    "quality_report",
    "queue_wait",
    "samples_client",
    "scan_cache",
    "status_name",
    "usage",
    "utilization",
]


def __getattr__(name: str):  # figures and widgets import plotly/ipywidgets: only when used
    if name in ("figures", "widgets"):
        import importlib

        return importlib.import_module(f"mavtools.views.{name}")
    raise AttributeError(f"module 'mavtools' has no attribute {name!r}")
