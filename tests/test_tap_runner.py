"""The in-process tap runner: the same result as a process, and nothing left behind.

Nearly every test runs the tap through `tap` (in-process, a tenth of a subprocess's cost); these
check that it shows what a real process would, so that those tests keep their meaning.
"""

from __future__ import annotations

import csv
import logging
import signal
import sys
import tempfile
import threading
import typing as t
from pathlib import Path

import pytest

from tap_sei_time_in_status.sandbox import ALWAYS, Fault, SandboxServer
from tap_sei_time_in_status.tap import TapSeiTimeInStatus
from tests.conftest import tap_config
from tests.tap_runner import TapRun, run_tap_process

Tap = t.Callable[..., TapRun]


def untimed(messages: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    return [{k: v for k, v in m.items() if k != "time_extracted"} for m in messages]


def test_in_process_runs_give_what_a_process_gives(
    sandbox: SandboxServer, tap: Tap, tmp_path: Path
) -> None:
    config = tap_config(sandbox)
    process = run_tap_process(tmp_path, config)
    # Identical creates reuse the exports: the same ids, so the same records.
    in_process = tap(config)
    assert in_process.returncode == process.returncode == 0
    assert untimed(in_process.messages) == untimed(process.messages)
    assert in_process.records()
    for run in (process, in_process):
        assert "Traceback" not in run.stderr
        assert "Sync summary of stream time_in_status" in run.stderr
    sandbox.set_faults([Fault("download", "malformed_non_numeric", times=ALWAYS)])
    failed = [run_tap_process(tmp_path, config), tap(config)]
    assert [run.returncode for run in failed] == [1, 1]
    assert [run.stderr.count("Traceback") for run in failed] == [0, 0]
    last_lines = {run.stderr.splitlines()[-1].split(" | ")[-1] for run in failed}
    assert len(last_lines) == 1, last_lines  # the same error, said the same way


@pytest.mark.parametrize(
    ("raised", "returncode"),
    [(RuntimeError("an unforeseen bug"), 1), (SystemExit(3), 3), (SystemExit("bye"), 1)],
)
def test_an_exception_nothing_catches_ends_the_run_as_it_would_end_a_process(
    sandbox: SandboxServer,
    tap: Tap,
    monkeypatch: pytest.MonkeyPatch,
    raised: BaseException,
    returncode: int,
) -> None:
    def fail(*_: t.Any) -> None:
        raise raised

    monkeypatch.setattr(TapSeiTimeInStatus, "discover_streams", fail)
    run = tap(tap_config(sandbox))
    assert run.returncode == returncode
    if isinstance(raised, RuntimeError):  # the interpreter prints the traceback
        assert "Traceback (most recent call last)" in run.stderr
        assert "RuntimeError: an unforeseen bug" in run.stderr
    elif isinstance(raised, SystemExit) and raised.code == "bye":  # printed, exit code 1
        assert run.stderr.endswith("bye\n")


def process_state() -> dict[str, t.Any]:
    last_resort = logging.lastResort
    return {
        "root handlers": list(logging.getLogger().handlers),
        "root level": logging.getLogger().level,
        "excepthook": sys.excepthook,
        "threading excepthook": threading.excepthook,
        "signals": [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)],
        "tempdir": tempfile.tempdir,
        "csv field size limit": csv.field_size_limit(),
        "last resort filters": list(last_resort.filters) if last_resort else [],
        "threads": {th for th in threading.enumerate() if "process_request" not in th.name},
        "stdout": sys.stdout,
        "stderr": sys.stderr,
    }


def test_a_run_leaves_the_process_as_it_found_it(sandbox: SandboxServer, tap: Tap) -> None:
    """Logging, hooks, signal handlers, temporary directory, threads: as before the run."""
    before = process_state()
    ok = tap(tap_config(sandbox, max_concurrent_exports=3))
    sandbox.set_faults([Fault("download", "malformed_non_numeric")])
    failed = tap(tap_config(sandbox))
    assert (ok.returncode, failed.returncode) == (0, 1)
    assert process_state() == before
