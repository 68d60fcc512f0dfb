"""The partition state this tap writes, read back with suspicion.

A partition's state holds the bookmark (`window_end` of the last window whose rows were all
emitted) and the exports created but not yet emitted (`in_flight_exports`), so a restarted run
resumes them. A state the tap did not write is refused: silently re-syncing from `start_date`
would hide the mistake and re-export everything.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import typing as t

from tap_sei_time_in_status.api.export_ids import EXPORT_ID_RULE, is_valid_export_id
from tap_sei_time_in_status.errors import SeiTapError
from tap_sei_time_in_status.export.job import ExportRequest
from tap_sei_time_in_status.log_limits import RepeatedWarnings, short
from tap_sei_time_in_status.parsing.schema import LONG_STREAM_NAME, REPLICATION_KEY, STREAM_NAME
from tap_sei_time_in_status.settings import FIRST_YEAR, Scope
from tap_sei_time_in_status.windows import Window

IN_FLIGHT_KEY = "in_flight_exports"
IN_FLIGHT_FIELDS = ("export_id", "window_start", "window_end")


class StateError(SeiTapError):
    """The incoming state holds something this tap did not write."""


#: What a state of this tap looks like, for the messages that refuse another shape.
EXPECTED_STATE = (
    f'{{"bookmarks": {{"{STREAM_NAME}": {{"partitions": [{{"context": {{"scope_type": '
    f'"team", "scope_id": "..."}}, "replication_key": "{REPLICATION_KEY}", '
    '"replication_key_value": "YYYY-MM-DD"}]}}} (or {} for a first run)'
)
STATE_KEYS = ("bookmarks",)
CONTEXT_KEYS = ("scope_type", "scope_id")


def check_state_shape(state: object) -> None:
    """Refuse a state of a shape this tap never writes, before singer-sdk reads it as empty.

    singer-sdk looks for `bookmarks` and ignores anything else, so a STATE message line saved
    as is, `{"foo": 1}` or another tap's state would export everything again from
    `start_date`, with exit code 0.
    """
    problem = _shape_problem(state)
    if problem:
        msg = (
            f"The state given to the tap (--state) {problem}; this tap expects the state it "
            f"wrote: {EXPECTED_STATE}. Fix or clear that state rather than re-syncing silently "
            "from start_date."
        )
        raise StateError(msg)


def _shape_problem(state: object) -> str | None:
    """What is wrong with the state's shape, or None."""
    if not isinstance(state, dict):
        return f"is a JSON {_json_type(state)}, not an object"
    if state.get("type") == "STATE" and "value" in state:
        return (
            "is a Singer STATE message (a line of the tap's output), not a state: save its "
            '"value" as the state'
        )
    if "singer_state" in state:
        return 'is a state as Meltano stores it: give the tap its "singer_state"'
    others = [k for k in state if k not in STATE_KEYS]
    if others:
        return f"holds {_names(others)}, which this tap never writes"
    return _bookmarks_problem(state.get("bookmarks", {}))


def _bookmarks_problem(bookmarks: object) -> str | None:
    if not isinstance(bookmarks, dict):
        return f'holds "bookmarks" as a JSON {_json_type(bookmarks)}, not an object of streams'
    streams = (STREAM_NAME, LONG_STREAM_NAME)
    others = [k for k in bookmarks if k not in streams]
    if others:
        return f"holds bookmarks of the stream(s) {_names(others)}, not of {_names(streams)}"
    for name, stream_state in bookmarks.items():
        problem = _stream_problem(stream_state)
        if problem:
            return f"holds, for stream {name!r}, {problem}"
    return None


def _stream_problem(stream_state: object) -> str | None:
    if not isinstance(stream_state, dict):
        return f"a JSON {_json_type(stream_state)}, not an object"
    partitions = stream_state.get("partitions", [])
    if not isinstance(partitions, list):
        return f'"partitions" as a JSON {_json_type(partitions)}, not a list'
    for partition in partitions:
        context = partition.get("context") if isinstance(partition, dict) else None
        if not (
            isinstance(context, dict)
            and sorted(context) == sorted(CONTEXT_KEYS)
            and all(isinstance(v, str) for v in context.values())
        ):
            shown = json.dumps(partition, default=str)
            shown = shown if len(shown) <= 200 else shown[:200] + "..."
            return f"the partition {shown}, whose context is not {_names(CONTEXT_KEYS)}"
    return None


def _names(names: t.Iterable[str]) -> str:
    return ", ".join(repr(n[:80]) for n in names)


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number"}
    names[float] = "number"
    return "null" if value is None else names.get(type(value), type(value).__name__)


