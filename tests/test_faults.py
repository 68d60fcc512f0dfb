"""What networks and servers do, met by the real tap over HTTP: the output stays the same."""

from __future__ import annotations

import typing as t

import pytest

from tap_sei_time_in_status.sandbox import Fault, SandboxServer
from tests.conftest import API_KEY, csv_view, row_view, served_rows, tap_config
from tests.tap_runner import TapRun

STATUS_COLUMNS = ["in_progress_hours", "in_review_hours", "qa_hours", "done_hours"]
Tap = t.Callable[..., TapRun]


def small_config(sandbox: SandboxServer, **overrides: t.Any) -> dict[str, t.Any]:
    """One team, two windows: enough to meet each fault once and cheap to run."""
    return tap_config(
        sandbox,
        org_tree_names=[],
        start_date="2025-03-03",
        end_date="2025-04-27",
        **overrides,
    )


def assert_same_rows_as_served(
    run: TapRun, sandbox: SandboxServer, config: dict[str, t.Any]
) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    assert API_KEY not in run.stdout + run.stderr
    got = sorted(repr(row_view(r, STATUS_COLUMNS)) for r in run.records())
    want = sorted(repr(csv_view(r, STATUS_COLUMNS)) for r in served_rows(sandbox, config))
    assert got == want
    assert got, "the range holds rows"


@pytest.mark.parametrize(
    "fault",
    [
        Fault("create", "429", retry_after=1),
        Fault("poll", "429_no_retry_after", times=2),
        Fault("create", "503"),
        Fault("poll", "500"),
        Fault("download", "502"),
        Fault("download", "504"),
        Fault("create", "html"),
        Fault("poll", "drop"),
        Fault("download", "drop"),
        Fault("download", "cut"),
        Fault("download", "cut", times=2),
        Fault("download", "content_encoding_gzip"),
        Fault("download", "plain"),
        Fault("download", "redirect", times=2),
    ],
    ids=lambda f: f"{f.endpoint}-{f.kind}-x{f.times}",
)
def test_transient_faults_leave_the_output_identical(
    sandbox: SandboxServer, tap: Tap, fault: Fault
) -> None:
    sandbox.set_faults([fault])
    config = small_config(sandbox)
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    fired = [r for r in sandbox.request_log if r.fault]
    assert len(fired) == fault.times, "the fault was met"


def test_429_waits_for_retry_after(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_faults([Fault("create", "429", retry_after=2)])
    run = tap(small_config(sandbox, max_concurrent_exports=1))  # one request stream to time
    assert run.returncode == 0, run.stderr[-2000:]
    creates = sandbox.requests_of("create")
    assert creates[0].status == 429
    assert creates[1].at - creates[0].at >= 1.9


def test_read_timeout_is_retried(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_faults([Fault("poll", "slow", delay=3)])
    config = small_config(sandbox, request_timeout_seconds=1)
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    assert "did not complete within request_timeout_seconds (1 s)" in run.stderr


def test_redirected_download_gets_no_key_on_the_other_host(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_faults([Fault("download", "redirect", times=10)])
    run = tap(small_config(sandbox))
    assert run.returncode == 0, run.stderr[-2000:]
    blobs = sandbox.requests_of("blob")
    assert blobs
    assert not any(b.auth_present for b in blobs)


def test_failed_export_is_created_again(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_config(fail_exports=1)
    config = small_config(sandbox, max_concurrent_exports=1)  # creates in window order
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    creates = sandbox.requests_of("create")
    assert len(creates) == 3  # two windows, the first created twice
    assert creates[0].body == creates[1].body
    assert "attempt 1 of 3 did not complete" in run.stderr


def test_a_single_period_failing_every_attempt_ends_the_sync_naming_window_and_ids(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(fail_exports=2)
    config = small_config(
        sandbox, max_export_attempts=2, max_concurrent_exports=1, periods_per_window=1
    )
    run = tap(config)
    assert run.returncode == 1
    ids = [
        e.export_id
        for e in sandbox.exports_created()
        if e.body["dateRange"]["start"] == "2025-03-03"
    ]
    assert len(ids) == 2
    last_line = run.stderr.strip().splitlines()[-1]
    assert "team 'team_abc123' window 2025-03-03..2025-03-09" in last_line
    assert "single period" in last_line
    assert all(export_id in last_line for export_id in ids)
    assert "Traceback" not in run.stderr
    assert not run.records()


def test_a_window_failing_every_attempt_is_split_into_halves(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(fail_exports=2)
    config = small_config(sandbox, max_export_attempts=2, max_concurrent_exports=1)
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    ranges = [
        (r.body["dateRange"]["start"], r.body["dateRange"]["end"])
        for r in sandbox.requests_of("create")
    ]
    assert ("2025-03-03", "2025-03-16") in ranges
    assert ("2025-03-17", "2025-03-30") in ranges
    assert "exporting it again as 2025-03-03..2025-03-16 and 2025-03-17..2025-03-30" in run.stderr
    windows = {(r["window_start"], r["window_end"]) for r in run.records()}
    assert ("2025-03-03", "2025-03-16") in windows


def test_stuck_export_times_out_and_is_created_again(sandbox: SandboxServer, tap: Tap) -> None:
    # A timed-out export is abandoned; identical requests within the API's duplicate window
    # would return it again, so the window is shorter than the timeout (as 30 min <= 1800 s).
    sandbox.set_config(stuck_exports=1, duplicate_window_seconds=0.5)
    config = small_config(sandbox, export_timeout_seconds=1)
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    assert "export_timeout_seconds" in run.stderr
    assert len(sandbox.requests_of("create")) == 3


def test_lower_case_status_and_202_on_create(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_config(status_case="lower", create_status_code=202)
    config = small_config(sandbox)
    assert_same_rows_as_served(tap(config), sandbox, config)


def test_duplicate_request_completed_on_create_is_not_polled(
    sandbox: SandboxServer, tap: Tap
) -> None:
    config = small_config(sandbox)
    assert tap(config).returncode == 0
    sandbox.reset_log()
    again = tap(config, env={"TAP_SEI_TIME_IN_STATUS_LOGLEVEL": "DEBUG"})  # export steps
    assert_same_rows_as_served(again, sandbox, config)
    assert [r.status for r in sandbox.requests_of("create")] == [200, 200]
    assert not sandbox.requests_of("poll")
    assert "Duplicate request" in again.stderr


def test_unknown_status_is_a_clear_error_not_a_hang(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_config(unknown_status=True)
    run = tap(small_config(sandbox), timeout=60)
    assert run.returncode == 1
    assert "unknown status 'ARCHIVED'" in run.stderr
    assert "Traceback" not in run.stderr


def test_non_json_answer_is_quoted(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_faults([Fault("create", "non_json")])
    run = tap(small_config(sandbox))
    assert run.returncode == 1
    assert "non-JSON body starting" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("malformed_missing_column", "the CSV has no column 'team'"),
        ("malformed_non_numeric", "is not a number"),
        ("ragged", "cells, the header has"),
    ],
)
def test_malformed_csv_fails_naming_the_export(
    sandbox: SandboxServer, tap: Tap, kind: str, message: str
) -> None:
    sandbox.set_faults([Fault("download", t.cast("t.Any", kind))])
    run = tap(small_config(sandbox, max_concurrent_exports=1))  # the first export is hit
    assert run.returncode == 1
    assert message in run.stderr
    export_id = sandbox.exports_created()[0].export_id
    assert f"export {export_id}" in run.stderr
    assert not run.records(), "nothing of a window that cannot be parsed is emitted"
    assert run.last_state is None or "replication_key_value" not in str(run.last_state)
