"""A first look at an export's CSV bytes, before any line is parsed or held in memory.

Streamed in fixed chunks, so that memory stays bounded whatever the file holds: a line
longer than `max_csv_line_bytes` (one without a newline would otherwise be read whole),
bytes that are not UTF-8 (a UTF-16 export, a damaged byte), and the API key echoed anywhere
in it (which must not reach a record or a log) all stop the window with one message. A NUL
byte, which PostgreSQL refuses in text, is found here too (a `memchr` per chunk): the row
pass then only looks for its cell when there is one.
"""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

from tap_sei_time_in_status.api.secrets_guard import SecretGuard
from tap_sei_time_in_status.errors import SeiTapError

CHUNK_BYTES = 1 << 20
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class CsvBytesError(SeiTapError):
    """The export's file cannot be read as the CSV the tap expects."""


def check_csv_bytes(
    path: Path, export_id: str, *, max_line_bytes: int, guard: SecretGuard | None
) -> int | None:
    """Raise `CsvBytesError` for an overlong line, non-UTF-8 bytes or the key in the file.

    Returns the line of the first NUL byte, if the file holds one.
    """
    nul_line: int | None = None
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    secret = guard.secret_bytes_lower if guard is not None else b""
    overlap = b""
    line = 1  # the line the chunk starts in
    line_length = 0  # bytes of that line before the chunk
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            first, last = chunk.find(b"\n"), chunk.rfind(b"\n")
            if first < 0:
                newlines, head, tail = 0, line_length + len(chunk), line_length + len(chunk)
            else:
                newlines, head, tail = None, line_length + first, len(chunk) - last - 1
            # Lines inside the chunk can only be too long when the limit is below its size.
            inner = max_line_bytes < last - first
            if head > max_line_bytes or tail > max_line_bytes or inner:
                parts = chunk.split(b"\n")
                lengths = [line_length + len(parts[0]), *map(len, parts[1:])]
                too_long = [i for i, n in enumerate(lengths) if n > max_line_bytes]
                if too_long:
                    msg = (
                        f"export {export_id}, line {line + too_long[0]}: longer than "
                        f"{max_line_bytes:,} bytes (max_csv_line_bytes); raise "
                        "max_csv_line_bytes if such lines are expected"
                    )
                    raise CsvBytesError(msg)
            if nul_line is None and (at := chunk.find(b"\0")) >= 0:
                nul_line = line + chunk[:at].count(b"\n")
            if newlines is None:
                newlines = chunk.count(b"\n")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                raise _not_utf8(export_id, chunk, offset, line, e) from None
            if secret:
                seen = overlap + chunk.lower()
                if secret in seen:
                    at = line + seen[: seen.index(secret)].count(b"\n") - overlap.count(b"\n")
                    msg = (
                        f"export {export_id}, line {at}: the CSV contains the api_key; "
                        "refusing to emit any of its rows"
                    )
                    raise CsvBytesError(msg)
                overlap = seen[-(len(secret) - 1) :] if len(secret) > 1 else b""
            line += newlines
            line_length = tail
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as e:
            raise _not_utf8(export_id, b"", offset, line, e) from None
    return nul_line


#: What a NUL stands for while its cell is looked for (the csv module of Python 3.10
#: refuses NUL outright); a private-use character no export is expected to hold.
_NUL_MARK = "\ue000"


def locate_nul(path: Path, nul_line: int) -> tuple[int, str | None]:
    """The line a row with a NUL byte ends on, and the name of its column.

    `nul_line` is the line `check_csv_bytes` found it on, the answer when the CSV cannot be
    read far enough to find the cell (the window is refused either way).
    """
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as f:
            reader = csv.reader((line.replace("\0", _NUL_MARK) for line in f), strict=True)
            header = next(reader, [])
            if reader.line_num >= nul_line and any(_NUL_MARK in name for name in header):
                return reader.line_num, None
            for row in reader:
                if reader.line_num < nul_line:
                    continue  # (a private-use character of the data is no NUL)
                for index, cell in enumerate(row):
                    if _NUL_MARK in cell:
                        name = header[index].strip() if index < len(header) else None
                        return reader.line_num, name
    except csv.Error:
        pass
    return nul_line, None


def _not_utf8(
    export_id: str, chunk: bytes, offset: int, line: int, error: UnicodeDecodeError
) -> CsvBytesError:
    at = line + chunk[: max(error.start, 0)].count(b"\n")
    hint = " (it looks like UTF-16)" if offset == 0 and chunk.startswith(UTF16_BOMS) else ""
    msg = (
        f"export {export_id}, line {at}: the CSV is not UTF-8{hint} ({error.reason} at byte "
        f"{offset + max(error.start, 0):,}); the tap reads UTF-8 exports only"
    )
    return CsvBytesError(msg)
