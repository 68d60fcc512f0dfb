"""A token bucket shared by every request of a sync.

Harness allows 1,000 requests per API key per minute. With several exports polled at once the
tap must stay well under that whatever the poll settings, so every request takes a token;
a burst is allowed, a sustained rate is not.
"""

from __future__ import annotations

import threading
import time
import typing as t


class RateLimiter:
    """At most `per_minute` requests a minute on average, bursts of up to `burst`."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token, waiting for one if needed; return the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            self._tokens -= 1.0
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait
