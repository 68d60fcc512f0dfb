"""The window planner: whole calendar periods, no gap, no overlap, resumable."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_sei_time_in_status.settings import Granularity
from tap_sei_time_in_status.settings_schema import GRANULARITIES
from tap_sei_time_in_status.windows import (
    Window,
    next_period_start,
    period_start,
    plan_windows,
    resume_windows,
    split_window,
)

D = dt.date


def test_weekly_windows_start_on_the_monday_of_start_date() -> None:
    windows = plan_windows(D(2024, 1, 3), D(2024, 2, 20), "weekly", 3)
    assert windows == [
        Window(D(2024, 1, 1), D(2024, 1, 21)),
        Window(D(2024, 1, 22), D(2024, 2, 11)),
        Window(D(2024, 2, 12), D(2024, 2, 20)),
    ]


def test_monthly_windows_follow_month_ends_in_a_leap_year() -> None:
    windows = plan_windows(D(2024, 1, 31), D(2024, 5, 15), "monthly", 1)
    assert [(w.start, w.end) for w in windows] == [
        (D(2024, 1, 1), D(2024, 1, 31)),
        (D(2024, 2, 1), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 3, 31)),
        (D(2024, 4, 1), D(2024, 4, 30)),
        (D(2024, 5, 1), D(2024, 5, 15)),
    ]


def test_february_of_a_common_year() -> None:
    assert plan_windows(D(2023, 2, 10), D(2023, 3, 1), "monthly", 1)[0] == Window(
        D(2023, 2, 1), D(2023, 2, 28)
    )


def test_quarterly_windows_cross_the_year() -> None:
    windows = plan_windows(D(2023, 11, 5), D(2024, 4, 2), "quarterly", 1)
    assert windows == [
        Window(D(2023, 10, 1), D(2023, 12, 31)),
        Window(D(2024, 1, 1), D(2024, 3, 31)),
        Window(D(2024, 4, 1), D(2024, 4, 2)),
    ]


def test_iso_week_53_is_one_period() -> None:
    # 2020 has an ISO week 53: Monday 2020-12-28 to Sunday 2021-01-03.
    assert D(2020, 12, 28).isocalendar()[1] == 53
    windows = plan_windows(D(2020, 12, 30), D(2021, 1, 10), "weekly", 1)
    assert windows == [
        Window(D(2020, 12, 28), D(2021, 1, 3)),
        Window(D(2021, 1, 4), D(2021, 1, 10)),
    ]


def test_daily_windows() -> None:
    windows = plan_windows(D(2024, 2, 27), D(2024, 3, 2), "daily", 2)
    assert windows == [
        Window(D(2024, 2, 27), D(2024, 2, 28)),
        Window(D(2024, 2, 29), D(2024, 3, 1)),
        Window(D(2024, 3, 2), D(2024, 3, 2)),
    ]


def test_a_single_day_range_inside_a_period() -> None:
    assert plan_windows(D(2024, 5, 15), D(2024, 5, 15), "quarterly", 1) == [
        Window(D(2024, 4, 1), D(2024, 5, 15))
    ]


def test_periods_per_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="periods_per_window"):
        plan_windows(D(2024, 1, 1), D(2024, 2, 1), "daily", 0)


def test_resume_starts_at_the_window_containing_bookmark_minus_lookback() -> None:
    windows = plan_windows(D(2024, 1, 1), D(2024, 3, 10), "weekly", 2)
    # Bookmark = end of the window 2024-01-29..2024-02-11; 7 days back lies inside it.
    resumed = resume_windows(windows, D(2024, 2, 11), 7)
    assert resumed[0] == Window(D(2024, 1, 29), D(2024, 2, 11))
    assert resumed == windows[2:]
    # A longer lookback reaches back into the window before.
    assert resume_windows(windows, D(2024, 2, 11), 14)[0] == Window(D(2024, 1, 15), D(2024, 1, 28))
    # Zero lookback still exports the bookmarked window again (it may have been open).
    assert resume_windows(windows, D(2024, 2, 11), 0)[0] == Window(D(2024, 1, 29), D(2024, 2, 11))
    assert resume_windows(windows, None, 7) == windows
    assert resume_windows(windows, D(2030, 1, 1), 7) == []


dates = st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31))


@given(
    start=dates,
    days=st.integers(min_value=0, max_value=800),
    granularity=st.sampled_from(GRANULARITIES),
    per_window=st.integers(min_value=1, max_value=40),
)
def test_windows_cover_the_range_with_whole_periods(
    start: dt.date, days: int, granularity: Granularity, per_window: int
) -> None:
    end = min(start + dt.timedelta(days=days), D(2100, 12, 31))
    windows = plan_windows(start, end, granularity, per_window)
    assert windows[0].start == period_start(start, granularity)
    assert windows[-1].end == end
    for before, after in itertools.pairwise(windows):
        assert after.start == before.end + dt.timedelta(days=1)  # no gap, no overlap
    for window in windows:
        assert window.start == period_start(window.start, granularity)
        assert window.start <= window.end
        # Whole periods: a window ends on a period's last day, except the one cut at end.
        if window is not windows[-1]:
            assert next_period_start(period_start(window.end, granularity), granularity) == (
                window.end + dt.timedelta(days=1)
            )
        # Never more periods than asked for.
        cursor, periods = window.start, 0
        while cursor <= window.end:
            cursor, periods = next_period_start(cursor, granularity), periods + 1
        assert periods <= per_window


@given(day=dates, granularity=st.sampled_from(GRANULARITIES))
def test_period_start_is_idempotent_and_contains_the_day(
    day: dt.date, granularity: Granularity
) -> None:
    first = period_start(day, granularity)
    assert first <= day < next_period_start(first, granularity)
    assert period_start(first, granularity) == first


def test_split_window_into_whole_period_halves() -> None:
    assert split_window(Window(D(2024, 1, 1), D(2024, 3, 31)), "monthly") == (
        Window(D(2024, 1, 1), D(2024, 1, 31)),
        Window(D(2024, 2, 1), D(2024, 3, 31)),
    )
    assert split_window(Window(D(2024, 1, 1), D(2024, 1, 10)), "weekly") == (
        Window(D(2024, 1, 1), D(2024, 1, 7)),
        Window(D(2024, 1, 8), D(2024, 1, 10)),
    )
    assert split_window(Window(D(2024, 4, 1), D(2024, 5, 15)), "quarterly") is None
    assert split_window(Window(D(2024, 4, 1), D(2024, 4, 1)), "daily") is None


@given(
    start=dates,
    days=st.integers(min_value=0, max_value=400),
    granularity=st.sampled_from(GRANULARITIES),
)
def test_split_halves_cover_the_window_with_whole_periods(
    start: dt.date, days: int, granularity: Granularity
) -> None:
    window = plan_windows(start, start + dt.timedelta(days=days), granularity, 1000)[0]
    halves = split_window(window, granularity)
    if halves is None:
        assert next_period_start(window.start, granularity) > window.end
        return
    first, second = halves
    assert (first.start, second.end) == (window.start, window.end)
    assert second.start == first.end + dt.timedelta(days=1)
    assert period_start(second.start, granularity) == second.start
