"""The tap end to end against the sandbox over real HTTP: rows, keys, state, resume."""

from __future__ import annotations

import collections
import datetime as dt
import os
import typing as t
from pathlib import Path

from tap_sei_time_in_status.sandbox import Fault, SandboxServer
from tests.conftest import API_KEY, csv_view, row_view, served_rows, tap_config
from tests.tap_runner import TapRun, final_table, without_provenance

STATUS_COLUMNS = ["in_progress_hours", "in_review_hours", "qa_hours", "done_hours"]
KEYS = [
    "scope_id",
    "granularity",
    "aggregation_level",
    "terminal_date_column",
    "period",
    "team_hierarchy",
]

Tap = t.Callable[..., TapRun]


def assert_clean(run: TapRun) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert API_KEY not in run.stderr + run.stdout


def test_every_served_row_exactly_once_typed(sandbox: SandboxServer, tap: Tap) -> None:
    config = tap_config(sandbox)
    run = tap(config)
    assert_clean(run)
    records = run.records()
    expected = served_rows(sandbox, config)
    assert len(expected) > 50
    assert sorted(map(repr, (row_view(r, STATUS_COLUMNS) for r in records))) == sorted(
        map(repr, (csv_view(r, STATUS_COLUMNS) for r in expected))
    )
    for record in records:
        assert isinstance(record["total_issues"], int)
        for column in [*STATUS_COLUMNS, "total_lead_time_hours"]:
            assert record[column] is None or isinstance(record[column], float)
        assert record["granularity"] == "weekly"
        assert record["aggregation_level"] == "team"
        assert record["terminal_date_column"] == "issue_resolved_at"
        assert record["export_id"].startswith("exp_")
        assert record["window_start"] <= record["window_end"]
        assert record["scope_type"] == (
            "team" if record["scope_id"] == "team_abc123" else "org_tree"
        )
        assert "to_do_hours" in record["additional_columns"]
    assert any(r[c] is None for r in records for c in STATUS_COLUMNS), "sandbox serves empty cells"


def test_schema_keys_and_key_uniqueness(sandbox: SandboxServer, tap: Tap) -> None:
    run = tap(tap_config(sandbox))
    assert_clean(run)
    schema = run.schema()
    assert schema["key_properties"] == KEYS
    assert schema["bookmark_properties"] == ["window_end"]
    properties = schema["schema"]["properties"]
    for column in [*STATUS_COLUMNS, "total_lead_time_hours"]:
        assert "number" in properties[column]["type"]
    assert "integer" in properties["total_issues"]["type"]
    assert properties["window_end"]["format"] == "date"
    counts = collections.Counter(tuple(r[k] for k in KEYS) for r in run.records())
    assert counts
    assert max(counts.values()) == 1


def test_sprint_aggregation_keys_include_sprint(sandbox: SandboxServer, tap: Tap) -> None:
    config = tap_config(sandbox, aggregation_level="sprint", org_tree_names=[])
    run = tap(config)
    assert_clean(run)
    assert run.schema()["key_properties"] == [*KEYS, "sprint"]
    records = run.records()
    assert records
    assert all(r["sprint"] for r in records)
    counts = collections.Counter(tuple(r[k] for k in [*KEYS, "sprint"]) for r in records)
    assert max(counts.values()) == 1
    assert len(records) == len(served_rows(sandbox, config))


def test_exports_are_whole_periods_with_the_documented_body(
    sandbox: SandboxServer, tap: Tap
) -> None:
    run = tap(tap_config(sandbox))
    assert_clean(run)
    bodies = [entry.body for entry in sandbox.requests_of("create")]
    team = [b for b in bodies if "teamId" in b["scope"]]
    tree = [b for b in bodies if "orgTreeName" in b["scope"]]
    # 2025-01-08 is a Wednesday: the first window starts on Monday 2025-01-06.
    assert sorted((b["dateRange"]["start"], b["dateRange"]["end"]) for b in team) == [
        ("2025-01-06", "2025-02-02"),
        ("2025-02-03", "2025-03-02"),
        ("2025-03-03", "2025-03-30"),
        ("2025-03-31", "2025-04-16"),
    ]
    assert min(team, key=lambda b: b["dateRange"]["start"]) == {
        "scope": {"teamId": "team_abc123"},
        "dateRange": {"start": "2025-01-06", "end": "2025-02-02"},
        "issueStatuses": ["In Progress", "In Review", "QA", "Done"],
        "options": {
            "aggregationLevel": "team",
            "granularity": "weekly",
            "terminalDateColumn": "issue_resolved_at",
        },
    }
    assert tree[0]["scope"] == {"orgTreeName": "Engineering", "orgIdentifier": "default"}
    for entry in sandbox.request_log:
        assert entry.query.get("projectIdentifier") == "sei_demo"
        assert entry.query.get("orgIdentifier") == "default"
        assert entry.auth_valid


