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


def test_progress_is_logged_per_window_with_time_left_and_a_summary(
    sandbox: SandboxServer, tap: Tap
) -> None:
    run = tap(tap_config(sandbox))
    assert run.returncode == 0
    done = [line for line in run.stderr.splitlines() if "windows of this partition" in line]
    assert len(done) == 8
    assert "4/4 windows of this partition" in done[-1]
    assert "all partitions 8/8 windows, about 0m00s left" in done[-1]
    summary = run.stderr[run.stderr.index("Sync summary:") :].splitlines()
    rows = collections.Counter(r["scope_id"] for r in run.records())
    assert summary[1].split() == ["partition", "windows", "exports", "rows", "done", "at"]
    table = {line.split()[0]: line.split() for line in summary[2:4]}
    assert table["team_abc123"][1:4] == ["4", "4", f"{rows['team_abc123']:,}"]
    assert table["Engineering"][1:4] == ["4", "4", f"{rows['Engineering']:,}"]
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
    with caplog.at_level(logging.INFO):
        for scope in (team, team, tree, tree):
            progress.window_done(scope, done, 3)
        progress.summary(None)
    assert caplog.text.count("2/2 windows of this partition") == 2
    assert "all partitions 4/4 windows" in caplog.text
    assert "max_run_seconds" not in caplog.text
    table = caplog.text[caplog.text.index("Sync summary:") :].splitlines()[2:4]
    assert [line.split()[:4] for line in table] == [["Platform", "2", "2", "6"]] * 2
