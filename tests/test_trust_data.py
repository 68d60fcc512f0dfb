"""Trust, round two (issue 18), the data half: no answer moves data to the wrong window, no
file floods the logs or costs more than linear time, no cell a warehouse cannot hold reaches a
record, and no bad input file ends in a traceback.

Every test runs the real tap over HTTP against the sandbox, misbehaving in exactly that way.
"""

from __future__ import annotations

import json
import re
import typing as t
from pathlib import Path

import pytest
import requests

from tap_sei_time_in_status.api.client import EXPORTS_PATH
from tap_sei_time_in_status.sandbox import ALWAYS, Fault, SandboxServer
from tests.conftest import API_KEY, tap_config
from tests.tap_runner import TapRun
from tests.test_faults import assert_same_rows_as_served, small_config
from tests.test_trust import no_key_anywhere, one_line_failure

Tap = t.Callable[..., TapRun]


def bookmarks(run: TapRun) -> list[str]:
    state = run.last_state or {}
    partitions = state.get("bookmarks", {}).get("time_in_status", {}).get("partitions", [])
    return [p["replication_key_value"] for p in partitions if "replication_key_value" in p]


def windows_emitted(run: TapRun) -> set[tuple[str, str]]:
    return {(r["window_start"], r["window_end"]) for r in run.records()}


# --- an export belongs to one window ------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "process", "concurrency"),
    [
        ("exp_{hex}", False, 4),  # every later create answered with the first export
        ("Exp-{hex}-x", True, 1),  # ... after creating its own (a cache in front of the API)
        ("{hex}", False, 1),
    ],
)
def test_one_export_id_answered_for_several_windows_stops_at_the_second(
    sandbox: SandboxServer, tap: Tap, template: str, *, process: bool, concurrency: int
) -> None:
    sandbox.set_config(export_id_template=template)
    sandbox.set_faults([Fault("create", "other_window_export", times=ALWAYS, process=process)])
    config = small_config(sandbox, periods_per_window=2, max_concurrent_exports=concurrency)
    run = tap(config)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    first = sandbox.exports_created()[0].export_id
    message = re.search(
        r"window (\S+): the server answered with export (\S+), which (.*)", run.stderr
    )
    assert message, run.stderr[-2000:]
    assert message[2].rstrip(",") == first
    assert (
        "this run already used for team 'team_abc123' window 2025-03-03..2025-03-16" in message[3]
    )
    assert message[1] == "2025-03-17..2025-03-30"
    # The first window went out whole, and nothing of any other.
    assert windows_emitted(run) == {("2025-03-03", "2025-03-16")}
    assert {r["export_id"] for r in run.records()} == {first}
    assert bookmarks(run) == ["2025-03-16"]
    assert "2025-03-17" not in json.dumps(run.last_state), "no in-flight entry of the refused id"


def test_an_id_the_state_holds_for_another_window_is_refused(
    sandbox: SandboxServer, tap: Tap
) -> None:
    config = small_config(sandbox)
    # An export the server has, which an earlier run recorded for a window now unplanned.
    old_body = {
        "scope": {"teamId": "team_abc123"},
        "dateRange": {"start": "2020-01-06", "end": "2020-02-02"},
        "issueStatuses": ["In Progress", "In Review", "QA", "Done"],
        "options": {
            "aggregationLevel": "team",
            "granularity": "weekly",
            "terminalDateColumn": "issue_resolved_at",
        },
    }
    old = requests.post(
        sandbox.base_url + EXPORTS_PATH,
        json=old_body,
        params={"orgIdentifier": "default", "projectIdentifier": "sei_demo"},
        headers={"authorization": f"ApiKey {API_KEY}"},
        timeout=5,
    ).json()["exportId"]
    state = {
        "bookmarks": {
            "time_in_status": {
                "partitions": [
                    {
                        "context": {"scope_type": "team", "scope_id": "team_abc123"},
                        "in_flight_exports": [
                            {
                                "export_id": old,
                                "window_start": "2020-01-06",
                                "window_end": "2020-02-02",
                                "request_digest": "0" * 16,
                            }
                        ],
                    }
                ]
            }
        }
    }
    sandbox.set_faults([Fault("create", "other_window_export", times=ALWAYS)])
    run = tap(config, state)
    one_line_failure(
        run,
        f"the server answered with export {old}, which the incoming state holds in flight for "
        "team 'team_abc123' window 2020-01-06..2020-02-02",
        "window 2025-03-03..2025-03-30",
    )
    assert bookmarks(run) == []


