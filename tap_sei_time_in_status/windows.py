"""Date windows: the export ranges of a sync, made of whole calendar periods.

The API aggregates each export per period, so a period split between two exports would be
aggregated twice, each half wrong. Windows therefore start at period starts and hold whole
periods; only the last one is cut at `end_date`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tap_sei_time_in_status.settings import Granularity


@dataclass(frozen=True, order=True)
class Window:
    """An inclusive date range sent as `dateRange.start` / `dateRange.end`."""

    start: dt.date
    end: dt.date

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def contains(self, day: dt.date) -> bool:
        """True when `day` lies inside the window."""
        return self.start <= day <= self.end


def period_start(day: dt.date, granularity: Granularity) -> dt.date:
    """The first day of the period that contains `day`."""
    if granularity == "daily":
        return day
    if granularity == "weekly":
        return day - dt.timedelta(days=day.weekday())  # ISO weeks start on Monday
    if granularity == "monthly":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def next_period_start(start: dt.date, granularity: Granularity) -> dt.date:
    """The first day of the period after the one starting at `start`."""
    if granularity == "daily":
        return start + dt.timedelta(days=1)
    if granularity == "weekly":
        return start + dt.timedelta(days=7)
    months = 1 if granularity == "monthly" else 3
    month_index = start.year * 12 + start.month - 1 + months
    return dt.date(month_index // 12, month_index % 12 + 1, 1)


def plan_windows(
    start: dt.date,
    end: dt.date,
    granularity: Granularity,
    periods_per_window: int,
) -> list[Window]:
    """Windows of `periods_per_window` whole periods covering the periods of start..end."""
    if periods_per_window < 1:
        msg = f"periods_per_window must be at least 1, got {periods_per_window}"
        raise ValueError(msg)
    windows: list[Window] = []
    cursor = period_start(start, granularity)
    while cursor <= end:
        following = cursor
        for _ in range(periods_per_window):
            following = next_period_start(following, granularity)
        windows.append(Window(cursor, min(following - dt.timedelta(days=1), end)))
        cursor = following
    return windows


def resume_windows(
    windows: list[Window],
    bookmark: dt.date | None,
    lookback_days: int,
) -> list[Window]:
    """The windows a run must export given the partition's bookmark (a window's end).

    The run restarts at the window that contains `bookmark - lookback_days`, so the last
    window already exported, often still open when it was exported, is exported again.
    """
    if bookmark is None:
        return windows
    restart = bookmark - dt.timedelta(days=lookback_days)
    return [w for w in windows if w.end >= restart]


def split_window(window: Window, granularity: Granularity) -> tuple[Window, Window] | None:
    """Two halves of whole periods, or None for a single period, which cannot be split.

    A window the server cannot finish is exported again as two smaller ones.
    """
    starts = [window.start]
    while (following := next_period_start(starts[-1], granularity)) <= window.end:
        starts.append(following)
    if len(starts) < 2:
        return None
    middle = starts[len(starts) // 2]
    return (
        Window(window.start, middle - dt.timedelta(days=1)),
        Window(middle, window.end),
    )
