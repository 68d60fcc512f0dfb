"""HTTP plumbing of the sandbox: a threading server on loopback and its request handler."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Final, cast
from urllib.parse import parse_qsl, urlsplit

from typing_extensions import Self, Unpack, override

from .api import Exchange, Reply, SandboxApi
from .config import ConfigChanges, SandboxConfig
from .files import iter_file_chunks

MAX_BODY_BYTES: Final = 10 * 1024 * 1024
#: Idle keep-alive connections are closed after this many seconds.
IDLE_TIMEOUT_SECONDS: Final = 30.0
_WILDCARD_HOSTS: Final = frozenset({"0.0.0.0", "::", ""})
_CONNECTION_ERRORS: Final = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class _HttpServer(ThreadingHTTPServer):
    """The socket server; `sandbox` is what its handlers answer with."""

    daemon_threads = True
    sandbox: SandboxServer

    @override
    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        # Client-side disconnects are expected (timeouts, cut downloads); stay quiet.
        error = sys.exc_info()[1]
        if isinstance(error, (*_CONNECTION_ERRORS, TimeoutError)):
            return
        if self.sandbox.config.verbose:
            super().handle_error(request, client_address)


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, lets the sandbox answer it, writes the answer (or misbehaves)."""

    protocol_version = "HTTP/1.1"
    server_version = "SeiSandbox/1.0"
    timeout = IDLE_TIMEOUT_SECONDS
    # Headers and body leave in separate writes: with Nagle's algorithm the body would wait
    # for the client's delayed ACK (40 ms on Linux), on every keep-alive request.
    disable_nagle_algorithm = True

    @property
    def sandbox(self) -> SandboxServer:
        return cast("_HttpServer", self.server).sandbox

    @override
    def setup(self) -> None:
        super().setup()
        self.sandbox._track_connection(self.connection, add=True)

    @override
    def finish(self) -> None:
        try:
            super().finish()
        except _CONNECTION_ERRORS:
            pass
        finally:
            self.sandbox._track_connection(self.connection, add=False)

    def do_GET(self) -> None:
        """Serve polls, downloads, blobs and the health check."""
        self._serve()

    def do_POST(self) -> None:
        """Serve export creation."""
        self._serve()

    def do_PUT(self) -> None:
        """Answer 405 (or 404) like any other unsupported method."""
        self._serve()

    def do_DELETE(self) -> None:
        """Answer 405 (or 404) like any other unsupported method."""
        self._serve()

    def do_PATCH(self) -> None:
        """Answer 405 (or 404) like any other unsupported method."""
        self._serve()

    @override
    def version_string(self) -> str:
        # Not the Python version: nothing a client should learn or depend on.
        return self.server_version

    @override
    def log_message(self, format: str, *args: object) -> None:
        # Quiet unless asked; the request line never holds the key (it travels in a header).
        if self.sandbox.config.verbose:
            super().log_message(format, *args)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError as e:
            self.close_connection = True
            self.send_error(400, str(e))
            return
        split = urlsplit(self.path)
        exchange = Exchange(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            body=body,
            authorization=self.headers.get("authorization"),
            content_type=self.headers.get("Content-Type"),
        )
        reply = self.sandbox.handle(exchange)
        try:
            self._write(reply)
        except (*_CONNECTION_ERRORS, TimeoutError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        """The request body, by Content-Length or chunked transfer coding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ValueError("request body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY_BYTES:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _write(self, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        length = len(reply.body) if reply.length is None else reply.length
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        if reply.drip is not None and reply.drip_headers:
            # What end_headers() would send, dripped instead.
            buffered: list[bytes] = getattr(self, "_headers_buffer", [])
            head = b"".join(buffered) + b"\r\n"
            buffered.clear()
            self._drip(head, reply.drip)
        else:
            self.end_headers()
        body_drip = None if reply.drip_headers else reply.drip
        budget = length if reply.send_bytes is None else reply.send_bytes
        if reply.file is None:
            self._send(reply.body[:budget], body_drip)
        else:
            chunk_size = self.sandbox.config.chunk_size
            for chunk in iter_file_chunks(reply.file, chunk_size, gunzip=reply.gunzip):
                if budget <= 0:
                    break
                self._send(chunk[:budget], body_drip)
                budget -= len(chunk)
        if reply.send_bytes is not None:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, data: bytes, drip: float | None) -> None:
        if drip is None:
            self.wfile.write(data)
        else:
            self._drip(data, drip)

    def _drip(self, data: bytes, interval: float) -> None:
        """One byte every `interval` seconds, until done, the client leaves or we close."""
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            if self.sandbox._stopping.wait(interval):
                raise ConnectionAbortedError("the sandbox is closing")


class SandboxServer(SandboxApi):
    """The sandbox served over HTTP from a daemon thread; use it as a context manager.

    It binds at construction (port 0 picks a free port), so `port` and `base_url` are known
    before `start()`.
    """

    def __init__(
        self, config: SandboxConfig | None = None, **overrides: Unpack[ConfigChanges]
    ) -> None:
        super().__init__(config, **overrides)
        host = self.config.host
        server_class = _HttpServer6 if ":" in host else _HttpServer
        self._http = server_class((host, self.config.port), _Handler)
        self._http.sandbox = self
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._closed = False

    @property
    @override
    def port(self) -> int:
        """The bound port."""
        return int(self._http.server_address[1])

    @property
    def host(self) -> str:
        """The host name clients should use (loopback when bound to a wildcard)."""
        host = self.config.host
        if host in _WILDCARD_HOSTS:
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def root_url(self) -> str:
        """`http://127.0.0.1:<port>`, where `/healthz` answers."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/sei/api` (the configured path), the tap's `base_url`."""
        return f"{self.root_url}{self.config.base_path}"

    def start(self) -> Self:
        """Serve from a daemon thread until `close()`."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._http.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sei-sandbox:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    @override
    def close(self) -> None:
        """Stop serving, close open connections and delete the export files."""
        if self._closed:
            return
        self._closed = True
        super().close()
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
        self._http.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @override
    def _check_config_change(self, config: SandboxConfig) -> None:
        if (config.host, config.port) != (self._config.host, self._config.port):
            msg = "host and port cannot change while the server is bound"
            raise ValueError(msg)

    def _track_connection(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
