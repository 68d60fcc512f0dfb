"""One request attempt under its deadlines, and what it means when one cuts it.

The watchdog (`deadlines`) shuts an attempt's socket down; this module says when and why. A
request must complete within `request_timeout_seconds`; a download must have its headers within
it and then keep `min_download_bytes_per_second` over every such period; no attempt runs past
the caller's deadline (the window's); a stop cuts them all. A cut attempt raises what the cut
means (retry it, the window's time is up, the tap is stopping), even when its read seemed to
succeed.
"""

from __future__ import annotations

import contextlib
import time
import typing as t

from tap_sei_time_in_status.api.api_errors import DeadlineExceededError
from tap_sei_time_in_status.api.cancellation import CancelledError, StopSwitch
from tap_sei_time_in_status.api.deadlines import STOPPED, RequestGuard, Watchdog
from tap_sei_time_in_status.api.retries import RetryableError


class Attempt:
    """What the watchdog knows of one request attempt, to judge it when its deadline passes."""

    def __init__(
        self, deadlines: AttemptDeadlines, deadline: float | None, *, download: bool
    ) -> None:
        self.body_started = False
        self.received = 0
        self.checked = 0
        #: Why it was cut: `window`, `headers`, `stalled` or `timeout`.
        self.reason = ""
        self.stalled_bytes = 0
        self._deadlines = deadlines
        self._deadline = deadline
        self._download = download
        self.guard = RequestGuard(deadlines.next_deadline(deadline), self._on_deadline)

    def start_body(self) -> None:
        """Headers are in: from now on the download is judged by its rate."""
        self.body_started = True
        self._deadlines.rearm(self.guard, self._deadline)

    def _on_deadline(self) -> float | None:
        """Cut the attempt at its deadline, unless it is a download that keeps its rate."""
        now = time.monotonic()
        if self._deadline is not None and now >= self._deadline:
            self.reason = "window"
            return None
        if not self._download:
            self.reason = "timeout"
            return None
        if not self.body_started:
            self.reason = "headers"
            return None
        got = self.received - self.checked
        if got < self._deadlines.min_rate * self._deadlines.timeout_seconds:
            self.reason, self.stalled_bytes = "stalled", got
            return None
        self.checked = self.received
        return self._deadlines.next_deadline(self._deadline)


class AttemptDeadlines:
    """The deadlines every attempt of one client runs under, and the watchdog that keeps them."""

    def __init__(
        self, *, timeout_seconds: float, min_download_bytes_per_second: float, stop: StopSwitch
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.min_rate = min_download_bytes_per_second
        self._stop = stop
        self._watchdog = Watchdog()
        self._stop.on_stop(self._watchdog.abort_all)

    def close(self) -> None:
        """End the watchdog's thread (a later attempt starts a new one)."""
        self._watchdog.close()

    def next_deadline(self, deadline: float | None) -> float:
        """One request timeout from now, but never past the caller's `deadline`."""
        soon = time.monotonic() + self.timeout_seconds
        return soon if deadline is None else min(soon, deadline)

    def rearm(self, guard: RequestGuard, deadline: float | None) -> None:
        """Give a watched attempt its next deadline."""
        self._watchdog.rearm(guard, self.next_deadline(deadline))

    @contextlib.contextmanager
    def guarded(
        self, what: str, deadline: float | None, *, download: bool = False
    ) -> t.Iterator[Attempt]:
        """Run one attempt under its deadlines; a cut attempt raises what the cut means.

        Also when the attempt seemed to succeed: a body delimited by the connection's close
        ends, cut short, at the shutdown that cut it.
        """
        attempt = Attempt(self, deadline, download=download)
        guard = attempt.guard
        self._stop.check()
        try:
            with self._watchdog.guarding(guard):
                yield attempt
        except Exception:
            if guard.tripped is None:
                raise
        if guard.tripped is None:
            return
        if guard.tripped == STOPPED or self._stop.stopped:
            raise CancelledError("the tap was told to stop") from None
        timeout = f"request_timeout_seconds ({self.timeout_seconds:g} s)"
        if attempt.reason == "window":
            msg = f"{what} was cut at the window's deadline (window_timeout_seconds)"
            raise DeadlineExceededError(msg) from None
        if attempt.reason == "stalled":
            msg = (
                f"{what} stalled: {attempt.stalled_bytes} byte(s) in {timeout}, below "
                f"min_download_bytes_per_second ({self.min_rate:g}); "
                f"{attempt.received} bytes so far"
            )
            raise RetryableError(msg) from None
        if attempt.reason == "headers":
            msg = f"{what} got no answer headers within {timeout}"
            raise RetryableError(msg) from None
        msg = f"{what} did not complete within {timeout}"
        raise RetryableError(msg) from None
