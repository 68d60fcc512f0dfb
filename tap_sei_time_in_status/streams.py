"""The streams `time_in_status` and `time_in_status_by_status`, fed by the same exports.

`time_in_status` has one record per CSV row, `time_in_status_by_status` one per row and
status. The streams only orchestrate: windows come from `windows`, the export lifecycle from
`export/`, records from `parsing/`, and what leaves the tap goes through `output/`. `time_in_status`
drives every export; `time_in_status_by_status` is its child, so that selecting either, or
both, runs one export per window. A partition's bookmark moves to a window's end once every
row of that window has been emitted, in both streams.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t
from functools import cached_property, partial

from singer_sdk import Stream, metrics
from singer_sdk.contrib.msgspec import encoder
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_sei_time_in_status.api.cancellation import StopSwitch
from tap_sei_time_in_status.api.client import ExportApiClient
from tap_sei_time_in_status.api.secrets_guard import SecretGuard
from tap_sei_time_in_status.export.admission import Admission
from tap_sei_time_in_status.export.job import CompletedExport, ExportPolicy, ExportRequest
from tap_sei_time_in_status.export.pipeline import ExportPipeline
from tap_sei_time_in_status.export.plan import SyncPlan
from tap_sei_time_in_status.export.progress import Progress
from tap_sei_time_in_status.export.temp_area import TempArea
from tap_sei_time_in_status.output import state as partition_state
from tap_sei_time_in_status.output.batches import StreamBatches
from tap_sei_time_in_status.output.metrics import PartitionCounts, SilentCounter
from tap_sei_time_in_status.output.record_writer import RecordWriter, can_write_directly
from tap_sei_time_in_status.output.state_budget import StateBudget
from tap_sei_time_in_status.output.state_index import IndexedStateManager
from tap_sei_time_in_status.parsing.header_notes import HeaderNotes
from tap_sei_time_in_status.parsing.periods import PeriodDating
from tap_sei_time_in_status.parsing.records import ExportReader, RecordParser, long_records
from tap_sei_time_in_status.parsing.schema import (
    LONG_STREAM_NAME,
    REPLICATION_KEY,
    STREAM_NAME,
    long_primary_keys,
    long_record_schema,
    primary_keys,
    record_schema,
)
from tap_sei_time_in_status.parsing.schema_growth import with_additional_columns
from tap_sei_time_in_status.settings import CatalogSettings, Scope, Settings

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context, Record

__all__ = ["TimeInStatusByStatusStream", "TimeInStatusStream"]


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
        self._state_manager = IndexedStateManager(  # O(1) per partition, not a scan
            tap_name=self.tap_name,
            stream_name=self.name,
            tap_state=self._tap_state,
            state_partitioning_keys=self.state_partitioning_keys,
            is_sorted=self.is_sorted,
            check_sorted=self.check_sorted,
        )
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
    def _write_starting_replication_value(self, context: Context | None) -> None:
        """Nothing: `bookmark` reads each partition's start.

        The SDK's marker and its INFO line per partition would only add up over thousands.
        """

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
        """The partition's bookmark, checked to be one this tap wrote, never after today."""
        bookmark, changed = partition_state.checked_bookmark(
            self.stream_state,
            self.get_context_state(scope.context),
            self.name,
            scope,
            self.logger.warning,
        )
        if changed:
            self.state_manager.is_flushed = False
        return bookmark

    def advance_bookmark(self, scope: Scope, window_end: dt.date) -> None:
        """A window of this partition is fully emitted; an open one bookmarks today."""
        partition_state.advance_bookmark(
            self.get_context_state(scope.context), window_end, partition_state.utc_today()
        )
        self.state_manager.is_flushed = False

    def declare_additional_columns(self, columns: list[str]) -> None:
        """Flattened, each extra column is a field of its own: announce it before its rows."""
        grown = with_additional_columns(self.schema, columns)
        if grown is None:
            return
        self._schema = grown
        self._tap.mapper.register_raw_stream_schema(self.name, grown, self.primary_keys)
        self._stream_maps = None  # taken again from the mapper, with the new schema
        self._write_schema_message()


