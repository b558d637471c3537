"""How the stand-in's listings read ``offset`` and ``limit``: one rule, each listing's as data.

Every listing of the stand-in turns its ``offset`` and ``limit`` into the positions it sends with
:meth:`Paging.window`; what differs between the APIs is a :class:`Paging` value, not code.

What each real API does, and so what the stand-in does (decided from the API references in
``shared/reference/`` and the seed page of the v1 listing):

* **v1 versions listing** (``GET /v1/{project}/training-jobs/versions``, ``modelarts-api.md``):
  ``limit`` defaults to 20 and ``0`` means every record in one answer; no maximum is documented,
  so the API itself refuses only what is not a count (a negative ``offset`` or ``limit``: 400
  ``ModelArts.0104``). Quirk 10 of the reference: API gateways commonly cap ``limit`` *without
  saying so* (a page holds fewer records than asked while more remain; ``total_count`` still tells
  the truth). So the v1 listing's maximum is the gateway's (``FakeModelArts(max_limit=)``, none by
  default) and it **caps silently**: the answer still echoes the ``limit`` asked for, and
  ``limit=0`` ("all") is capped too, as a gateway caps any page.
* **v2 job search** (``POST /v2/{project}/training-job-searches``, ``modelarts-v2-training.md``):
  ``limit`` is documented as 1-50, a constraint of the API itself, which validates its request
  body: a ``limit`` of 0 or over 50 is **refused** (400 ``ModelArts.2701``), never capped. No
  default is documented; the stand-in's is 10.
* **v1 workspaces** (``GET /v1/{project}/workspaces``, ``modelarts-api.md`` and the SDK's
  ``ListWorkspaceRequest``): ``offset`` is the start *page*, ``limit`` defaults to 1000; ``0``
  reads as all, as in the versions listing (before this helper: all on page 0, nothing after).
  A negative or non-numeric ``offset``/``limit`` is now the v1 400 (it was a server error).
* The pool workloads (``workloads``) keep their own ``offset``/``limit`` slice: the SDK documents
  ``limit`` 0-500 (default 500) but not what the API does with 0 or more, so there is nothing to
  decide from yet.
* ``offset`` is a record offset or a page index (quirk 1 of both references): ``offset_mode`` is
  ``"record"``, ``"page"`` (0-based) or ``"page1"`` (1-based, v1 only); a page index counts pages
  of the size served (after a cap), as a gateway that caps pages before the API counts them.

Both behaviours were already the stand-in's (a silent cap in the v1 listing, a 400 in the v2
search); they are kept, and are now two values of one rule (three, with the workspaces).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["OFFSET_MODES", "Paging", "PagingError"]

#: What ``offset`` may mean: a record offset, a 0-based or a 1-based page index.
OFFSET_MODES: Final = ("record", "page", "page1")


class PagingError(ValueError):
    """An ``offset`` or ``limit`` the listing refuses (its route answers 400)."""


@dataclass(frozen=True)
class Paging:
    """How one listing pages.

    Attributes:
        default_limit: the ``limit`` when the request names none.
        min_limit: the smallest ``limit`` accepted; with 0, ``limit=0`` asks for every record.
        max_limit: the largest page served (None: no maximum).
        over_max: ``"cap"`` serves at most ``max_limit`` records without saying so (a gateway);
            ``"refuse"`` refuses a larger ``limit`` (an API validating its parameters).
        offset_mode: what ``offset`` counts, one of :data:`OFFSET_MODES`.

    Example:
        >>> Paging(default_limit=10, min_limit=1, max_limit=50, over_max="refuse").window(2, 10, 25)
        range(2, 12)
    """

    default_limit: int
    min_limit: int = 0
    max_limit: int | None = None
    over_max: Literal["cap", "refuse"] = "cap"
    offset_mode: str = "record"

    def window(self, offset: int, limit: int, count: int) -> range:
        """The positions (in the listing's order) of the page ``offset``/``limit`` of ``count``.

        Raises:
            PagingError: ``offset`` is negative, ``limit`` below ``min_limit``, or above
                ``max_limit`` when the listing refuses larger pages.
        """
        if offset < 0 or limit < self.min_limit:
            raise PagingError(f"offset {offset} or limit {limit} out of range")
        served = limit
        if self.max_limit is not None and (limit == 0 or limit > self.max_limit):
            if self.over_max == "refuse":
                raise PagingError(f"limit {limit} over {self.max_limit}")
            served = self.max_limit
        if served == 0:
            return range(count)
        start = {
            "record": offset,
            "page": offset * served,
            "page1": max(offset - 1, 0) * served,
        }[self.offset_mode]
        return range(min(start, count), min(start + served, count))
