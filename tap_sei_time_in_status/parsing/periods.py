"""Period labels to dates, so analysts can join and chart by date instead of by `Jan 2026`.

The CSV names a period by a label whose format the API does not document; the known forms are
parsed, and a label that cannot be dated falls back to the window when the window holds
exactly one period. A label that can be dated but whose period lies outside the export's window
is another window's data: `PeriodOutsideWindowError`, never a row moved to this window's dates.
That holds for a label in the form of another granularity too (`2019-03-15` or `2019-W10` in a
monthly export): it cannot give the row its period, but it still says the row is not this
window's. A label written in another script's digits (`٢٠١٩-W10`) is refused outright
(`PeriodLabelError`): it names a period the tap will not read, which may be any other.

Forms recognised (case-insensitive, surrounding and repeated whitespace ignored):

- daily: `2026-01-05`
- weekly: `2026-W02`, `2026-W2`, `2026 W02`, `W02 2026`, or a date in the week, usually its
  Monday: `2026-01-05`, `Week of 2026-01-05`
- monthly: `Jan 2026`, `January 2026`, `Jan. 2026`, `2026-01`, `01/2026`, or the month's
  first day `2026-01-01`
- quarterly: `Q1 2026`, `2026-Q1`, `2026 Q1`, or the quarter's first day `2026-01-01`
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import re
import typing as t

from tap_sei_time_in_status.log_limits import RepeatedWarnings, short
from tap_sei_time_in_status.settings import Granularity
from tap_sei_time_in_status.settings_schema import GRANULARITIES
from tap_sei_time_in_status.windows import Window, next_period_start, period_start


class PeriodLabelError(ValueError):
    """A row's period label the tap refuses: dating it would put the row under wrong dates."""


class PeriodOutsideWindowError(PeriodLabelError):
    """A row's period label names a period that does not meet its export's window."""

    def __init__(self, label: str, period: tuple[dt.date, dt.date], window: Window) -> None:
        super().__init__(
            f"the period label {short(label)!r} names {period[0].isoformat()}.."
            f"{period[1].isoformat()}, outside the export's window {window}: the server "
            "answered with another window's data; refusing the window"
        )


class ForeignDigitsLabelError(PeriodLabelError):
    """A period label written in digits of another script, which the tap does not date."""

    def __init__(self, label: str) -> None:
        super().__init__(
            f"the period label {short(label)!r} (column 'granularity') is written in digits of "
            "another script; the tap dates labels in ASCII digits only and will not guess which "
            "period it names; refusing the window"
        )


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
# re.ASCII: `\d` must not match other scripts' digits, which int() would accept.
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_WEEK_OF = re.compile(r"week of (\d{4})-(\d{2})-(\d{2})", re.ASCII)
_WEEK = re.compile(r"(\d{4})[- ]?w(\d{1,2})|w(\d{1,2})[- ](\d{4})", re.ASCII)
_MONTH_NAME = re.compile(r"([a-z]+)\.?,?[- ](\d{4})", re.ASCII)
_MONTH_NUMBER = re.compile(r"(\d{4})-(\d{2})|(\d{1,2})/(\d{4})", re.ASCII)
_QUARTER = re.compile(r"q([1-4])[- ](\d{4})|(\d{4})[- ]?q([1-4])", re.ASCII)


def _period(first: dt.date, granularity: Granularity) -> tuple[dt.date, dt.date]:
    """The first and last day of the period starting at `first`."""
    return first, next_period_start(first, granularity) - dt.timedelta(days=1)


@functools.lru_cache(maxsize=4096)
def parse_period_label(label: str, granularity: Granularity) -> tuple[dt.date, dt.date] | None:
    """The first and last day of the period a label names, or None if it cannot be dated.

    Cached because every row of a period repeats its label. A label of another granularity's
    form (`Q1 2026` when weekly) is None: its dates would not be the row's period.
    """
    text = " ".join(label.split()).lower()
    try:
        first = _first_day(text, granularity)
        return None if first is None else _period(first, granularity)
    except (ValueError, OverflowError):  # 2026-02-30, week 60, a period past year 9999
        return None


def _first_day(text: str, granularity: Granularity) -> dt.date | None:
    """The first day of the period `text` names; raises ValueError for impossible dates."""
    if granularity == "daily":
        return _iso_date(_DATE, text)
    if granularity == "weekly":
        return _first_day_of_week(text)
    if granularity == "monthly":
        return _first_day_of_month(text)
    return _first_day_of_quarter(text)


def _iso_date(pattern: re.Pattern[str], text: str) -> dt.date | None:
    match = pattern.fullmatch(text)
    return None if match is None else dt.date(int(match[1]), int(match[2]), int(match[3]))


