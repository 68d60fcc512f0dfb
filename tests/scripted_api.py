"""A small SEI export API of the tests' own, on raw sockets, whose answers a test scripts.

The sandbox answers as the API does, with fault switches for what tests need often. Some
answers are too odd for a switch: a header line urllib3 cannot parse, a Location that is no
URL, a create redirected to another host, a file whose labels are of another granularity.
Here each request goes to the test's `script`, which returns the raw bytes to send back (or
None for the API's plain answer: an export per create, COMPLETED at once, and the file that
`csv_of` gives for its window). It listens on two ports of 127.0.0.1: `base_url`, and
`other_url`, another host as far as the tap can tell.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import socket
import threading
import typing as t
from dataclasses import dataclass
from types import TracebackType

from tap_sei_time_in_status.api.client import EXPORTS_PATH

BASE_PATH = "/sei/api"


@dataclass(frozen=True)
class Request:
    """What the server received: on which port, the method, the path, headers, body."""

    port: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def answer(
    status: int = 200, body: bytes = b"", headers: t.Sequence[tuple[str, str]] = ()
) -> bytes:
    """The raw bytes of an answer with a Content-Length."""
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body


def json_answer(value: object, status: int = 200) -> bytes:
    return answer(status, json.dumps(value).encode(), [("Content-Type", "application/json")])


Script = t.Callable[[Request, "ScriptedApi"], "bytes | None"]
CsvOf = t.Callable[[dict[str, t.Any]], bytes]


class ScriptedApi:
    """The server; use it as a context manager."""

    def __init__(self, csv_of: CsvOf, script: Script | None = None) -> None:
        self.csv_of = csv_of
        self.script = script
        self.requests: list[Request] = []
        self._bodies: dict[str, dict[str, t.Any]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
        self._connections: list[socket.socket] = []

    @property
    def port(self) -> int:
        return int(self._listeners[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{BASE_PATH}"

    @property
    def other_url(self) -> str:
        return f"http://127.0.0.1:{self._listeners[1].getsockname()[1]}"

    def __enter__(self) -> ScriptedApi:
        for listener in self._listeners:
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        with self._lock:
            sockets = [*self._listeners, *self._connections]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def plain_answer(self, request: Request) -> bytes:
        """The API's answer: a new export per create, COMPLETED at once, its window's file."""
        path = request.path.split("?", 1)[0]
        if request.method == "POST" and path.endswith(EXPORTS_PATH):
            with self._lock:
                export_id = f"exp_{len(self._bodies) + 1}"
                self._bodies[export_id] = json.loads(request.body)
            return json_answer({"exportId": export_id, "status": "QUEUED"})
        found = re.search(re.escape(EXPORTS_PATH) + r"/([^/]+)(/download)?$", path)
        if found is None or found[1] not in self._bodies:
            return json_answer({"message": "not found"}, 404)
        if found[2]:
            return answer(200, gzip.compress(self.csv_of(self._bodies[found[1]])))
        return json_answer({"exportId": found[1], "status": "COMPLETED"})

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(connection)
            port = int(listener.getsockname()[1])
            threading.Thread(target=self._serve, args=(connection, port), daemon=True).start()

    def _serve(self, connection: socket.socket, port: int) -> None:
        with contextlib.suppress(OSError, ValueError), connection:
            reader = connection.makefile("rb")
            while request := _read_request(reader, port):
                with self._lock:
                    self.requests.append(request)
                script = self.script(request, self) if self.script is not None else None
                connection.sendall(script if script is not None else self.plain_answer(request))


def _read_request(reader: t.BinaryIO, port: int) -> Request | None:
    line = reader.readline(65536)
    if not line.strip():
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := reader.readline(65536)) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    return Request(port, method, path, headers, reader.read(length) if length else b"")
