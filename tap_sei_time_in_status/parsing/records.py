"""CSV to typed records: converters are built once per export from its header.

The header decides where each value goes (`csv_header`), so a reordered, extended or
shortened CSV still lands in the right fields, and a column the schema does not name is kept
in `additional_columns` rather than dropped. Per row there is only conversion left to do.

A file is read twice: a first pass checks its bytes, every row's shape, numbers and keys,
and only then are records emitted, so a file bad at its last line emits nothing (a target
that flushes at end of input would otherwise load half a window).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import operator
import re
import typing as t
from pathlib import Path

from tap_sei_time_in_status.api.secrets_guard import SecretGuard
from tap_sei_time_in_status.log_limits import short
from tap_sei_time_in_status.parsing.csv_bytes import check_csv_bytes, locate_nul
from tap_sei_time_in_status.parsing.csv_header import (
    DEFAULT_MAX_COLUMNS,
    CsvFormatError,
    header_layout,
)
from tap_sei_time_in_status.parsing.periods import PeriodDating, PeriodLabelError

if t.TYPE_CHECKING:
    from tap_sei_time_in_status.export.job import CompletedExport

__all__ = [
    "CsvFormatError",
    "ExportReader",
    "KeyGuard",
    "RecordParser",
    "long_records",
    "read_records",
    "to_float",
    "to_int",
]

Converter = t.Callable[[str], t.Any]
PeriodDates = t.Callable[[str], tuple[str | None, str | None]]

DEFAULT_MAX_LINE_BYTES = 1 << 20
# Cells these match convert exactly as the emitting pass converts them (finite, non-negative
# floats, ints within 64 bits, which JSON encoders take; ASCII digits only, as `[0-9]` is
# ASCII whatever the flags); anything else is checked the slow, exact way.
_FLOAT_CELL = r"(?:\+?(?:[0-9]{1,300}(?:\.[0-9]*)?|\.[0-9]+))?"
_INT_CELL = r"(?:\+?[0-9]{1,18})?"
INT64 = 1 << 63
#: Up to this many number cells, a row's pattern spells each cell out (the fastest to
#: match); past it, counted repetitions keep its size, and its compilation, constant.
_SPELLED_OUT_CELLS = 32


class CsvRows(t.Protocol):
    """A csv reader: rows, and the line the last one ended on."""

    @property
    def line_num(self) -> int: ...

    def __iter__(self) -> t.Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


def to_float(cell: str) -> float | None:
    """A finite number written in ASCII; an empty cell is null.

    Python's `float` also reads `1_000` and other scripts' digits (`١٢` is 12.0), which
    no CSV writer means as a number: both are refused.
    """
    if not cell:
        return None
    if "_" in cell or not cell.isascii():
        raise ValueError(cell)
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(cell)
    return value or 0.0  # `-0` (or `-1e-400`) is zero, not -0.0


def to_int(cell: str) -> int | None:
    """A whole number, also when written `12.0`; an empty cell is null."""
    if not cell:
        return None
    if "_" in cell or not cell.isascii():
        raise ValueError(cell)
    try:
        return int(cell)
    except ValueError:
        value = to_float(cell)
        if value is None or not value.is_integer():
            raise
        return int(value)


class KeyGuard:
    """Refuses two rows of one export with the same key: a target would keep only one.

    Exports come grouped by period, so only the current period's keys are held, and memory
    does not grow with the number of periods. Should a finished period come back (an export
    not grouped by period), the keys of every row so far are rebuilt from the file once and
    all are kept from then on: slower and larger, never wrong.
    """

    def __init__(
        self,
        export_id: str,
        key_names: t.Sequence[str],
        key_indexes: t.Sequence[int],
        reread: t.Callable[[], t.Iterator[tuple[int, list[str]]]] | None = None,
    ) -> None:
        self._export_id = export_id
        self._names = list(key_names)
        self._indexes = list(key_indexes)
        # Two or more columns, so itemgetter always answers a tuple.
        self._key_of = operator.itemgetter(*self._indexes)
        self._period: str | None = None
        self._seen: dict[tuple[str, ...], int] = {}
        self._finished: set[str] = set()
        self._everything = False
        self.reread = reread

    def current(self) -> tuple[str | None, dict[tuple[str, ...], int]]:
        """The period being checked and its keys so far, for a caller's inlined fast path."""
        return self._period, self._seen

    def check(self, row: list[str], line_number: t.Callable[[], int]) -> None:
        """Remember the row's key; raise `CsvFormatError` if an earlier row had it."""
        key: tuple[str, ...] = self._key_of(row)
        if key[0] != self._period and not self._everything:
            if key[0] in self._finished:
                self._keep_everything(line_number())
            else:
                if self._period is not None:
                    self._finished.add(self._period)
                self._period = key[0]
                self._seen = {}
        seen = self._seen
        if key not in seen:
            seen[key] = line_number()
            return
        described = ", ".join(f"{n}={v!r}" for n, v in zip(self._names, key, strict=True))
        msg = (
            f"export {self._export_id}: lines {seen[key]} and {line_number()} have the same "
            f"key ({described}); a target would keep only one of them"
        )
        raise CsvFormatError(msg)

    def _keep_everything(self, before_line: int) -> None:
        self._everything = True
        self._seen = {}
        if self.reread is None:
            return
        for number, row in self.reread():
            if number >= before_line:
                break
            if row:
                self._seen.setdefault(tuple(row[i] for i in self._indexes), number)


