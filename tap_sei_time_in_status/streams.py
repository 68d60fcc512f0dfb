"""The streams `time_in_status` and `time_in_status_by_status`, fed by the same exports.

`time_in_status` has one record per CSV row, `time_in_status_by_status` one per row and
status. The streams only orchestrate. Windows come from `windows`, the export lifecycle from
`pipeline`/`export_job`, rows from `records`, the state's shape from `state`. `time_in_status`
drives every export; `time_in_status_by_status` is its child, so that selecting either, or
both, runs one export per window. A partition's bookmark moves to a window's end once every
row of that window has been emitted, in both streams.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t
from functools import cached_property

from singer_sdk import Stream, metrics
from singer_sdk.contrib.msgspec import encoder
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_sei_time_in_status import state as partition_state
from tap_sei_time_in_status.batch_output import StreamBatches
from tap_sei_time_in_status.cancellation import StopSwitch
from tap_sei_time_in_status.client import ExportApiClient
from tap_sei_time_in_status.csv_header import missing_columns_effect
from tap_sei_time_in_status.export_job import CompletedExport, ExportPolicy, ExportRequest
from tap_sei_time_in_status.periods import period_dates
from tap_sei_time_in_status.pipeline import ExportPipeline
from tap_sei_time_in_status.progress import Progress
from tap_sei_time_in_status.record_metrics import PartitionCounts, SilentCounter
from tap_sei_time_in_status.record_writer import RecordWriter, can_write_directly
from tap_sei_time_in_status.records import RecordParser, long_records, read_records
from tap_sei_time_in_status.schema import (
    LONG_STREAM_NAME,
    REPLICATION_KEY,
    STREAM_NAME,
    long_primary_keys,
    long_record_schema,
    primary_keys,
    record_schema,
)
from tap_sei_time_in_status.schema_growth import with_additional_columns
from tap_sei_time_in_status.secrets_guard import SecretGuard
from tap_sei_time_in_status.settings import CatalogSettings, Scope, Settings
from tap_sei_time_in_status.state import StateError
from tap_sei_time_in_status.state_budget import StateBudget
from tap_sei_time_in_status.temp_area import TempArea
from tap_sei_time_in_status.windows import Window, plan_windows, resume_windows

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context, Record

__all__ = ["StateError", "TimeInStatusByStatusStream", "TimeInStatusStream"]


class _SettingsOwner(t.Protocol):
    """The tap, whose full settings are checked at start-up of a sync, not at discovery."""

    @property
    def settings(self) -> Settings: ...

    def api_client(self) -> ExportApiClient: ...

    @property
    def stop_switch(self) -> StopSwitch: ...

    @property
    def temp_area(self) -> TempArea: ...


class _WindowedStream(Stream):
    """What both streams share: partitions per scope, window-boundary state, fast output."""

    replication_key = REPLICATION_KEY
    is_sorted = True
    # State is written at window boundaries only, never every N records.
    STATE_MSG_FREQUENCY = sys.maxsize
    # The parser already emits JSON-ready values of the schema's types.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(
        self,
        tap: Tap,
        catalog: CatalogSettings,
        name: str,
        schema: dict[str, t.Any],
        keys: list[str],
    ) -> None:
        self.catalog_settings = catalog
        super().__init__(tap, schema=schema, name=name)
        self.primary_keys = keys
        self._direct: RecordWriter | t.Literal[False] | None = None
        self.counts = PartitionCounts(name)
        self.state_budget = StateBudget()

    @override
    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        """singer-sdk's counter, silenced: `counts` logs what was written, per partition."""
        return SilentCounter(metrics.Metric.RECORD_COUNT, {metrics.Tag.STREAM.value: self.name})

    @property
    def owner(self) -> _SettingsOwner:
        """The tap, with what a sync shares: settings, client, stop switch, temp area."""
        return t.cast("_SettingsOwner", self._tap)

    @property
    def settings(self) -> Settings:
        """Every setting; only a sync needs them (discovery has the catalog's alone)."""
        return self.owner.settings

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        return [scope.context for scope in self.settings.scopes]

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """Do nothing per record: bookmarks move once a window's rows are all emitted."""

    @cached_property
    def _batches(self) -> StreamBatches | None:
        """BATCH files instead of RECORD lines, when `batch_config` is set."""
        batch = self.settings.batch
        return None if batch is None else StreamBatches(self, batch)

    @override
    def _sync_batches(self, batch_config: BatchConfig, context: Context | None = None) -> None:
        """Sync as with RECORD lines: `_write_record_message` fills the batch files."""
        for _ in self._sync_records(context=context):
            pass

    def flush_batches(self) -> None:
        """Close and announce this stream's open batch files."""
        if self._batches is not None:
            self._batches.flush()

    def discard_batches(self) -> None:
        """Drop this stream's open batch files unannounced (the sync failed)."""
        if self._batches is not None:
            self._batches.discard()

    @override
    def _write_record_message(self, record: Record) -> None:
        """Write a record to a batch file, or as a RECORD line.

        RECORD lines are written directly when stream maps and selection leave them unchanged.
        """
        if self._direct is None:
            self._direct = RecordWriter(self.name) if can_write_directly(self) else False
        if self._batches is not None:
            self._batches.write(record)
            self.state_manager.is_flushed = False
        elif self._direct:
            self._direct.write(record)
            self.state_manager.is_flushed = False
        else:
            super()._write_record_message(record)
        self.counts.add()

    @override
    def _write_state_message(self) -> None:
        """Write the state when the sync's STATE budget allows; a later message carries it.

        Every open batch file is announced first: no STATE covers a row not yet announced.
        """
        for stream in self._tap.streams.values():
            if isinstance(stream, _WindowedStream):
                stream.flush_batches()
        if self.state_manager.is_flushed or not self.state_budget.allows():
            return
        self.state_budget.spent(len(encoder.encode(self.tap_state)) + 30)  # + the envelope
        super()._write_state_message()

    def new_window(self) -> None:
        """The records that follow were extracted now."""
        if self._direct:
            self._direct.new_window()

    def bookmark(self, scope: Scope) -> dt.date | None:
        """The partition's bookmark, checked to be one this tap wrote."""
        partition_state.check_stream_state(self.stream_state, self.name)
        state = self.get_context_state(scope.context)
        bookmark = partition_state.read_bookmark(state, self.name, scope)
        today = partition_state.utc_today()
        if bookmark is not None and partition_state.clamp_future_bookmark(state, bookmark, today):
            self.logger.warning(
                "The state of stream %r, partition %s, holds the bookmark %s, which is after "
                "today (%s UTC): clamped to today, so the windows from %s minus lookback_days "
                "are exported again",
                self.name,
                scope,
                bookmark.isoformat(),
                today.isoformat(),
                today.isoformat(),
            )
            self.state_manager.is_flushed = False
            return today
        return bookmark

    def advance_bookmark(self, scope: Scope, window_end: dt.date) -> None:
        """A window of this partition is fully emitted; an open one bookmarks today."""
        partition_state.advance_bookmark(
            self.get_context_state(scope.context), window_end, partition_state.utc_today()
        )
        self.state_manager.is_flushed = False


