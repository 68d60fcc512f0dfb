"""Export files on disk: the gzip CSV written once per export, and its damaged copies.

Files are streamed row by row so that a benchmark export of millions of rows costs disk,
not memory. The gzip header carries no name or time, so equal data gives equal bytes.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

from .config import SandboxConfig
from .contract import ExportRequest
from .data import csv_header, iter_rows, period_label, period_start, periods, text_column_count
from .faults import WIDE_COLUMNS

CSV_LINE_TERMINATOR: Final = "\r\n"
_COMPRESS_LEVEL: Final = 1  # speed over size: benchmark files are large
_FLUSH_ROWS: Final = 4096


@dataclass(frozen=True)
class ExportFile:
    """A gzip CSV on disk, with what a download needs to know about it."""

    path: Path
    rows: int
    plain_size: int
    gzip_size: int


def write_export_file(request: ExportRequest, config: SandboxConfig, path: Path) -> ExportFile:
    """Write the export of `request` to `path` as gzip CSV.

    Only the leading text columns (period, team, hierarchy, sprint) can need quoting; their
    few distinct values are quoted once by the csv module and joined to the numeric cells,
    which is the same output as `csv.writer` at a fraction of its cost per row. With
    `csv_file` set, that file's bytes are the export's CSV, whatever the request.
    """
    if config.csv_file is not None:
        return write_given_csv(Path(config.csv_file), path)
    header = csv_header(request, config)
    text_columns = text_column_count(request, config)
    quoted: dict[str, str] = {}
    count = 0
    plain_size = 0
    lines: list[str] = [_csv_line(header)]
    quoted[""] = ""  # csv.writer quotes a lone empty field, but not one among others
    with _gzip_writer(path) as packed:
        for row in iter_rows(request, config):
            cells = []
            for value in row[:text_columns]:
                cell = quoted.get(value)
                if cell is None:
                    cell = quoted[value] = _csv_line([value])
                cells.append(cell)
            cells.extend(row[text_columns:])
            lines.append(",".join(cells))
            count += 1
            if count % _FLUSH_ROWS == 0:
                plain_size += _write_lines(lines, packed)
        plain_size += _write_lines(lines, packed)
    return ExportFile(path, count, plain_size, path.stat().st_size)


def write_csv_gzip(header: list[str], rows: Iterable[list[str]], path: Path) -> ExportFile:
    """Write `header` and `rows` as gzip CSV (QUOTE_MINIMAL, CRLF), in batches of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator=CSV_LINE_TERMINATOR)
    writer.writerow(header)
    count = 0
    plain_size = 0
    with _gzip_writer(path) as packed:
        for row in rows:
            writer.writerow(row)
            count += 1
            if count % _FLUSH_ROWS == 0:
                plain_size += _flush(buffer, packed)
        plain_size += _flush(buffer, packed)
    return ExportFile(path, count, plain_size, path.stat().st_size)


def write_given_csv(source: Path, path: Path) -> ExportFile:
    """Compress a CSV file's bytes, unchanged, into `path`."""
    data = source.read_bytes()
    with _gzip_writer(path) as packed:
        packed.write(data)
    rows = sum(1 for row in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) if row)
    return ExportFile(path, max(rows - 1, 0), len(data), path.stat().st_size)


def read_csv_rows(export: ExportFile) -> Iterator[list[str]]:
    """The rows of an export file, header first."""
    with gzip.open(export.path, "rt", encoding="utf-8", newline="") as text:
        yield from csv.reader(text)