def test_the_same_window_answered_again_with_its_abandoned_export_is_fine(
    sandbox: SandboxServer, tap: Tap
) -> None:
    # Each export takes longer than export_timeout_seconds: the tap abandons it and creates
    # the window again; the API answers the identical request with the same export.
    sandbox.set_config(export_seconds=1.0)
    config = small_config(sandbox, export_timeout_seconds=0.4, max_export_attempts=6)
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    assert "answered with the abandoned export" in run.stderr
    assert len(sandbox.exports_created()) == 2, "one export per window, answered again"


@pytest.mark.parametrize(
    ("granularity", "start", "end", "per_window", "window"),
    [
        ("weekly", "2025-03-03", "2025-04-27", 4, "2025-03-31..2025-04-27"),
        ("monthly", "2025-01-01", "2025-06-30", 3, "2025-04-01..2025-06-30"),
        ("daily", "2025-03-01", "2025-03-10", 5, "2025-03-06..2025-03-10"),
    ],
)
def test_rows_labelled_for_another_window_are_refused(
    sandbox: SandboxServer,
    tap: Tap,
    *,
    granularity: str,
    start: str,
    end: str,
    per_window: int,
    window: str,
) -> None:
    # The second window's file holds the first window's period labels.
    sandbox.set_faults([Fault("download", "other_window_labels", after=1)])
    config = tap_config(
        sandbox,
        org_tree_names=[],
        granularity=granularity,
        start_date=start,
        end_date=end,
        periods_per_window=per_window,
        max_concurrent_exports=1,
    )
    run = tap(config)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    refused = sandbox.exports_created()[1].export_id
    found = re.search(
        rf"export {refused}, line (\d+): the period label '([^']+)' names \S+, outside the "
        rf"export's window {window}",
        run.stderr,
    )
    assert found, run.stderr[-2000:]
    assert int(found[1]) >= 2
    assert {r["export_id"] for r in run.records()} == {sandbox.exports_created()[0].export_id}
    first_window_end = min(r["window_end"] for r in run.records())
    assert bookmarks(run) == [first_window_end]


# --- cells a warehouse cannot hold, or that mean nothing ----------------------------------


@pytest.mark.parametrize(
    ("kind", "column", "fragment"),
    [
        ("nul_in_cell", "team", "a NUL byte"),
        ("negative_count", "total_issues", "is negative, which hours and counts cannot be"),
        ("negative_hours", r"\w+_hours", "is negative, which hours and counts cannot be"),
        ("non_ascii_digits", "total_issues", "not other scripts' digits"),
    ],
)
def test_a_cell_no_warehouse_should_hold_stops_the_window(
    sandbox: SandboxServer, tap: Tap, kind: str, column: str, fragment: str
) -> None:
    sandbox.set_faults([Fault("download", t.cast("t.Any", kind))])
    config = tap_config(sandbox, team_ids=[], max_concurrent_exports=1)  # an org tree: many rows
    run = tap(config)
    one_line_failure(run, fragment, f"export {sandbox.exports_created()[0].export_id}, line ")
    found = re.search(rf"line (\d+), column '{column}': ", run.stderr)
    assert found, run.stderr[-2000:]
    assert int(found[1]) > 10, "the damaged row is the last of many"
    assert bookmarks(run) == []


# --- wide headers: linear, and bounded --------------------------------------------------


