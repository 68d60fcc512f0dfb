"""Period labels to dates: the known forms, impossible ones, and the window fallback."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_sei_time_in_status.periods import parse_period_label, period_dates
from tap_sei_time_in_status.sandbox.data import period_label
from tap_sei_time_in_status.settings import GRANULARITIES, Granularity
from tap_sei_time_in_status.windows import Window, next_period_start, period_start, plan_windows

D = dt.date


@pytest.mark.parametrize(
    ("label", "granularity", "expected"),
    [
        ("2026-01-05", "daily", (D(2026, 1, 5), D(2026, 1, 5))),
        ("2024-02-29", "daily", (D(2024, 2, 29), D(2024, 2, 29))),
        ("2026-W02", "weekly", (D(2026, 1, 5), D(2026, 1, 11))),
        ("2026-w2", "weekly", (D(2026, 1, 5), D(2026, 1, 11))),
        ("2026 W02", "weekly", (D(2026, 1, 5), D(2026, 1, 11))),
        ("W02 2026", "weekly", (D(2026, 1, 5), D(2026, 1, 11))),
        ("2020-W53", "weekly", (D(2020, 12, 28), D(2021, 1, 3))),
        ("Week of 2026-01-07", "weekly", (D(2026, 1, 5), D(2026, 1, 11))),
        (" Jan 2026 ", "monthly", (D(2026, 1, 1), D(2026, 1, 31))),
        ("February 2024", "monthly", (D(2024, 2, 1), D(2024, 2, 29))),
        ("Feb 2023", "monthly", (D(2023, 2, 1), D(2023, 2, 28))),
        ("2026-12", "monthly", (D(2026, 12, 1), D(2026, 12, 31))),
        ("01/2026", "monthly", (D(2026, 1, 1), D(2026, 1, 31))),
        ("Q1 2026", "quarterly", (D(2026, 1, 1), D(2026, 3, 31))),
        ("2025-Q4", "quarterly", (D(2025, 10, 1), D(2025, 12, 31))),
        ("2025 q2", "quarterly", (D(2025, 4, 1), D(2025, 6, 30))),
    ],
)
def test_known_label_forms(
    label: str, granularity: Granularity, expected: tuple[dt.date, dt.date]
) -> None:
    assert parse_period_label(label, granularity) == expected


@pytest.mark.parametrize(
    ("label", "granularity"),
    [
        ("2026-02-30", "daily"),
        ("2021-W53", "weekly"),
        ("2026-W60", "weekly"),
        ("Q5 2026", "quarterly"),
        ("Foo 2026", "monthly"),
        ("2026-13", "monthly"),
        ("Q1 2026", "weekly"),
        ("Jan 2026", "quarterly"),
        ("2026-01-15", "monthly"),  # not a month's first day
        ("Sprint 42", "daily"),
        ("", "weekly"),
    ],
)
def test_unknown_or_impossible_labels(label: str, granularity: Granularity) -> None:
    assert parse_period_label(label, granularity) is None


def test_an_unknown_label_takes_the_period_of_a_single_period_window() -> None:
    assert period_dates("Sprint 42", "monthly", Window(D(2024, 2, 1), D(2024, 2, 29))) == (
        D(2024, 2, 1),
        D(2024, 2, 29),
    )
    # A window cut at end_date still holds one period.
    assert period_dates("?", "quarterly", Window(D(2024, 4, 1), D(2024, 5, 15))) == (
        D(2024, 4, 1),
        D(2024, 6, 30),
    )
    assert period_dates("?", "monthly", Window(D(2024, 1, 1), D(2024, 3, 31))) is None
    # A known label outside the window is not trusted.
    assert period_dates("Jan 2025", "monthly", Window(D(2024, 1, 1), D(2024, 3, 31))) is None


dates = st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31))


@given(day=dates, granularity=st.sampled_from(GRANULARITIES))
def test_the_sandbox_labels_parse_back_to_their_period(
    day: dt.date, granularity: Granularity
) -> None:
    first = period_start(day, granularity)
    last = next_period_start(first, granularity) - dt.timedelta(days=1)
    assert parse_period_label(period_label(granularity, day), granularity) == (first, last)


@given(
    start=dates,
    days=st.integers(min_value=0, max_value=400),
    granularity=st.sampled_from(GRANULARITIES),
    per_window=st.integers(min_value=1, max_value=20),
    offset=st.integers(min_value=0, max_value=400),
)
def test_derived_periods_lie_in_their_window(
    start: dt.date, days: int, granularity: Granularity, per_window: int, offset: int
) -> None:
    windows = plan_windows(start, start + dt.timedelta(days=days), granularity, per_window)
    window = windows[offset % len(windows)]
    day = min(window.start + dt.timedelta(days=offset), window.end)
    dates_ = period_dates(period_label(granularity, day), granularity, window)
    assert dates_ is not None
    first, last = dates_
    assert window.start <= first <= window.end
    assert first <= day <= last
