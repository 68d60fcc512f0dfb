"""A prompt, clean stop: SIGTERM/SIGINT end the tap whatever its threads wait on, and the
temporary files a killed run left behind are removed by the next run."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
import typing as t
from pathlib import Path

import pytest

from tap_sei_time_in_status.sandbox import ALWAYS, Fault, SandboxServer
from tests.tap_runner import TapRun, parse_messages, tap_command
from tests.test_faults import small_config

Tap = t.Callable[..., TapRun]
AREA = f"tap-sei-time-in-status-{os.getuid()}"


def start_tap(config: dict[str, t.Any], workdir: Path, temp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        tap_command(workdir, config, None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp), "PYTHONUNBUFFERED": "1"},
    )


def wait_until_met(sandbox: SandboxServer, process: subprocess.Popen[str]) -> None:
    """Until the fault has fired, then a moment for the tap to settle into its wait."""
    for _ in range(200):
        if any(count for _, count in sandbox.fault_plan.fired()):
            time.sleep(0.5)
            return
        assert process.poll() is None, "the tap ended before meeting the fault"
        time.sleep(0.05)
    pytest.fail("the fault was never met")


def run_files(temp: Path) -> list[Path]:
    """Every file the tap's temporary area holds, lock files aside."""
    return [p for p in (temp / AREA).rglob("*") if p.is_file() and p.name != ".lock"]


@pytest.mark.parametrize(
    ("fault", "sig", "bookmark"),
    [
        # An export thread blocked in a socket read, after the first window was emitted.
        (Fault("download", "drip_body", delay=0.2, after=1), signal.SIGTERM, "2025-03-30"),
        # An export thread waiting out a Retry-After of a minute.
        (Fault("poll", "429", retry_after=60, times=ALWAYS), signal.SIGTERM, None),
        # The main thread blocked reading the answer to a create (the next window's, created
        # as the first one is taken, before its rows are emitted).
        (Fault("create", "drip_headers", delay=0.2, after=1), signal.SIGINT, None),
    ],
    ids=["download-read", "retry-after-wait", "create-read-sigint"],
)
def test_a_stop_signal_ends_the_tap_promptly_and_cleanly(
    sandbox: SandboxServer,
    tmp_path: Path,
    fault: Fault,
    sig: signal.Signals,
    bookmark: str | None,
) -> None:
    sandbox.set_faults([fault])
    # Long timeouts: only the stop can end these waits within the test's patience.
    config = small_config(sandbox, max_concurrent_exports=1, request_timeout_seconds=120)
    temp = tmp_path / "temp"
    temp.mkdir()
    process = start_tap(config, tmp_path, temp)
    wait_until_met(sandbox, process)
    process.send_signal(sig)
    signalled = time.time()
    stdout, stderr = process.communicate(timeout=15)  # a hang fails here
    assert process.returncode == 128 + sig, stderr[-3000:]
    assert "Traceback" not in stderr
    assert f"Stopped by signal {int(sig)}" in stderr
    assert [r for r in sandbox.request_log if r.at > signalled] == [], "no request after it"
    assert run_files(temp) == [], "no temporary file left"
    assert not list((temp / AREA).iterdir()), "not even the run's directory"
    run = TapRun(parse_messages(stdout), stderr, process.returncode)
    partitions = (run.last_state or {}).get("bookmarks", {}).get("time_in_status", {})
    bookmarks = [p.get("replication_key_value") for p in partitions.get("partitions", [])]
    assert [b for b in bookmarks if b] == ([bookmark] if bookmark else [])
    if bookmark:
        assert {r["window_end"] for r in run.records()} == {bookmark}


def test_temporary_files_of_a_killed_run_are_removed_by_the_next_run(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    sandbox.set_faults([Fault("download", "drip_body", delay=0.2, times=ALWAYS)])
    config = small_config(sandbox, max_concurrent_exports=1, request_timeout_seconds=120)
    killed = start_tap(config, tmp_path, temp)
    wait_until_met(sandbox, killed)
    killed.kill()
    killed.communicate(timeout=15)
    left = run_files(temp)
    assert [p.suffix for p in left] == [".download"] or sorted(p.suffix for p in left) == [
        ".csv",
        ".download",
    ]
    # A run directory still locked by a live process (here: this test) is not touched.
    alive = temp / AREA / "run-alive"
    alive.mkdir()
    (alive / "sei-x.download").write_bytes(b"in use")
    lock = os.open(alive / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.utime(alive, (0, 0))
        sandbox.set_faults([])
        process = start_tap(config, tmp_path, temp)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr[-3000:]
        assert "Removed the temporary files of 1 earlier run(s)" in stderr
        assert run_files(temp) == [alive / "sei-x.download"]
    finally:
        os.close(lock)
