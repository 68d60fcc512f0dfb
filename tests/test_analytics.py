"""Analytics output: period dates, the long-format stream from the same exports, progress."""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import types
import typing as t

import pytest
from jsonschema import Draft7Validator, FormatChecker  # type: ignore[import-untyped]

from tap_sei_time_in_status.export.progress import Progress
from tap_sei_time_in_status.sandbox import SandboxServer
from tap_sei_time_in_status.settings import Scope
from tests.conftest import tap_config
from tests.tap_runner import TapRun, selecting

Tap = t.Callable[..., TapRun]
LONG = "time_in_status_by_status"
STATUSES = {
    "In Progress": "in_progress_hours",
    "In Review": "in_review_hours",
    "QA": "qa_hours",
    "Done": "done_hours",
}


def both_streams(tap: Tap, config: dict[str, t.Any]) -> dict[str, t.Any]:
    catalog = json.loads(tap(config, extra_args=["--discover"]).stdout)
    return selecting(catalog, "time_in_status", LONG)


def test_the_long_stream_is_opt_in(sandbox: SandboxServer, tap: Tap) -> None:
    config = tap_config(sandbox)
    catalog = json.loads(tap(config, extra_args=["--discover"]).stdout)
    root = {
        entry["tap_stream_id"]: m["metadata"]
        for entry in catalog["streams"]
        for m in entry["metadata"]
        if not m["breadcrumb"]
    }
    assert root[LONG]["selected-by-default"] is False
    assert root["time_in_status"]["selected-by-default"] is True
    run = tap(config)  # no catalog: the defaults
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.records()
    assert not [m for m in run.messages if m.get("stream") == LONG]
    assert LONG not in run.last_state["bookmarks"]  # type: ignore[index]


def test_both_streams_come_from_one_export_per_window(sandbox: SandboxServer, tap: Tap) -> None:
    config = tap_config(sandbox)
    run = tap(config, catalog=both_streams(tap, config))
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(sandbox.requests_of("create")) == 8  # 4 windows x 2 partitions, once each
    wide, long = run.records(), run.records(LONG)
    assert run.schema(LONG)["key_properties"][-1] == "status"
    by_key = {(r["scope_id"], r["period"], r["team_hierarchy"], r["status"]): r for r in long}
    assert len(by_key) == len(long), "long keys are unique"
    assert len(long) == 5 * len(wide)  # 4 configured statuses + to_do_hours the export added
    for record in wide:
        for status, column in STATUSES.items():
            row = by_key[(record["scope_id"], record["period"], record["team_hierarchy"], status)]
            assert row["hours"] == record[column]
            assert row["total_issues"] == record["total_issues"]
            assert (row["period_start"], row["period_end"]) == (
                record["period_start"],
                record["period_end"],
            )
        extra = by_key[(record["scope_id"], record["period"], record["team_hierarchy"], "to_do")]
        assert extra["hours"] == record["additional_columns"]["to_do_hours"]


def test_every_record_is_valid_against_its_schema_message(sandbox: SandboxServer, tap: Tap) -> None:
    """What lets loaders skip their own check (`validate_records: false` in meltano.yml)."""
    config = tap_config(sandbox, aggregation_level="sprint")
    run = tap(config, catalog=both_streams(tap, config))
    assert run.returncode == 0, run.stderr[-2000:]
    for stream in ("time_in_status", LONG):
        validator = Draft7Validator(run.schema(stream)["schema"], format_checker=FormatChecker())
        records = run.records(stream)
        assert records
        for record in records:
            validator.validate(record)


def test_only_the_long_stream_selected_still_exports_once_per_window(
    sandbox: SandboxServer, tap: Tap
) -> None:
    config = tap_config(sandbox)
    catalog = json.loads(tap(config, extra_args=["--discover"]).stdout)
    run = tap(config, catalog=selecting(catalog, LONG))
    assert run.returncode == 0, run.stderr[-2000:]
    assert not run.records()
    assert run.records(LONG)
    assert len(sandbox.requests_of("create")) == 8
    partitions = run.last_state["bookmarks"][LONG]["partitions"]  # type: ignore[index]
    assert {p["replication_key_value"] for p in partitions} == {"2025-04-16"}


