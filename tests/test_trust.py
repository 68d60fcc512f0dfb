"""Bounded in trust: a hostile or broken server cannot misdirect the tap, leak the key, push
the bookmark past today, flood the state, end it in a traceback or have half a window loaded.

Every test runs the real tap over HTTP against the sandbox.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest
import requests

from tap_sei_time_in_status.api.client import EXPORTS_PATH
from tap_sei_time_in_status.export.job import ExportRequest
from tap_sei_time_in_status.output.state_budget import BYTES_PER_EVENT, FIXED_BYTES
from tap_sei_time_in_status.sandbox import ALWAYS, Fault, SandboxServer
from tap_sei_time_in_status.settings import parse_settings
from tap_sei_time_in_status.windows import plan_windows
from tests.conftest import API_KEY, tap_config, today
from tests.tap_runner import BOTH_STREAMS, TapRun
from tests.test_faults import assert_same_rows_as_served, small_config

Tap = t.Callable[..., TapRun]


def partitions(state: dict[str, t.Any] | None) -> list[dict[str, t.Any]]:
    assert state is not None
    return t.cast("list[dict[str, t.Any]]", state["bookmarks"]["time_in_status"]["partitions"])


def one_line_failure(run: TapRun, *fragments: str) -> None:
    """Exit code 1, each fragment in the log, no traceback, nothing emitted."""
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    for fragment in fragments:
        assert fragment in run.stderr, run.stderr[-2000:]
    assert not run.records()


def no_key_anywhere(run: TapRun) -> None:
    everything = (run.stdout + run.stderr).lower()
    assert API_KEY.lower() not in everything


# --- export ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    ["../../{hex}", "a/b{hex}", "x?y={hex}&z=1", "x#{hex}", "exp {hex}", "exp_{hex}" + "9" * 130],
)
def test_a_hostile_export_id_stops_the_sync_and_is_never_used_or_stored(
    sandbox: SandboxServer, tap: Tap, template: str
) -> None:
    sandbox.set_config(export_id_template=template)
    run = tap(small_config(sandbox, max_concurrent_exports=1))
    one_line_failure(run, "which is not 1 to 128 letters, digits, '_' or '-'")
    exports_path = "/sei/api" + EXPORTS_PATH
    assert [r.path for r in sandbox.request_log] == [exports_path], "nothing after the create"
    export_id = sandbox.exports_created()[0].export_id
    assert export_id not in json.dumps(run.states)
    assert "in_flight_exports" not in json.dumps(run.states)


def test_ids_of_either_case_with_dashes_are_accepted(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_config(export_id_template="Exp-{hex}_abc")
    config = small_config(sandbox)
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    export_id = sandbox.exports_created()[0].export_id
    assert sandbox.downloads_for(export_id)


def test_a_bad_id_already_in_the_state_is_dropped_with_a_warning(
    sandbox: SandboxServer, tap: Tap
) -> None:
    config = small_config(sandbox)
    state = {
        "bookmarks": {
            "time_in_status": {
                "partitions": [
                    {
                        "context": {"scope_type": "team", "scope_id": "team_abc123"},
                        "in_flight_exports": [
                            {
                                "export_id": "../../admin",
                                "window_start": "2025-03-03",
                                "window_end": "2025-03-30",
                                "request_digest": "0" * 16,
                            }
                        ],
                    }
                ]
            }
        }
    }
    run = tap(config, state)
    assert_same_rows_as_served(run, sandbox, config)
    assert "WARNING" in run.stderr
    assert "'../../admin'" in run.stderr
    assert "dropped, that window gets a new export" in run.stderr
    assert all(".." not in r.path for r in sandbox.request_log)
    assert "../../admin" not in json.dumps(run.last_state)


# --- the key ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fault", "fragment"),
    [
        ({"status_message": f"ready for {API_KEY.upper()}"}, None, "the message contains"),
        ({"export_id_template": "exp_{hex}_" + API_KEY.swapcase()}, None, "the exportId contains"),
        ({}, Fault("download", "key_in_cell"), "the CSV contains the api_key"),
    ],
    ids=["status-message", "export-id", "csv-cell"],
)
def test_a_value_echoing_the_key_is_refused_and_the_key_never_printed(
    sandbox: SandboxServer,
    tap: Tap,
    change: dict[str, t.Any],
    fault: Fault | None,
    fragment: str,
) -> None:
    sandbox.set_config(**change, faults=[fault] if fault else [])
    run = tap(small_config(sandbox, max_concurrent_exports=1))
    one_line_failure(run, fragment)
    no_key_anywhere(run)
    assert API_KEY.lower() not in json.dumps(run.states).lower()


def test_every_log_line_is_redacted_in_any_case(sandbox: SandboxServer, tap: Tap) -> None:
    # The tap quotes a state it refuses; here that state holds the key, upper-cased.
    state = {
        "bookmarks": {
            "time_in_status": {
                "partitions": [
                    {
                        "context": {"scope_type": "team", "scope_id": "team_abc123"},
                        "replication_key": "window_end",
                        "replication_key_value": API_KEY.upper(),
                    }
                ]
            }
        }
    }
    run = tap(small_config(sandbox), state)
    one_line_failure(run, "not a YYYY-MM-DD date", "'***'")
    assert API_KEY.lower() not in run.stderr.lower()  # (stdout echoes the state it was given)


@pytest.mark.parametrize("where", ["main thread", "worker thread"])
def test_an_exception_nothing_caught_is_printed_without_the_key(where: str) -> None:
    """The last resort: Python's own traceback printer, past every logging filter."""
    raise_it = f"raise RuntimeError('server said {API_KEY.upper()}')"
    body = (
        raise_it
        if where == "main thread"
        else "import threading\n"
        f"def work():\n    {raise_it}\n"
        "t = threading.Thread(target=work, name='poller'); t.start(); t.join()"
    )
    script = (
        "from tap_sei_time_in_status.api.secrets_guard import SecretGuard, install_redaction\n"
        f"install_redaction(SecretGuard({API_KEY!r}))\n{body}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == (1 if where == "main thread" else 0)
    assert "RuntimeError: server said ***" in done.stderr, done.stderr
    assert "Traceback (most recent call last)" in done.stderr
    if where == "worker thread":
        assert "Exception in thread poller:" in done.stderr
    assert API_KEY.lower() not in done.stderr.lower()


# --- bookmarks ----------------------------------------------------------------------------


def test_a_window_ending_after_today_bookmarks_today(sandbox: SandboxServer, tap: Tap) -> None:
    now = today()
    config = tap_config(
        sandbox,
        org_tree_names=[],
        start_date=(now - dt.timedelta(days=10)).isoformat(),
        end_date=(now + dt.timedelta(days=40)).isoformat(),
        periods_per_window=2,
    )
    run = tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert [p["replication_key_value"] for p in partitions(run.last_state)] == [now.isoformat()]
    assert max(r["window_end"] for r in run.records()) > now.isoformat()
    sandbox.reset_log()
    again = tap(config, run.last_state)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sandbox.requests_of("create"), "the open period is exported again"


def test_a_future_bookmark_in_the_state_is_clamped_with_a_warning(
    sandbox: SandboxServer, tap: Tap
) -> None:
    now = today()
    config = tap_config(
        sandbox, org_tree_names=[], start_date=(now - dt.timedelta(days=60)).isoformat()
    )
    del config["end_date"]  # today
    state = {
        "bookmarks": {
            "time_in_status": {
                "partitions": [
                    {
                        "context": {"scope_type": "team", "scope_id": "team_abc123"},
                        "replication_key": "window_end",
                        "replication_key_value": "2999-01-01",
                    }
                ]
            }
        }
    }
    run = tap(config, state)
    assert run.returncode == 0, run.stderr[-2000:]
    warning = re.search(r"WARNING.*2999-01-01, which is after today.*clamped to today", run.stderr)
    assert warning, run.stderr[-2000:]
    assert sandbox.requests_of("create"), "the windows from today minus lookback are exported"
    assert [p["replication_key_value"] for p in partitions(run.last_state)] == [now.isoformat()]


# --- the size of STATE --------------------------------------------------------------------


def test_state_bytes_grow_linearly_with_partitions_and_windows(
    sandbox: SandboxServer, tap: Tap
) -> None:
    teams = [f"team_{n:03d}" for n in range(40)]
    sandbox.set_config(teams=teams)  # teams the server knows
    config = tap_config(
        sandbox,
        team_ids=teams,
        org_tree_names=[],
        start_date="2025-03-03",
        end_date="2025-03-09",  # one window per team
        max_concurrent_exports=8,
    )
    # The server already has every export: each create is answered COMPLETED at once, so
    # 40 partitions cost 80 requests (within the tap's burst of requests).
    settings = parse_settings(config)
    [window] = plan_windows(settings.start_date, settings.end_date, "weekly", 4)
    for scope in settings.scopes:
        body = ExportRequest.for_window(settings, scope, window).body()
        requests.post(
            sandbox.base_url + EXPORTS_PATH,
            json=body,
            params={"orgIdentifier": "default", "projectIdentifier": "sei_demo"},
            headers={"authorization": f"ApiKey {API_KEY}"},
            timeout=5,
        ).raise_for_status()
    time.sleep(0.4)  # let them complete
    run = tap(config, streams=BOTH_STREAMS)  # both streams' bookmarks in every STATE
    assert run.returncode == 0, run.stderr[-2000:]
    state_lines = [line for line in run.stdout.splitlines() if '"type":"STATE"' in line]
    total = sum(len(line) + 1 for line in state_lines)
    windows = len(teams)
    # The documented bound: 64 KiB, plus 2 KiB per window of each partition, plus the
    # sync's final state (which alone holds every partition).
    assert total <= FIXED_BYTES + 2 * BYTES_PER_EVENT * windows + 2 * len(state_lines[-1])
    # One message per window and per export, each holding every partition, as before:
    naive = 2 * windows * len(state_lines[-1])
    assert total < naive / 3, (total, naive)
    # Nothing of resumption is lost: every partition is bookmarked in the last state.
    last = partitions(run.last_state)
    marks = {p["context"]["scope_id"]: p["replication_key_value"] for p in last}
    assert marks == dict.fromkeys(teams, "2025-03-09")
    assert "in_flight_exports" not in json.dumps(run.last_state)


def test_in_flight_entries_of_windows_no_longer_planned_are_dropped(
    sandbox: SandboxServer, tap: Tap
) -> None:
    config = small_config(sandbox)
    stale = {
        "export_id": "exp_00C0FFEE",
        "window_start": "2020-01-06",
        "window_end": "2020-02-02",
        "request_digest": "0" * 16,
    }
    state = {
        "bookmarks": {
            "time_in_status": {
                "partitions": [
                    {
                        "context": {"scope_type": "team", "scope_id": "team_abc123"},
                        "in_flight_exports": [stale],
                    }
                ]
            }
        }
    }
    run = tap(config, state)
    assert_same_rows_as_served(run, sandbox, config)
    assert "dropped 1 in-flight export(s) of windows this run does not plan" in run.stderr
    assert not sandbox.polls_for("exp_00C0FFEE")
    assert "exp_00C0FFEE" not in json.dumps(run.last_state)


# --- one line, never a traceback ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [
        (Fault("download", "utf16"), "the CSV is not UTF-8 (it looks like UTF-16)"),
        (Fault("download", "invalid_utf8_header"), "line 1: the CSV is not UTF-8"),
        (Fault("download", "invalid_utf8_body"), "the CSV is not UTF-8"),
        (Fault("download", "redirect_file"), "'file:///etc/passwd', which is not http(s)"),
        (Fault("download", "redirect_ftp"), "which is not http(s)"),
        (Fault("create", "nested_json"), "JSON nested too deeply"),
        (Fault("poll", "nested_json", times=ALWAYS), "JSON nested too deeply"),
    ],
    ids=lambda v: v.kind if isinstance(v, Fault) else "",
)
def test_a_bad_answer_ends_in_one_line(
    sandbox: SandboxServer, tap: Tap, fault: Fault, fragment: str
) -> None:
    sandbox.set_faults([fault])
    run = tap(small_config(sandbox, max_concurrent_exports=1))
    one_line_failure(run, fragment)


