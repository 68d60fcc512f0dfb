"""Period labels to dates: the known forms, impossible ones, and the window fallback."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_sei_time_in_status.parsing.periods import (
    ForeignDigitsLabelError,
    PeriodOutsideWindowError,
    parse_period_label,
    period_dates,
)
from tap_sei_time_in_status.sandbox.data import period_label
from tap_sei_time_in_status.settings import Granularity
from tap_sei_time_in_status.settings_schema import GRANULARITIES
from tap_sei_time_in_status.windows import Window, next_period_start, period_start, plan_windows

D = dt.date
JAN_2026 = (D(2026, 1, 1), D(2026, 1, 31))
WEEK_2 = (D(2026, 1, 5), D(2026, 1, 11))
Q1_2026 = (D(2026, 1, 1), D(2026, 3, 31))


@pytest.mark.parametrize(
    ("label", "granularity", "expected"),
    [
        # daily
        ("2026-01-05", "daily", (D(2026, 1, 5), D(2026, 1, 5))),
        ("  2026-01-05\n", "daily", (D(2026, 1, 5), D(2026, 1, 5))),
        ("2024-02-29", "daily", (D(2024, 2, 29), D(2024, 2, 29))),
        ("2025-12-31", "daily", (D(2025, 12, 31), D(2025, 12, 31))),
        # weekly
        ("2026-W02", "weekly", WEEK_2),
        ("2026-w2", "weekly", WEEK_2),
        ("2026-W2", "weekly", WEEK_2),
        ("2026 W02", "weekly", WEEK_2),
        ("W02 2026", "weekly", WEEK_2),
        ("w2  2026", "weekly", WEEK_2),
        ("2026-01-05", "weekly", WEEK_2),
        ("2026-01-07", "weekly", WEEK_2),  # a date in the week: its ISO week
        ("Week of 2026-01-05", "weekly", WEEK_2),
        ("WEEK OF 2026-01-11", "weekly", WEEK_2),
        ("2026-W01", "weekly", (D(2025, 12, 29), D(2026, 1, 4))),  # starts the year before
        ("2020-W53", "weekly", (D(2020, 12, 28), D(2021, 1, 3))),
        ("2021-W52", "weekly", (D(2021, 12, 27), D(2022, 1, 2))),
        # monthly
        ("Jan 2026", "monthly", JAN_2026),
        (" jan 2026 ", "monthly", JAN_2026),
        ("JANUARY 2026", "monthly", JAN_2026),
        ("January 2026", "monthly", JAN_2026),
        ("Jan. 2026", "monthly", JAN_2026),
        ("2026-01", "monthly", JAN_2026),
        ("01/2026", "monthly", JAN_2026),
        ("1/2026", "monthly", JAN_2026),
        ("2026-01-01", "monthly", JAN_2026),
        ("Sept 2025", "monthly", (D(2025, 9, 1), D(2025, 9, 30))),
        ("Feb 2024", "monthly", (D(2024, 2, 1), D(2024, 2, 29))),
        ("February 2024", "monthly", (D(2024, 2, 1), D(2024, 2, 29))),
        ("Feb 2023", "monthly", (D(2023, 2, 1), D(2023, 2, 28))),
        ("Feb 2000", "monthly", (D(2000, 2, 1), D(2000, 2, 29))),
        ("Feb 2100", "monthly", (D(2100, 2, 1), D(2100, 2, 28))),
        ("Apr 2026", "monthly", (D(2026, 4, 1), D(2026, 4, 30))),
        ("2026-12", "monthly", (D(2026, 12, 1), D(2026, 12, 31))),
        ("Dec 2025", "monthly", (D(2025, 12, 1), D(2025, 12, 31))),
        # quarterly
        ("Q1 2026", "quarterly", Q1_2026),
        ("q1 2026", "quarterly", Q1_2026),
        ("2026-Q1", "quarterly", Q1_2026),
        ("2026 Q1", "quarterly", Q1_2026),
        ("2026-01-01", "quarterly", Q1_2026),
        ("Q1 2024", "quarterly", (D(2024, 1, 1), D(2024, 3, 31))),
        ("Q2 2025", "quarterly", (D(2025, 4, 1), D(2025, 6, 30))),
        ("2025 q3", "quarterly", (D(2025, 7, 1), D(2025, 9, 30))),
        ("2025-Q4", "quarterly", (D(2025, 10, 1), D(2025, 12, 31))),
    ],
)
def test_known_label_forms(
    label: str, granularity: Granularity, expected: tuple[dt.date, dt.date]
) -> None:
    assert parse_period_label(label, granularity) == expected


@pytest.mark.parametrize(
    ("label", "granularity"),
    [
        # impossible
        ("2026-02-30", "daily"),
        ("2023-02-29", "daily"),
        ("2026-13-01", "daily"),
        ("0000-01-01", "daily"),
        ("2021-W53", "weekly"),
        ("2026-W60", "weekly"),
        ("2026-W00", "weekly"),
        ("2026-02-30", "weekly"),
        ("2026-13", "monthly"),
        ("00/2026", "monthly"),
        ("Foo 2026", "monthly"),
        ("Q5 2026", "quarterly"),
        ("Q0 2026", "quarterly"),
        # past the last representable day
        ("9999-12-31", "daily"),
        ("Dec 9999", "monthly"),
        ("Q4 9999", "quarterly"),
        # malformed
        ("", "weekly"),
        ("   ", "daily"),
        ("Sprint 42", "daily"),
        ("2026-1-5", "daily"),
        ("20260105", "daily"),
        ("2026-01-05x", "daily"),
        ("Jan 26", "monthly"),
        ("Jan 2026 extra", "monthly"),
        ("Q1", "quarterly"),
        ("W02", "weekly"),
        ("\u0662\u0660\u0662\u0666-01-05", "daily"),  # Arabic-Indic digits
    ],
)
def test_unknown_or_impossible_labels(label: str, granularity: Granularity) -> None:
    assert parse_period_label(label, granularity) is None


@pytest.mark.parametrize(
    ("label", "granularity"),
    [
        ("2026-W02", "daily"),
        ("Jan 2026", "daily"),
        ("2026-01", "daily"),
        ("Q1 2026", "daily"),
        ("Week of 2026-01-05", "daily"),
        ("Q1 2026", "weekly"),
        ("Jan 2026", "weekly"),
        ("2026-01", "weekly"),
        ("01/2026", "weekly"),
        ("2026-W02", "monthly"),
        ("Q1 2026", "monthly"),
        ("2026-01-15", "monthly"),  # not a month's first day: a daily label
        ("Week of 2026-01-01", "monthly"),
        ("2026-W02", "quarterly"),
        ("Jan 2026", "quarterly"),
        ("2026-01", "quarterly"),
        ("2026-02-01", "quarterly"),  # a month's first day, not a quarter's
    ],
)
def test_labels_of_another_granularity(label: str, granularity: Granularity) -> None:
    assert parse_period_label(label, granularity) is None


def test_the_parser_caches_each_distinct_label() -> None:
    parse_period_label.cache_clear()
    for _ in range(100):
        parse_period_label("Jan 2026", "monthly")
        parse_period_label("Jan 2026", "quarterly")
    info = parse_period_label.cache_info()
    assert (info.misses, info.hits) == (2, 198)


def test_a_label_inside_the_window_gives_its_period() -> None:
    window = Window(D(2026, 1, 1), D(2026, 3, 31))
    assert period_dates("Feb 2026", "monthly", window) == (D(2026, 2, 1), D(2026, 2, 28))
    # The last period of a window cut at end_date keeps its full dates.
    cut = Window(D(2026, 1, 1), D(2026, 2, 10))
    assert period_dates("Feb 2026", "monthly", cut) == (D(2026, 2, 1), D(2026, 2, 28))
    # A week across the new year, in a window of the earlier year's weeks.
    weeks = Window(D(2020, 12, 14), D(2021, 1, 3))
    assert period_dates("2020-W53", "weekly", weeks) == (D(2020, 12, 28), D(2021, 1, 3))


def test_an_unknown_label_takes_the_period_of_a_single_period_window() -> None:
    assert period_dates("Sprint 42", "monthly", Window(D(2024, 2, 1), D(2024, 2, 29))) == (
        D(2024, 2, 1),
        D(2024, 2, 29),
    )
    # A window cut at end_date still holds one period, and gets the whole of it.
    assert period_dates("?", "quarterly", Window(D(2024, 4, 1), D(2024, 5, 15))) == (
        D(2024, 4, 1),
        D(2024, 6, 30),
    )
    assert period_dates("?", "daily", Window(D(2024, 2, 29), D(2024, 2, 29))) == (
        D(2024, 2, 29),
        D(2024, 2, 29),
    )
    assert period_dates("?", "weekly", Window(D(2026, 1, 5), D(2026, 1, 11))) == WEEK_2


def test_no_period_when_the_window_holds_several_or_does_not_start_one() -> None:
    assert period_dates("?", "monthly", Window(D(2024, 1, 1), D(2024, 3, 31))) is None
    assert period_dates("?", "weekly", Window(D(2026, 1, 5), D(2026, 1, 12))) is None
    assert period_dates("?", "monthly", Window(D(2024, 1, 2), D(2024, 1, 31))) is None
    assert period_dates("?", "daily", Window(D(9999, 12, 31), D(9999, 12, 31))) is None


@pytest.mark.parametrize(
    ("label", "granularity", "window"),
    [
        # A single-period window would once have lent its dates to the row.
        ("Jan 2025", "monthly", Window(D(2024, 3, 1), D(2024, 3, 31))),
        ("Jan 2025", "monthly", Window(D(2024, 1, 1), D(2024, 3, 31))),
        ("2026-W10", "weekly", Window(D(2026, 1, 5), D(2026, 2, 1))),
        # The week just before, and just after, the window.
        ("2026-W01", "weekly", Window(D(2026, 1, 5), D(2026, 1, 11))),
        ("2026-W03", "weekly", Window(D(2026, 1, 5), D(2026, 1, 11))),
        ("2026-01-04", "daily", Window(D(2026, 1, 5), D(2026, 1, 11))),
        # Another granularity's form, naming a period far from a single-period window.
        ("2019-03-15", "monthly", Window(D(2025, 1, 1), D(2025, 1, 31))),
        ("2019-W10", "monthly", Window(D(2025, 1, 1), D(2025, 1, 31))),
        ("Q1 2019", "monthly", Window(D(2025, 1, 1), D(2025, 1, 31))),
        ("Mar 2019", "quarterly", Window(D(2025, 1, 1), D(2025, 3, 31))),
        ("Jan 2019", "weekly", Window(D(2025, 1, 6), D(2025, 1, 12))),
        ("2019-W10", "daily", Window(D(2025, 1, 6), D(2025, 1, 6))),
    ],
)
def test_a_label_outside_the_window_is_refused_naming_label_and_window(
    label: str, granularity: Granularity, window: Window
) -> None:
    with pytest.raises(PeriodOutsideWindowError) as refused:
        period_dates(label, granularity, window)
    assert repr(label) in str(refused.value)
    assert str(window) in str(refused.value)


def test_a_label_of_another_form_inside_the_window_still_falls_back() -> None:
    january = Window(D(2025, 1, 1), D(2025, 1, 31))
    assert period_dates("2025-01-15", "monthly", january) == (D(2025, 1, 1), D(2025, 1, 31))
    assert period_dates("2025-W03", "monthly", january) == (D(2025, 1, 1), D(2025, 1, 31))


@pytest.mark.parametrize(
    "label",
    [
        "\u0662\u0660\u0661\u0669-W10",
        "\uff12\uff10\uff12\uff15-W02",
        "2025-W0\u00b2",
        "Sprint \u0663",
    ],
)
def test_a_label_in_another_scripts_digits_is_refused(label: str) -> None:
    # `2025-W02` in full-width digits names the window's own week: still not guessed.
    with pytest.raises(ForeignDigitsLabelError) as refused:
        period_dates(label, "weekly", Window(D(2025, 1, 6), D(2025, 1, 12)))
    assert repr(label) in str(refused.value)


dates = st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31))
granularities = st.sampled_from(GRANULARITIES)


@given(day=dates, granularity=granularities)
def test_the_sandbox_labels_parse_back_to_their_period(
    day: dt.date, granularity: Granularity
) -> None:
    first = period_start(day, granularity)
    last = next_period_start(first, granularity) - dt.timedelta(days=1)
    assert first <= day <= last
    assert parse_period_label(period_label(granularity, day), granularity) == (first, last)


@settings(max_examples=200)
@given(
    start=dates,
    days=st.integers(min_value=0, max_value=400),
    granularity=granularities,
    per_window=st.integers(min_value=1, max_value=20),
    offset=st.integers(min_value=0, max_value=400),
    known_label=st.booleans(),
)
def test_derived_periods_lie_in_their_window(
    *,
    start: dt.date,
    days: int,
    granularity: Granularity,
    per_window: int,
    offset: int,
    known_label: bool,
) -> None:
    windows = plan_windows(start, start + dt.timedelta(days=days), granularity, per_window)
    window = windows[offset % len(windows)]
    day = min(window.start + dt.timedelta(days=offset), window.end)
    label = period_label(granularity, day) if known_label else "unknown period"
    found = period_dates(label, granularity, window)
    single_period = next_period_start(window.start, granularity) > window.end
    if not known_label and not single_period:
        assert found is None
        return
    assert found is not None
    first, last = found
    assert window.start <= first <= window.end  # intersects the window, starts inside it
    assert period_start(first, granularity) == first
    assert last == next_period_start(first, granularity) - dt.timedelta(days=1)
    if known_label:
        assert first <= day <= last
    else:
        assert first == window.start
