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
    backtest_forecast,
    backtest_start,
    capacity_needed,
    chargeback,
    cost,
    demand,
    durations,
    failure_rate,
    fault_hours,
    finished_shares,
    forecast,
    overlapping,
    predict_start,
    quality_report,
    queue_length,
    queue_wait,
    queue_wait_by_units,
    replay_check,
    simulate,
    size_for,
    sizing,
    usage,
    utilization,
    what_if,
)
from mavtools.api.client import ALL_WORKSPACES, Client, RetryPolicy, Timeout
from mavtools.api.v2 import pool_sizes
from mavtools.api.workloads import QueueNow, queue_now
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
from mavtools.load import load_versions, scan_cache
from mavtools.local.samples import samples_client
from mavtools.provenance import Provenance, provenance
from mavtools.statuses import OUTCOMES, outcome_of, status_name
from mavtools.store import NEVER_EXPIRE

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
    "QueueNow",
    "ResponseFormatError",
    "RetryPolicy",
    "ServerError",
    "ThrottledError",
    "Timeout",
    "TransportError",
    "allocation",
    "backtest_forecast",
    "backtest_start",
    "capacity_needed",
    "chargeback",
    "cost",
    "demand",
    "durations",
    "failure_rate",
    "fault_hours",
    "finished_shares",
    "forecast",
    "load_versions",
    "outcome_of",
    "overlapping",
    "pool_sizes",
    "predict_start",
    "provenance",
    "quality_report",
    "queue_length",
    "queue_now",
    "queue_wait",
    "queue_wait_by_units",
    "replay_check",
    "samples_client",
    "scan_cache",
    "simulate",
    "size_for",
    "sizing",
    "status_name",
    "usage",
    "utilization",
    "what_if",
]


def __getattr__(name: str):  # the views import plotly etc.: only when used
    if name in ("decision", "distributions", "style", "tables", "timeseries", "widgets"):
        import importlib

        return importlib.import_module(f"mavtools.views.{name}")
    raise AttributeError(f"module 'mavtools' has no attribute {name!r}")
