"""The partition state this tap writes, read back with suspicion.

A partition's state holds the bookmark (`window_end` of the last window whose rows were all
emitted) and the exports created but not yet emitted (`in_flight_exports`), so a restarted run
resumes them. A state the tap did not write is refused: silently re-syncing from `start_date`
would hide the mistake and re-export everything.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from tap_sei_time_in_status.errors import SeiTapError
from tap_sei_time_in_status.export_job import ExportRequest
from tap_sei_time_in_status.schema import REPLICATION_KEY
from tap_sei_time_in_status.settings import Scope

IN_FLIGHT_KEY = "in_flight_exports"
IN_FLIGHT_FIELDS = ("export_id", "window_start", "window_end")


class StateError(SeiTapError):
    """The incoming state holds something this tap did not write."""


def check_stream_state(stream_state: t.Mapping[str, t.Any], stream_name: str) -> None:
    """Refuse a stream-wide bookmark: this tap keeps one per partition."""
    if "replication_key_value" in stream_state:
        msg = (
            f"The state of stream {stream_name!r} holds one stream-wide bookmark "
            f"({stream_state.get('replication_key')!r} = "
            f"{stream_state['replication_key_value']!r}); this tap keeps one per partition "
            "(team id or org tree) and did not write it. Fix or clear that state rather than "
            "re-syncing silently from start_date."
        )
        raise StateError(msg)


def read_bookmark(state: t.Mapping[str, t.Any], stream_name: str, scope: Scope) -> dt.date | None:
    """The partition's bookmark, checked to be a `window_end` date this tap wrote."""
    value = state.get("replication_key_value")
    if value is None:
        return None
    key = state.get("replication_key")
    if key != REPLICATION_KEY or not isinstance(value, str):
        msg = (
            f"The state of stream {stream_name!r}, partition {scope}, holds replication_key "
            f"{key!r} = {value!r}, which this tap did not write (it writes {REPLICATION_KEY!r} "
            "as YYYY-MM-DD). Fix or drop that state, e.g. `meltano state clear`, rather than "
            "re-syncing silently from start_date."
        )
        raise StateError(msg)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        msg = (
            f"The state of stream {stream_name!r}, partition {scope}, holds the bookmark "
            f"{value!r}, which is not a YYYY-MM-DD date; fix or clear that state."
        )
        raise StateError(msg) from None


def advance_bookmark(state: dict[str, t.Any], window_end: dt.date) -> None:
    """Move the bookmark to a finished window's end, never backwards."""
    previous = state.get("replication_key_value")
    value = window_end.isoformat()
    if not (isinstance(previous, str) and previous >= value):
        state["replication_key"] = REPLICATION_KEY
        state["replication_key_value"] = value


def in_flight_entries(
    state: t.Mapping[str, t.Any], stream_name: str, scope: Scope
) -> list[dict[str, str]]:
    """The exports an earlier run left in flight for this partition, checked."""
    entries = state.get(IN_FLIGHT_KEY, [])
    valid = isinstance(entries, list) and all(
        isinstance(e, dict)
        and all(isinstance(e.get(k), str) for k in IN_FLIGHT_FIELDS)
        and _is_date(e["window_start"])
        and _is_date(e["window_end"])
        for e in entries
    )
    if not valid:
        msg = (
            f"The state of stream {stream_name!r}, partition {scope}, holds {IN_FLIGHT_KEY} "
            f"{entries!r}, which this tap did not write; fix or clear that state."
        )
        raise StateError(msg)
    return t.cast("list[dict[str, str]]", entries)


def note_in_flight(state: dict[str, t.Any], request: ExportRequest, export_id: str) -> None:
    """Record a created export with its window and a digest of its request."""
    entries = [e for e in state.get(IN_FLIGHT_KEY, []) if not _same_window(e, request)]
    entries.append(
        {
            "export_id": export_id,
            "window_start": request.window.start.isoformat(),
            "window_end": request.window.end.isoformat(),
            "request_digest": request.digest(),
        }
    )
    state[IN_FLIGHT_KEY] = entries


def forget_in_flight(state: dict[str, t.Any], request: ExportRequest) -> None:
    """Drop the entry of a window whose rows have all been emitted."""
    entries = [e for e in state.get(IN_FLIGHT_KEY, []) if not _same_window(e, request)]
    if entries:
        state[IN_FLIGHT_KEY] = entries
    else:
        state.pop(IN_FLIGHT_KEY, None)


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _same_window(entry: t.Mapping[str, t.Any], request: ExportRequest) -> bool:
    return (entry.get("window_start"), entry.get("window_end")) == (
        request.window.start.isoformat(),
        request.window.end.isoformat(),
    )
