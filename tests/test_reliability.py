"""Reliability and security against the sandbox: the fault matrix, crashes, resumed exports,
bad state, TLS and the key."""

from __future__ import annotations

import json
import os
import random
import signal
import ssl
import subprocess
import threading
import typing as t
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tap_sei_time_in_status.api.client import ExportApiClient, RetriesExhaustedError
from tap_sei_time_in_status.api.retries import RetryPolicy
from tap_sei_time_in_status.sandbox import ALWAYS, Fault, SandboxServer
from tests.conftest import API_KEY, tap_config
from tests.tap_runner import TapRun, final_table, parse_messages, tap_command, without_provenance
from tests.test_faults import assert_same_rows_as_served, small_config

Tap = t.Callable[..., TapRun]
KEYS = ["scope_id", "granularity", "aggregation_level", "terminal_date_column", "period"]
KEYS += ["team_hierarchy"]

MATRIX = [
    Fault(endpoint, kind, retry_after=1 if kind == "429" else None, delay=3)
    for endpoint in ("create", "poll", "download")
    for kind in ("429", "429_no_retry_after", "500", "502", "503", "504", "drop", "slow")
]


@pytest.mark.parametrize("fault", MATRIX, ids=lambda f: f"{f.endpoint}-{f.kind}")
def test_fault_matrix_leaves_the_output_identical(
    sandbox: SandboxServer, tap: Tap, fault: Fault
) -> None:
    sandbox.set_faults([fault])
    # A 1 s request timeout turns the `slow` fault (3 s) into a read timeout.
    config = small_config(sandbox, request_timeout_seconds=1)
    run = tap(config)
    assert_same_rows_as_served(run, sandbox, config)
    assert [count for _, count in sandbox.fault_plan.fired()] == [1], "the fault was met"


def test_an_html_error_page_is_quoted_once_retries_are_spent(sandbox: SandboxServer) -> None:
    sandbox.set_faults([Fault("create", "html", times=ALWAYS)])
    client = ExportApiClient(
        base_url=sandbox.base_url,
        api_key=API_KEY,
        org_identifier="default",
        project_identifier="sei_demo",
        retry_policy=RetryPolicy(max_tries=2, base_seconds=0.01),
    )
    with client, pytest.raises(RetriesExhaustedError, match=r"HTTP 502: non-JSON body starting '<"):
        client.create_export({"scope": {"teamId": "t"}})
    assert len(sandbox.requests_of("create")) == 2


# --- crashes ---------------------------------------------------------------------------------


def interrupted_run(
    config: dict[str, t.Any],
    workdir: Path,
    sig: signal.Signals,
    after_lines: int | None = None,
    *,
    after_first_state: bool = False,
) -> TapRun:
    """Run the tap and send `sig` once it has printed `after_lines` lines (or a STATE)."""
    process = subprocess.Popen(
        tap_command(workdir, config, None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(workdir)},  # what a SIGKILL leaves stays there
    )
    assert process.stdout is not None
    assert process.stderr is not None
    lines: list[str] = []
    for line in process.stdout:  # the same reader to the end: it has read ahead
        lines.append(line)
        first_state = after_first_state and '"type":"STATE"' in line
        if len(lines) == after_lines or first_state:
            process.send_signal(sig)
            after_first_state = False
    stderr = process.stderr.read()
    process.wait(timeout=120)
    return TapRun(parse_messages("".join(lines)), stderr, process.returncode)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_interrupted_at_a_random_point_then_resumed_equals_a_clean_run(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path, sig: signal.Signals, seed: int
) -> None:
    config = tap_config(sandbox, max_concurrent_exports=2)
    clean = tap(config)
    assert clean.returncode == 0
    cut = random.Random(seed).randint(2, len(clean.stdout.splitlines()) - 1)
    broken = interrupted_run(config, tmp_path, sig, cut)
    if broken.returncode == 0:
        pytest.skip("the run finished before the signal")
    assert broken.returncode in (-signal.SIGKILL, 128 + signal.SIGTERM), broken.stderr[-2000:]
    if sig == signal.SIGTERM:
        assert "Traceback" not in broken.stderr
    state = broken.last_state or {}
    # No bookmark for a window whose rows were not all emitted.
    emitted = {tuple(r[k] for k in KEYS) for r in broken.records()}
    for partition in state.get("bookmarks", {}).get("time_in_status", {}).get("partitions", []):
        bookmark = partition.get("replication_key_value")
        scope_id = partition["context"]["scope_id"]
        for record in clean.records():
            if record["scope_id"] == scope_id and bookmark and record["window_end"] <= bookmark:
                assert tuple(record[k] for k in KEYS) in emitted
    resumed = tap(config, broken.last_state)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert without_provenance(final_table([broken, resumed], KEYS)) == without_provenance(
        final_table([clean], KEYS)
    )


