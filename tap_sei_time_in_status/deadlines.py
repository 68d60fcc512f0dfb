"""Overall deadlines on HTTP requests, which a socket timeout alone cannot give.

A socket timeout bounds each read, so a server that sends one byte a second (headers or body)
never trips it. Here every request runs under a `RequestGuard`: a watchdog thread shuts the
request's socket down when its deadline passes (or, for a download, when too few bytes came
in the last period), which wakes the thread blocked on it. The same switch aborts every
request in flight when the tap is told to stop, and refuses to send new ones.

The guard reaches the socket through urllib3 connection classes that register themselves with
the guard of the thread that uses them (`GuardedAdapter` installs them on a session).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import typing as t

from requests.adapters import HTTPAdapter
from typing_extensions import override
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

STOPPED = "stopped"
EXPIRED = "expired"

#: Asked when a guard's deadline passes: a new deadline to go on, or None to trip it.
OnDeadline = t.Callable[[], "float | None"]


class RequestGuard:
    """The deadline of one request attempt and the connection it is using."""

    def __init__(self, deadline: float, on_deadline: OnDeadline | None = None) -> None:
        self.deadline = deadline
        self._on_deadline = on_deadline
        # Re-entrant: the signal handler may run on a thread that holds it.
        self._lock = threading.RLock()
        self._connection: HTTPConnection | None = None
        self._done = False
        #: Why the request was cut: `EXPIRED` or `STOPPED`; None while it may go on.
        self.tripped: str | None = None

    def attach(self, connection: HTTPConnection) -> None:
        """Called on the request's thread before it connects or sends; refuses if tripped."""
        with self._lock:
            self._connection = connection
            tripped = self.tripped
        if tripped is not None:
            _shut(connection)
            msg = f"request aborted ({tripped})"
            raise ConnectionAbortedError(msg)

    def trip(self, reason: str) -> None:
        """Cut the request: its blocked read returns at once with an error."""
        with self._lock:
            if self.tripped is not None or self._done:
                return
            self.tripped = reason
            connection = self._connection
        if connection is not None:
            _shut(connection)

    def finish(self) -> None:
        """The request is over; its connection may serve the next one untouched."""
        with self._lock:
            self._done = True
            self._connection = None

    def expire(self) -> bool:
        """The deadline passed: go on with a new one, or trip. True while it goes on."""
        renewed = self._on_deadline() if self._on_deadline is not None else None
        if renewed is None:
            self.trip(EXPIRED)
            return False
        self.deadline = renewed
        return True


class Watchdog:
    """One thread that trips the guards whose deadline passed."""

    def __init__(self, clock: t.Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._guards: set[RequestGuard] = set()
        self._stopped = False
        self._closing = False
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def guarding(self, guard: RequestGuard) -> t.Iterator[RequestGuard]:
        """Watch `guard` and make it the current thread's guard while the block runs."""
        with self._cond:
            if self._stopped:
                guard.tripped = STOPPED
            self._guards.add(guard)
            self._closing = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()
        previous = getattr(_current, "guard", None)
        _current.guard = guard
        try:
            yield guard
        finally:
            _current.guard = previous
            guard.finish()
            with self._cond:
                self._guards.discard(guard)
                if self._closing:
                    self._cond.notify()  # the last one gone: the thread may end now

    def abort_all(self) -> None:
        """Cut every request in flight and refuse new ones (the tap is stopping)."""
        with self._cond:
            self._stopped = True
            guards = list(self._guards)
        for guard in guards:
            guard.trip(STOPPED)

    def close(self) -> None:
        """End the thread once no request is watched (a later request starts a new one).

        The client is done: its thread must not outlive it in a process that goes on.
        """
        with self._cond:
            self._closing = True
            self._cond.notify()

    def rearm(self, guard: RequestGuard, deadline: float) -> None:
        """Give a watched guard a new deadline."""
        with self._cond:
            guard.deadline = deadline
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not (self._closing and not self._guards):
                now = self._clock()
                for guard in [g for g in self._guards if g.deadline <= now]:
                    if not guard.expire():
                        self._guards.discard(guard)
                upcoming = [g.deadline for g in self._guards]
                self._cond.wait(timeout=max(0.01, min(upcoming) - now) if upcoming else None)
            self._thread = None


_current = threading.local()


def _attach(connection: HTTPConnection) -> None:
    guard: RequestGuard | None = getattr(_current, "guard", None)
    if guard is not None:
        guard.attach(connection)


def _shut(connection: HTTPConnection) -> None:
    """Shut the socket down (not close it: another thread is using it)."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            # The plain socket's shutdown, also for TLS: it only touches the descriptor.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _GuardedHTTPConnection(HTTPConnection):
    @override
    def connect(self) -> None:
        _attach(self)
        super().connect()
        _attach(self)  # tripped while connecting: the new socket is shut at once

    @override
    def request(self, *args: t.Any, **kwargs: t.Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)


class _GuardedHTTPSConnection(HTTPSConnection):
    @override
    def connect(self) -> None:
        _attach(self)
        super().connect()
        _attach(self)

    @override
    def request(self, *args: t.Any, **kwargs: t.Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _GuardedHTTPConnectionPool,
    "https": _GuardedHTTPSConnectionPool,
}


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections obey the current thread's `RequestGuard`."""

    @override
    def init_poolmanager(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Pools of guarded connections."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    @override
    def proxy_manager_for(self, proxy: str, **proxy_kwargs: t.Any) -> PoolManager:
        """Guarded connections through a proxy too."""
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager
