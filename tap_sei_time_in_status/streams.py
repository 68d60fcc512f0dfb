"""The `time_in_status` stream: one partition per scope, one export per date window.

The stream only orchestrates. Windows come from `windows`, the export lifecycle from
`export_job`, rows from `records`; here they are put in order and the bookmark of a
partition is moved to a window's end once every row of that window has been emitted.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import typing as t
from functools import cached_property

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_sei_time_in_status.client import ExportApiClient
from tap_sei_time_in_status.errors import SeiTapError
from tap_sei_time_in_status.export_job import CompletedExport, ExportPolicy, ExportRequest
from tap_sei_time_in_status.pipeline import ExportPipeline
from tap_sei_time_in_status.record_writer import RecordWriter, can_write_directly
from tap_sei_time_in_status.records import RecordParser, read_records
from tap_sei_time_in_status.schema import REPLICATION_KEY, STREAM_NAME, primary_keys, record_schema
from tap_sei_time_in_status.settings import Scope, Settings
from tap_sei_time_in_status.windows import Window, plan_windows, resume_windows

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context, Record


IN_FLIGHT_KEY = "in_flight_exports"


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _same_window(entry: dict[str, str], request: ExportRequest) -> bool:
    return (entry.get("window_start"), entry.get("window_end")) == (
        request.window.start.isoformat(),
        request.window.end.isoformat(),
    )


class StateError(SeiTapError):
    """The incoming state holds a bookmark this tap did not write."""


class TimeInStatusStream(Stream):
    """Hours issues spend in each workflow status, per team (or sprint) and period."""

    name = STREAM_NAME
    replication_key = REPLICATION_KEY
    is_sorted = True
    # State is written by this stream at window boundaries only, never every N records.
    STATE_MSG_FREQUENCY = sys.maxsize
    # The parser already emits JSON-ready values of the schema's types.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, settings: Settings) -> None:
        self.settings = settings
        super().__init__(tap, schema=record_schema(settings), name=STREAM_NAME)
        self.primary_keys = primary_keys(settings)
        self._scopes = {scope.scope_id: scope for scope in settings.scopes}
        self._logged_additional: set[str] = set()
        self._export_pipeline: ExportPipeline | None = None
        self._plan: dict[str, list[Window]] = {}
        self._partitions_left = 0
        self._direct: RecordWriter | t.Literal[False] | None = None

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        return [scope.context for scope in self.settings.scopes]

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """Do nothing per record: bookmarks move in `get_records` once a window is done."""

    @override
    def _write_record_message(self, record: Record) -> None:
        """Write a record; directly when stream maps and selection leave it unchanged."""
        if self._direct is None:
            self._direct = RecordWriter(self.name) if can_write_directly(self) else False
        if self._direct:
            self._direct.write(record)
            self.state_manager.is_flushed = False
        else:
            super()._write_record_message(record)

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        scope = self._scope(context)
        pipeline, windows = self._pipeline(), self._plan[scope.scope_id]
        started = time.monotonic()
        rows = exports = 0
        try:
            for done, window in enumerate(windows, start=1):
                request = ExportRequest.for_window(self.settings, scope, window)
                parts = pipeline.take(request)
                try:
                    window_rows = 0
                    for completed in parts:  # more than one when the window was split
                        exports += completed.exports_created
                        if self._direct:
                            self._direct.new_window()
                        for record in self._records(completed):
                            window_rows += 1
                            yield record
                        completed.cleanup()
                        self._advance_bookmark(context, completed.request.window.end)
                finally:
                    for completed in parts:
                        completed.cleanup()
                rows += window_rows
                self._forget_in_flight(request)
                self.logger.info(
                    "%s: window %s done, %d row(s), export %s (%d/%d windows, %d rows so far)",
                    scope,
                    window,
                    window_rows,
                    ", ".join(c.export_id for c in parts),
                    done,
                    len(windows),
                    rows,
                )
        except BaseException:
            self._close_pipeline()
            raise
        self._partitions_left -= 1
        if not self._partitions_left:
            self._close_pipeline()
        self.logger.info(
            "%s: sync summary: %d window(s), %d export(s), %d row(s) in %.1f s",
            scope,
            len(windows),
            exports,
            rows,
            time.monotonic() - started,
        )

    def _pipeline(self) -> ExportPipeline:
        """The sync's export pipeline, with every partition's windows planned in order.

        Exports of later partitions start while earlier ones are still being emitted, so all
        bookmarks are read here, once, before the first export.
        """
        if self._export_pipeline is None:
            if "replication_key_value" in self.stream_state:
                msg = (
                    f"The state of stream {self.name!r} holds one stream-wide bookmark "
                    f"({self.stream_state.get('replication_key')!r} = "
                    f"{self.stream_state['replication_key_value']!r}); this tap keeps one per "
                    "partition (team id or org tree) and did not write it. Fix or clear that "
                    "state rather than re-syncing silently from start_date."
                )
                raise StateError(msg)
            all_windows = plan_windows(
                self.settings.start_date,
                self.settings.end_date,
                self.settings.granularity,
                self.settings.periods_per_window,
            )
            self._plan = {}
            for scope in self.settings.scopes:
                bookmark = self._bookmark(scope.context, scope)
                windows = resume_windows(all_windows, bookmark, self.settings.lookback_days)
                self._plan[scope.scope_id] = windows
                self.logger.info(
                    "%s: %d of %d window(s) to export (bookmark %s, lookback %d day(s))",
                    scope,
                    len(windows),
                    len(all_windows),
                    bookmark.isoformat() if bookmark else "none",
                    self.settings.lookback_days,
                )
            self._partitions_left = len(self.settings.scopes)
            self._export_pipeline = ExportPipeline(
                self._client,
                ExportPolicy.from_settings(self.settings),
                self.logger,
                max_in_flight=self.settings.max_concurrent_exports,
                on_created=self._note_in_flight,
                in_flight=self._in_flight_from_state(),
            )
            self._export_pipeline.plan(
                ExportRequest.for_window(self.settings, scope, window)
                for scope in self.settings.scopes
                for window in self._plan[scope.scope_id]
            )
        return self._export_pipeline

    def _in_flight_from_state(self) -> dict[ExportRequest, str]:
        """Exports an earlier run created and did not finish, by the request they answer."""
        found: dict[ExportRequest, str] = {}
        for scope in self.settings.scopes:
            for entry in self._in_flight_entries(scope):
                window = Window(
                    dt.date.fromisoformat(entry["window_start"]),
                    dt.date.fromisoformat(entry["window_end"]),
                )
                request = ExportRequest.for_window(self.settings, scope, window)
                if entry.get("request_digest") == request.digest():
                    found[request] = entry["export_id"]
        return found

    def _in_flight_entries(self, scope: Scope) -> list[dict[str, str]]:
        state = self.get_context_state(scope.context)
        entries = state.get(IN_FLIGHT_KEY, [])
        valid = isinstance(entries, list) and all(
            isinstance(e, dict)
            and all(isinstance(e.get(k), str) for k in ("export_id", "window_start", "window_end"))
            and _is_date(e["window_start"])
            and _is_date(e["window_end"])
            for e in entries
        )
        if not valid:
            msg = (
                f"The state of stream {self.name!r}, partition {scope}, holds {IN_FLIGHT_KEY} "
                f"{entries!r}, which this tap did not write; fix or clear that state."
            )
            raise StateError(msg)
        return t.cast("list[dict[str, str]]", entries)

    def _note_in_flight(self, request: ExportRequest, export_id: str) -> None:
        """Put a new export in the state before it is polled, so a restart can resume it."""
        state = self.get_context_state(request.scope.context)
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
        self.state_manager.is_flushed = False
        self._write_state_message()

    def _forget_in_flight(self, request: ExportRequest) -> None:
        state = self.get_context_state(request.scope.context)
        entries = state.get(IN_FLIGHT_KEY)
        if entries:
            state[IN_FLIGHT_KEY] = [e for e in entries if not _same_window(e, request)]
            if not state[IN_FLIGHT_KEY]:
                del state[IN_FLIGHT_KEY]

    def _close_pipeline(self) -> None:
        if self._export_pipeline is not None:
            self._export_pipeline.close()
            self._export_pipeline = None

    def _records(self, completed: CompletedExport) -> t.Iterator[dict[str, t.Any]]:
        window = completed.request.window
        static = {
            "scope_type": completed.request.scope.scope_type,
            "scope_id": completed.request.scope.scope_id,
            "window_start": window.start.isoformat(),
            "window_end": window.end.isoformat(),
            "granularity": self.settings.granularity,
            "aggregation_level": self.settings.aggregation_level,
            "terminal_date_column": self.settings.terminal_date_column,
            "export_id": completed.export_id,
        }
        return read_records(
            completed.csv_path,
            status_columns=list(self.settings.status_columns.values()),
            sprint=self.settings.aggregation_level == "sprint",
            export_id=completed.export_id,
            static_fields=static,
            on_header=self._note_additional_columns,
        )

    def _note_additional_columns(self, parser: RecordParser) -> None:
        new = [c for c in parser.additional_columns if c not in self._logged_additional]
        if new:
            self._logged_additional.update(new)
            self.logger.info(
                "Export %s has column(s) not in the schema, kept in additional_columns: %s",
                parser.export_id,
                ", ".join(new),
            )

    @cached_property
    def _client(self) -> ExportApiClient:
        """One HTTP session for the whole sync, shared by every partition and export."""
        return ExportApiClient(
            base_url=self.settings.base_url,
            api_key=self.settings.api_key,
            org_identifier=self.settings.org_identifier,
            project_identifier=self.settings.project_identifier,
            timeout_seconds=self.settings.request_timeout_seconds,
            logger=self.logger,
        )

    def _scope(self, context: Context | None) -> Scope:
        scope_id = (context or {}).get("scope_id")
        if scope_id not in self._scopes:
            msg = f"no configured scope for partition {context!r}"
            raise StateError(msg)
        return self._scopes[scope_id]

    def _bookmark(self, context: Context | None, scope: Scope) -> dt.date | None:
        """The partition's bookmark (a window's end), checked to be one this tap wrote."""
        state = self.get_context_state(context)
        value = state.get("replication_key_value")
        if value is None:
            return None
        key = state.get("replication_key")
        if key != REPLICATION_KEY or not isinstance(value, str):
            msg = (
                f"The state of stream {self.name!r}, partition {scope}, holds "
                f"replication_key {key!r} = {value!r}, which this tap did not write (it "
                f"writes {REPLICATION_KEY!r} as YYYY-MM-DD). Fix or drop that state, e.g. "
                "`meltano state clear`, rather than re-syncing silently from start_date."
            )
            raise StateError(msg)
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            msg = (
                f"The state of stream {self.name!r}, partition {scope}, holds the bookmark "
                f"{value!r}, which is not a YYYY-MM-DD date; fix or clear that state."
            )
            raise StateError(msg) from None

    def _advance_bookmark(self, context: Context | None, window_end: dt.date) -> None:
        """Move the bookmark to a finished window's end (never backwards) and emit STATE."""
        state = self.get_context_state(context)
        previous = state.get("replication_key_value")
        value = window_end.isoformat()
        if isinstance(previous, str) and previous > value:
            return
        state["replication_key"] = REPLICATION_KEY
        state["replication_key_value"] = value
        self.state_manager.is_flushed = False
        self._write_state_message()
