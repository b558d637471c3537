"""What the stand-in server's routes take and give: one request, one answer, the error bodies.

Shared by the v1 gateway (:mod:`~mavtools.local.fake.server`), its listings and extensions
(:mod:`~mavtools.local.fake.v1`, :mod:`~mavtools.local.fake.v2`,
:mod:`~mavtools.local.fake.workloads`) and the front ends that send answers
(:mod:`~mavtools.local.fake.frontends`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "GATEWAY_PAGE",
    "NOT_FOUND",
    "Answer",
    "Handler",
    "Request",
    "error",
    "not_authorized",
]

#: The HTML page a gateway (nginx) sends for 502 and, as a fault, with 200.
GATEWAY_PAGE: Final = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    b"</center><hr><center>nginx</center></body></html>"
)
#: The gateway's 404 body for a path no route answers (or an API not published, as v1 retired).
NOT_FOUND: Final = json.dumps(
    {
        "error_code": "APIGW.0101",
        "error_msg": "The API does not exist or has not been published in the environment",
    }
).encode()


@dataclass
class Answer:
    """What :meth:`FakeModelArts.handle` decided to send.

    ``action`` is ``"send"`` for a normal answer, or one of the socket-level faults ``"reset"``,
    ``"timeout"``, ``"truncate"``, ``"endless"`` that only the HTTP front end can act out.
    """

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "send"
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request as a route handler sees it (``query`` parsed, blank values kept)."""

    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes


#: A route handler: the request and the match of its path pattern -> the answer.
Handler = Callable[[Request, "re.Match[str]"], Answer]


def not_authorized(action: str) -> Answer:
    """The v1 403 ``ModelArts.0108`` for a token without the permission ``action``."""
    return error(
        403, "ModelArts.0108", f"You are not authorized to perform the ({action}) operation."
    )


def error(status: int, code: str, message: str, extra: Mapping[str, str] | None = None) -> Answer:
    """A v1 error body (``is_success``, ``error_code``, ``error_message``), ``extra`` headers."""
    body = json.dumps({"is_success": False, "error_code": code, "error_message": message}).encode()
    return Answer(status, body, {"Content-Type": "application/json", **(extra or {})})
