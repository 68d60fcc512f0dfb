"""The poll schedule: bounded overshoot at any export duration, few polls for long exports."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tap_sei_time_in_status.export.job import ExportPolicy
from tap_sei_time_in_status.export.poll_schedule import PollSchedule
from tap_sei_time_in_status.sandbox import SandboxConfig, SandboxServer
from tap_sei_time_in_status.settings import parse_settings
from tests.conftest import API_KEY, tap_config
from tests.tap_runner import TapRun

DEFAULTS = ExportPolicy.from_settings(
    parse_settings(
        {
            "api_key": "k",
            "org_identifier": "o",
            "project_identifier": "p",
            "team_ids": ["t"],
            "start_date": "2025-01-01",
        }
    )
).poll_schedule


def seen_done_at(schedule: PollSchedule, completes_at: float) -> float:
    """The age of the first poll that finds an export completed at `completes_at` done."""
    return list(schedule.poll_ages(completes_at))[-1]


@settings(deadline=None)
@given(
    first=st.floats(0.05, 60),
    longest=st.floats(1, 600),
    completes_at=st.floats(0.001, 20_000),
)
def test_an_export_is_seen_done_by_a_quarter_past_its_duration_plus_the_interval(
    first: float, longest: float, completes_at: float
) -> None:
    schedule = PollSchedule(first, max(first, longest))
    assert seen_done_at(schedule, completes_at) <= 1.25 * completes_at + first + 1e-9


@given(age=st.floats(0, 100_000))
def test_no_wait_is_shorter_than_the_interval_or_longer_than_the_maximum(age: float) -> None:
    assert 1 <= DEFAULTS.wait(age) <= 60


def test_a_30_minute_export_costs_at_most_60_polls() -> None:
    assert (DEFAULTS.first_wait, DEFAULTS.longest_wait) == (1, 60)
    for first in (2, 1, 0.5, 0.25):
        schedule = PollSchedule(first, DEFAULTS.longest_wait)
        assert len(list(schedule.poll_ages(30 * 60))) <= 60, first


def test_a_3_second_export_is_seen_done_at_3_s_by_default_and_4_s_at_2_s_interval() -> None:
    assert seen_done_at(DEFAULTS, 3) == 3
    assert seen_done_at(PollSchedule(2, 60), 3) == 4
    assert list(itertools.islice(DEFAULTS.poll_ages(10_000), 7)) == [1, 2, 3, 4, 5, 6.25, 7.8125]
    assert len(list(DEFAULTS.poll_ages(30 * 60))) == 49


def test_the_tap_polls_no_more_often_than_its_schedule(tap: object) -> None:
    """The sandbox's request log counts the polls; load can only make them fewer."""
    seconds = 1.0
    with SandboxServer(SandboxConfig(api_key=API_KEY, export_seconds=seconds)) as sandbox:
        config = tap_config(
            sandbox,
            org_tree_names=[],
            start_date="2025-01-06",
            end_date="2025-01-12",
            periods_per_window=1,
            poll_interval_seconds=0.05,
            max_poll_interval_seconds=10,
        )
        run: TapRun = tap(config)  # type: ignore[operator]
        assert run.returncode == 0, run.stderr[-2000:]
        (export,) = sandbox.exports_created()
        polls = sandbox.polls_for(export.export_id)
    schedule = PollSchedule(0.05, 10)
    # Every 0.05 s for the first 0.2 s, then a quarter of the age: 12 polls up to 1 s, where
    # a fixed 0.05 s interval would take 20.
    assert 1 <= len(polls) <= len(list(schedule.poll_ages(seconds))) == 12
