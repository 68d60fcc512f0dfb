"""Period labels to dates, so analysts can join and chart by date instead of by `Jan 2026`.

The CSV names a period by a label whose format the API does not document; the known forms are
parsed, and a label that cannot be dated falls back to the window when the window holds
exactly one period.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

from tap_sei_time_in_status.settings import Granularity
from tap_sei_time_in_status.windows import Window, next_period_start, period_start

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
_DATE = re.compile(r"^(?:week of\s+)?(\d{4})-(\d{2})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})[-\s]?w(\d{1,2})$|^w(\d{1,2})[\s-](\d{4})$")
_MONTH_NAME = re.compile(r"^([a-z]+)\.?[\s-](\d{4})$")
_MONTH_NUMBER = re.compile(r"^(\d{4})-(\d{2})$|^(\d{2})/(\d{4})$")
_QUARTER = re.compile(r"^q([1-4])[\s-](\d{4})$|^(\d{4})[\s-]q([1-4])$")


def _period(first: dt.date, granularity: Granularity) -> tuple[dt.date, dt.date]:
    return first, next_period_start(first, granularity) - dt.timedelta(days=1)


@lru_cache(maxsize=4096)
def parse_period_label(label: str, granularity: Granularity) -> tuple[dt.date, dt.date] | None:
    """The first and last day of the period a label names, or None if it cannot be dated."""
    text = " ".join(label.strip().lower().split())
    try:
        first = _first_day(text, granularity)
    except ValueError:  # e.g. 2026-02-30, week 60
        return None
    return None if first is None else _period(first, granularity)


def _first_day(text: str, granularity: Granularity) -> dt.date | None:  # noqa: PLR0911
    if match := _DATE.match(text):
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        if granularity == "daily":
            return day
        if granularity == "weekly" or period_start(day, granularity) == day:
            return period_start(day, granularity)
        return None
    if granularity == "weekly" and (match := _WEEK.match(text)):
        year, week = (match[1], match[2]) if match[1] else (match[4], match[3])
        return dt.date.fromisocalendar(int(year), int(week), 1)
    if granularity == "monthly":
        if (match := _MONTH_NAME.match(text)) and match[1] in _MONTHS:
            return dt.date(int(match[2]), _MONTHS[match[1]], 1)
        if match := _MONTH_NUMBER.match(text):
            year, month = (match[1], match[2]) if match[1] else (match[4], match[3])
            return dt.date(int(year), int(month), 1)
    if granularity == "quarterly" and (match := _QUARTER.match(text)):
        quarter, year = (match[1], match[2]) if match[1] else (match[4], match[3])
        return dt.date(int(year), 3 * int(quarter) - 2, 1)
    return None


def period_dates(
    label: str, granularity: Granularity, window: Window
) -> tuple[dt.date, dt.date] | None:
    """The period of a row: from its label, else from a window of exactly one period.

    A label whose period does not meet the window is not trusted (it would put the row in
    another window's dates), so it falls back like an unknown one.
    """
    parsed = parse_period_label(label, granularity)
    if parsed is not None and parsed[0] <= window.end and parsed[1] >= window.start:
        return parsed
    first = period_start(window.start, granularity)
    if first == window.start and next_period_start(first, granularity) > window.end:
        return _period(first, granularity)
    return None
