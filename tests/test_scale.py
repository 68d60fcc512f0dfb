"""Many teams in one run: exports in flight as the budget allows, linear costs, two projects.

Against the sandbox, which tells how many exports were in flight at once (from its request
log: each export from its create to its last request) and how many requests arrived in any
window of time.
"""

from __future__ import annotations

import json
import threading
import typing as t
from pathlib import Path

from tap_sei_time_in_status.output.state_budget import BYTES_PER_EVENT, FIXED_BYTES
from tap_sei_time_in_status.parsing.schema import primary_keys
from tap_sei_time_in_status.sandbox import SandboxServer
from tap_sei_time_in_status.settings import CatalogSettings
from tests.conftest import csv_view, row_view, served_rows, tap_config
from tests.tap_runner import TapRun, final_table, run_tap_process

Tap = t.Callable[..., TapRun]
KEYS = primary_keys(CatalogSettings(("In Progress", "In Review", "QA", "Done"), "team"))
STATUS_COLUMNS = ["in_progress_hours", "in_review_hours", "qa_hours", "done_hours"]


def teams(count: int) -> list[str]:
    return [f"team_{n:04d}" for n in range(count)]


def team_config(sandbox: SandboxServer, count: int, **overrides: t.Any) -> dict[str, t.Any]:
    """`count` teams the sandbox knows, `end_date` giving one 4-week window each."""
    sandbox.set_config(teams=teams(count))
    settings: dict[str, t.Any] = {
        "team_ids": teams(count),
        "org_tree_names": [],
        "start_date": "2025-01-06",
        "end_date": "2025-02-02",
        **overrides,
    }
    return tap_config(sandbox, **settings)


# Polled every 0.5 s at any age: each export asks 2 requests a second while it polls.
STEADY_POLLS = {"poll_interval_seconds": 0.5, "max_poll_interval_seconds": 0.5}


def test_without_a_cap_the_budget_sets_the_exports_in_flight(
    sandbox: SandboxServer, tap: Tap
) -> None:
    """1,200 requests a minute are 20 a second: room for 9 exports' polls, not 4, not 50."""
    sandbox.set_config(export_seconds=1.0)
    run = tap(team_config(sandbox, 20, max_requests_per_minute=1200, **STEADY_POLLS))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.states[-1]["bookmarks"]["time_in_status"]["partitions"]) == 20
    # 0.95 x 20/s holds 9 polling exports (2/s each); one completed and waiting its turn to be
    # emitted, or downloading, may add one or two.
    assert 7 <= sandbox.peak_exports_in_flight() <= 11
    assert sandbox.peak_requests(1.0) <= 20 + 20, "the bucket: a burst of 20, then 20/s"


