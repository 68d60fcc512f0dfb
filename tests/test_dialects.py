"""Every answer the API family may send, met by the real tap over HTTP against the sandbox.

CSV dialects (status columns other than those requested, no hierarchy, no totals, a renamed
sprint column, upper- or title-case headers) and JSON dialects (create answers without
`status`, rich poll answers, a stated file size, a poll about another export).
"""

from __future__ import annotations

import collections
import functools
import json
import typing as t

import pytest

from tap_sei_time_in_status.sandbox import Fault, SandboxServer
from tests.conftest import API_KEY, row_view, served_rows, tap_config
from tests.tap_runner import BOTH_STREAMS, TapRun, final_table

STATUSES = {
    "In Progress": "in_progress_hours",
    "In Review": "in_review_hours",
    "QA": "qa_hours",
    "Done": "done_hours",
}
STATUS_COLUMNS = list(STATUSES.values())
KEYS = ["scope_id", "granularity", "aggregation_level", "terminal_date_column", "period"]
KEYS += ["team_hierarchy"]
MISSING_WARNING = "has no column"

Tap = t.Callable[..., TapRun]


@pytest.fixture
def tap(tap: Tap) -> Tap:
    """The tap with both streams selected: these tests check the opt-in long one too."""
    return functools.partial(tap, streams=BOTH_STREAMS)


def assert_clean(run: TapRun) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert API_KEY not in run.stderr + run.stdout


def expected_view(row: dict[str, str], sprint_column: str = "sprint") -> tuple[t.Any, ...]:
    """What the tap promises for a served row of any dialect, in `row_view`'s shape."""
    cells = {name.strip().casefold(): value for name, value in row.items()}
    sprint = cells.pop(sprint_column.casefold(), None)

    def number(name: str) -> float | None:
        cell = cells.get(name, "")
        return float(cell) if cell else None

    known = {"granularity", "team", "team_hierarchy", "total_issues", "scope_id"}
    known |= {*STATUS_COLUMNS, "total_lead_time_hours"}
    extra = {
        name: number(name) if name.endswith("_hours") else (value or None)
        for name, value in cells.items()
        if name not in known
    }
    issues = cells.get("total_issues", "")
    return (
        cells["scope_id"],
        cells["granularity"],
        cells["team"],
        cells.get("team_hierarchy", cells["team"]),
        sprint,
        int(issues) if issues else None,
        *(number(c) for c in STATUS_COLUMNS),
        number("total_lead_time_hours"),
        tuple(sorted(extra.items())),
    )


def assert_served_rows(
    run: TapRun, sandbox: SandboxServer, config: dict[str, t.Any], sprint_column: str = "sprint"
) -> None:
    assert_clean(run)
    got = sorted(map(repr, (row_view(r, STATUS_COLUMNS) for r in run.records())))
    want = served_rows(sandbox, config)
    assert len(want) > 10
    assert got == sorted(map(repr, (expected_view(r, sprint_column) for r in want)))


def assert_unique_keys(run: TapRun, keys: list[str]) -> None:
    for stream, stream_keys in (
        ("time_in_status", keys),
        ("time_in_status_by_status", [*keys, "status"]),
    ):
        counts = collections.Counter(tuple(r[k] for k in stream_keys) for r in run.records(stream))
        assert counts, stream
        assert max(counts.values()) == 1, stream
        assert all(None not in key for key in counts), stream


def missing_warnings(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if MISSING_WARNING in line]


def test_status_columns_other_than_requested(sandbox: SandboxServer, tap: Tap) -> None:
    # As the API page's example: four statuses asked, `in_progress_hours` and `to_do_hours`.
    sandbox.set_config(served_statuses=["In Progress"], extra_columns=["to_do_hours"])
    config = tap_config(sandbox)
    run = tap(config)
    assert_served_rows(run, sandbox, config)
    records = run.records()
    assert all(r[c] is None for r in records for c in STATUS_COLUMNS[1:])
    assert any(r["in_progress_hours"] is not None for r in records)
    assert all("to_do_hours" in r["additional_columns"] for r in records)
    # The long stream has no record for a status the export did not measure.
    by_status = collections.Counter(r["status"] for r in run.records("time_in_status_by_status"))
    assert by_status == {"In Progress": len(records), "to_do": len(records)}
    assert_unique_keys(run, KEYS)
    # One warning per sync, naming an export and the missing columns, over 8 exports.
    assert len(sandbox.exports_created()) == 8
    [warning] = missing_warnings(run)
    assert "in_review_hours, qa_hours, done_hours" in warning
    assert any(f"Export {e.export_id} " in warning for e in sandbox.exports_created())
    assert "never 0" in warning
    assert "no time_in_status_by_status record for those statuses" in warning


