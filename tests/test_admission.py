"""Admission: the user's cap exactly, else as many exports as the budget's polls allow."""

from __future__ import annotations

from tap_sei_time_in_status.export.admission import Admission
from tap_sei_time_in_status.export.poll_schedule import PollSchedule

# Polled every second while young, then every quarter of their age, up to a minute.
SCHEDULE = PollSchedule(1.0, 60.0)


def most_admitted(admission: Admission, ages: list[float], queued: float = 0.0) -> int:
    """How many exports of these ages may be in flight (the admission asked one at a time)."""
    admitted = 0
    while admitted < len(ages) and admission.admits(admitted, ages[:admitted], queued):
        admitted += 1
    return admitted


def test_a_cap_set_by_the_user_is_exact_whatever_the_budget() -> None:
    admission = Admission(SCHEDULE, requests_per_minute=60, cap=4)
    young = [0.0] * 10  # ten young exports would ask ten requests a second: 10 x the budget
    assert most_admitted(admission, young, queued=30.0) == 4
    assert admission.most_in_flight == 4


def test_without_a_cap_the_budget_decides() -> None:
    admission = Admission(SCHEDULE, requests_per_minute=600, ceiling=1000)
    # Young exports are polled every second: 9 of them and a new one fit in 95% of 10/s.
    assert most_admitted(admission, [0.0] * 100) == 9
    # Exports 40 s old are polled every 10 s: 85 of them and a new one (1/s) fit.
    assert most_admitted(admission, [40.0] * 200) == 86
    # Twice the budget, about twice the exports.
    double = Admission(SCHEDULE, requests_per_minute=1200, ceiling=1000)
    assert most_admitted(double, [40.0] * 400) == 181


def test_the_ceiling_bounds_what_the_budget_would_allow() -> None:
    admission = Admission(SCHEDULE, requests_per_minute=600, ceiling=50)
    old = [3600.0] * 500  # polled every minute: the budget alone would allow 511
    assert most_admitted(admission, old) == 50
    assert admission.most_in_flight == 50


def test_no_export_is_added_while_requests_wait_for_the_budget() -> None:
    admission = Admission(SCHEDULE, requests_per_minute=600)
    assert most_admitted(admission, [40.0] * 10, queued=5.0) == 1, "one is always in flight"
    assert most_admitted(admission, [40.0] * 10, queued=0.5) == 10
