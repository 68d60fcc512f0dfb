"""Every deadline cuts every transfer: any connection mode, headers or body, create, poll and
download, over plain HTTP and TLS.

The API client runs in-process against a relay in front of the sandbox (`tests/wire_relay.py`)
that answers in each connection mode and drips one phase of one operation. Each byte comes
well within the socket timeout, so only the tap's own deadlines can cut it; the drip would
last ten times longer than the bound each case is held to.
"""

from __future__ import annotations

import io
import ssl
import subprocess
import threading
import time
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap_sei_time_in_status.api.cancellation import CancelledError, StopSwitch
from tap_sei_time_in_status.api.client import DeadlineExceededError, ExportApiClient
from tap_sei_time_in_status.api.retries import RetriesExhaustedError, RetryPolicy
from tap_sei_time_in_status.sandbox import SandboxConfig, SandboxServer
from tests.conftest import API_KEY
from tests.tap_runner import TapRun
from tests.test_bounds import assert_one_line_failure
from tests.test_faults import small_config
from tests.wire_relay import (
    MODES,
    OPERATIONS,
    PHASES,
    Drip,
    DrippingTunnel,
    Mode,
    Operation,
    Phase,
    WireRelay,
)

Tap = t.Callable[..., TapRun]
TIMEOUT = 0.2
#: Seconds between two dripped bytes: far below the socket timeout (TIMEOUT + 1 s).
INTERVAL = 0.05
#: What a cut attempt may take, connecting and a slow machine included.
BOUND = 2.0
BODY = {
    "scope": {"teamId": "team_abc123"},
    "dateRange": {"start": "2025-03-03", "end": "2025-03-30"},
    "issueStatuses": ["In Progress", "Done"],
    "options": {
        "aggregationLevel": "team",
        "granularity": "weekly",
        "terminalDateColumn": "issue_resolved_at",
    },
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[SandboxServer]:
    """One sandbox for the module: exports complete at once, the relays differ per test."""
    with SandboxServer(SandboxConfig(api_key=API_KEY, export_seconds=0)) as server:
        yield server


def client_for(relay: WireRelay, **overrides: t.Any) -> ExportApiClient:
    settings: dict[str, t.Any] = {
        "base_url": relay.base_url,
        "api_key": API_KEY,
        "org_identifier": "default",
        "project_identifier": "sei_demo",
        "timeout_seconds": TIMEOUT,
        "retry_policy": RetryPolicy(max_tries=1),
    }
    settings.update(overrides)
    return ExportApiClient(**settings)


def run_operation(
    client: ExportApiClient, operation: Operation, deadline: float | None = None
) -> None:
    """Create an export and, for a poll or a download, wait for it and poll or download it."""
    if operation == "create":
        client.create_export(BODY, deadline=deadline)
        return
    export_id = client.create_export(BODY).export_id
    while client.get_export(export_id, deadline=deadline).status != "COMPLETED":
        time.sleep(0.01)
    if operation == "download":
        client.download_export(export_id, io.BytesIO(), deadline=deadline)


def expected_message(operation: Operation, phase: Phase) -> str:
    if operation != "download":
        return "did not complete within request_timeout_seconds"
    if phase == "headers":
        return "got no answer headers within request_timeout_seconds"
    return "stalled"


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("mode", MODES)
def test_a_drip_is_cut_at_request_timeout_whatever_the_mode_and_phase(
    upstream: SandboxServer, mode: Mode, phase: Phase, operation: Operation
) -> None:
    drip = Drip(operation, mode, phase, INTERVAL)
    with WireRelay(upstream, drip) as relay, client_for(relay) as client:
        started = time.monotonic()
        with pytest.raises(RetriesExhaustedError) as failure:
            run_operation(client, operation)
        took = time.monotonic() - started
    assert relay.dripped == {operation: 1}
    assert expected_message(operation, phase) in str(failure.value)
    assert f"({TIMEOUT:g} s)" in str(failure.value)
    assert "gave up after 1 try" in str(failure.value)
    assert took < BOUND, f"cut after {took:.1f} s"


@pytest.mark.parametrize("mode", MODES)
def test_a_download_drip_is_cut_at_the_window_deadline_without_a_minimum_rate(
    upstream: SandboxServer, mode: Mode
) -> None:
    # No rate to keep and a long request timeout: only the window's deadline is left.
    with (
        WireRelay(upstream, Drip("download", mode, "body", INTERVAL)) as relay,
        client_for(relay, timeout_seconds=30, min_download_bytes_per_second=0) as client,
    ):
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match="window_timeout_seconds"):
            run_operation(client, "download", deadline=started + 0.3)
        took = time.monotonic() - started
    assert took < BOUND, f"cut after {took:.1f} s"


