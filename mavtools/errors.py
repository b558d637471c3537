"""Every exception mavtools raises, under one base class.

::

    MavtoolsError
    ├── ConfigError             bad or missing settings, invalid argument values
    ├── ApiError                the API answered with an error (HTTP status and/or is_success: false)
    │   ├── AuthError           401 / 403: token expired, wrong project, bad AK/SK
    │   ├── NotFoundError       404: wrong endpoint or project id
    │   ├── ThrottledError      429 after all retries
    │   └── ServerError         5xx after all retries
    ├── TransportError          no usable answer: connection refused/reset, timeout, endless body
    ├── ResponseFormatError     an answer that is not the documented JSON (HTML page, truncated, wrong types)
    ├── IncompleteError         paging could not prove that every version was read exactly once
    └── CacheError              the local cache cannot serve the request
        └── CacheMissError      offline and nothing cached for that query

    UserWarning
    ├── AccessWarning           part of what was asked could not be read (permissions, a
    │                           failing project); the result holds the rest
    └── SamplesWarning          no credentials were found, so the bundled samples are served

Messages are one sentence of what happened plus what to do. They never contain a token, AK or SK:
URLs are stored without query secrets and headers are never included.
"""

from __future__ import annotations

__all__ = [
    "AccessWarning",
    "ApiError",
    "AuthError",
    "CacheError",
    "CacheMissError",
    "ConfigError",
    "IncompleteError",
    "MavtoolsError",
    "NotFoundError",
    "ResponseFormatError",
    "SamplesWarning",
    "ServerError",
    "ThrottledError",
    "TransportError",
]


class MavtoolsError(Exception):
    """Base class of all mavtools errors."""


class ConfigError(MavtoolsError, ValueError):
    """Settings are missing or invalid (credentials, endpoint, argument values)."""


class ApiError(MavtoolsError):
    """The API answered with an error.

    Attributes:
        http_status: the HTTP status code of the answer.
        error_code: the ModelArts error code (``ModelArts.0203``), or None.
        error_message: the API's own message, or None.
        url: the request URL (never carries secrets).
        hint: what the user can do about it.
        service: who answered ("ModelArts", or "IAM" for token requests).
    """

    def __init__(
        self,
        http_status: int,
        error_code: str | None,
        error_message: str | None,
        url: str,
        hint: str = "",
        service: str = "ModelArts",
    ) -> None:
        self.service = service
        self.http_status = http_status
        self.error_code = error_code
        self.error_message = error_message
        self.url = url
        self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        what = f"{self.service} answered HTTP {self.http_status}"
        if self.error_code:
            what += f" {self.error_code}"
        if self.error_message:
            what += f" ({self.error_message})"
        what += f" for {self.url}"
        return f"{what}. {self.hint}".strip() if self.hint else what + "."

    def __reduce__(self):  # keep pickling (multiprocessing) working with the custom __init__
        return (
            self.__class__,
            (
                self.http_status,
                self.error_code,
                self.error_message,
                self.url,
                self.hint,
                self.service,
            ),
        )


class AuthError(ApiError):
    """401 or 403: the credentials were refused."""


class NotFoundError(ApiError):
    """404: the endpoint or the project id is wrong."""


class ThrottledError(ApiError):
    """429: the API kept throttling after every retry."""


class ServerError(ApiError):
    """5xx: the API kept failing after every retry."""


class TransportError(MavtoolsError):
    """No usable answer arrived (connection refused or reset, timeout, body too large).

    Attributes:
        cause: what failed, one of ``"refused"`` (nothing listens there), ``"dns"`` (the host
            name does not resolve), ``"tls"`` (certificate not verified), ``"timeout"`` (no
            connection or no bytes in time), ``"stalled"`` (an answer that never finished),
            ``"deadline"`` (the call ran out of time), ``"reset"`` (the connection was cut),
            ``"too-large"`` (an oversized answer) or ``"other"``.
    """

    def __init__(self, message: str, *, cause: str = "other") -> None:
        self.cause = cause
        super().__init__(message)

    def __reduce__(self):  # keep pickling working with the keyword argument
        return (_transport_error, (str(self), self.cause))


def _transport_error(message: str, cause: str) -> TransportError:
    return TransportError(message, cause=cause)


class ResponseFormatError(MavtoolsError):
    """An answer was not the documented JSON (an HTML error page, a truncated body, wrong types).

    Attributes:
        transient: True when a retry may help (empty, truncated or HTML bodies from a gateway);
            False when the body is well-formed but breaks the contract (wrong types, bad values).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient

    def __reduce__(self):
        return (_rebuild_format_error, (str(self), self.transient))


def _rebuild_format_error(message: str, transient: bool) -> ResponseFormatError:
    return ResponseFormatError(message, transient=transient)


class IncompleteError(MavtoolsError):
    """Paging could not prove that every version was read exactly once."""


class CacheError(MavtoolsError):
    """The local cache cannot serve the request (damaged entry, unwritable directory)."""


class CacheMissError(CacheError):
    """Offline mode was asked for and nothing is cached for that query."""


class AccessWarning(UserWarning):
    """Part of a load could not be read (a refused workspace, a failing project); the rest is
    returned, and the frame's provenance lists what is missing. ``strict=True`` makes it an error.
    """


class SamplesWarning(UserWarning):
    """No ModelArts credentials were found, so the bundled synthetic samples are served instead."""
