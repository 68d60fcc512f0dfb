"""Overall deadlines on HTTP requests, which a socket timeout alone cannot give.

A socket timeout bounds each read, so a server that sends one byte a second (headers or body)
never trips it. Here every request runs under a `RequestGuard`: a watchdog thread shuts the
request's socket down when its deadline passes (or, for a download, when too few bytes came
in the last period), which wakes the thread blocked on it. The same switch aborts every
request in flight when the tap is told to stop, and refuses to send new ones.

The guard must reach the socket that is actually being read, whatever the connection mode:
for an answer that ends the connection (`Connection: close`, or a body delimited by the close)
`http.client` hands the socket over to the response and forgets it (`connection.sock` is None
from then on), and during a TLS handshake the socket being read is not yet the connection's.
So a guard keeps its own references: every socket its connection uses, and a duplicate of each
socket made while it watches (`_new_conn`), whose shutdown ends the TCP connection under
whatever object reads it (TLS, a proxy tunnel, the response). A cut answer may also look
complete to `http.client` (a close-delimited body ends at the shutdown): callers must treat a
tripped guard as a failed request whatever the read returned.

The guard reaches the sockets through urllib3 connection classes that register them with the
guard of the thread that uses them (`GuardedAdapter` installs them on a session).
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
    """The deadline of one request attempt and the sockets it is reading."""

    def __init__(self, deadline: float, on_deadline: OnDeadline | None = None) -> None:
        self.deadline = deadline
        self._on_deadline = on_deadline
        # Re-entrant: the signal handler may run on a thread that holds it.
        self._lock = threading.RLock()
        #: Every socket the attempt's connection used: shut down when the guard trips.
        self._sockets: list[socket.socket] = []
        #: Duplicates of new sockets, made for the guard: also closed when it finishes.
        self._owned: list[socket.socket] = []
        self._done = False
        #: Why the request was cut: `EXPIRED` or `STOPPED`; None while it may go on.
        self.tripped: str | None = None

    def attach(self, sock: object) -> None:
        """Called on the request's thread before it connects or sends; refuses if tripped.

        `sock` is the connection's socket if it has one (a reused connection, or a TLS socket
        once wrapped); the guard keeps it after the connection forgets it.
        """
        with self._lock:
            if isinstance(sock, socket.socket) and all(s is not sock for s in self._sockets):
                self._sockets.append(sock)
            tripped = self.tripped
        if tripped is not None:
            _shut(sock)
            msg = f"request aborted ({tripped})"
            raise ConnectionAbortedError(msg)

    def adopt(self, sock: socket.socket) -> None:
        """Watch a socket just connected, through a duplicate that outlives any wrapping.

        A TLS (or proxy tunnel) wrapper takes the descriptor over and leaves `sock` empty;
        shutting the duplicate down still ends the TCP connection under the wrapper.
        """
        try:
            duplicate = sock.dup()
        except OSError:  # out of descriptors: watch the socket itself
            self.attach(sock)
            return
        with self._lock:
            if self._done:
                duplicate.close()
                return
            self._owned.append(duplicate)
            self._sockets.append(duplicate)
        self.attach(sock)

    def trip(self, reason: str) -> None:
        """Cut the request: its blocked read returns at once with an error (or an end)."""
        with self._lock:  # held while shutting: `finish` cannot close a duplicate meanwhile
            if self.tripped is not None or self._done:
                return
            self.tripped = reason
            for sock in self._sockets:
                _shut(sock)

    def finish(self) -> None:
        """The request is over; its connection may serve the next one untouched."""
        with self._lock:
            self._done = True
            for duplicate in self._owned:
                with contextlib.suppress(OSError):
                    duplicate.close()
            self._owned, self._sockets = [], []

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


def _guard() -> RequestGuard | None:
    return getattr(_current, "guard", None)


def _attach(sock: object) -> None:
    guard = _guard()
    if guard is not None:
        guard.attach(sock)


def _adopt(sock: socket.socket) -> None:
    guard = _guard()
    if guard is not None:
        try:
            guard.adopt(sock)
        except BaseException:
            sock.close()  # tripped while connecting: nobody else holds it yet
            raise


def _shut(sock: object) -> None:
    """Shut the socket down (not close it: another thread is using it).

    The plain socket's shutdown, also for TLS: it only touches the descriptor. A socket
    already closed has no descriptor any more (-1), so this never reaches a reused one.
    """
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _GuardedHTTPConnection(HTTPConnection):
    @override
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _adopt(sock)
        return sock

    @override
    def connect(self) -> None:
        _attach(None)  # tripped already: not even a connection
        super().connect()
        _attach(self.sock)  # for HTTPS, the TLS socket

    @override
    def request(self, *args: t.Any, **kwargs: t.Any) -> None:
        _attach(self.sock)
        super().request(*args, **kwargs)


class _GuardedHTTPSConnection(_GuardedHTTPConnection, HTTPSConnection):
    """The same guards, over TLS: the overrides above run before HTTPSConnection's own."""


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