def write_malformed(
    export: ExportFile,
    kind: str,
    path: Path,
    *,
    secret: str = "",
    request: ExportRequest | None = None,
) -> ExportFile:
    """A copy of `export` damaged as the download fault `kind` says.

    `malformed_non_numeric` puts `abc` in the first row's first number (`total_issues`
    unless omitted); `malformed_missing_column` drops the indispensable `team` everywhere;
    `malformed_duplicate_keys` writes the first row twice; `ragged` gives the first row one
    cell too many; `late_non_numeric` puts `abc` in the last row's first number;
    `key_in_cell` puts `secret` (case swapped) in the last row's team. The byte-level kinds
    are in `_BYTE_KINDS`; the kinds of issue 18 (`_TRUST_KINDS`) are described in `faults`
    (`other_window_labels` needs the export's `request`).
    """
    if kind in _BYTE_KINDS:
        return _write_damaged_bytes(export, kind, path)
    if kind in _TRUST_KINDS:
        return _write_untrustworthy(export, kind, path, request)
    rows = read_csv_rows(export)
    header = next(rows)
    folded = [name.casefold() for name in header]
    numbers = [i for i, n in enumerate(folded) if n == "total_issues" or n.endswith("_hours")]
    issues = numbers[0] if numbers else 0
    team = folded.index("team") if "team" in folded else 1
    body = list(rows)  # sandbox exports that get damaged are small

    def damaged() -> Iterator[list[str]]:
        last = len(body) - 1
        for number, row in enumerate(body):
            first = number == 0
            if kind == "malformed_non_numeric" and first:
                row[issues] = "abc"
            elif kind == "malformed_missing_column":
                del row[team]
            elif kind == "malformed_duplicate_keys" and first:
                yield list(row)
            elif kind == "ragged" and first:
                row.append("unexpected")
            elif kind == "late_non_numeric" and number == last:
                row[issues] = "abc"
            elif kind == "key_in_cell" and number == last:
                row[team] = f"Team {secret.swapcase()}"
            yield row

    if kind == "malformed_missing_column":
        del header[team]
    elif kind not in _ROW_KINDS:
        msg = f"not a malformed-download kind: {kind!r}"
        raise ValueError(msg)
    return write_csv_gzip(header, damaged(), path)


_ROW_KINDS: Final = frozenset(
    {
        "malformed_non_numeric",
        "malformed_duplicate_keys",
        "ragged",
        "late_non_numeric",
        "key_in_cell",
    }
)
_BYTE_KINDS: Final = frozenset(
    {"utf16", "invalid_utf8_header", "invalid_utf8_body", "long_line", "long_cell"}
)
_TRUST_KINDS: Final = frozenset(
    {
        "other_window_labels",
        "undatable_labels",
        "nul_in_cell",
        "negative_hours",
        "negative_count",
        "non_ascii_digits",
        "wide_header",
    }
)
_NUL_STAND_IN: Final = "\ue001"
#: Arabic-Indic digits, which Python's `int()` and `float()` read as 0-9.
_ARABIC_INDIC = str.maketrans(
    "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
)


def _write_untrustworthy(
    export: ExportFile, kind: str, path: Path, request: ExportRequest | None
) -> ExportFile:
    """A copy of `export` whose rows move to another window, cannot be dated or stored."""
    rows = read_csv_rows(export)
    header = next(rows)
    folded = [name.casefold() for name in header]
    label, team = folded.index("granularity"), folded.index("team")
    issues = folded.index("total_issues") if "total_issues" in folded else None
    hours = [i for i, name in enumerate(folded) if name.endswith("_hours")]
    body = list(rows)  # sandbox exports that get damaged are small
    if kind == "other_window_labels":
        if request is None:
            msg = "other_window_labels needs the export's request"
            raise ValueError(msg)
        earlier = _earlier_labels(request)
        for row in body:
            row[label] = earlier.get(row[label], row[label])
    elif kind == "undatable_labels":
        for number, row in enumerate(body, start=1):
            row[label] = f"Period {number}"
    elif kind == "wide_header":
        header = header + [f"h{i:x}_hours" if i % 2 else f"c{i:x}" for i in range(WIDE_COLUMNS)]
        body = [row + [""] * WIDE_COLUMNS for row in body]
    elif body:
        last = body[-1]
        if kind == "nul_in_cell":  # put in as bytes: the csv module of Python 3.10 refuses NUL
            last[team] = f"{last[team][:2]}{_NUL_STAND_IN}{last[team][2:]}"
        elif kind == "negative_hours":
            column = next((i for i in hours if last[i]), hours[0])
            last[column] = f"-{last[column] or '1.5'}"
        elif issues is not None:
            last[issues] = (
                f"-{last[issues]}"
                if kind == "negative_count"
                else last[issues].translate(_ARABIC_INDIC)
            )
    written = write_csv_gzip(header, body, path)
    if kind != "nul_in_cell":
        return written
    with gzip.open(path, "rb") as f:
        data = f.read().replace(_NUL_STAND_IN.encode(), b"\0")
    with _gzip_writer(path) as packed:
        packed.write(data)
    return ExportFile(path, written.rows, len(data), path.stat().st_size)


