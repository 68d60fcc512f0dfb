"""A new user's first mistakes: unreachable hosts, no secrets, `--test`, a sandbox that says no."""

from __future__ import annotations

import json
import re
import socket
import typing as t
from pathlib import Path

import pytest
import requests

from tap_sei_time_in_status.api.client import ExportApiClient, RetriesExhaustedError
from tap_sei_time_in_status.api.retries import RetryPolicy
from tap_sei_time_in_status.sandbox import KNOWN_TEAMS, SandboxConfig, SandboxServer
from tests.conftest import API_KEY, tap_config
from tests.tap_runner import TapRun

Tap = t.Callable[..., TapRun]
EXPORTS = "/v2/insights/ticket-data/exports"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def error_line(run: TapRun) -> str:
    """The run's last ERROR line, without its log prefix and the server's correlation id."""
    lines = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert lines, run.stderr[-3000:]
    message = lines[-1].split("| ERROR", 1)[1].split("|", 1)[1].strip()
    return re.sub(r"correlationId [0-9a-f-]+", "correlationId X", message)


def assert_failed_cleanly(run: TapRun) -> None:
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert API_KEY not in run.stderr + run.stdout
    assert not run.records()


# --- 1. fail fast on first contact ---------------------------------------------------------------


def unreachable_urls(sandbox: SandboxServer) -> list[tuple[str, str, str]]:
    """(base_url, host:port, cause) for a bad name, a closed port, https to plain HTTP."""
    port = free_port()
    return [
        ("https://sei-host.invalid/sei/api", "sei-host.invalid:443", "does not resolve (DNS)"),
        (f"http://127.0.0.1:{port}/sei/api", f"127.0.0.1:{port}", "connection was refused"),
        (
            f"https://127.0.0.1:{sandbox.port}/sei/api",
            f"127.0.0.1:{sandbox.port}",
            "server does not speak TLS",
        ),
    ]


def test_an_unreachable_base_url_fails_at_once_naming_host_and_cause(
    sandbox: SandboxServer, tap: Tap
) -> None:
    for base_url, host, cause in unreachable_urls(sandbox):
        # The default request timeout and retries would take over a minute; the timeout of
        # this run (10 s) is the bound on the whole failed sync.
        run = tap(tap_config(sandbox, base_url=base_url, request_timeout_seconds=60), timeout=10)
        assert_failed_cleanly(run)
        message = error_line(run)
        assert f"Cannot reach {host}" in message
        assert cause in message
        assert "base_url" in message
        assert "retry" not in run.stderr
        assert "certificate" not in message
    assert not sandbox.exports_created()


def test_once_the_server_answered_a_refused_connection_is_retried(
    sandbox: SandboxServer,
) -> None:
    client = ExportApiClient(
        base_url=sandbox.base_url,
        api_key=API_KEY,
        org_identifier="default",
        project_identifier="sei_demo",
        retry_policy=RetryPolicy(max_tries=1),
    )
    with client:
        status = client.create_export(
            {
                "scope": {"teamId": "team_abc123"},
                "dateRange": {"start": "2025-01-06", "end": "2025-01-12"},
                "issueStatuses": ["QA"],
            }
        )
        sandbox.close()  # the port is closed now: connections are refused
        with pytest.raises(RetriesExhaustedError, match="ConnectionError"):
            client.get_export(status.export_id)


# --- 2. discovery without secrets ----------------------------------------------------------------


def test_discovery_needs_no_key_and_no_scope(tap: Tap) -> None:
    for config, keys in [
        ({}, []),
        ({"aggregation_level": "sprint", "issue_statuses": ["Blocked"]}, ["sprint"]),
    ]:
        run = tap(config, extra_args=["--discover"])
        assert run.returncode == 0, run.stderr[-3000:]
        assert "Traceback" not in run.stderr
        catalog = {s["tap_stream_id"]: s for s in json.loads(run.stdout)["streams"]}
        assert set(catalog) == {"time_in_status", "time_in_status_by_status"}
        for key in keys:
            assert key in catalog["time_in_status"]["key_properties"]
        if config.get("issue_statuses"):
            assert "blocked_hours" in catalog["time_in_status"]["schema"]["properties"]


def test_a_sync_without_secrets_lists_every_problem_before_any_request(
    sandbox: SandboxServer, tap: Tap
) -> None:
    run = tap({"base_url": sandbox.base_url})
    assert_failed_cleanly(run)
    for setting in ["api_key", "org_identifier", "project_identifier", "No scope", "start_date"]:
        assert setting in run.stderr
    assert not sandbox.request_log


# --- 3. --test -----------------------------------------------------------------------------------