def check_stream_state(stream_state: t.Mapping[str, t.Any], stream_name: str) -> None:
    """Refuse a stream-wide bookmark: this tap keeps one per partition."""
    if "replication_key_value" in stream_state:
        msg = (
            f"The state of stream {stream_name!r} holds one stream-wide bookmark "
            f"({_shown(stream_state.get('replication_key'))} = "
            f"{_shown(stream_state['replication_key_value'])}); this tap keeps one per partition "
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
            f"{_shown(key)} = {_shown(value)}, which this tap did not write (it writes "
            f"{REPLICATION_KEY!r} as YYYY-MM-DD). Fix or drop that state, e.g. `meltano state "
            "clear`, rather than re-syncing silently from start_date."
        )
        raise StateError(msg)
    try:
        bookmark = dt.date.fromisoformat(value)
    except ValueError:
        bookmark = None
    if bookmark is None or bookmark.year < FIRST_YEAR:
        msg = (
            f"The state of stream {stream_name!r}, partition {scope}, holds the bookmark "
            f"{_shown(value)}, which is not a YYYY-MM-DD date from {FIRST_YEAR} on; fix or clear "
            "that state."
        )
        raise StateError(msg)
    return bookmark


def checked_bookmark(
    stream_state: t.Mapping[str, t.Any],
    state: dict[str, t.Any],
    stream_name: str,
    scope: Scope,
    warn: t.Callable[[str], None],
) -> tuple[dt.date | None, bool]:
    """The partition's bookmark, checked, clamped to today; and whether the state changed."""
    check_stream_state(stream_state, stream_name)
    bookmark = read_bookmark(state, stream_name, scope)
    today = utc_today()
    if bookmark is None or not clamp_future_bookmark(state, bookmark, today):
        return bookmark, False
    warn(
        f"The state of stream {stream_name!r}, partition {scope}, holds the bookmark "
        f"{bookmark.isoformat()}, which is after today ({today.isoformat()} UTC): clamped to "
        f"today, so the windows from {today.isoformat()} minus lookback_days are exported again"
    )
    return today, True


def utc_today() -> dt.date:
    """Today in UTC, the day no bookmark may pass."""
    return dt.datetime.now(dt.timezone.utc).date()


def clamp_future_bookmark(
    state: dict[str, t.Any], bookmark: dt.date, today: dt.date
) -> dt.date | None:
    """Today when the bookmark lies after it (and the state says so from now on), else None.

    A future bookmark would make every later run export nothing and succeed.
    """
    if bookmark <= today:
        return None
    state["replication_key_value"] = today.isoformat()
    return today


def advance_bookmark(state: dict[str, t.Any], window_end: dt.date, today: dt.date) -> None:
    """Move the bookmark to a finished window's end, never backwards and never past today.

    A window that ends after today is still open: bookmarking today has the next run export
    it again.
    """
    previous = state.get("replication_key_value")
    value = min(window_end, today).isoformat()
    if not (isinstance(previous, str) and previous >= value):
        state["replication_key"] = REPLICATION_KEY
        state["replication_key_value"] = value


def in_flight_entries(
    state: dict[str, t.Any],
    stream_name: str,
    scope: Scope,
    warn: t.Callable[[str], None],
    *,
    secret_in: t.Callable[[str], bool] = lambda _: False,
) -> list[dict[str, str]]:
    """The exports an earlier run left in flight for this partition, checked.

    An entry whose export id the tap would not accept today (an earlier version stored ids
    unchecked) is dropped with a warning: its window is exported afresh instead of the run
    failing on it every time.
    """
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
            f"{_shown(entries)}, which this tap did not write; fix or clear that state."
        )
        raise StateError(msg)
    kept: list[dict[str, str]] = []
    for entry in t.cast("list[dict[str, str]]", entries):
        export_id = entry["export_id"]
        if is_valid_export_id(export_id) and not secret_in(export_id):
            kept.append(entry)
            continue
        shown = "(an id containing the api_key)" if secret_in(export_id) else repr(export_id)
        warn(
            f"The state of stream {stream_name!r}, partition {scope}, holds the in-flight "
            f"export id {shown[:80]} for window {entry['window_start']}..{entry['window_end']}, "
            f"which is not {EXPORT_ID_RULE}: dropped, that window gets a new export"
        )
    if len(kept) != len(entries):
        _set_in_flight(state, kept)
    return kept


def recorded_exports(state: t.Mapping[str, t.Any]) -> list[tuple[str, dt.date, dt.date]]:
    """Every (export id, window start, window end) the partition's state holds in flight.

    Read leniently, before any entry is dropped: the ids an earlier run recorded each belong
    to their window, whether or not this run resumes them (`in_flight_entries` checks).
    """
    entries = state.get(IN_FLIGHT_KEY, [])
    found: list[tuple[str, dt.date, dt.date]] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not is_valid_export_id(entry.get("export_id")):
            continue
        start = _date_or_none(entry.get("window_start"))
        end = _date_or_none(entry.get("window_end"))
        if start is not None and end is not None:
            found.append((entry["export_id"], start, end))
    return found


