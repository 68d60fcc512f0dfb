"""The request budget shared by every request of a sync: never more than it in any minute.

Harness allows 1,000 requests per API key per minute, counted as the server sees them
arrive. A token bucket alone smooths the pace but lets its burst come on top of a minute's
rate (burst + rate in some 60 s), so the limiter also keeps the send times of the last
`per_minute` requests and gives each request a slot at least `WINDOW_SECONDS` plus a margin
after the one `per_minute` requests before it. Any 60 s then hold at most `per_minute`
arrivals, bursts included, as long as no request takes longer than the margin from its slot
to the server. Slots are handed out in order, so a waiting thread sleeps once, to its slot.
Memory: one time per request of the last minute at most.
"""

from __future__ import annotations

import math
import threading
import time
import typing as t
from collections import deque

#: The span of the budget.
WINDOW_SECONDS = 60.0
#: Added to the span: room for the time between a request's slot and its arrival (a late
#: wake-up, a new connection), so that a server counting arrivals never sees one too many.
MARGIN_SECONDS = 1.0


class RateLimiter:
    """At most `per_minute` requests in any minute, paced by a bucket of `burst` tokens."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        window_seconds: float = WINDOW_SECONDS,
        margin_seconds: float = MARGIN_SECONDS,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self._interval = window_seconds / per_minute  # between tokens
        self._tolerance = (max(1, burst) - 1) * self._interval  # how far a burst runs ahead
        self._span = window_seconds
        self._horizon = window_seconds + margin_seconds
        self._limit = max(1, math.floor(per_minute))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # The bucket as a schedule: when the next token would be due with no burst left.
        self._due = clock()
        # The slots of the last `_limit` requests, in order (some may lie ahead).
        self._slots: deque[float] = deque(maxlen=self._limit)

    def acquire(self) -> float:
        """Take the next slot, waiting for it; return the seconds waited."""
        wait = self.reserve() - self._clock()
        if wait > 0:
            self._sleep(wait)
        return max(0.0, wait)

    def reserve(self) -> float:
        """Take the next slot without waiting for it; return its time on `clock`."""
        with self._lock:
            now = self._clock()
            slot = self._next_slot(now)
            self._due = max(self._due, now) + self._interval
            self._slots.append(slot)
            return slot

    def delay(self) -> float:
        """How long a request asked now would wait for its slot (nothing is taken)."""
        with self._lock:
            now = self._clock()
            return max(0.0, self._next_slot(now) - now)

    def used(self) -> int:
        """Requests whose slot lies within the last minute (those still waiting excluded)."""
        with self._lock:
            now = self._clock()
            return sum(1 for slot in reversed(self._slots) if now - self._span < slot <= now)

    def _next_slot(self, now: float) -> float:
        slot = max(now, self._due - self._tolerance)
        if len(self._slots) == self._limit:
            # `_limit` requests before this one, the oldest must be a full horizon back.
            slot = max(slot, self._slots[0] + self._horizon)
        return slot
