"""One switch that tells every thread of the tap to stop, and waits it can cut short.

A signal is handled on the main thread only; export threads may be sleeping between polls,
waiting out a `Retry-After`, or blocked in a socket read. They all wait on this switch (or
have their socket shut down by `deadlines`), so a stop ends them within moments and no new
request leaves after it.
"""

from __future__ import annotations

import threading
import typing as t


class CancelledError(Exception):
    """Raised in a thread that was waiting or about to send when the tap was told to stop."""


class StopSwitch:
    """Set once, on SIGTERM/SIGINT; callbacks registered before or after it run once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        # Re-entrant: the signal handler may run on a thread that holds it.
        self._lock = threading.RLock()
        self._on_stop: list[t.Callable[[], None]] = []

    @property
    def stopped(self) -> bool:
        """Whether the tap was told to stop."""
        return self._event.is_set()

    def stop(self) -> None:
        """Wake every waiting thread and run the stop callbacks (e.g. abort open requests)."""
        with self._lock:
            self._event.set()
            callbacks = list(self._on_stop)
        for callback in callbacks:
            callback()

    def on_stop(self, callback: t.Callable[[], None]) -> None:
        """Run `callback` when the switch is set (at once if it already is)."""
        with self._lock:
            self._on_stop.append(callback)
            already = self._event.is_set()
        if already:
            callback()

    def check(self) -> None:
        """Raise `CancelledError` once the switch is set."""
        if self._event.is_set():
            raise CancelledError("the tap was told to stop")

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or raise `CancelledError` as soon as the switch is set."""
        if self._event.wait(max(0.0, seconds)):
            raise CancelledError("the tap was told to stop")