def keep_in_flight_of(state: dict[str, t.Any], windows: t.Iterable[tuple[str, str]]) -> int:
    """Drop in-flight entries of windows this run does not plan; how many were dropped."""
    planned = set(windows)
    entries = state.get(IN_FLIGHT_KEY, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return 0  # not this tap's: `in_flight_entries` refuses it with a message
    kept = [e for e in entries if (e.get("window_start"), e.get("window_end")) in planned]
    if len(kept) != len(entries):
        _set_in_flight(state, kept)
    return len(entries) - len(kept)


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
    _set_in_flight(state, [e for e in state.get(IN_FLIGHT_KEY, []) if not _same_window(e, request)])


def _set_in_flight(state: dict[str, t.Any], entries: list[dict[str, str]]) -> None:
    if entries:
        state[IN_FLIGHT_KEY] = entries
    else:
        state.pop(IN_FLIGHT_KEY, None)


def _shown(value: object) -> str:
    """A state value in a message: its repr, cut to one line's worth."""
    return short(repr(value), 200)


def _date_or_none(value: object) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _scope_of(context: object) -> Scope | None:
    """The scope a partition's context names, if it is one this tap writes."""
    if not isinstance(context, dict) or set(context) != {"scope_type", "scope_id"}:
        return None
    scope_type, scope_id = context["scope_type"], context["scope_id"]
    if scope_type not in ("team", "org_tree") or not isinstance(scope_id, str):
        return None
    return Scope(scope_type, scope_id)


def _same_window(entry: t.Mapping[str, t.Any], request: ExportRequest) -> bool:
    return (entry.get("window_start"), entry.get("window_end")) == (
        request.window.start.isoformat(),
        request.window.end.isoformat(),
    )


class InFlightExports:
    """Exports created and not yet emitted, kept in their partition's state.

    An export is noted before it is first polled and forgotten once its rows are all emitted,
    so that a restarted run resumes it rather than creating it again.
    """

    def __init__(
        self,
        state_of: t.Callable[[Scope], dict[str, t.Any]],
        stream_name: str,
        logger: logging.Logger,
        secret_in: t.Callable[[str], bool],
    ) -> None:
        self._state_of = state_of
        self._stream_name = stream_name
        self._logger = logger
        self._secret_in = secret_in

    def resumable(
        self, plan: t.Mapping[Scope, t.Sequence[ExportRequest]]
    ) -> tuple[dict[ExportRequest, str], bool]:
        """The exports this run can resume, by request; and whether the state changed.

        Entries of windows the run does not plan would be carried for ever: they are dropped.
        An entry resumes only a request with the same digest (the same question).
        """
        found: dict[ExportRequest, str] = {}
        changed = False
        for scope, planned in plan.items():
            state = self._state_of(scope)
            dropped_entries = RepeatedWarnings(
                self._logger, f"stream {self._stream_name!r}, partition {scope}"
            )
            by_window = {_window_of(request): request for request in planned}
            dropped = keep_in_flight_of(state, by_window)
            if dropped:
                changed = True
                self._logger.info(
                    "%s: dropped %d in-flight export(s) of windows this run does not plan",
                    scope,
                    dropped,
                )
            entries = in_flight_entries(
                state,
                self._stream_name,
                scope,
                dropped_entries.of_kind("in-flight entries dropped").warning,
                secret_in=self._secret_in,
            )
            dropped_entries.close()
            for entry in entries:
                request = by_window.get((entry["window_start"], entry["window_end"]))
                if request is not None and entry.get("request_digest") == request.digest():
                    found[request] = entry["export_id"]
        return found, changed

    def recorded(
        self,
        stream_state: t.Mapping[str, t.Any],
        request_of: t.Callable[[Scope, Window], ExportRequest],
    ) -> list[tuple[str, ExportRequest]]:
        """Every export id the incoming state holds in flight, with the request of its window.

        Read before any entry is dropped, in every partition of the state, configured in
        this run or not: each id belongs to its window whether or not this run resumes it,
        so that no other window may be answered with it.
        """
        partitions = stream_state.get("partitions", [])
        found: list[tuple[str, ExportRequest]] = []
        for partition in partitions if isinstance(partitions, list) else []:
            scope = _scope_of(partition.get("context") if isinstance(partition, dict) else None)
            if scope is None:
                continue
            found += [
                (export_id, request_of(scope, Window(start, end)))
                for export_id, start, end in recorded_exports(partition)
            ]
        return found

    def note(self, request: ExportRequest, export_id: str) -> None:
        """A new export of `request`'s window."""
        note_in_flight(self._state_of(request.scope), request, export_id)

    def forget(self, request: ExportRequest) -> None:
        """`request`'s window has all its rows emitted."""
        forget_in_flight(self._state_of(request.scope), request)


def _window_of(request: ExportRequest) -> tuple[str, str]:
    return request.window.start.isoformat(), request.window.end.isoformat()