class RecordParser:
    """Turns the rows of one export's CSV into records, with fields fixed by its header."""

    def __init__(
        self,
        header: list[str],
        *,
        status_columns: t.Sequence[str],
        sprint: bool,
        export_id: str,
        static_fields: t.Mapping[str, t.Any],
        period_dates: PeriodDates | None = None,
        max_columns: int = DEFAULT_MAX_COLUMNS,
    ) -> None:
        self.export_id = export_id
        self._period_dates = period_dates
        #: Each label's dates, found by `validate` (which refuses a label outside the window).
        self._dated: dict[str, tuple[str | None, str | None]] = {}
        layout = header_layout(
            header,
            status_columns=status_columns,
            sprint=sprint,
            export_id=export_id,
            max_columns=max_columns,
        )
        self.header = layout.header
        self.key_columns = layout.key_fields
        self.additional_columns = layout.additional_columns
        #: Schema columns this export lacks (their fields are null, or stood in for).
        self.missing_columns = layout.missing
        # A missing column is null in every record: part of the fields set once per row.
        self._static = {**dict.fromkeys(layout.null_fields), **static_fields}
        # Per header, once: which cell goes to which field, by kind, so that a row is only
        # converted and placed (the row loop is the tap's hot path).
        self._key_indexes = layout.key_indexes
        self._text = layout.text
        self._floats = layout.floats
        self._ints = layout.ints
        self._extra_text = layout.extra_text
        self._extra_floats = layout.extra_floats

    def _number(
        self, cell: str, convert: Converter, column: str, line_number: t.Callable[[], int]
    ) -> t.Any:  # noqa: ANN401 - int or float or None
        """The slow path of a number cell: blank (null), padded, or not a number (an error).

        Padding is ASCII whitespace only: the whole cell must be ASCII.
        """
        try:
            if not cell.isascii():
                raise ValueError(cell)  # noqa: TRY301 - one message for every way to fail
            return convert(cell.strip())
        except ValueError:
            msg = (
                f"export {self.export_id}, line {line_number()}, column {column!r}: "
                f"{short(cell)!r} is not a number"
            )
            if not cell.isascii():
                msg += " (numbers are read in ASCII digits only, not other scripts' digits)"
            raise CsvFormatError(msg) from None

    def _check_number(
        self, cell: str, column: str, line_number: t.Callable[[], int], *, integer: bool
    ) -> None:
        """The slow check of a number cell: as the emitting pass converts it, and meaningful.

        Hours and counts are never negative, and integers must fit 64 bits.
        """
        value = self._number(cell, to_int if integer else to_float, column, line_number)
        if value is None:
            return
        problem = ""
        if integer and not -INT64 <= value < INT64:
            problem = "is outside the 64-bit integer range"
        elif value < 0:
            problem = "is negative, which hours and counts cannot be"
        if problem:
            msg = (
                f"export {self.export_id}, line {line_number()}, column {column!r}: "
                f"{short(cell, 40)!r} {problem}"
            )
            raise CsvFormatError(msg)

    def _check_numbers(self, row: list[str], line_number: t.Callable[[], int]) -> None:
        """The slow check of a row whose number cells the row's pattern did not accept."""
        for index, field in self._ints:
            self._check_number(row[index], field, line_number, integer=True)
        for index, field in (*self._floats, *self._extra_floats):
            self._check_number(row[index], field, line_number, integer=False)

    def _dates_of(self, label: str, line_number: t.Callable[[], int]) -> None:
        """Date a period label once (`parse` reuses it); a label outside the window stops it."""
        if self._period_dates is None:
            return
        try:
            self._dated[label] = self._period_dates(label)
        except PeriodLabelError as e:
            msg = f"export {self.export_id}, line {line_number()}: {e}"
            raise CsvFormatError(msg) from None

    def validate(
        self,
        rows: CsvRows,
        reread: t.Callable[[], t.Iterator[tuple[int, list[str]]]] | None = None,
    ) -> int:
        """Check every row (shape, numbers, keys, periods) without emitting; the row count.

        The common row is accepted by one regular expression over its number cells joined
        by commas (a cell holding a comma adds one and fails it); only an unusual row is
        converted, exactly as `parse` converts it, so both passes agree. Each new period
        label is dated here, once.
        """
        width = len(self.header)

        def line_number() -> int:
            return rows.line_num

        guard = KeyGuard(self.export_id, self.key_columns, self._key_indexes, reread)
        key_of = operator.itemgetter(*self._key_indexes)
        numeric = [index for index, _ in (*self._ints, *self._floats, *self._extra_floats)]
        # A tuple whatever the count (number columns may be missing from an export).
        numbers_of: t.Callable[[list[str]], tuple[str, ...]] = (
            operator.itemgetter(*numeric)
            if len(numeric) > 1
            else (lambda row: tuple(row[i] for i in numeric))
        )
        plain_row_match = _row_pattern(len(self._ints), len(numeric) - len(self._ints)).fullmatch
        join = ",".join
        period, seen = guard.current()
        dated = self._dated
        count = 0
        for row in rows:
            if len(row) != width:
                if not row:
                    continue
                msg = (
                    f"export {self.export_id}, line {rows.line_num}: {len(row)} cells, "
                    f"the header has {width}"
                )
                raise CsvFormatError(msg)
            key = key_of(row)
            if key[0] == period and key not in seen:
                seen[key] = rows.line_num
            else:  # a new period, or a duplicate: the guard decides
                guard.check(row, line_number)
                period, seen = guard.current()
                if key[0] not in dated:
                    self._dates_of(key[0], line_number)
            if not plain_row_match(join(numbers_of(row))):
                self._check_numbers(row, line_number)
            count += 1
        return count

    def parse(
        self, rows: t.Iterator[list[str]], line_number: t.Callable[[], int]
    ) -> t.Iterator[dict[str, t.Any]]:
        """Yield one record per row of a file `validate` has accepted whole.

        Shape, keys and finiteness were checked there, so only conversion is left; a cell
        that still fails to convert raises `CsvFormatError` naming the line and column.
        """
        text, ints, floats = self._text, self._ints, self._floats
        extra_text, extra_floats = self._extra_text, self._extra_floats
        static = self._static
        period_dates = self._period_dates
        dated = self._dated
        for row in rows:
            if not row:
                continue  # a blank line, e.g. at the end of the file
            record: dict[str, t.Any] = dict(static)
            extra: dict[str, t.Any] = {}
            for index, field in text:
                record[field] = row[index]
            for index, field in ints:
                cell = row[index]
                try:
                    record[field] = int(cell) if cell else None
                except ValueError:
                    record[field] = self._number(cell, to_int, field, line_number)
            for target, fields in ((record, floats), (extra, extra_floats)):
                for index, field in fields:
                    cell = row[index]
                    if not cell:
                        target[field] = None
                        continue
                    try:
                        target[field] = float(cell) or 0.0  # `-0` is zero, not -0.0
                    except ValueError:
                        target[field] = self._number(cell, to_float, field, line_number)
            for index, field in extra_text:
                extra[field] = row[index] or None
            record["additional_columns"] = extra
            if period_dates is not None:
                label = record["period"]
                dates = dated.get(label)
                if dates is None:  # `validate` dated every label; this is only for safety
                    dates = dated[label] = period_dates(label)
                record["period_start"], record["period_end"] = dates
            yield record


