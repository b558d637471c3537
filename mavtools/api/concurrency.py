"""Adaptive concurrency: as many requests in flight as the gateway answers quickly, no more.

:class:`Aimd` sizes the window of requests in flight the way TCP sizes its congestion window:

* it starts small (``start`` requests) and doubles per round trip while answers come back fast
  and unthrottled (slow start), then grows by one per round trip (additive increase);
* a ``429`` halves the window (multiplicative decrease) and pauses every new request for the
  answer's ``Retry-After``; a second one soon after (a rate limit, not a lone fault) paces
  request starts to the rate the gateway was seen to allow
  (the successes of the last second), a rate that then grows by 15% a second, and by 0.5% a
  second once near a rate that was refused (10% slower at each further ``429``);
* a latency well above the lowest seen (the server or the path is saturating) shrinks it by a
  quarter, at most once per round trip;
* it never exceeds ``cap`` (the client's ``connections=``).

It hears of answers through :attr:`mavtools.api.transport.Transport.observers`, so the
transport's retries (which honour ``Retry-After`` for the throttled request itself) stay the one
retry loop. :meth:`Aimd.summary` says what it did; readers log it (``-v``).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_START", "Aimd"]

log = logging.getLogger("mavtools")

#: Requests in flight before the first answers came back.
DEFAULT_START: Final = 2
#: A latency this many times the lowest seen (plus a little) counts as "rising".
LATENCY_RISE: Final = 3.0


class Aimd:
    """An AIMD window of requests in flight, with pacing after throttling.

    Args:
        cap: the most requests in flight (the user's ``connections=``).
        start: requests in flight at first.
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(
        self,
        cap: int,
        *,
        start: int = DEFAULT_START,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cap = max(1, cap)
        self.window = float(max(1, min(start, self.cap)))
        self.peak = int(self.window)
        self.slow_start = True
        self.base: float | None = None  # the lowest latency seen
        self.interval = 0.0  # least seconds between request starts (0: not paced)
        self.ceiling: float | None = None  # the paced rate last refused (requests/s)
        self.pause_until = 0.0
        self.throttled = 0
        self.answers = 0
        self._clock = clock
        self._last_start = 0.0
        self._started = 0.0  # when the first answer came
        self._last_throttle = float("-inf")
        self._last_cut = float("-inf")
        self._recent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Requests that may be in flight now."""
        return max(1, int(self.window))

    def next_start(self) -> float:
        """Seconds to wait before the next request may start (pause and pacing); reserves it."""
        with self._lock:
            now = self._clock()
            at = max(now, self.pause_until, self._last_start + self.interval)
            self._last_start = at
            return at - now

    def observe(self, status: int, latency: float, retry_after: float | None) -> None:
        """Take one answer into account (a :attr:`Transport.observers` callback)."""
        with self._lock:
            now = self._clock()
            round_trip = max(self.base or 0.0, 0.01)
            if status == 429:
                self.throttled += 1
                if retry_after is not None:  # every request waits it out, not just this one
                    self.pause_until = max(self.pause_until, now + retry_after)
                again = now - self._last_throttle <= 2.0
                self._last_throttle = now
                if now - self._last_cut >= round_trip:  # one cut per round trip
                    self._last_cut = now
                    self.slow_start = False
                    self.window = max(1.0, self.window / 2)
                    if self.interval:
                        # Paced already: the rate that was refused is the ceiling; go below.
                        self.ceiling = 1.0 / self.interval
                        self.interval *= 1.1
                if not self.interval and again and self._recent:
                    # Throttled twice in a short while (a rate limit, not a lone 429): pace to
                    # what the gateway let through in the last second (over at least half a
                    # second: a read that just began has seen few answers), a lower bound of
                    # what it allows; the rate then grows.
                    while self._recent and self._recent[0] < now - 1.0:
                        self._recent.popleft()
                    seen = min(max(now - self._started, 0.5), 1.0)
                    self.interval = 1.0 / (max(len(self._recent) / seen, 1.0) * 0.95)
                return
            if status >= 500:
                return  # a server error says nothing about the gateway's limit
            self.answers += 1
            self._started = self._started or now
            self._recent.append(now)
            if len(self._recent) > 4096:
                self._recent.popleft()
            self.base = latency if self.base is None else min(self.base, latency)
            rising = latency > LATENCY_RISE * self.base + 0.02
            if rising and now - self._last_cut >= latency:
                self._last_cut = now
                self.slow_start = False
                self.window = max(1.0, self.window * 0.75)
            elif not rising:
                step = 1.0 if self.slow_start else 1.0 / self.window
                self.window = min(float(self.cap), self.window + step)
            if self.interval:
                # Probe for a higher rate: +15% a second below the rate last refused, +0.5%
                # a second near it (each 429 costs a Retry-After pause).
                rate = 1.0 / self.interval
                near = self.ceiling is not None and rate > 0.9 * self.ceiling
                self.interval /= 1 + (0.005 if near else 0.15) / rate
            self.peak = max(self.peak, int(self.window))

    def summary(self) -> str:
        """What the window did, for logs and progress."""
        text = f"up to {self.peak} connections"
        if self.throttled:
            rate = f", paced to {1 / self.interval:.1f} requests/s" if self.interval else ""
            text += f", {self.throttled} throttled answers{rate}"
        return text