def test_a_bookmark_before_the_year_1900_is_refused_in_one_line(
    sandbox: SandboxServer, tap: Tap
) -> None:
    state = {
        "bookmarks": {
            "time_in_status": {
                "partitions": [
                    {
                        "context": {"scope_type": "team", "scope_id": "team_abc123"},
                        "replication_key": "window_end",
                        "replication_key_value": "0001-01-03",
                    }
                ]
            }
        }
    }
    run = tap(small_config(sandbox), state)
    one_line_failure(run, "'0001-01-03', which is not a YYYY-MM-DD date from 1900 on")
    assert not sandbox.request_log


@pytest.mark.parametrize("name", ["start_date", "end_date"])
def test_dates_past_the_year_9998_are_refused(sandbox: SandboxServer, tap: Tap, name: str) -> None:
    run = tap(tap_config(sandbox, **{name: "9999-12-31"}))
    one_line_failure(run, name, "9998")
    assert not sandbox.request_log


# --- CSV lines and cells ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("long_line", "longer than 4,096 bytes (max_csv_line_bytes)"),
        ("long_cell", "a cell longer than 4,096 characters (max_csv_line_bytes)"),
    ],
)
def test_a_line_or_cell_over_the_limit_stops_the_window(
    sandbox: SandboxServer, tap: Tap, kind: str, fragment: str
) -> None:
    sandbox.set_faults([Fault("download", t.cast("t.Any", kind))])
    run = tap(small_config(sandbox, max_concurrent_exports=1, max_csv_line_bytes=4096))
    one_line_failure(run, fragment, f"export {sandbox.exports_created()[0].export_id}")


