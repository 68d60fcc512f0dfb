"""What each export's header tells the user: columns it adds, schema columns it lacks.

Exports of one sync usually share a header, so each column is named once per sync, not once
per export; the statuses an export measures decide which long records its rows give.
"""

from __future__ import annotations

import logging
import typing as t

from tap_sei_time_in_status.log_limits import some
from tap_sei_time_in_status.parsing.csv_header import missing_columns_effect

if t.TYPE_CHECKING:
    from tap_sei_time_in_status.parsing.records import RecordParser


class HeaderNotes:
    """Logs new and missing columns once per sync; knows the statuses the export measures."""

    def __init__(self, logger: logging.Logger, status_columns: t.Mapping[str, str]) -> None:
        self._logger = logger
        self._statuses = dict(status_columns)
        self._additional: set[str] = set()
        self._missing: set[str] = set()
        #: The configured statuses the export being read has a column for.
        self.measured: dict[str, str] = dict(status_columns)

    def note(self, parser: RecordParser) -> list[str]:
        """Take in an export's header; the additional columns no earlier export had."""
        lacking = set(parser.missing_columns)
        self.measured = {
            status: column for status, column in self._statuses.items() if column not in lacking
        }
        new = [c for c in parser.additional_columns if c not in self._additional]
        if new:
            self._additional.update(new)
            self._logger.info(
                "Export %s has column(s) not in the schema, kept in additional_columns: %s",
                parser.export_id,
                some(new),
            )
        missing = [c for c in parser.missing_columns if c not in self._missing]
        if missing:
            self._missing.update(missing)
            self._logger.warning(
                "Export %s has no column %s: %s (see 'What the tap expects of the CSV' in the "
                "README); said once per sync",
                parser.export_id,
                some(missing),
                missing_columns_effect(missing),
            )
        return new