def _row_pattern(ints: int, floats: int) -> re.Pattern[str]:
    """The pattern of a plain row's number cells, joined by commas: ints, then floats.

    Constant in size whatever the header's width: past a few cells, each kind is one cell
    and a counted repetition of `,cell`.
    """
    if ints + floats <= _SPELLED_OUT_CELLS:
        return re.compile(",".join([_INT_CELL] * ints + [_FLOAT_CELL] * floats))
    kinds = [(cell, n) for cell, n in ((_INT_CELL, ints), (_FLOAT_CELL, floats)) if n]
    return re.compile(",".join(f"{cell}(?:,{cell}){{{n - 1}}}" for cell, n in kinds))


def read_records(
    path: Path,
    *,
    status_columns: t.Sequence[str],
    sprint: bool,
    export_id: str,
    static_fields: t.Mapping[str, t.Any],
    on_header: t.Callable[[RecordParser], None] | None = None,
    period_dates: PeriodDates | None = None,
    guard: SecretGuard | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_columns: int = DEFAULT_MAX_COLUMNS,
) -> t.Iterator[dict[str, t.Any]]:
    """Stream the records of one export's plain CSV file (UTF-8, BOM and CRLF tolerated).

    Nothing is yielded before the whole file has been checked.
    """
    nul_line = check_csv_bytes(path, export_id, max_line_bytes=max_line_bytes, guard=guard)
    csv.field_size_limit(max_line_bytes)  # a quoted cell may span lines: bound it too
    if nul_line is not None:
        line, column = locate_nul(path, nul_line)
        where = f"line {line}" + ("" if column is None else f", column {short(column)!r}")
        msg = (
            f"export {export_id}, {where}: a NUL byte (\\x00) in a cell, which PostgreSQL "
            "and most warehouses cannot store in text; refusing the window"
        )
        raise CsvFormatError(msg)
    with path.open("r", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, strict=True)
        with _csv_errors(export_id, reader, max_line_bytes):
            header = next(reader, None)
            if header is None:
                msg = f"export {export_id}: the CSV is empty, not even a header"
                raise CsvFormatError(msg)
            parser = RecordParser(
                header,
                status_columns=status_columns,
                sprint=sprint,
                export_id=export_id,
                static_fields=static_fields,
                period_dates=period_dates,
                max_columns=max_columns,
            )
            parser.validate(reader, lambda: _numbered_rows(path))
        if on_header is not None:
            on_header(parser)
        f.seek(0)
        reader = csv.reader(f, strict=True)
        next(reader)
        yield from parser.parse(reader, lambda: reader.line_num)


