"""RECORD messages written straight from the record dicts, when nothing would change them.

singer-sdk's record path builds a message object per row, checks selection, conforms types,
runs the stream maps, and flushes stdout after every line. For this stream the parser already
emits typed, selected values, so when no stream map, flattening or deselection applies the
same bytes (singer-sdk's msgspec encoder, the same fields in the same order) are written
directly, and stdout is flushed by the STATE message that follows each window.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.mapper import SameRecordTransform

if t.TYPE_CHECKING:
    from singer_sdk import Stream


def can_write_directly(stream: Stream) -> bool:
    """True when singer-sdk's record path would emit each record unchanged."""
    maps = stream.stream_maps
    return (
        isinstance(stream._tap.message_writer, MsgSpecWriter)
        and len(maps) == 1
        and type(maps[0]) is SameRecordTransform
        and not maps[0].flattening_enabled
        and all(stream.mask.values())
    )


class RecordWriter:
    """Encodes `{"type": "RECORD", "stream", "record", "time_extracted"}` lines to stdout.

    Only the record is encoded per line: the bytes before it and after it are the same for
    every record of a window, so they are encoded once (msgspec writes the nested dict and
    the whole message to the same bytes).
    """

    def __init__(self, stream_name: str, out: t.BinaryIO | None = None) -> None:
        self._out = out
        self._prefix = b'{"type":"RECORD","stream":' + encoder.encode(stream_name) + b',"record":'
        self._buffer = bytearray(self._prefix)
        self._suffix = b""
        self.new_window()

    @property
    def time_extracted(self) -> dt.datetime:
        """When the window's records were extracted."""
        return self._time_extracted

    @time_extracted.setter
    def time_extracted(self, value: dt.datetime) -> None:
        self._time_extracted = value
        self._suffix = b',"time_extracted":' + encoder.encode(value) + b"}\n"

    def new_window(self) -> None:
        """Records of a new export were extracted now."""
        self.time_extracted = dt.datetime.now(dt.timezone.utc)

    def write(self, record: dict[str, t.Any]) -> None:
        """Write one RECORD line (buffered; the next STATE message flushes it)."""
        buffer = self._buffer
        start = len(self._prefix)
        encoder.encode_into(record, buffer, start)  # replaces whatever followed the prefix
        buffer += self._suffix
        (self._out or sys.stdout.buffer).write(buffer)