def _earlier_labels(request: ExportRequest) -> dict[str, str]:
    """Each period label of the window -> the label as many periods earlier as it holds."""
    own = list(periods(request.granularity, request.start, request.end))
    starts = []
    day = own[0].start if own else request.start
    for _ in own:
        day = period_start(request.granularity, day - timedelta(days=1))
        starts.append(day)
    starts.reverse()
    return {p.label: period_label(request.granularity, d) for p, d in zip(own, starts, strict=True)}


def _write_damaged_bytes(export: ExportFile, kind: str, path: Path) -> ExportFile:
    """A copy of `export` whose bytes are damaged: encoding, or a line or cell too long."""
    with gzip.open(export.path, "rb") as f:
        data = f.read()
    if kind == "utf16":
        data = data.decode("utf-8").encode("utf-16")
    elif kind == "invalid_utf8_header":
        data = data.replace(b"granularity", b"gran\xffularity", 1)
    elif kind == "invalid_utf8_body":
        last = data.rstrip(b"\r\n").rfind(b"\n") + 1
        data = data[:last] + b"\xc3\x28" + data[last:]
    elif kind == "long_line":
        data += b"x" * 10_000
    else:  # long_cell
        data += b'"' + (b"y" * 900 + b"\r\n") * 12 + b'",x\r\n'
    with _gzip_writer(path) as packed:
        packed.write(data)
    return ExportFile(path, export.rows, len(data), path.stat().st_size)


@functools.lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """A CSV header and `size` zero bytes, gzip at the best ratio (~1/1000): a bomb."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(b"granularity,team,team_hierarchy,total_issues\r\n")]
    block = b"\0" * (1 << 20)
    for start in range(0, size, len(block)):
        parts.append(packer.compress(block[: size - start]))
    parts.append(packer.flush())
    return b"".join(parts)


def plain_huge_line(size: int) -> bytes:
    """A plain CSV: the header, then one line of `size` bytes without a newline."""
    return b"granularity,team,team_hierarchy,total_issues\r\n" + b"x" * size


def iter_file_chunks(path: Path, chunk_size: int, *, gunzip: bool = False) -> Iterator[bytes]:
    """The bytes of a file, decompressed on the fly when `gunzip` (for plain CSV answers)."""
    with path.open("rb") as raw:
        if gunzip:
            with gzip.GzipFile(fileobj=raw, mode="rb") as plain:
                while chunk := plain.read(chunk_size):
                    yield chunk
        else:
            while chunk := raw.read(chunk_size):
                yield chunk


@contextlib.contextmanager
def _gzip_writer(path: Path) -> Iterator[gzip.GzipFile]:
    """A gzip stream into `path` whose header holds no file name or time."""
    with (
        path.open("wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=_COMPRESS_LEVEL, mtime=0
        ) as packed,
    ):
        yield packed


def _csv_line(row: list[str]) -> str:
    """One row as `csv.writer` writes it (QUOTE_MINIMAL), without the line terminator."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator=CSV_LINE_TERMINATOR)
    writer.writerow(row)
    return buffer.getvalue()[: -len(CSV_LINE_TERMINATOR)]


def _write_lines(lines: list[str], packed: gzip.GzipFile) -> int:
    """Write a batch of unterminated lines, each followed by CRLF, and clear it."""
    if not lines:
        return 0
    lines.append("")  # so that the join ends the last line too
    data = CSV_LINE_TERMINATOR.join(lines).encode("utf-8")
    lines.clear()
    packed.write(data)
    return len(data)


def _flush(buffer: io.StringIO, packed: gzip.GzipFile) -> int:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    packed.write(data)
    return len(data)