@dataclasses.dataclass(frozen=True)
class ExportReader:
    """How a sync reads every export's CSV: its statuses, its limits, who hears of headers."""

    status_columns: t.Sequence[str]
    sprint: bool
    guard: SecretGuard
    periods: PeriodDating
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_columns: int = DEFAULT_MAX_COLUMNS
    on_header: t.Callable[[RecordParser], None] | None = None

    def records(self, completed: CompletedExport) -> t.Iterator[dict[str, t.Any]]:
        """The records of a completed export, each with the request that produced it."""
        request = completed.request
        static = {
            "scope_type": request.scope.scope_type,
            "scope_id": request.scope.scope_id,
            "window_start": request.window.start.isoformat(),
            "window_end": request.window.end.isoformat(),
            "granularity": request.granularity,
            "aggregation_level": request.aggregation_level,
            "terminal_date_column": request.terminal_date_column,
            "export_id": completed.export_id,
        }
        where = f"{request} export {completed.export_id}"
        with self.periods.window(request.window, where) as period_dates:
            yield from read_records(
                completed.csv_path,
                status_columns=self.status_columns,
                sprint=self.sprint,
                export_id=completed.export_id,
                static_fields=static,
                on_header=self.on_header,
                period_dates=period_dates,
                guard=self.guard,
                max_line_bytes=self.max_line_bytes,
                max_columns=self.max_columns,
            )


@contextlib.contextmanager
def _csv_errors(export_id: str, reader: t.Any, max_line_bytes: int) -> t.Iterator[None]:  # noqa: ANN401 - a csv reader
    """Turns the csv module's errors into one line naming the export, line and setting."""
    try:
        yield
    except csv.Error as error:
        where = f"export {export_id}, line {reader.line_num}"
        if "field larger than field limit" in str(error):
            msg = (
                f"{where}: a cell longer than {max_line_bytes:,} characters "
                "(max_csv_line_bytes); raise max_csv_line_bytes if such cells are expected"
            )
        else:
            msg = f"{where}: malformed CSV ({error})"
        raise CsvFormatError(msg) from None


def _numbered_rows(path: Path) -> t.Iterator[tuple[int, list[str]]]:
    """The data rows of a CSV file again, each with the line number it ends on."""
    with path.open("r", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, strict=True)
        next(reader, None)
        for row in reader:
            yield reader.line_num, row


LONG_FIELDS = (
    "period",
    "period_start",
    "period_end",
    "team",
    "team_hierarchy",
    "sprint",
    "total_issues",
    "scope_type",
    "scope_id",
    "window_start",
    "window_end",
    "granularity",
    "aggregation_level",
    "terminal_date_column",
    "export_id",
)


def long_records(
    record: t.Mapping[str, t.Any], statuses: t.Mapping[str, str]
) -> t.Iterator[dict[str, t.Any]]:
    """One record per status of a `time_in_status` record: `status`, `hours`, the same keys.

    The configured statuses come first, named as configured (`statuses` holds those whose
    column the export has: a status it did not measure gets no record); then every `*_hours`
    column the export added on its own (kept in `additional_columns`), named after the column.
    """
    common = {name: record[name] for name in LONG_FIELDS if name in record}
    for status, column in statuses.items():
        yield {**common, "status": status, "hours": record[column]}
    for column, hours in record["additional_columns"].items():
        if column.endswith("_hours"):
            yield {**common, "status": column.removesuffix("_hours"), "hours": hours}
