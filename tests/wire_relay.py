"""A raw-socket HTTP relay in front of the sandbox that answers in any connection mode, and drips.

The sandbox (`http.server`) always answers with a Content-Length on a connection it keeps
open. Real servers and proxies also answer with `Connection: close`, with a body that only the
connection's close delimits, or chunked; and a hostile one sends what it sends one byte at a
time. The relay forwards each request to the sandbox, reads its whole answer, and writes it
back the way a `Drip` says: for one operation (create, poll or download), in one mode, with
the headers or the body sent one byte every `interval` seconds. Everything else goes back at
once, with a Content-Length, on a connection kept open. With `tls`, the relay speaks HTTPS.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import threading
import typing as t
from dataclasses import dataclass
from types import TracebackType

from tap_sei_time_in_status.api.client import EXPORTS_PATH
from tap_sei_time_in_status.sandbox import SandboxServer

Mode = t.Literal["keep-alive", "close", "close-delimited", "chunked"]
Phase = t.Literal["headers", "body"]
Operation = t.Literal["create", "poll", "download"]
MODES: tuple[Mode, ...] = t.get_args(Mode)
PHASES: tuple[Phase, ...] = t.get_args(Phase)
OPERATIONS: tuple[Operation, ...] = t.get_args(Operation)

#: Headers the relay sets itself, by mode; the sandbox's are dropped.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass(frozen=True)
class Drip:
    """Answer `operation` in `mode`, its `phase` sent one byte every `interval` seconds."""

    operation: Operation
    mode: Mode
    phase: Phase
    interval: float


def operation_of(method: str, path: str) -> Operation | None:
    """Which API call a request is, from its method and path."""
    path = path.split("?", 1)[0]
    if method == "POST" and path.endswith(EXPORTS_PATH):
        return "create"
    if method == "GET" and re.search(re.escape(EXPORTS_PATH) + r"/[^/]+/download$", path):
        return "download"
    if method == "GET" and re.search(re.escape(EXPORTS_PATH) + r"/[^/]+$", path):
        return "poll"
    return None


def framed(head: bytes, body: bytes, mode: Mode) -> tuple[bytes, bytes]:
    """The header block and body bytes of an answer in `mode`."""
    if mode == "keep-alive":
        extra = f"Content-Length: {len(body)}\r\n"
    elif mode == "close":
        extra = f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    elif mode == "close-delimited":
        extra = "Connection: close\r\n"
    else:
        extra = "Transfer-Encoding: chunked\r\n"
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
    return head + extra.encode() + b"\r\n", body


class WireRelay:
    """The relay, on a free port of 127.0.0.1; use it as a context manager."""

    def __init__(
        self, upstream: SandboxServer, drip: Drip | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.upstream = upstream
        self.drip = drip
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        #: Answers sent dripping, by operation.
        self.dripped: dict[str, int] = {}

    @property
    def base_url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        port = self._listener.getsockname()[1]
        return f"{scheme}://127.0.0.1:{port}{self.upstream.config.base_path}"

    def __enter__(self) -> WireRelay:
        threading.Thread(target=self._accept, name="wire-relay", daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            if self._tls is not None:
                connection = self._tls.wrap_socket(connection, server_side=True)
        except OSError:
            connection.close()
            return
        with self._lock:
            self._connections.add(connection)
        try:
            reader = connection.makefile("rb")
            while not self._stopping.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                if not self._answer(connection, *request):
                    return
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._connections.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()

    def _answer(
        self,
        connection: socket.socket,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
    ) -> bool:
        """Relay one request; False when the connection ends with this answer."""
        upstream = http.client.HTTPConnection(self.upstream.host, self.upstream.port, timeout=10)
        try:
            forwarded = {k: v for k, v in headers.items() if k not in _FRAMING | {"host"}}
            upstream.request(method, path, body=body or None, headers=forwarded)
            answer = upstream.getresponse()
            payload = answer.read()
            head = f"HTTP/1.1 {answer.status} {answer.reason}\r\n".encode()
            for name, value in answer.getheaders():
                if name.lower() not in _FRAMING:
                    head += f"{name}: {value}\r\n".encode()
        finally:
            upstream.close()
        drip = self.drip
        if drip is None or drip.operation != operation_of(method, path):
            connection.sendall(b"".join(framed(head, payload, "keep-alive")))
            return True
        with self._lock:
            self.dripped[drip.operation] = self.dripped.get(drip.operation, 0) + 1
        head, payload = framed(head, payload, drip.mode)
        self._send(connection, head, drip.interval if drip.phase == "headers" else None)
        self._send(connection, payload, drip.interval if drip.phase == "body" else None)
        if drip.mode in ("close", "close-delimited"):
            connection.shutdown(socket.SHUT_RDWR)
            return False
        return True

    def _send(self, connection: socket.socket, data: bytes, interval: float | None) -> None:
        if not interval:
            connection.sendall(data)
            return
        for i in range(len(data)):
            connection.sendall(data[i : i + 1])
            if self._stopping.wait(interval):
                raise ConnectionAbortedError("the relay is closing")


def _read_request(reader: t.BinaryIO) -> tuple[str, str, dict[str, str], bytes] | None:
    """Method, path, headers (lower-case names) and body of the next request, or None at EOF."""
    line = reader.readline(65536)
    if not line.strip():
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = reader.readline(65536)
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    return method, path, headers, reader.read(length) if length else b""


class DrippingTunnel:
    """A TCP tunnel to `target` that passes the server's bytes on one every `interval` seconds.

    In front of a TLS server it drips the handshake itself: no HTTP phase has begun yet.
    """

    def __init__(self, target: tuple[str, int], interval: float) -> None:
        self._target = target
        self._interval = interval
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def __enter__(self) -> DrippingTunnel:
        threading.Thread(target=self._accept, name="dripping-tunnel", daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                server = socket.create_connection(self._target, timeout=10)
            except OSError:
                return
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, None), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(server, client, self._interval), daemon=True
            ).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, interval: float | None) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 if interval else 65536):
                sink.sendall(data)
                if interval and self._stopping.wait(interval):
                    return