def test_connection_test_checks_everything_and_exports_nothing(
    sandbox: SandboxServer, tap: Tap
) -> None:
    run = tap(tap_config(sandbox), extra_args=["--test"])
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout == "", "no Singer message, no record"
    checks = re.findall(r"Connection test (\d)/4: ok - (.*)", run.stderr)
    assert [number for number, _ in checks] == ["1", "2", "3", "4"]
    assert f"reached 127.0.0.1:{sandbox.port}" in checks[0][1]
    assert "api_key accepted" in checks[1][1]
    assert "team 'team_abc123' is known" in checks[2][1]
    assert "org_tree 'Engineering' is known" in checks[3][1]
    assert "no export created" in run.stderr
    assert "unhandled" not in run.stderr.lower()
    assert not sandbox.exports_created()
    assert [(r.endpoint, r.status) for r in sandbox.request_log] == [("create", 400)] * 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"api_key": "wrong-key-4e1d"}, "rejected the api_key (HTTP 401"),
        ({"team_ids": ["team_typo"]}, "refused team 'team_typo'"),
        ({"org_tree_names": ["Enginering"]}, "refused org_tree 'Enginering'"),
        ({"base_path": "/api"}, "Check base_url"),
    ],
)
def test_connection_test_fails_with_the_message_a_sync_gives(
    sandbox: SandboxServer, tap: Tap, change: dict[str, t.Any], expected: str, tmp_path: Path
) -> None:
    config = tap_config(sandbox)
    if "base_path" in change:
        config["base_url"] = f"{sandbox.root_url}{change['base_path']}"
    else:
        config.update(change)
    test = tap(config, extra_args=["--test"])
    assert_failed_cleanly(test)
    assert "FAILED" in test.stderr
    assert expected in error_line(test)
    assert not sandbox.exports_created()
    temp = tmp_path / "tmp"
    temp.mkdir()
    sync = tap(config, env={"TMPDIR": str(temp)})
    if "org_tree_names" in change:
        # Exports are created as the request budget allows: windows of the team, planned
        # before the refused tree, may be out (whole, bookmarked) before its create is refused.
        assert {r["scope_id"] for r in sync.records()} <= {"team_abc123"}
        sync.messages = [m for m in sync.messages if m["type"] != "RECORD"]
    assert_failed_cleanly(sync)
    assert error_line(sync) == error_line(test)
    files = [p for p in temp.rglob("*") if not p.is_dir()]
    assert not files, "a failed sync leaves no export file behind"
    assert "wrong-key-4e1d" not in test.stderr + sync.stderr


def test_connection_test_names_a_project_the_key_may_not_use(
    sandbox: SandboxServer, tap: Tap
) -> None:
    sandbox.set_config(projects=[("default", "sei_demo")])
    assert tap(tap_config(sandbox), extra_args=["--test"]).returncode == 0
    run = tap(tap_config(sandbox, project_identifier="sei_dmeo"), extra_args=["--test"])
    assert_failed_cleanly(run)
    assert re.search(r"Connection test 1/4: ok - reached 127\.0\.0\.1:\d+", run.stderr)
    assert "Connection test 2/4: FAILED" in run.stderr
    assert "rejected the api_key (HTTP 403" in error_line(run)
    assert "project 'sei_dmeo' of org 'default'" in error_line(run)
    assert "org_identifier/project_identifier" in error_line(run)
    assert not sandbox.exports_created()


def test_connection_test_of_an_unreachable_host(sandbox: SandboxServer, tap: Tap) -> None:
    base_url, host, cause = unreachable_urls(sandbox)[1]
    run = tap(tap_config(sandbox, base_url=base_url), extra_args=["--test"], timeout=10)
    assert_failed_cleanly(run)
    assert "Connection test 1/4: FAILED" in run.stderr
    assert f"Cannot reach {host}" in error_line(run)
    assert cause in error_line(run)


def test_about_declares_the_test_capability(tap: Tap) -> None:
    run = tap({}, extra_args=["--about", "--format=json"])
    assert "test" in json.loads(run.stdout)["capabilities"]


# --- 7. a sandbox that says no -------------------------------------------------------------------


def test_sandbox_refuses_unknown_scopes_and_other_paths(sandbox: SandboxServer) -> None:
    params = {"orgIdentifier": "default", "projectIdentifier": "sei_demo"}
    headers = {"authorization": f"ApiKey {API_KEY}"}
    body = {
        "scope": {"teamId": "team_nope"},
        "dateRange": {"start": "2025-01-06", "end": "2025-01-12"},
        "issueStatuses": ["QA"],
    }
    answer = requests.post(
        f"{sandbox.base_url}{EXPORTS}", json=body, params=params, headers=headers, timeout=5
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "INVALID_ARGUMENT"
    assert "team_nope" in answer.json()["message"]
    body["scope"] = {"orgTreeName": "Nope", "orgIdentifier": "default"}
    answer = requests.post(
        f"{sandbox.base_url}{EXPORTS}", json=body, params=params, headers=headers, timeout=5
    )
    assert answer.status_code == 400
    assert "'Nope'" in answer.json()["message"]
    for prefix in ["", "/api", "/prod1/sei/api", "/sei/api/v1"]:
        answer = requests.post(
            f"{sandbox.root_url}{prefix}{EXPORTS}",
            json=body,
            params=params,
            headers=headers,
            timeout=5,
        )
        assert answer.status_code == 404, prefix
        assert answer.json()["code"] == "NOT_FOUND"
    assert not sandbox.exports_created()


def test_sandbox_serves_under_the_prefix_it_is_started_with(tap: Tap) -> None:
    with SandboxServer(
        SandboxConfig(api_key=API_KEY, export_seconds=0.05, base_path="/gratis/sei/api")
    ) as server:
        assert server.base_url.endswith("/gratis/sei/api")
        run = tap(tap_config(server, org_tree_names=[], team_ids=[KNOWN_TEAMS[1]]))
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.records()
        wrong = tap(tap_config(server, base_url=f"{server.root_url}/sei/api"))
        assert_failed_cleanly(wrong)
        assert "Check base_url" in error_line(wrong)
        assert "HTTP 404" in error_line(wrong)


def test_connection_test_with_bad_settings_lists_them_without_a_request(
    sandbox: SandboxServer, tap: Tap
) -> None:
    run = tap({"base_url": sandbox.base_url, "start_date": "2025-02-30"}, extra_args=["--test"])
    assert_failed_cleanly(run)
    for setting in ["api_key", "org_identifier", "No scope", "start_date"]:
        assert setting in run.stderr
    assert not sandbox.request_log
    schema = tap(tap_config(sandbox), extra_args=["--test=schema"])
    assert schema.returncode == 0, schema.stderr[-3000:]
    assert {m["stream"] for m in schema.messages} == {"time_in_status", "time_in_status_by_status"}
    assert {m["type"] for m in schema.messages} == {"SCHEMA"}
