"""mavtools: how your teams use a ModelArts training cluster.

Fetch every training-job version of a project as a typed polars frame, keep it in a local cache,
and turn it into answers about queueing, failures and GPU capacity.

Example:
    >>> import mavtools as mt
    >>> client = mt.samples_client()          # bundled synthetic data, no credentials
    >>> df = client.list_versions(workspace_id=mt.ALL_WORKSPACES)
"""

from mavtools.errors import (
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
from mavtools.statuses import OUTCOMES, outcome_of, status_name

__all__ = [
    "OUTCOMES",
    "VERSION_SCHEMA",
    "ApiError",
    "AuthError",
    "CacheError",
    "CacheMissError",
    "ConfigError",
    "IncompleteError",
    "MavtoolsError",
    "NotFoundError",
    "ResponseFormatError",
    "ServerError",
    "ThrottledError",
    "TransportError",
    "outcome_of",
    "status_name",
]
