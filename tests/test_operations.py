"""Day-two operation: metrics that add up, flattening that keeps every column, run limits."""

from __future__ import annotations

import collections
import itertools
import json
import typing as t

import pytest

from tap_sei_time_in_status.sandbox import SandboxServer
from tests.conftest import csv_view, row_view, served_rows, tap_config
from tests.tap_runner import TapRun

Tap = t.Callable[..., TapRun]
WIDE, LONG = "time_in_status", "time_in_status_by_status"
STATUS_COLUMNS = ["in_progress_hours", "in_review_hours", "qa_hours", "done_hours"]


def select(tap: Tap, config: dict[str, t.Any], streams: set[str]) -> dict[str, t.Any]:
    catalog: dict[str, t.Any] = json.loads(tap(config, extra_args=["--discover"]).stdout)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def metrics_of(run: TapRun, name: str) -> list[dict[str, t.Any]]:
    points = [
        json.loads(line.split("METRIC: ", 1)[1])
        for line in run.stderr.splitlines()
        if "METRIC: " in line
    ]
    return [p for p in points if p["metric"] == name]


# --- 5. record_count ---------------------------------------------------------------------------


@pytest.mark.parametrize("streams", [{WIDE, LONG}, {WIDE}, {LONG}])
def test_record_count_per_stream_and_partition_is_what_was_written(
    sandbox: SandboxServer, tap: Tap, streams: set[str]
) -> None:
    config = tap_config(sandbox)
    run = tap(config, catalog=select(tap, config, streams))
    assert run.returncode == 0, run.stderr[-3000:]
    written = collections.Counter(
        (m["stream"], m["record"]["scope_id"]) for m in run.messages if m["type"] == "RECORD"
    )
    counted: collections.Counter[tuple[str, str]] = collections.Counter()
    for point in metrics_of(run, "record_count"):
        counted[(point["tags"]["stream"], point["tags"]["context"]["scope_id"])] += point["value"]
    assert counted == written
    assert {stream for stream, _ in written} == streams
    assert {scope for _, scope in written} == {"team_abc123", "Engineering"}
    for stream in streams:
        total = sum(n for (s, _), n in written.items() if s == stream)
        assert (
            f"Sync summary of stream {stream}: {total} record(s) written from 2 partition(s)"
            in (run.stderr)
        )


# --- 4. flattening -------------------------------------------------------------------------------


def test_flattened_schema_announces_every_key_before_its_records(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(extra_columns=("to_do_hours", "blocked_hours", "owner"))
    config = tap_config(sandbox, flattening_enabled=True, flattening_max_depth=1)
    run = tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    schemas: dict[str, dict[str, t.Any]] = {}
    records = 0
    for message in run.messages:
        if message["type"] == "SCHEMA":
            schemas[message["stream"]] = message["schema"]["properties"]
        elif message["type"] == "RECORD":
            properties = schemas[message["stream"]]
            assert set(message["record"]) <= set(properties), message["record"].keys()
            records += 1
    assert records
    wide = schemas[WIDE]
    assert wide["additional_columns__to_do_hours"]["type"] == ["number", "null"]
    assert wide["additional_columns__blocked_hours"]["type"] == ["number", "null"]
    assert wide["additional_columns__owner"]["type"] == ["string", "null"]
    assert any(r.get("additional_columns__blocked_hours") is not None for r in run.records())


# --- 6. operating limits -------------------------------------------------------------------------


def test_max_run_seconds_finishes_what_is_in_flight_and_exits_zero(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(export_seconds=1.5)
    config = tap_config(sandbox, max_concurrent_exports=2)
    first = tap({**config, "max_run_seconds": 0.7})
    assert first.returncode == 0, first.stderr[-3000:]
    assert "max_run_seconds (0.7 s) reached" in first.stderr
    assert "6 window(s) are left for the next run" in first.stderr
    assert len(sandbox.exports_created()) == 2, "no export is created after the deadline"
    # Both exports in flight were the team's first two windows; the org tree got none.
    partitions = first.last_state["bookmarks"][WIDE]["partitions"]  # type: ignore[index]
    bookmarks = {p["context"]["scope_id"]: p.get("replication_key_value") for p in partitions}
    assert bookmarks["team_abc123"] == "2025-03-02"
    assert bookmarks.get("Engineering") is None
    # The next run goes on from the state and, with the first, holds every served row.
    sandbox.set_config(export_seconds=0.15)
    second = tap(config, state=first.last_state)
    assert second.returncode == 0, second.stderr[-3000:]
    got = {repr(row_view(r, STATUS_COLUMNS)) for r in first.records() + second.records()}
    want = {repr(csv_view(r, STATUS_COLUMNS)) for r in served_rows(sandbox, config)}
    assert got == want


def test_max_requests_per_minute_bounds_the_request_rate(sandbox: SandboxServer, tap: Tap) -> None:
    config = tap_config(
        sandbox, org_tree_names=[], end_date="2025-03-30", max_requests_per_minute=60
    )
    run = tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    times = [r.at for r in sandbox.request_log]
    assert len(times) > 8, "more requests than the burst of 6"
    # A token bucket of 1 request/s with bursts of 6: any n consecutive requests span at
    # least (n - 6) seconds (0.2 s of slack for the time between the token and the arrival).
    for i, j in itertools.combinations(range(len(times)), 2):
        assert j - i + 1 <= 6 + (times[j] - times[i]) + 0.2, (i, j, times[j] - times[i])


def test_a_failed_export_is_created_again_after_the_configured_wait(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(fail_exports=1)
    config = tap_config(
        sandbox, org_tree_names=[], end_date="2025-02-02", failed_export_wait_seconds=1.0
    )
    run = tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "creating the export again in 1 s (failed_export_wait_seconds)" in run.stderr
    log = sandbox.request_log
    failed = sandbox.exports_created()[0].export_id
    last_poll = max(r.at for r in log if r.endpoint == "poll" and r.export_id == failed)
    next_create = min(r.at for r in log if r.endpoint == "create" and r.at > last_poll)
    assert next_create - last_poll >= 1.0