def test_state_only_at_window_boundaries_and_one_bookmark_per_partition(
    sandbox: SandboxServer, tap: Tap
) -> None:
    run = tap(tap_config(sandbox))
    assert_clean(run)
    # Walk the output: every STATE follows all records of the window it bookmarks.
    pending: list[dict[str, t.Any]] = []
    previous: dict[str, str] = {}
    for message in run.messages:
        if message["type"] == "RECORD":
            pending.append(message["record"])
        elif message["type"] == "STATE":
            bookmarks = _bookmarks(message["value"])
            moved = {k: v for k, v in bookmarks.items() if previous.get(k) != v}
            for record in pending:
                assert moved.get(record["scope_id"]) == record["window_end"]
            pending = []
            previous = bookmarks
    assert not pending, "records after the last STATE"
    assert _bookmarks(run.last_state or {}) == {
        "team_abc123": "2025-04-16",
        "Engineering": "2025-04-16",
    }


def _bookmarks(state: dict[str, t.Any]) -> dict[str, str]:
    partitions = state.get("bookmarks", {}).get("time_in_status", {}).get("partitions", [])
    return {
        p["context"]["scope_id"]: p["replication_key_value"]
        for p in partitions
        if "replication_key_value" in p
    }


def test_incremental_run_exports_only_the_lookback_window(sandbox: SandboxServer, tap: Tap) -> None:
    config = tap_config(sandbox)
    first = tap(config)
    assert_clean(first)
    sandbox.reset_log()
    second = tap(config, first.last_state)
    assert_clean(second)
    ranges = {
        (b.body["dateRange"]["start"], b.body["dateRange"]["end"])
        for b in sandbox.requests_of("create")
    }
    # Bookmark 2025-04-16 minus 7 days lies in the last window only.
    assert ranges == {("2025-03-31", "2025-04-16")}
    assert final_table([first, second], KEYS).keys() == final_table([first], KEYS).keys()
    assert _bookmarks(second.last_state or {}) == _bookmarks(first.last_state or {})


def test_bookmark_is_never_moved_back_by_the_lookback(sandbox: SandboxServer, tap: Tap) -> None:
    config = tap_config(
        sandbox,
        team_ids=["team_abc123"],
        org_tree_names=[],
        granularity="daily",
        periods_per_window=1,
        start_date="2025-03-01",
        end_date="2025-03-10",
        lookback_days=3,
    )
    first = tap(config)
    assert_clean(first)
    sandbox.reset_log()
    second = tap(config, first.last_state)
    assert_clean(second)
    assert len(sandbox.requests_of("create")) == 4  # 03-07 .. 03-10
    for state in second.states:
        assert _bookmarks(state).get("team_abc123", "2025-03-10") == "2025-03-10"


def test_resume_after_a_failed_run_loses_no_row(sandbox: SandboxServer, tap: Tap) -> None:
    # One export at a time, so that "the third download" is the third window's.
    config = tap_config(sandbox, max_export_attempts=1, max_concurrent_exports=1)
    clean = tap(config)
    assert_clean(clean)
    # The third download serves a value the tap cannot type: the run stops there, with the
    # windows before it bookmarked and nothing of the broken window emitted.
    sandbox.set_faults([Fault("download", "malformed_non_numeric", after=2)])
    broken = tap(config)
    assert broken.returncode != 0
    assert "is not a number" in broken.stderr
    assert broken.last_state is not None
    assert len(broken.states) >= 2
    sandbox.set_faults([])
    resumed = tap(config, broken.last_state)
    assert_clean(resumed)
    assert final_table([broken, resumed], KEYS).keys() == final_table([clean], KEYS).keys()
    assert without_provenance(final_table([broken, resumed], KEYS)) == without_provenance(
        final_table([clean], KEYS)
    )