def _first_day_of_week(text: str) -> dt.date | None:
    """ISO weeks by number, or by any date in them (the server may send the Monday)."""
    if match := _WEEK.fullmatch(text):
        year, week = (match[1], match[2]) if match[1] else (match[4], match[3])
        return dt.date.fromisocalendar(int(year), int(week), 1)
    day = _iso_date(_DATE, text) or _iso_date(_WEEK_OF, text)
    return None if day is None else period_start(day, "weekly")


def _first_day_of_month(text: str) -> dt.date | None:
    if (match := _MONTH_NAME.fullmatch(text)) and match[1] in _MONTHS:
        return dt.date(int(match[2]), _MONTHS[match[1]], 1)
    if match := _MONTH_NUMBER.fullmatch(text):
        year, month = (match[1], match[2]) if match[1] else (match[4], match[3])
        return dt.date(int(year), int(month), 1)
    return _period_start_date(text, "monthly")


def _first_day_of_quarter(text: str) -> dt.date | None:
    if match := _QUARTER.fullmatch(text):
        quarter, year = (match[1], match[2]) if match[1] else (match[4], match[3])
        return dt.date(int(year), 3 * int(quarter) - 2, 1)
    return _period_start_date(text, "quarterly")


def _period_start_date(text: str, granularity: Granularity) -> dt.date | None:
    """A date label for a month or quarter, only when it is the period's first day.

    Any other date (`2026-01-15`) is more likely a daily label than a period's name.
    """
    day = _iso_date(_DATE, text)
    return day if day is not None and period_start(day, granularity) == day else None


def period_dates(
    label: str, granularity: Granularity, window: Window
) -> tuple[dt.date, dt.date] | None:
    """The period of a row: from its label, else from a window of exactly one period.

    The window was exported alone, so its rows can only belong to its periods: a label whose
    period does not meet the window, in this granularity's form or another's, raises
    `PeriodOutsideWindowError` (relabelling the row with this window's dates would hide
    another window's data under them), and one in another script's digits
    `ForeignDigitsLabelError`. A label that cannot be dated falls back to the window's
    period; the fallback gives the whole period even when `end_date` cut the window, so a
    period has the same dates in every window that exports it.
    """
    parsed = parse_period_label(label, granularity)
    if parsed is not None:
        if _meets(parsed, window):
            return parsed
        raise PeriodOutsideWindowError(label, parsed, window)
    if not label.isascii() and any(c.isdigit() and not c.isascii() for c in label):
        raise ForeignDigitsLabelError(label)
    elsewhere = _named_elsewhere(label, window)
    if elsewhere is not None:
        raise PeriodOutsideWindowError(label, elsewhere, window)
    if period_start(window.start, granularity) != window.start:
        return None
    try:
        only = _period(window.start, granularity)
    except (ValueError, OverflowError):  # a window ending at dt.date.max
        return None
    return only if window.end <= only[1] else None


def _meets(period: tuple[dt.date, dt.date], window: Window) -> bool:
    return period[0] <= window.end and period[1] >= window.start


def _named_elsewhere(label: str, window: Window) -> tuple[dt.date, dt.date] | None:
    """The period a label of another granularity's form names, when none meets the window.

    `2019-03-15` in a monthly export cannot date its row, but it says the row is another
    window's; a label whose forms meet the window (`2025-01-15` in January) may fall back.
    """
    named = [p for g in GRANULARITIES if (p := parse_period_label(label, g)) is not None]
    if not named or any(_meets(period, window) for period in named):
        return None
    return named[0]


class PeriodDating:
    """Dates the rows of a sync's windows.

    A label the tap cannot date is said once per sync, and at most a few times per window
    (`log_limits`): a file of thousands of such labels writes a handful of lines.
    """

    def __init__(self, granularity: Granularity, logger: logging.Logger) -> None:
        self._granularity = granularity
        self._logger = logger
        self._undated: set[str] = set()

    @contextlib.contextmanager
    def window(
        self, window: Window, where: str
    ) -> t.Iterator[t.Callable[[str], tuple[str | None, str | None]]]:
        """The dating of one window's rows (the parser dates each distinct label once)."""
        warnings = RepeatedWarnings(self._logger, where)
        try:
            yield functools.partial(self._dates, window=window, warnings=warnings)
        finally:
            warnings.close()

    def _dates(
        self, label: str, *, window: Window, warnings: RepeatedWarnings
    ) -> tuple[str | None, str | None]:
        dates = period_dates(label, self._granularity, window)
        if dates is not None:
            return dates[0].isoformat(), dates[1].isoformat()
        if label not in self._undated:
            self._undated.add(label)
            warnings.note(
                "period labels the tap cannot date",
                "Period label %r (granularity %s, window %s) is not one the tap can date: "
                "period_start and period_end are null for it",
                short(label),
                self._granularity,
                window,
            )
        return None, None
