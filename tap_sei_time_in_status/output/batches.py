"""BATCH output: each window's records in JSON Lines files of bounded size, then its STATE.

singer-sdk's own batching writes a whole stream's records and a STATE message after every
file, which would bookmark windows whose rows are not all written. Here records go to files
as they are emitted; a file is closed and announced by a BATCH message when it holds
`batch_size_rows` rows and, at the latest, just before any STATE message. So a STATE never
covers a row that is not in an announced file, and resumption at window boundaries holds
exactly as with RECORD lines. A loader reads a whole file into memory (target-postgres keeps
every row of it as Python objects), which the size bound keeps bounded.

Files are named by a random id, never by an export id or a scope, and are left in place for
the loader: clean `batch_config.storage.root` up on your own schedule.
"""

from __future__ import annotations

import gzip
import typing as t
import uuid

from singer_sdk.contrib.msgspec import encoder
from singer_sdk.helpers._batch import BaseBatchFileEncoding, SDKBatchMessage
from upath import UPath

from tap_sei_time_in_status.output.record_writer import can_write_directly

if t.TYPE_CHECKING:
    from singer_sdk import Stream

    from tap_sei_time_in_status.settings import BatchSettings

#: gzip level 1: several times faster than the default 9 on these rows, and the files are
#: read once, by a loader next to them.
GZIP_LEVEL = 1


class BatchFileWriter:
    """One stream's batch files, one open at a time, each announced once closed."""

    def __init__(
        self,
        stream_name: str,
        settings: BatchSettings,
        announce: t.Callable[[SDKBatchMessage], None],
    ) -> None:
        self._stream_name = stream_name
        self._settings = settings
        self._announce = announce
        self._root = UPath(settings.root, **settings.params)
        self._run_id = uuid.uuid4().hex
        self._files = 0
        self._path: UPath | None = None
        self._raw: t.BinaryIO | None = None
        self._sink: t.BinaryIO | None = None
        self._rows = 0
        self._buffer = bytearray()

    def write(self, record: dict[str, t.Any]) -> None:
        """Add one record to the open file (opening one if needed); announce it when full."""
        sink = self._sink or self._open()
        buffer = self._buffer
        buffer.clear()
        encoder.encode_into(record, buffer)
        buffer.extend(b"\n")
        sink.write(buffer)
        self._rows += 1
        if self._rows >= self._settings.max_rows:
            self.flush()

    def flush(self) -> None:
        """Close the open file, if any, and announce it with a BATCH message."""
        if self._path is None:
            return
        self._close()
        url = self._path.as_uri()
        self._path = None
        compression = self._settings.compression
        self._announce(
            SDKBatchMessage(
                stream=self._stream_name,
                encoding=BaseBatchFileEncoding(format="jsonl", compression=compression),
                manifest=[url],
            )
        )

    def discard(self) -> None:
        """Drop the open file unannounced (the sync failed; its rows are exported again)."""
        if self._path is not None:
            self._close()
            self._path.unlink(missing_ok=True)
            self._path = None

    def _open(self) -> t.BinaryIO:
        self._files += 1
        suffix = ".jsonl.gz" if self._settings.compression == "gzip" else ".jsonl"
        name = f"{self._settings.prefix}{self._stream_name}-{self._run_id}-{self._files:05d}"
        self._root.mkdir(parents=True, exist_ok=True)
        self._path = self._root / f"{name}{suffix}"
        raw = self._raw = t.cast("t.BinaryIO", self._path.open("wb"))
        sink = raw
        if self._settings.compression == "gzip":
            sink = t.cast(
                "t.BinaryIO",
                gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL),
            )
        self._sink = sink
        return sink

    def _close(self) -> None:
        """Close the gzip stream (it does not close the file under it), then the file."""
        if self._sink is not None:
            self._sink.close()
        if self._raw is not None:
            self._raw.close()
        self._sink, self._raw, self._rows = None, None, 0


class StreamBatches:
    """A stream's records as batch files, through its stream maps when it has any."""

    def __init__(self, stream: Stream, settings: BatchSettings) -> None:
        self._stream = stream
        self._settings = settings
        self._direct = can_write_directly(stream)
        self._writers: dict[str, BatchFileWriter] = {}

    def write(self, record: dict[str, t.Any]) -> None:
        """Write one record as singer-sdk's record path would emit it."""
        if self._direct:
            self._writer(self._stream.name).write(record)
            return
        for message in self._stream._generate_record_messages(record):
            self._writer(message.stream).write(message.record)

    def flush(self) -> None:
        """Announce every open file."""
        for writer in self._writers.values():
            writer.flush()

    def discard(self) -> None:
        """Drop every open file unannounced."""
        for writer in self._writers.values():
            writer.discard()

    def _writer(self, stream_name: str) -> BatchFileWriter:
        writer = self._writers.get(stream_name)
        if writer is None:
            writer = self._writers[stream_name] = BatchFileWriter(
                stream_name, self._settings, self._stream._tap.write_message
            )
        return writer