def killed_with_an_export_in_flight(
    sandbox: SandboxServer, tmp_path: Path
) -> tuple[dict[str, t.Any], TapRun]:
    """SIGKILL the tap at its first STATE, which holds the first export's id (not yet polled)."""
    sandbox.set_config(export_seconds=3)
    config = small_config(sandbox, max_concurrent_exports=1)
    return config, interrupted_run(config, tmp_path, signal.SIGKILL, after_first_state=True)


def test_a_restarted_run_resumes_the_export_left_in_flight(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path
) -> None:
    config, broken = killed_with_an_export_in_flight(sandbox, tmp_path)
    flights = broken.states[-1]["bookmarks"]["time_in_status"]["partitions"][0]["in_flight_exports"]
    assert [(f["window_start"], f["window_end"]) for f in flights] == [("2025-03-03", "2025-03-30")]
    sandbox.reset_log()
    resumed = tap(config, broken.last_state)
    assert_same_rows_as_served(resumed, sandbox, config)
    first_window = [
        r for r in sandbox.requests_of("create") if r.body["dateRange"]["start"] == "2025-03-03"
    ]
    assert first_window == [], "no new export for the window in flight"
    assert sandbox.polls_for(flights[0]["export_id"])
    assert f"{flights[0]['export_id']}: resumed from the state" in resumed.stderr
    assert "in_flight_exports" not in json.dumps(resumed.last_state)


def test_an_export_the_server_forgot_is_created_again(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path
) -> None:
    config, broken = killed_with_an_export_in_flight(sandbox, tmp_path)
    sandbox.forget_exports()
    sandbox.set_config(export_seconds=0.1)
    resumed = tap(config, broken.last_state)
    assert_same_rows_as_served(resumed, sandbox, config)
    assert "the server no longer knows it" in resumed.stderr


# --- bad state -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream_state", "message"),
    [
        ({"replication_key": "window_end", "replication_key_value": "2025-03-01"}, "stream-wide"),
        (
            {
                "partitions": [
                    {
                        "context": {"scope_type": "team", "scope_id": "team_abc123"},
                        "in_flight_exports": "exp_1",
                    }
                ]
            },
            "in_flight_exports",
        ),
    ],
)
def test_state_this_tap_did_not_write_is_refused(
    sandbox: SandboxServer, tap: Tap, stream_state: dict[str, t.Any], message: str
) -> None:
    run = tap(small_config(sandbox), {"bookmarks": {"time_in_status": stream_state}})
    assert run.returncode == 1
    assert message in run.stderr
    assert "did not write" in run.stderr
    assert not sandbox.requests_of("create")


# --- security --------------------------------------------------------------------------------


def test_the_key_appears_in_no_output_or_state(sandbox: SandboxServer, tap: Tap) -> None:
    config = small_config(sandbox)
    outputs: list[str] = []
    for args in [("--about",), ("--about", "--format=json"), ("--discover",)]:
        run = tap(config, extra_args=args)
        outputs += [run.stdout, run.stderr]
    ok = tap(config)
    outputs += [ok.stdout, ok.stderr, json.dumps(ok.states)]
    sandbox.set_faults([Fault("download", "malformed_non_numeric")])
    failed = tap(config)
    outputs += [failed.stdout, failed.stderr]
    bad = tap({**config, "api_key": "wrong-" + API_KEY})
    outputs += [bad.stdout, bad.stderr]
    assert all(API_KEY not in text for text in outputs)
    assert ok.records()


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate nobody trusts."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*openssl, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            self.send_response(500)
            self.end_headers()

        def log_message(self, *_: t.Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/sei/api"
    finally:
        server.shutdown()
        assert seen == [], "no request got through the TLS handshake"


def test_tls_verification_is_always_on(
    sandbox: SandboxServer, tap: Tap, self_signed_https: str
) -> None:
    run = tap({**small_config(sandbox), "base_url": self_signed_https}, timeout=60)
    assert run.returncode == 1
    assert "TLS certificate verification failed" in run.stderr
    assert "Traceback" not in run.stderr