def test_empty_window_still_advances_the_bookmark(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_config(empty_ranges=[(dt.date(2025, 2, 3), dt.date(2025, 3, 2))])
    config = tap_config(sandbox, org_tree_names=[])
    run = tap(config)
    assert_clean(run)
    windows_with_rows = {r["window_start"] for r in run.records()}
    assert "2025-02-03" not in windows_with_rows
    bookmarks = [_bookmarks(s).get("team_abc123") for s in run.states]
    assert "2025-03-02" in bookmarks


def test_rejected_key_is_reported_without_the_key(sandbox: SandboxServer, tap: Tap) -> None:
    config = tap_config(sandbox, api_key="wrong-key-0d9e8f")
    run = tap(config)
    assert run.returncode != 0
    assert "api_key" in run.stderr
    assert "401" in run.stderr
    assert "wrong-key-0d9e8f" not in run.stderr + run.stdout
    assert not run.records()


def test_bad_setting_ends_before_any_request_without_traceback(
    sandbox: SandboxServer, tap: Tap
) -> None:
    config = tap_config(sandbox, start_date="2024-02-30", issue_statuses=[])
    run = tap(config)
    assert run.returncode == 1
    assert "start_date" in run.stderr
    assert "issue_statuses" in run.stderr
    assert "Traceback" not in run.stderr
    # Discovery (Meltano runs it first) checks only what the catalog depends on.
    run = tap(config, extra_args=["--discover"])
    assert run.returncode == 1
    assert "issue_statuses" in run.stderr
    assert "start_date" not in run.stderr
    assert "Traceback" not in run.stderr
    assert not sandbox.request_log


def test_a_state_the_tap_did_not_write_is_refused(sandbox: SandboxServer, tap: Tap) -> None:
    config = tap_config(sandbox, org_tree_names=[])
    for bookmark in [
        {"replication_key": "updated_at", "replication_key_value": "2025-02-01T00:00:00Z"},
        {"replication_key": "window_end", "replication_key_value": "last tuesday"},
    ]:
        state = {
            "bookmarks": {
                "time_in_status": {
                    "partitions": [
                        {"context": {"scope_type": "team", "scope_id": "team_abc123"}, **bookmark}
                    ]
                }
            }
        }
        run = tap(config, state)
        assert run.returncode == 1
        assert "which this tap did not write" in run.stderr or "not a YYYY-MM-DD" in run.stderr
        assert "Traceback" not in run.stderr
        assert not run.records()
        assert not sandbox.requests_of("create"), "refused before any export"


def test_temporary_files_are_private_and_removed(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    config = tap_config(sandbox, org_tree_names=[])
    ok = tap(config, env={"TMPDIR": str(temp)})
    assert_clean(ok)
    sandbox.set_faults([Fault("download", "malformed_non_numeric")])
    failed = tap(config, env={"TMPDIR": str(temp)})
    assert failed.returncode == 1
    # Only the tap's own (empty, private) area stays, for the next run to use.
    area = temp / f"tap-sei-time-in-status-{os.getuid()}"
    assert list(temp.rglob("*")) == [area]
    assert area.stat().st_mode & 0o777 == 0o700


def test_exports_overlap_up_to_the_limit_and_records_stay_in_window_order(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(export_seconds=0.5)
    run = tap(tap_config(sandbox, max_concurrent_exports=3))
    assert_clean(run)
    # Never more than 3 exports between their create and their download.
    in_flight = peak = 0
    for entry in sandbox.request_log:
        if entry.endpoint == "create" and entry.status in (200, 201, 202):
            in_flight += 1
            peak = max(peak, in_flight)
        elif entry.endpoint == "download" and entry.status == 200:
            in_flight -= 1
    assert peak == 3
    # Within each partition, records leave window by window, in order.
    ends: dict[str, list[str]] = collections.defaultdict(list)
    for record in run.records():
        ends[record["scope_id"]].append(record["window_end"])
    assert ends
    for scope_ends in ends.values():
        assert scope_ends == sorted(scope_ends)


def test_stream_maps_still_apply(sandbox: SandboxServer, tap: Tap) -> None:
    config = tap_config(
        sandbox,
        org_tree_names=[],
        stream_maps={"time_in_status": {"team": "team.upper()", "export_id": "__NULL__"}},
    )
    run = tap(config)
    assert_clean(run)
    records = run.records()
    assert records
    assert all(r["team"] == r["team"].upper() for r in records)
    assert all("export_id" not in r for r in records)
