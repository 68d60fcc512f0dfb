"""Run the real tap against the sandbox and read its Singer messages.

`run_tap` runs it in this process (its CLI, with the process-wide state a run changes saved
and put back); `run_tap_process` as a subprocess, for what only a real process shows.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from tap_sei_time_in_status.tap import TapSeiTimeInStatus
from tests.process_state import isolated_run

Message = dict[str, t.Any]
#: Both streams; `time_in_status_by_status` is not selected by default.
BOTH_STREAMS = ("time_in_status", "time_in_status_by_status")
#: The program name in usage messages, as under `python -m tap_sei_time_in_status`.
PROG_NAME = "python -m tap_sei_time_in_status"


@dataclass
class TapRun:
    """The messages, stderr and exit code of one tap run."""

    messages: list[Message]
    stderr: str
    returncode: int
    stdout: str = field(repr=False, default="")

    def records(self, stream: str = "time_in_status") -> list[dict[str, t.Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self) -> dict[str, t.Any] | None:
        return self.states[-1] if self.states else None

    def schema(self, stream: str = "time_in_status") -> Message:
        return next(m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream)


def parse_messages(stdout: str) -> list[Message]:
    messages = []
    for number, line in enumerate(stdout.splitlines(), start=1):
        if line.strip():
            try:
                messages.append(json.loads(line))
            except ValueError as e:
                msg = f"stdout line {number} is not a Singer message: {line[:300]!r}"
                raise AssertionError(msg) from e
    return messages


def tap_command(
    workdir: Path,
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None,
    catalog: dict[str, t.Any] | None = None,
) -> list[str]:
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_sei_time_in_status", "--config", str(config_path)]
    if state is not None:
        state_path = workdir / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    if catalog is not None:
        catalog_path = workdir / "catalog.json"
        catalog_path.write_text(json.dumps(catalog))
        command += ["--catalog", str(catalog_path)]
    return command


def run_tap(
    workdir: Path,
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    *,
    timeout: float = 180,
    extra_args: t.Sequence[str] = (),
    env: dict[str, str] | None = None,
    catalog: dict[str, t.Any] | None = None,
    streams: t.Sequence[str] | None = None,
    process: bool = False,
) -> TapRun:
    """Run the tap as `python -m tap_sei_time_in_status` would, in this process by default.

    In-process costs a tenth of a subprocess (no interpreter, no singer-sdk import to start);
    `process=True` (`run_tap_process`) is for what only a real process shows. With `streams`,
    on its discovered catalog with just those selected. `timeout`: a subprocess is killed
    then; an in-process run that took longer fails once it ends (`subprocess.TimeoutExpired`
    too), and pytest-timeout ends one that hangs.
    """
    documents = {"--about", "--discover"} & set(extra_args)
    if streams is not None and catalog is None and not documents:
        discovered = run_tap(
            workdir, config, extra_args=["--discover"], env=env, timeout=timeout, process=process
        )
        catalog = selecting(json.loads(discovered.stdout), *streams)
    command = [*tap_command(workdir, config, state, catalog), *extra_args]
    # The tap's temporary files stay in the run's folder, whatever the test does to it.
    run_env = {"PYTHONUNBUFFERED": "1", "TMPDIR": str(workdir), **(env or {})}
    runner = _subprocess if process else _in_process
    stdout, stderr, returncode = runner(command, run_env, timeout)
    # --about and --discover print documents, not Singer messages.
    messages = parse_messages(stdout) if not documents else []
    return TapRun(messages, stderr, returncode, stdout)


def run_tap_process(
    workdir: Path, config: dict[str, t.Any], state: dict[str, t.Any] | None = None, **kw: t.Any
) -> TapRun:
    """`run_tap` as a subprocess."""
    return run_tap(workdir, config, state, process=True, **kw)


def _subprocess(command: list[str], env: dict[str, str], timeout: float) -> tuple[str, str, int]:
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env},
    )
    return done.stdout, done.stderr, done.returncode


def _in_process(command: list[str], env: dict[str, str], timeout: float) -> tuple[str, str, int]:
    assert command[1:3] == ["-m", "tap_sei_time_in_status"], command
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(
        io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True
    )
    started = time.monotonic()
    with isolated_run(env, stdout, stderr):
        returncode = _main(command[3:])
    if time.monotonic() - started > timeout:
        raise subprocess.TimeoutExpired(command, timeout)
    stdout.flush()
    stderr.flush()
    return _text(stdout), _text(stderr), returncode


def _text(stream: io.TextIOWrapper) -> str:
    return t.cast("io.BytesIO", stream.buffer).getvalue().decode("utf-8")


def _main(args: list[str]) -> int:
    """The tap's CLI, and the exit code the interpreter would give for how it ended."""
    try:
        # `cli` sets up singer-sdk's console logging, on the sys.stderr of now.
        TapSeiTimeInStatus.cli.main(args, prog_name=PROG_NAME, standalone_mode=True)
    except SystemExit as e:
        return _exit_code(e.code)
    except Exception:
        # What the interpreter does with an exception nothing caught: its excepthook (the
        # tap's, redacting, once installed), then exit code 1.
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


def _exit_code(code: object) -> int:
    """SystemExit's code as a process exit code: None is 0, text is printed and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # as the interpreter does
    return 1


def final_table(
    runs: t.Iterable[TapRun], keys: t.Sequence[str]
) -> dict[tuple[t.Any, ...], dict[str, t.Any]]:
    """What a target would hold after upserting every run's records on `keys`, in order."""
    table: dict[tuple[t.Any, ...], dict[str, t.Any]] = {}
    for run in runs:
        for record in run.records():
            table[tuple(record[k] for k in keys)] = record
    return table


def without_provenance(
    table: dict[tuple[t.Any, ...], dict[str, t.Any]],
) -> dict[tuple[t.Any, ...], dict[str, t.Any]]:
    """The table without the fields that say which export served a row (they differ by run)."""
    provenance = {"export_id", "window_start", "window_end"}
    return {k: {f: v for f, v in r.items() if f not in provenance} for k, r in table.items()}


def selecting(catalog: dict[str, t.Any], *streams: str) -> dict[str, t.Any]:
    """The discovered `catalog` with exactly `streams` selected."""
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog
