"""An export belongs to one window: the ids a run meets, with the window each answers for.

A server (or a cache or proxy in front of it) that answers the creates of several windows with
one export id would have the tap emit one window's rows under several windows, and bookmark
past windows that were never exported. So every id the run meets is recorded with its window
(scope and date range): those the incoming state holds in flight, those resumed, those
created. An id that comes back for another window is a server error for that window, which
stops before anything of it is emitted. The same window meeting its id again is fine: a
request created again after FAILED may be answered with the same export (the API reuses an
identical request's export), and a resumed export keeps its id. The halves of a split window
are other windows.
"""

from __future__ import annotations

import threading
import typing as t

from tap_sei_time_in_status.errors import SeiTapError

if t.TYPE_CHECKING:
    from tap_sei_time_in_status.settings import Scope
    from tap_sei_time_in_status.windows import Window


class ExportIdReusedError(SeiTapError):
    """The server answered a window with the export id of another window."""


class _Request(t.Protocol):
    """What an owner is: a scope and a window (an `ExportRequest`)."""

    @property
    def scope(self) -> Scope: ...

    @property
    def window(self) -> Window: ...


#: (scope, window), how the window is described, how the id came to be its.
_Owner = tuple[tuple["Scope", "Window"], str, str]


class ExportOwners:
    """Export id -> the window(s) it answered for, shared by a run's jobs; thread-safe.

    Ids are Base36, so letter case aside (as the client compares a poll's answer).
    """

    def __init__(self) -> None:
        self._owners: dict[str, list[_Owner]] = {}
        self._lock = threading.Lock()

    def remember(self, export_id: str, request: _Request) -> None:
        """An id the incoming state holds in flight for `request`'s window."""
        with self._lock:
            self._add(export_id, request, "the incoming state holds in flight for")

    def claim(self, export_id: str, request: _Request) -> None:
        """`export_id` answered for `request`'s window; `ExportIdReusedError` if another's."""
        with self._lock:  # checked and recorded at once: two windows may race for an id
            others = self._add(export_id, request, "this run already used for")
        if others:
            _, other, how = others[0]
            msg = (
                f"{_described(request)}: the server answered with export {export_id}, which "
                f"{how} {other}. An export holds one window's rows: nothing of this window "
                "is emitted and its bookmark stays where it was. Run again later; report it "
                "to Harness with the export id if it persists."
            )
            raise ExportIdReusedError(msg)

    def _add(self, export_id: str, request: _Request, how: str) -> list[_Owner]:
        """Record the owner (once); the other owners the id already had. Under the lock."""
        key = (request.scope, request.window)
        owners = self._owners.setdefault(export_id.casefold(), [])
        others = [owner for owner in owners if owner[0] != key]
        if len(others) == len(owners):
            owners.append((key, _described(request), how))
        return others


def _described(request: _Request) -> str:
    return f"{request.scope} window {request.window}"