def test_the_line_limit_can_be_raised(sandbox: SandboxServer, tap: Tap) -> None:
    sandbox.set_faults([Fault("download", "long_cell")])
    run = tap(small_config(sandbox, max_concurrent_exports=1, max_csv_line_bytes=65536))
    # Past the limit, the long cell is read and the row is found ragged instead.
    one_line_failure(run, "cells, the header has")
    assert "max_csv_line_bytes" not in run.stderr


# --- a window is checked before its first record ------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("late_non_numeric", "'abc' is not a number"),
        ("invalid_utf8_body", "the CSV is not UTF-8"),
        ("key_in_cell", "the CSV contains the api_key"),
    ],
)
def test_a_window_bad_at_its_last_line_emits_nothing(
    sandbox: SandboxServer, tap: Tap, kind: str, fragment: str
) -> None:
    sandbox.set_faults([Fault("download", t.cast("t.Any", kind))])
    config = tap_config(sandbox, team_ids=[], max_concurrent_exports=1)  # an org tree: many rows
    run = tap(config)
    one_line_failure(run, fragment)
    line = int(re.search(r"line (\d+)", run.stderr).group(1))  # type: ignore[union-attr]
    assert line > 10, "the bad row is the last of many"
    assert run.last_state is None or "replication_key_value" not in json.dumps(run.last_state)


