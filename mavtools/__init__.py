"""mavtools: how your teams use a ModelArts training cluster.

Fetch every training-job version of a project as a typed polars frame, keep it in a local cache,
and turn it into answers about queueing, failures and GPU capacity.

Example:
    >>> import mavtools as mt
    >>> client = mt.samples_client()          # bundled synthetic data, no credentials
    >>> df = client.list_versions(workspace_id=mt.ALL_WORKSPACES)
"""

from mavtools.analysis import (
    FinishedShares,
    allocation,
    capacity_needed,
    cost,
    durations,
    failure_rate,
    finished_shares,
    overlapping,
    quality_report,
    queue_wait,
    queue_wait_by_units,
    replay_check,
    simulate,
    size_for,
    usage,
    utilization,
    what_if,
)
from mavtools.api.client import ALL_WORKSPACES, Client, RetryPolicy, Timeout
from mavtools.api.v2 import pool_sizes
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
    "FinishedShares",
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
    "cost",
    "durations",
    "failure_rate",
    "finished_shares",
    "load_versions",
    "outcome_of",
    "overlapping",
    "pool_sizes",
    "provenance",
    "quality_report",
    "queue_wait",
    "queue_wait_by_units",
    "replay_check",
    "samples_client",
    "scan_cache",
    "simulate",
    "size_for",
    "status_name",
    "usage",
    "utilization",
    "what_if",
]


def __getattr__(name: str):  # figures, tables, widgets import plotly etc.: only when used
    if name in ("figures", "tables", "widgets"):
        import importlib

        return importlib.import_module(f"mavtools.views.{name}")
    raise AttributeError(f"module 'mavtools' has no attribute {name!r}")