def test_no_hierarchy_the_team_stands_in_in_both_streams(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_config(omit_columns=["team_hierarchy"])
    config = tap_config(sandbox)
    run = tap(config)
    assert_served_rows(run, sandbox, config)
    for stream in ("time_in_status", "time_in_status_by_status"):
        assert all(r["team_hierarchy"] == r["team"] for r in run.records(stream))
    assert_unique_keys(run, KEYS)
    [warning] = missing_warnings(run)
    assert "no column team_hierarchy" in warning
    assert "the team name stands in for team_hierarchy" in warning


def test_a_later_export_with_the_hierarchy_keys_rows_anew_as_documented(
    sandbox: SandboxServer, tap: Tap
) -> None:
    """The README's rule: rows keyed by the stand-in are not updated by later exports."""
    sandbox.set_config(omit_columns=["team_hierarchy"])
    config = tap_config(sandbox, org_tree_names=[])
    first = tap(config)
    assert_clean(first)
    sandbox.set_config(omit_columns=[], duplicate_window_seconds=0)
    second = tap(config)
    assert_clean(second)
    assert not missing_warnings(second)
    table = final_table([first, second], KEYS)
    stand_in = [r for r in table.values() if r["team_hierarchy"] == r["team"]]
    real = [r for r in table.values() if r["team_hierarchy"] != r["team"]]
    assert len(stand_in) == len(real) == len(first.records())
    assert {r["team_hierarchy"] for r in real} == {"Engineering/Abc123 Team"}


def test_no_totals_are_null(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_config(omit_columns=["total_issues", "total_lead_time_hours"])
    config = tap_config(sandbox)
    run = tap(config)
    assert_served_rows(run, sandbox, config)
    assert all(r["total_issues"] is None for r in run.records())
    assert all(r["total_lead_time_hours"] is None for r in run.records())
    assert all(r["total_issues"] is None for r in run.records("time_in_status_by_status"))
    statuses = {r["status"] for r in run.records("time_in_status_by_status")}
    assert statuses == {*STATUSES, "to_do"}
    [warning] = missing_warnings(run)
    assert "no column total_issues, total_lead_time_hours: " in warning
    assert "time_in_status_by_status" not in warning  # every status was measured
    assert_unique_keys(run, KEYS)


@pytest.mark.parametrize("name", ["sprint_name", "Sprint_Name", "SPRINT"])
def test_sprint_column_under_another_name(sandbox: SandboxServer, tap: Tap, name: str) -> None:
    sandbox.set_config(sprint_column=name)
    config = tap_config(sandbox, aggregation_level="sprint", org_tree_names=[])
    run = tap(config)
    assert_served_rows(run, sandbox, config, sprint_column=name)
    assert all(r["sprint"].startswith("Sprint ") for r in run.records())
    assert all(set(r["additional_columns"]) == {"to_do_hours"} for r in run.records())
    assert_unique_keys(run, [*KEYS, "sprint"])
    assert not missing_warnings(run)


def test_no_sprint_column_fails_naming_the_header(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_config(omit_columns=["sprint"])
    run = tap(tap_config(sandbox, aggregation_level="sprint", org_tree_names=[]))
    assert run.returncode == 1
    assert "the CSV has no sprint column ('sprint' or 'sprint_name', any case)" in run.stderr
    assert "(its header: granularity, team, team_hierarchy, total_issues, " in run.stderr
    assert "Traceback" not in run.stderr
    assert not run.records()


@pytest.mark.parametrize("case", ["upper", "title"])
def test_header_case_does_not_matter(sandbox: SandboxServer, tap: Tap, case: t.Any) -> None:
    sandbox.set_config(header_case=case)
    config = tap_config(sandbox)
    run = tap(config)
    served = served_rows(sandbox, config)
    assert "TEAM_HIERARCHY" in served[0] or "Team_Hierarchy" in served[0]
    assert_served_rows(run, sandbox, config)
    assert all(set(r["additional_columns"]) == {"to_do_hours"} for r in run.records())
    assert "to_do" in {r["status"] for r in run.records("time_in_status_by_status")}
    assert not missing_warnings(run)


def test_every_column_present_gives_the_same_records_as_before(
    sandbox: SandboxServer, tap: Tap
) -> None:
    """The sandbox's own shape: no warning, no null that the CSV did not hold."""
    config = tap_config(sandbox)
    run = tap(config)
    assert_served_rows(run, sandbox, config)
    assert not missing_warnings(run)
    assert all(r["team_hierarchy"].startswith("Engineering/") for r in run.records())
    statuses = collections.Counter(r["status"] for r in run.records("time_in_status_by_status"))
    assert set(statuses) == {*STATUSES, "to_do"}
    assert len(set(statuses.values())) == 1


def test_create_answers_without_status_are_polled(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_config(create_without_status=True)
    config = tap_config(sandbox, org_tree_names=[])
    run = tap(config, env={"TAP_SEI_TIME_IN_STATUS_LOGLEVEL": "DEBUG"})  # export steps
    assert_served_rows(run, sandbox, config)
    created = sandbox.exports_created()
    assert created
    assert all(sandbox.polls_for(e.export_id) for e in created)
    assert "created, (no status)" in run.stderr
    # Again within the duplicate window: "Using existing export with identical parameters",
    # still without a status, so polled before being downloaded.
    sandbox.reset_log()
    again = tap(config, env={"TAP_SEI_TIME_IN_STATUS_LOGLEVEL": "DEBUG"})
    assert_served_rows(again, sandbox, config)
    assert len(sandbox.exports_created()) == len(created)
    assert "Using existing export with identical parameters" in again.stderr
    assert all(sandbox.polls_for(e.export_id) for e in created)


def test_rich_lower_case_answers_use_the_documented_download_path(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(rich_answers=True, status_case="lower")
    config = tap_config(sandbox)
    run = tap(config)
    assert_served_rows(run, sandbox, config)
    endpoints = collections.Counter(r.endpoint for r in sandbox.request_log)
    assert set(endpoints) == {"create", "poll", "download"}
    assert endpoints["download"] == len(sandbox.exports_created())


def test_stated_size_holds_with_content_encoding_on_top(sandbox: SandboxServer, tap: Tap) -> None:
    """`sizeBytes` is the file's size: as it came over the wire, before HTTP decoding."""
    sandbox.set_config(rich_answers=True)
    sandbox.set_faults([Fault("download", "content_encoding_gzip", times=2)])
    config = tap_config(sandbox, org_tree_names=[])
    assert_served_rows(tap(config), sandbox, config)
    assert len(sandbox.requests_of("download")) == len(sandbox.exports_created())


def test_a_file_of_another_size_than_stated_is_never_emitted(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(rich_answers=True, stated_size_offset=-1)
    config = tap_config(sandbox, org_tree_names=[], start_date="2025-03-03", end_date="2025-03-09")
    run = tap(config)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    [export] = sandbox.exports_created()
    assert len(sandbox.downloads_for(export.export_id)) == 3
    assert export.file is not None
    stated = export.file.gzip_size - 1
    assert f"but the API stated download.sizeBytes {stated:,}" in run.stderr
    assert f"export {export.export_id} downloaded corrupt 3 times" in run.stderr
    assert not run.records()
    assert run.last_state is None or "replication_key_value" not in json.dumps(run.last_state)


def test_a_poll_answering_about_another_export_stops_the_window(
    sandbox: SandboxServer, tap: Tap
) -> None:
    config = tap_config(sandbox, org_tree_names=[], max_concurrent_exports=1)
    assert_clean(tap(config))
    earlier = {e.export_id for e in sandbox.exports_created()}
    # New exports (no reuse), and the first poll of the sync answers about an earlier one.
    sandbox.set_config(duplicate_window_seconds=0)
    sandbox.set_faults([Fault("poll", "other_export")])
    sandbox.reset_log()
    run = tap(config)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    asked = sandbox.requests_of("poll")[0].export_id
    assert asked not in earlier
    [line] = [x for x in run.stderr.splitlines() if "answered about export" in x]
    other = line.split("answered about export ")[1].split(" ")[0]
    assert other in earlier
    assert f"window 2025-01-06..2025-02-02: the poll of export {asked} answered about" in line
    assert "not downloading another export in its place" in line
    assert not sandbox.requests_of("download"), "neither export is downloaded"
    assert not run.records()


def test_content_type_and_authorization_on_every_request(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_faults([Fault("download", "redirect")])
    config = tap_config(sandbox, org_tree_names=[])
    assert_served_rows(tap(config), sandbox, config)
    own = [r for r in sandbox.request_log if r.endpoint != "blob"]
    assert {r.method for r in own} == {"POST", "GET"}
    assert {r.endpoint for r in own} == {"create", "poll", "download"}
    assert all(r.content_type == "application/json" and r.auth_valid for r in own)
    # The redirect's other host gets neither the key nor the API's headers.
    [blob] = sandbox.requests_of("blob")
    assert not blob.auth_present
    assert blob.content_type is None


def test_discover_says_where_unconfigured_statuses_and_missing_columns_go(
    sandbox: SandboxServer, tap: Tap
) -> None:
    run = tap(tap_config(sandbox), extra_args=["--discover"])
    assert run.returncode == 0, run.stderr[-3000:]
    streams = {
        s["tap_stream_id"]: s["schema"]["properties"] for s in json.loads(run.stdout)["streams"]
    }
    wide, long = streams["time_in_status"], streams["time_in_status_by_status"]
    extra = wide["additional_columns"]["description"]
    assert "status not in issue_statuses (to_do_hours)" in extra
    assert "the status 'to_do' in time_in_status_by_status" in extra
    assert "null when the export has no qa_hours column" in wide["qa_hours"]["description"]
    assert "no total_issues column" in wide["total_issues"]["description"]
    for properties in (wide, long):
        assert (
            "the team name when the export has no team_hierarchy column"
            in (properties["team_hierarchy"]["description"])
        )
    assert "whose column the export lacks has no record" in long["status"]["description"]