# --- credentials and redirects --------------------------------------------------------------


def test_credentials_in_base_url_are_refused_without_echoing_them(
    sandbox: SandboxServer, tap: Tap
) -> None:
    base_url = sandbox.base_url.replace("http://", "http://tapuser:pa55word@")
    run = tap(small_config(sandbox, base_url=base_url))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "base_url carries credentials" in run.stderr
    assert sandbox.base_url in run.stderr  # said without them
    assert "tapuser" not in run.stdout + run.stderr
    assert "pa55word" not in run.stdout + run.stderr
    assert not sandbox.request_log


@pytest.mark.parametrize("separator", ["#", "/", "?"])
def test_a_password_holding_a_url_delimiter_is_refused_unseen(
    sandbox: SandboxServer, tap: Tap, separator: str
) -> None:
    # `http://tapuser:12345#x@host/...`: the host seems to end at the password's `#`, so a
    # message showing the URL as parsed would show `tapuser:12345`.
    base_url = sandbox.base_url.replace("http://", f"http://tapuser:{sandbox.port}{separator}x@")
    run = tap(small_config(sandbox, base_url=base_url))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "base_url holds an '@' after its host" in run.stderr
    assert "tapuser" not in run.stdout + run.stderr
    assert not sandbox.request_log


def test_the_key_header_is_the_only_credential_and_no_logged_url_holds_a_secret(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path
) -> None:
    # A ~/.netrc for both hosts, a redirect whose Location carries user:password@ and a
    # signature, and a blob host that fails once, so that its URL is logged.
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine 127.0.0.1 login netrcuser password netrcpass\n"
        "machine localhost login netrcuser password netrcpass\n"
    )
    netrc.chmod(0o600)
    sandbox.set_config(
        blob_host="blobuser:blobpass@localhost",
        faults=[Fault("download", "redirect", times=ALWAYS), Fault("blob", "503")],
    )
    config = small_config(sandbox, max_concurrent_exports=1)
    run = tap(config, env={"NETRC": str(netrc)})
    assert_same_rows_as_served(run, sandbox, config)
    warnings = [line for line in run.stderr.splitlines() if "answered HTTP 503" in line]
    assert len(warnings) == 1
    assert f"GET http://localhost:{sandbox.port}/_blob/exp_" in warnings[0]
    for secret in ("blobuser", "blobpass", "netrc", "signature", "?"):
        assert secret not in warnings[0]
    assert all(r.auth_valid for r in sandbox.request_log if r.endpoint != "blob")
    blobs = sandbox.requests_of("blob")
    assert len(blobs) == 3  # one per window, and the one that failed
    assert not any(b.auth_present for b in blobs)