class TimeInStatusStream(_WindowedStream):
    """Hours issues spend in each workflow status, per team (or sprint) and period."""

    def __init__(self, tap: Tap, catalog: CatalogSettings) -> None:
        super().__init__(tap, catalog, STREAM_NAME, record_schema(catalog), primary_keys(catalog))
        self._exports: ExportPipeline | None = None
        #: Per partition, the requests of the windows this sync exports, in order.
        self._plan = SyncPlan({})
        self._partitions_left = 0
        self._progress = Progress(self.logger, {})  # the sync's, once its windows are planned

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
        """Each planned window's records, in order; its bookmark and STATE once all are out."""
        exports = self._start_exports()
        scope = self._plan.scope_of(context)
        requests = self._plan.requests[scope]
        for stream in self._selected_streams():
            stream.counts.begin(scope.context)
        try:
            for request in requests:
                parts = exports.take(request)
                if parts is None:  # max_run_seconds: the rest is for the next run
                    break
                try:
                    for completed in parts:  # more than one when the window was split
                        yield from self._emit_window(completed, last_part=completed is parts[-1])
                finally:
                    for completed in parts:
                        completed.cleanup()
                self._in_flight.forget(request)
        except BaseException:
            self._abandon()
            raise
        self._end_partition()

    def _emit_window(
        self, completed: CompletedExport, *, last_part: bool
    ) -> t.Iterator[dict[str, t.Any]]:
        """An export's records (and long records), then its bookmark and STATE."""
        request = completed.request
        for stream in self._selected_streams():
            stream.new_window()
        long = self.by_status
        rows = 0
        for record in self._reader.records(completed):
            rows += 1
            if long is not None:
                for long_record in long_records(record, self._header_notes.measured):
                    long.write(long_record)
            yield record
        completed.cleanup()
        self._progress.window_done(request.scope, completed, rows, last_part=last_part)
        for stream in self._selected_streams():
            stream.advance_bookmark(request.scope, request.window.end)
        self._in_flight.forget(request)
        self.state_budget.event()
        self._write_state()

    def _abandon(self) -> None:
        """The sync failed: stop the exports, drop the batch files no STATE covers."""
        self._close_exports()
        for stream in self._selected_streams():
            stream.discard_batches()

    def _end_partition(self) -> None:
        """Log the partition's record counts; after the last partition, the sync's summaries."""
        for stream in self._selected_streams():
            stream.counts.end()
        self._partitions_left -= 1
        if self._partitions_left:
            return
        self.state_budget.final = True  # the end of the sync's state is always written
        self._close_exports()
        self._progress.summary(self.settings.max_run_seconds)
        for stream in self._selected_streams():
            stream.counts.summary(self.logger)

    def _write_state(self) -> None:
        self.state_manager.is_flushed = False
        self._write_state_message()

    def _start_exports(self) -> ExportPipeline:
        """The sync's export pipeline, with every partition's windows planned in order.

        All bookmarks are read here, once, before the first export. A partition starts at the
        earliest bookmark of the selected streams.
        """
        if self._exports is not None:
            return self._exports
        plan = SyncPlan.from_bookmarks(self.settings, self._earliest_bookmark, self.logger)
        recorded = self._in_flight.recorded(  # before unplanned entries are dropped
            self.stream_state, partial(ExportRequest.for_window, self.settings)
        )
        resume, changed = self._in_flight.resumable(plan.requests)
        if changed:
            self.state_manager.is_flushed = False
        self._plan, self._partitions_left = plan, len(plan.requests)
        self._progress = progress = Progress(self.logger, plan.windows())
        if self.by_status is not None:
            self.by_status.state_budget = self.state_budget  # one budget per sync
            self.by_status.start()
        self._exports = ExportPipeline(
            self._client,
            ExportPolicy.from_settings(self.settings),
            self.logger,
            admission=Admission.from_settings(self.settings),
            on_created=self._note_in_flight,
            in_flight=resume,
            recorded=recorded,
            max_run_seconds=self.settings.max_run_seconds,
            workdir=self.owner.temp_area.run_dir(),
            stop=self.owner.stop_switch,
            on_wait=progress.tick,
        )
        progress.follow(self._exports.status)
        try:
            self._exports.plan(plan.in_order())
        except BaseException:  # e.g. a create refused: stop the exports already running
            self._close_exports()
            raise
        return self._exports

    def _earliest_bookmark(self, scope: Scope) -> dt.date | None:
        bookmarks = [stream.bookmark(scope) for stream in self._selected_streams()]
        return None if None in bookmarks else min(t.cast("list[dt.date]", bookmarks))

    def _note_in_flight(self, request: ExportRequest, export_id: str) -> None:
        """Put a new export in the state before it is polled, so a restart can resume it."""
        self._in_flight.note(request, export_id)
        self.state_budget.event()
        self._write_state()

    def _close_exports(self) -> None:
        """Stop the exports, then release the client and the temporary files at once.

        Not at process exit: the process may go on (the tests, an orchestrator running the tap
        in-process) and run the tap again.
        """
        if self._exports is not None:
            self._exports.close()
            self._exports = None
            self._client.close()
            self.owner.temp_area.remove()

    def _note_header(self, parser: RecordParser) -> None:
        new = self._header_notes.note(parser)
        if new and self.selected and any(m.flattening_enabled for m in self.stream_maps):
            self.declare_additional_columns(new)

    @cached_property
    def _in_flight(self) -> partition_state.InFlightExports:
        return partition_state.InFlightExports(
            lambda scope: self.get_context_state(scope.context),
            self.name,
            self.logger,
            self._guard.contains,
        )

    @cached_property
    def _header_notes(self) -> HeaderNotes:
        return HeaderNotes(self.logger, self.catalog_settings.status_columns)

    @cached_property
    def _reader(self) -> ExportReader:
        return ExportReader(
            status_columns=list(self.catalog_settings.status_columns.values()),
            sprint=self.settings.aggregation_level == "sprint",
            guard=self._guard,
            periods=PeriodDating(self.settings.granularity, self.logger),
            max_line_bytes=self.settings.max_csv_line_bytes,
            max_columns=self.settings.max_csv_columns,
            on_header=self._note_header,
        )

    @cached_property
    def _guard(self) -> SecretGuard:
        return SecretGuard(self.settings.api_key)

    @cached_property
    def _client(self) -> ExportApiClient:
        """One HTTP session for the whole sync, shared by every partition and export."""
        return self.owner.api_client()


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