class TimeInStatusStream(_WindowedStream):
    """Hours issues spend in each workflow status, per team (or sprint) and period."""

    def __init__(self, tap: Tap, catalog: CatalogSettings) -> None:
        super().__init__(tap, catalog, STREAM_NAME, record_schema(catalog), primary_keys(catalog))
        self._logged_additional: set[str] = set()
        self._warned_missing: set[str] = set()
        # The configured statuses the export being read has a column for.
        self._measured: dict[str, str] = {}
        self._unrecognised_labels: set[str] = set()
        self._export_pipeline: ExportPipeline | None = None
        self._plan: dict[str, list[Window]] = {}
        self._partitions_left = 0
        self._windows_left = 0
        self._progress: Progress | None = None

    @override
    def generate_child_contexts(
        self, record: Record, context: Context | None
    ) -> t.Iterable[Context | None]:
        """None: the child's records are written from each export, not per parent record."""
        return ()

    @property
    def by_status(self) -> TimeInStatusByStatusStream | None:
        """The long-format child when it is selected."""
        for child in self.child_streams:
            if isinstance(child, TimeInStatusByStatusStream) and child.selected:
                return child
        return None

    def _selected_streams(self) -> list[_WindowedStream]:
        streams: list[_WindowedStream] = [self] if self.selected else []
        if self.by_status is not None:
            streams.append(self.by_status)
        return streams

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        scope = self._scope(context)
        pipeline, windows = self._pipeline(), self._plan[scope.scope_id]
        long = self.by_status
        progress = self._progress
        assert progress is not None  # noqa: S101 - set up with the pipeline
        for stream in self._selected_streams():
            stream.counts.begin(scope.context)
        try:
            for number, window in enumerate(windows):
                request = ExportRequest.for_window(self.settings, scope, window)
                parts = pipeline.take(request)
                if parts is None:  # max_run_seconds: the rest is for the next run
                    self._windows_left += len(windows) - number
                    break
                try:
                    for completed in parts:  # more than one when the window was split
                        for stream in self._selected_streams():
                            stream.new_window()
                        rows = 0
                        for record in self._records(completed):
                            rows += 1
                            if long is not None:
                                for long_record in long_records(record, self._measured):
                                    long.write(long_record)
                            yield record
                        completed.cleanup()
                        progress.window_done(
                            scope, completed, rows, last_part=completed is parts[-1]
                        )
                        for stream in self._selected_streams():
                            stream.advance_bookmark(scope, completed.request.window.end)
                        partition_state.forget_in_flight(
                            self.get_context_state(scope.context), completed.request
                        )
                        self.state_budget.event()
                        self._write_state()
                finally:
                    for completed in parts:
                        completed.cleanup()
                partition_state.forget_in_flight(self.get_context_state(scope.context), request)
        except BaseException:
            self._abandon()
            raise
        self._end_partition(progress)

    def _abandon(self) -> None:
        """The sync failed: stop the exports, drop the batch files no STATE covers."""
        self._close_pipeline()
        for stream in self._selected_streams():
            stream.discard_batches()

    def _end_partition(self, progress: Progress) -> None:
        """Log the partition's record counts; after the last partition, the sync's summaries."""
        for stream in self._selected_streams():
            stream.counts.end()
        self._partitions_left -= 1
        if not self._partitions_left:
            self.state_budget.final = True  # the end of the sync's state is always written
            self._close_pipeline()
            progress.summary()
            for stream in self._selected_streams():
                stream.counts.summary(self.logger)
            self._report_stop()

    def _report_stop(self) -> None:
        """Say so when `max_run_seconds` ended the sync before every window was exported."""
        if self._windows_left:
            self.logger.warning(
                "max_run_seconds (%g s) reached: no export was created after it; the windows "
                "in flight were finished and emitted and their state written. %d window(s) "
                "are left for the next run, which starts from this state.",
                self.settings.max_run_seconds,
                self._windows_left,
            )

    @cached_property
    def _statuses(self) -> dict[str, str]:
        return self.catalog_settings.status_columns

    @cached_property
    def _scopes(self) -> dict[str, Scope]:
        return {scope.scope_id: scope for scope in self.settings.scopes}

    def _write_state(self) -> None:
        self.state_manager.is_flushed = False
        self._write_state_message()

    def _pipeline(self) -> ExportPipeline:
        """The sync's export pipeline, with every partition's windows planned in order.

        Exports of later partitions start while earlier ones are still being emitted, so all
        bookmarks are read here, once, before the first export. A partition starts at the
        earliest bookmark of the selected streams.
        """
        if self._export_pipeline is None:
            all_windows = plan_windows(
                self.settings.start_date,
                self.settings.end_date,
                self.settings.granularity,
                self.settings.periods_per_window,
            )
            self._plan = {}
            for scope in self.settings.scopes:
                bookmarks = [stream.bookmark(scope) for stream in self._selected_streams()]
                bookmark = None if None in bookmarks else min(t.cast("list[dt.date]", bookmarks))
                windows = resume_windows(all_windows, bookmark, self.settings.lookback_days)
                self._plan[scope.scope_id] = windows
                self._drop_unplanned_in_flight(scope, windows)
                self.logger.info(
                    "%s: %d of %d window(s) to export (bookmark %s, lookback %d day(s))",
                    scope,
                    len(windows),
                    len(all_windows),
                    bookmark.isoformat() if bookmark else "none",
                    self.settings.lookback_days,
                )
            self._partitions_left = len(self.settings.scopes)
            self._progress = Progress(
                self.logger, {s.scope_id: len(w) for s, w in self._scope_plan()}
            )
            if self.by_status is not None:
                self.by_status.state_budget = self.state_budget  # one budget per sync
                self.by_status.start()
            self._export_pipeline = ExportPipeline(
                self._client,
                ExportPolicy.from_settings(self.settings),
                self.logger,
                max_in_flight=self.settings.max_concurrent_exports,
                on_created=self._note_in_flight,
                in_flight=self._in_flight_from_state(),
                max_run_seconds=self.settings.max_run_seconds,
                workdir=self.owner.temp_area.run_dir(),
                stop=self.owner.stop_switch,
            )
            try:
                self._export_pipeline.plan(
                    ExportRequest.for_window(self.settings, scope, window)
                    for scope, windows in self._scope_plan()
                    for window in windows
                )
            except BaseException:  # e.g. a create refused: stop the exports already running
                self._close_pipeline()
                raise
        return self._export_pipeline

    def _scope_plan(self) -> list[tuple[Scope, list[Window]]]:
        return [(scope, self._plan[scope.scope_id]) for scope in self.settings.scopes]

    def _drop_unplanned_in_flight(self, scope: Scope, windows: list[Window]) -> None:
        """In-flight entries of windows this run will not export would be carried for ever."""
        dropped = partition_state.keep_in_flight_of(
            self.get_context_state(scope.context),
            ((w.start.isoformat(), w.end.isoformat()) for w in windows),
        )
        if dropped:
            self.logger.info(
                "%s: dropped %d in-flight export(s) of windows this run does not plan",
                scope,
                dropped,
            )
            self.state_manager.is_flushed = False

    def _in_flight_from_state(self) -> dict[ExportRequest, str]:
        """Exports an earlier run created and did not finish, by the request they answer."""
        found: dict[ExportRequest, str] = {}
        for scope in self.settings.scopes:
            state = self.get_context_state(scope.context)
            entries = partition_state.in_flight_entries(
                state, self.name, scope, self.logger.warning, secret_in=self._guard.contains
            )
            for entry in entries:
                window = Window(
                    dt.date.fromisoformat(entry["window_start"]),
                    dt.date.fromisoformat(entry["window_end"]),
                )
                request = ExportRequest.for_window(self.settings, scope, window)
                if entry.get("request_digest") == request.digest():
                    found[request] = entry["export_id"]
        return found

    def _note_in_flight(self, request: ExportRequest, export_id: str) -> None:
        """Put a new export in the state before it is polled, so a restart can resume it."""
        partition_state.note_in_flight(
            self.get_context_state(request.scope.context), request, export_id
        )
        self.state_budget.event()
        self._write_state()

    def _close_pipeline(self) -> None:
        """Stop the exports, then release the client and the temporary files at once.

        Not at process exit: the process may go on (the tests, an orchestrator running the tap
        in-process) and run the tap again.
        """
        if self._export_pipeline is not None:
            self._export_pipeline.close()
            self._export_pipeline = None
            self._client.close()
            self.owner.temp_area.remove()

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
            status_columns=list(self._statuses.values()),
            sprint=self.settings.aggregation_level == "sprint",
            export_id=completed.export_id,
            static_fields=static,
            on_header=self._note_header,
            period_dates=self._period_dates_of(window),
            guard=self._guard,
            max_line_bytes=self.settings.max_csv_line_bytes,
        )

    def _period_dates_of(self, window: Window) -> t.Callable[[str], tuple[str | None, str | None]]:
        """Per window, each distinct label is dated once (rows repeat labels)."""
        known: dict[str, tuple[str | None, str | None]] = {}

        def dates_of(label: str) -> tuple[str | None, str | None]:
            found = known.get(label)
            if found is None:
                found = known[label] = self._period_dates(label, window)
            return found

        return dates_of

    def _period_dates(self, label: str, window: Window) -> tuple[str | None, str | None]:
        dates = period_dates(label, self.settings.granularity, window)
        if dates is None:
            if label not in self._unrecognised_labels:
                self._unrecognised_labels.add(label)
                self.logger.warning(
                    "Period label %r (granularity %s, window %s) is not one the tap can "
                    "date: period_start and period_end are null for it",
                    label,
                    self.settings.granularity,
                    window,
                )
            return None, None
        return dates[0].isoformat(), dates[1].isoformat()

    def _note_header(self, parser: RecordParser) -> None:
        """Say, once per sync, which columns an export adds and which it lacks."""
        self._measured = {
            status: column
            for status, column in self._statuses.items()
            if column not in parser.missing_columns
        }
        new = [c for c in parser.additional_columns if c not in self._logged_additional]
        if new:
            self._logged_additional.update(new)
            self.logger.info(
                "Export %s has column(s) not in the schema, kept in additional_columns: %s",
                parser.export_id,
                ", ".join(new),
            )
            if self.selected and any(m.flattening_enabled for m in self.stream_maps):
                self._declare_additional_columns(new)
        missing = [c for c in parser.missing_columns if c not in self._warned_missing]
        if missing:
            self._warned_missing.update(missing)
            self.logger.warning(
                "Export %s has no column %s: %s (see 'What the tap expects of the CSV' in the "
                "README); said once per sync",
                parser.export_id,
                ", ".join(missing),
                missing_columns_effect(missing),
            )

    def _declare_additional_columns(self, columns: list[str]) -> None:
        """Flattened, each extra column is a field of its own: announce it before its rows."""
        grown = with_additional_columns(self.schema, columns)
        if grown is None:
            return
        self._schema = grown
        self._tap.mapper.register_raw_stream_schema(self.name, grown, self.primary_keys)
        self._stream_maps = None  # taken again from the mapper, with the new schema
        self._write_schema_message()

    @cached_property
    def _guard(self) -> SecretGuard:
        return SecretGuard(self.settings.api_key)

    @cached_property
    def _client(self) -> ExportApiClient:
        """One HTTP session for the whole sync, shared by every partition and export."""
        return self.owner.api_client()

    def _scope(self, context: Context | None) -> Scope:
        scope_id = (context or {}).get("scope_id")
        if scope_id not in self._scopes:
            msg = f"no configured scope for partition {context!r}"
            raise StateError(msg)
        return self._scopes[scope_id]


class TimeInStatusByStatusStream(_WindowedStream):
    """One record per period x team (x sprint) x status: `status`, `hours`, the same keys."""

    parent_stream_type = TimeInStatusStream
    # One record per row *and status*: it multiplies what a loader writes, so it is opt-in
    # (`meltano select tap-sei-time-in-status time_in_status_by_status '*'`).
    selected_by_default = False

    def __init__(self, tap: Tap, catalog: CatalogSettings) -> None:
        super().__init__(
            tap,
            catalog,
            LONG_STREAM_NAME,
            long_record_schema(catalog),
            long_primary_keys(catalog),
        )

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Nothing of its own: `time_in_status` writes these records from its exports."""
        return iter(())

    def start(self) -> None:
        """Announce the stream before its first record."""
        self._write_schema_message()

    def write(self, record: dict[str, t.Any]) -> None:
        """Emit one record (through stream maps and selection, as any record)."""
        self._write_record_message(record)