def test_a_header_wider_than_max_csv_columns_stops_the_window(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_faults([Fault("download", "wide_header")])
    run = tap(small_config(sandbox, max_concurrent_exports=1, max_csv_line_bytes=4 << 20))
    one_line_failure(run, "150,010 columns, more than max_csv_columns (10,000)", "149,990 more")
    assert len(run.stderr) < 20_000, "the header is not printed whole"


def test_a_header_of_150000_columns_is_read_in_linear_time(
    sandbox: SandboxServer, tap: Tap
) -> None:
    # Quadratic duplicate detection took 24 s for 40,000 columns and never ended for 150,000;
    # the run's timeout is what fails here if a cost is not linear in the header.
    sandbox.set_faults([Fault("download", "wide_header", times=ALWAYS)])
    config = tap_config(
        sandbox,
        org_tree_names=[],
        start_date="2025-03-03",
        end_date="2025-03-16",  # one window, a few rows of 150,000 cells each
        max_csv_line_bytes=4 << 20,
        max_csv_columns=200_000,
    )
    run = tap(config, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    records = run.records()
    assert records
    assert all(len(r["additional_columns"]) == 150_001 for r in records)  # to_do_hours too
    assert len(run.stderr) < 50_000, "no log line lists every column"
    assert "and 149,98" in run.stderr  # the INFO line names the first 20 new columns


# --- repeated warnings are capped per window --------------------------------------------


def test_labels_the_tap_cannot_date_are_warned_five_times_a_window(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(org_tree_teams=40)
    sandbox.set_faults([Fault("download", "undatable_labels")])
    config = tap_config(
        sandbox,
        team_ids=[],
        granularity="daily",
        start_date="2025-03-01",
        end_date="2025-03-31",
        periods_per_window=31,
    )
    run = tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = len(run.records())
    assert rows > 1000, "a label of its own per row"
    assert all(r["period_start"] is None for r in run.records())
    warned = [line for line in run.stderr.splitlines() if "is not one the tap can date" in line]
    assert len(warned) == 5
    assert (
        f"{rows - 5:,} more warning(s) of period labels the tap cannot date not shown "
        f"({rows:,} in all" in run.stderr
    )
    assert len(run.stderr.splitlines()) < 100


def test_retries_are_warned_five_times_a_window(sandbox: SandboxServer, tap: Tap) -> None:
    # 429 answered twice at each step (the third try goes through): 6 retries, one window;
    # early retries keep the test short (each waits the tap's own backoff step, under 2 s).
    sandbox.set_faults(
        [
            Fault(endpoint, "429", times=2, retry_after=0)
            for endpoint in ("create", "poll", "download")
        ]
    )
    config = tap_config(sandbox, org_tree_names=[], start_date="2025-03-03", end_date="2025-03-16")
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    retried = [line for line in run.stderr.splitlines() if "; retry " in line]
    assert len(retried) == 5
    assert "1 more warning(s) of request retries not shown (6 in all" in run.stderr


# --- input files and the key: one line, never a traceback -------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("option", "content", "fragment"),
    [
        ("--config", '{"api_key": "x",', "is not valid JSON"),
        ("--config", '[["api_key", "k"]]', "holds a JSON list, not an object"),
        ("--config", DEEP, "nested more than 64 levels deep"),
        ("--state", "{not json", "is not valid JSON"),
        ("--state", "[]", 'holds a JSON list, not an object ({"bookmarks": {"time_in_status"'),
        ("--state", '{"a":' * 100 + "1" + "}" * 100, "nested more than 64 levels deep"),
        ("--state", DEEP, "nested more than 64 levels deep"),
        # Valid to Python's json, not to singer-sdk's reader, which ended in a traceback.
        ("--config", '{"api_key": NaN}', "is not valid JSON (NaN is not a JSON value)"),
        ("--config", '{"lookback_days": 1' + "0" * 5000 + "}", "is not valid JSON (Exceeds"),
    ],
)
def test_a_bad_config_or_state_file_ends_in_one_line(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path, *, option: str, content: str, fragment: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    run = tap(small_config(sandbox), extra_args=[option, str(bad)])
    one_line_failure(run, f"{option} {bad} ", fragment)
    assert not sandbox.request_log
    no_key_anywhere(run)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"bookmarks": [1]}', '(--state) holds "bookmarks" as a JSON array, not an object'),
        (
            '{"bookmarks": {"time_in_status": {"partitions": 5}}}',
            '"partitions" as a JSON number, not a list',
        ),
        # A state wrapped as a tap writes it on stdout or as Meltano stores it: read as is,
        # no bookmark, and the run would silently start over.
        (
            '{"type": "STATE", "value": {"bookmarks": {}}}',
            "is a Singer STATE message (a line of the tap's output), not a state",
        ),
        ('{"singer_state": {"bookmarks": {}}}', 'give the tap its "singer_state"'),
    ],
)
def test_a_state_file_of_another_shape_ends_in_one_line(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path, *, content: str, fragment: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    run = tap(small_config(sandbox), extra_args=["--state", str(bad)])
    one_line_failure(run, fragment)
    assert not sandbox.request_log
    no_key_anywhere(run)


@pytest.mark.parametrize("key", ["clé-ключ-7f3c", "line\nbreak-7f3c", "tab\x7fdel-7f3c"])
def test_a_key_that_cannot_go_in_an_http_header_is_refused_unseen(
    sandbox: SandboxServer, tap: Tap, key: str
) -> None:
    run = tap(small_config(sandbox, api_key=key))
    one_line_failure(run, "api_key holds a character that cannot be sent in an HTTP header")
    assert "7f3c" not in run.stdout + run.stderr
    assert not sandbox.request_log