def test_period_dates_lie_inside_their_window(sandbox: SandboxServer, tap: Tap) -> None:
    for granularity in ("daily", "weekly", "monthly", "quarterly"):
        sandbox.reset_log()
        run = tap(tap_config(sandbox, granularity=granularity, org_tree_names=[]))
        assert run.returncode == 0, run.stderr[-2000:]
        assert "is not one the tap can date" not in run.stderr
        for record in run.records():
            start = dt.date.fromisoformat(record["period_start"])
            end = dt.date.fromisoformat(record["period_end"])
            assert start <= end
            assert record["window_start"] <= record["period_start"] <= record["window_end"]
            if granularity == "weekly":
                assert start.weekday() == 0
                assert (end - start).days == 6


def test_progress_is_logged_for_the_whole_sync_with_time_left_and_a_summary(
    sandbox: SandboxServer, tap: Tap
) -> None:
    run = tap(tap_config(sandbox))
    assert run.returncode == 0
    lines = run.stderr.splitlines()
    rows = collections.Counter(r["scope_id"] for r in run.records())
    assert any("Plan: 8 window(s) to export over 2 partition(s)" in line for line in lines)
    # A line when the first and the last window are out, and every 30 s between: this sync
    # is shorter.
    first, progress = [line for line in lines if "Progress:" in line]
    assert "Progress: 1/8 windows emitted" in first
    assert f"8/8 windows emitted, {rows.total()} rows" in progress
    assert "exports: 0 in flight, 0 to create" in progress
    # Every request of the sync went out within the last minute; the sandbox saw them all.
    requests = len(sandbox.request_log)
    assert f"; {requests} requests in the last minute (max_requests_per_minute 600)" in progress
    assert progress.endswith("about 0m00s left")
    assert not [line for line in lines if "windows of this partition" in line], "at DEBUG"
    assert (
        f"Sync summary: 8 of 8 window(s) emitted from 8 export(s) over 2 partition(s), "
        f"{rows.total()} row(s)"
    ) in run.stderr
    table = run.stderr[run.stderr.index("Partitions:") :].splitlines()  # few: at INFO
    assert table[1].split() == ["partition", "windows", "exports", "rows", "done", "at"]
    partitions = {line.split()[0]: line.split() for line in table[2:4]}
    assert partitions["team_abc123"][1:4] == ["4", "4", f"{rows['team_abc123']:,}"]
    assert partitions["Engineering"][1:4] == ["4", "4", f"{rows['Engineering']:,}"]
    assert "METRIC" in run.stderr, "singer-sdk's metrics still logged"


def test_progress_tells_a_team_and_an_org_tree_of_the_same_name_apart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Counted by name, the two were one partition of 2 windows done 4 times, and the summary
    # warned of -2 windows left in a log call that could not format max_run_seconds None.
    team, tree = Scope("team", "Platform"), Scope("org_tree", "Platform")
    progress = Progress(logging.getLogger("progress-test"), {team: 2, tree: 2})
    request = t.cast("t.Any", types.SimpleNamespace(window="w"))
    done = t.cast("t.Any", types.SimpleNamespace(request=request, exports_created=1, export_id="e"))
    with caplog.at_level(logging.DEBUG):
        for scope in (team, team, tree, tree):
            progress.window_done(scope, done, 3)
        progress.summary(None)
    assert "4 of 4 window(s) emitted from 4 export(s) over 2 partition(s)" in caplog.text
    assert "max_run_seconds" not in caplog.text
    table = caplog.text[caplog.text.index("Partitions:") :].splitlines()[2:4]
    assert [line.split()[:4] for line in table] == [["Platform", "2", "2", "6"]] * 2
