"""Contract: the API page's example CSV, served byte for byte, gives these records exactly.

`fixtures/api_page_example.csv` is the "Example CSV File" of
`sei-time-in-status-export-api.txt`, copied byte for byte: the answer to a request for the
statuses `In Progress`, `In Review`, `QA`, `Done` that holds only `in_progress_hours` and
`to_do_hours`.
"""

from __future__ import annotations

import functools
import gzip
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap_sei_time_in_status.sandbox import SandboxConfig, SandboxServer
from tests.conftest import API_KEY, tap_config
from tests.tap_runner import BOTH_STREAMS, TapRun

EXAMPLE = Path(__file__).parent / "fixtures" / "api_page_example.csv"

Tap = t.Callable[..., TapRun]


@pytest.fixture
def tap(tap: Tap) -> Tap:
    """The tap with both streams selected: these tests check the opt-in long one too."""
    return functools.partial(tap, streams=BOTH_STREAMS)


@pytest.fixture
def example_sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(api_key=API_KEY, export_seconds=0.15, csv_file=EXAMPLE)
    with SandboxServer(config) as server:
        yield server


def example_config(server: SandboxServer) -> dict[str, t.Any]:
    """The page's request (four statuses), one team, the month of the example's rows."""
    return tap_config(
        server,
        org_tree_names=[],
        granularity="monthly",
        start_date="2026-01-01",
        end_date="2026-01-31",
        issue_statuses=["In Progress", "In Review", "QA", "Done"],
    )


def test_the_fixture_is_the_example_csv() -> None:
    assert EXAMPLE.read_bytes() == (
        b"granularity,team,team_hierarchy,total_issues,in_progress_hours,to_do_hours,"
        b"total_lead_time_hours\n"
        b"Jan 2026,Platform Team,Engineering/Platform,2171,5284151.09,8706228.13,13990379.22\n"
        b"Jan 2026,Payments Team,Engineering/Payments,100,34870.41,18285.37,53155.78\n"
    )


def test_the_sandbox_serves_it_byte_for_byte(example_sandbox: SandboxServer, tap: Tap) -> None:
    run = tap(example_config(example_sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    [export] = example_sandbox.exports_created()
    assert export.file is not None
    assert gzip.decompress(export.file.path.read_bytes()) == EXAMPLE.read_bytes()


def test_the_example_csv_gives_these_records(example_sandbox: SandboxServer, tap: Tap) -> None:
    run = tap(example_config(example_sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    [export] = example_sandbox.exports_created()
    export_id = export.export_id
    common = {
        "period": "Jan 2026",
        "period_start": "2026-01-01",
        "period_end": "2026-01-31",
        "scope_type": "team",
        "scope_id": "team_abc123",
        "window_start": "2026-01-01",
        "window_end": "2026-01-31",
        "granularity": "monthly",
        "aggregation_level": "team",
        "terminal_date_column": "issue_resolved_at",
        "export_id": export_id,
    }
    assert run.records() == [
        {
            **common,
            "team": "Platform Team",
            "team_hierarchy": "Engineering/Platform",
            "total_issues": 2171,
            "in_progress_hours": 5284151.09,
            "in_review_hours": None,
            "qa_hours": None,
            "done_hours": None,
            "total_lead_time_hours": 13990379.22,
            "additional_columns": {"to_do_hours": 8706228.13},
        },
        {
            **common,
            "team": "Payments Team",
            "team_hierarchy": "Engineering/Payments",
            "total_issues": 100,
            "in_progress_hours": 34870.41,
            "in_review_hours": None,
            "qa_hours": None,
            "done_hours": None,
            "total_lead_time_hours": 53155.78,
            "additional_columns": {"to_do_hours": 18285.37},
        },
    ]

    def long(team: str, hierarchy: str, issues: int, status: str, hours: float) -> dict[str, t.Any]:
        return {
            **common,
            "team": team,
            "team_hierarchy": hierarchy,
            "total_issues": issues,
            "status": status,
            "hours": hours,
        }

    assert sorted(run.records("time_in_status_by_status"), key=repr) == sorted(
        [
            long("Platform Team", "Engineering/Platform", 2171, "In Progress", 5284151.09),
            long("Platform Team", "Engineering/Platform", 2171, "to_do", 8706228.13),
            long("Payments Team", "Engineering/Payments", 100, "In Progress", 34870.41),
            long("Payments Team", "Engineering/Payments", 100, "to_do", 18285.37),
        ],
        key=repr,
    )
    [warning] = [line for line in run.stderr.splitlines() if "has no column" in line]
    assert f"Export {export_id} has no column in_review_hours, qa_hours, done_hours: " in warning
    bookmark = run.last_state
    assert bookmark is not None
    assert "2026-01-31" in str(bookmark)