def after_the_first_blob(sandbox: SandboxServer) -> list[t.Any]:
    log = sandbox.request_log
    first = next(i for i, r in enumerate(log) if r.endpoint == "blob")
    return log[first + 1 :]


@pytest.mark.parametrize("kind", ["redirect_back_other", "redirect_back_poll"])
def test_a_redirect_chain_back_to_the_api_host_is_refused_naming_the_export(
    sandbox: SandboxServer, tap: Tap, kind: str
) -> None:
    sandbox.set_faults([Fault("download", t.cast("t.Any", kind), times=ALWAYS)])
    run = tap(small_config(sandbox, max_concurrent_exports=1))
    export_id = sandbox.exports_created()[0].export_id
    one_line_failure(
        run,
        f"the download of export {export_id} was redirected off the API host and then back",
        "only the same export's download may lead back",
    )
    last = run.stderr.strip().splitlines()[-1]
    assert "window 2025-03-03" in last
    assert after_the_first_blob(sandbox) == []  # refused before a byte went back
    assert len(sandbox.requests_of("download")) == 1


def test_a_redirect_chain_back_to_the_same_download_is_followed_without_the_key(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_faults([Fault("download", "redirect_back_same", times=ALWAYS)])
    config = small_config(sandbox, max_concurrent_exports=1)
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    backs = [r for r in sandbox.request_log if r.endpoint == "download" and not r.auth_present]
    assert len(backs) == 2  # one per window
    assert all(set(r.query) == {"signature"} for r in backs)  # no identifiers either
    assert all(r.path.endswith(f"/exports/{r.export_id}/download") for r in backs)