@pytest.mark.parametrize("mode", ["close", "close-delimited"])
def test_a_stop_cuts_a_drip_on_a_closing_connection(upstream: SandboxServer, mode: Mode) -> None:
    stop = StopSwitch()
    with (
        WireRelay(upstream, Drip("download", mode, "body", INTERVAL)) as relay,
        client_for(relay, timeout_seconds=30, min_download_bytes_per_second=0, stop=stop) as client,
    ):
        threading.Timer(0.3, stop.stop).start()
        started = time.monotonic()
        with pytest.raises(CancelledError):
            run_operation(client, "download")
        took = time.monotonic() - started
    assert took < BOUND, f"stopped after {took:.1f} s"


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1, and the file that trusts it."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-newkey", "ec"),
            *("-pkeyopt", "ec_paramgen_curve:prime256v1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("operation", ["poll", "download"])
def test_over_tls_a_body_drip_is_cut_and_a_clean_answer_still_reads(
    upstream: SandboxServer,
    tls_pair: tuple[ssl.SSLContext, Path],
    monkeypatch: pytest.MonkeyPatch,
    mode: Mode,
    operation: Operation,
) -> None:
    context, cert = tls_pair
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    with WireRelay(upstream, Drip(operation, mode, "body", INTERVAL), tls=context) as relay:
        assert relay.base_url.startswith("https://")
        with client_for(relay) as client:
            started = time.monotonic()
            with pytest.raises(RetriesExhaustedError, match=expected_message(operation, "body")):
                run_operation(client, operation)
            took = time.monotonic() - started
        assert took < BOUND, f"cut after {took:.1f} s"
        # The same client code reads a whole answer over TLS in that mode.
        relay.drip = Drip(operation, mode, "body", 0)
        with client_for(relay) as client:
            run_operation(client, operation)


@pytest.mark.parametrize("cut", ["window", "stop"])
def test_a_drip_fed_tls_handshake_is_cut_by_the_window_deadline_or_a_stop(
    upstream: SandboxServer,
    tls_pair: tuple[ssl.SSLContext, Path],
    monkeypatch: pytest.MonkeyPatch,
    cut: str,
) -> None:
    # The handshake is bounded by the connect timeout, min(10 s, request_timeout_seconds);
    # a window's deadline or a stop that comes first must not wait for it.
    context, cert = tls_pair
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    stop = StopSwitch()
    with WireRelay(upstream, tls=context) as relay:
        port = int(relay.base_url.split(":")[2].split("/")[0])
        with DrippingTunnel(("127.0.0.1", port), INTERVAL) as tunnel:
            base_url = relay.base_url.replace(f":{port}/", f":{tunnel.port}/")
            with client_for(relay, base_url=base_url, timeout_seconds=30, stop=stop) as client:
                started = time.monotonic()
                if cut == "stop":
                    threading.Timer(0.3, stop.stop).start()
                    with pytest.raises(CancelledError):
                        run_operation(client, "create")
                else:
                    with pytest.raises(DeadlineExceededError):
                        run_operation(client, "create", deadline=started + 0.3)
                took = time.monotonic() - started
    assert took < BOUND, f"cut after {took:.1f} s"


# --- the tap as a whole ---------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_tap_ends_in_one_line_when_a_closing_connection_drips(
    sandbox: SandboxServer, tap: Tap, operation: Operation
) -> None:
    # Headers at once, then a body delimited by the close, a byte every 0.2 s (30 s and more
    # for the shortest answer): the report's case that hung the tap past every deadline.
    with WireRelay(sandbox, Drip(operation, "close-delimited", "body", 0.2)) as relay:
        config = small_config(
            sandbox,
            base_url=relay.base_url,
            request_timeout_seconds=0.3,
            max_request_retry_seconds=0.5,
            max_concurrent_exports=1,
        )
        started = time.monotonic()
        run = tap(config, timeout=60)
        took = time.monotonic() - started
    last = assert_one_line_failure(run, "request_timeout_seconds (0.3 s)", "gave up after")
    assert "window 2025-03-03" in last
    assert not run.records()
    assert relay.dripped[operation] >= 1
    assert took < 10, f"the tap ended after {took:.1f} s"