def test_without_a_cap_the_ceiling_bounds_the_exports_in_flight(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(export_seconds=0.6)
    config = team_config(
        sandbox, 16, max_requests_per_minute=6000, concurrent_exports_ceiling=8, **STEADY_POLLS
    )
    run = tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sandbox.peak_exports_in_flight() == 8, "the budget would allow 47"


def test_a_cap_set_by_the_user_is_what_runs(sandbox: SandboxServer, tap: Tap) -> None:
    """Without a cap, 3,000 a minute would keep 4 or 5 exports polled every 0.1 s in flight."""
    sandbox.set_config(export_seconds=0.5)
    for cap in (2, 12):
        sandbox.forget_exports()  # no export of the last run to reuse
        sandbox.reset_log()
        config = team_config(
            sandbox,
            14,
            max_requests_per_minute=3000,
            max_concurrent_exports=cap,
            poll_interval_seconds=0.1,
            max_poll_interval_seconds=0.1,
        )
        run = tap(config)
        assert run.returncode == 0, run.stderr[-3000:]
        assert sandbox.peak_exports_in_flight() == cap


def test_two_hundred_partitions_window_order_resumable_state_linear_costs(
    sandbox: SandboxServer, tap: Tap
) -> None:
    """200 teams x 2 windows, stopped by `max_run_seconds`, then resumed from its state."""
    sandbox.set_config(export_seconds=0.0)
    partitions, windows = 200, 400
    config = team_config(
        sandbox, partitions, end_date="2025-03-02", max_requests_per_minute=60_000
    )  # two windows each
    first = tap({**config, "max_run_seconds": 1.0, "max_requests_per_minute": 1200})
    assert first.returncode == 0, first.stderr[-3000:]
    assert "window(s) are left for the next run" in first.stderr
    second = tap(config, state=first.last_state)
    assert second.returncode == 0, second.stderr[-3000:]
    for run in (first, second):
        # Records leave in window order within each partition; bookmarks never move back.
        last_end: dict[str, str] = {}
        for record in run.records():
            assert record["window_end"] >= last_end.get(record["scope_id"], "")
            last_end[record["scope_id"]] = record["window_end"]
        marks: dict[str, str] = {}
        for state in run.states:
            for p in state["bookmarks"]["time_in_status"]["partitions"]:
                mark = p.get("replication_key_value") or ""
                assert mark >= marks.get(p["context"]["scope_id"], ""), p
                marks[p["context"]["scope_id"]] = mark
        # STATE bytes within the documented budget; log lines: a metric line per partition
        # and a few for the sync, none per export or window.
        state_bytes = sum(len(line) + 1 for line in run.stdout.splitlines() if '"STATE"' in line)
        last = len(json.dumps(run.last_state, separators=(",", ":")))
        assert state_bytes <= FIXED_BYTES + 2 * BYTES_PER_EVENT * windows + 3 * (last + 30)
        assert len(run.stderr.splitlines()) <= partitions + 30, run.stderr[-3000:]
    assert set(marks.values()) == {"2025-03-02"}, "the second run finished every partition"
    # Upserted on the keys, both runs hold every served row once.
    table = final_table([first, second], KEYS)
    got = sorted(repr(row_view(r, STATUS_COLUMNS)) for r in table.values())
    want = sorted(repr(csv_view(r, STATUS_COLUMNS)) for r in served_rows(sandbox, config))
    assert got == want


def test_two_processes_of_two_projects_each_keep_their_own_budget(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """One job per project, at once: each within its budget, each complete, apart in a table.

    The same team ids in both projects give the same keys, unless the project is in them:
    the stream map the README's recipe adds.
    """
    projects = ("proj_a", "proj_b")
    sandbox.set_config(projects=[("default", p) for p in projects], export_seconds=0.0)
    budget = 120  # a burst of 12, then 2 requests a second
    runs: dict[str, TapRun] = {}

    def run(project: str) -> None:
        config = team_config(
            sandbox,
            6,
            project_identifier=project,
            max_requests_per_minute=budget,
            stream_maps={
                "time_in_status": {
                    "project_identifier": f"'{project}'",
                    "__key_properties__": ["project_identifier", *KEYS],
                }
            },
        )
        workdir = tmp_path / project
        workdir.mkdir()
        runs[project] = run_tap_process(workdir, config)  # two processes, as two jobs

    threads = [threading.Thread(target=run, args=(p,)) for p in projects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for project in projects:
        result = runs[project]
        assert result.returncode == 0, result.stderr[-3000:]
        log = sandbox.requests_of_project(project)
        assert len(log) >= 18, "6 creates, polls and downloads: past the burst of 12"
        times = sorted(r.at for r in log)
        # Its own bucket: a burst of 12, then 2 a second (0.2 s of slack for the arrival).
        for i in range(len(times)):
            for j in range(i, len(times)):
                assert j - i + 1 <= 12 + 2 * (times[j] - times[i] + 0.2), (project, i, j)
        marks = {
            p["context"]["scope_id"]: p["replication_key_value"]
            for p in result.last_state["bookmarks"]["time_in_status"]["partitions"]  # type: ignore[index]
        }
        assert marks == dict.fromkeys(teams(6), "2025-02-02")
        assert result.schema()["key_properties"][0] == "project_identifier"
    # Together they went faster than one budget allows: two budgets, not one shared.
    both = sorted(r.at for r in sandbox.request_log)
    assert any(
        j - i + 1 > 12 + 2 * (both[j] - both[i]) + 1
        for i in range(len(both))
        for j in range(i, len(both))
    )
    records = {p: runs[p].records() for p in projects}
    assert records["proj_a"]
    assert len(records["proj_a"]) == len(records["proj_b"])
    without = [{tuple(r[k] for k in KEYS) for r in records[p]} for p in projects]
    assert without[0] == without[1], "without the project, the two would upsert one another"
    with_project = [
        {(r["project_identifier"], *(r[k] for k in KEYS)) for r in records[p]} for p in projects
    ]
    assert not with_project[0] & with_project[1]
