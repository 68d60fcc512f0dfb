"""Run the real tap as a subprocess against the sandbox and read its Singer messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

Message = dict[str, t.Any]
#: Both streams; `time_in_status_by_status` is not selected by default.
BOTH_STREAMS = ("time_in_status", "time_in_status_by_status")


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
) -> TapRun:
    """Run the tap; with `streams`, on its discovered catalog with just those selected."""
    if streams is not None and catalog is None and not {"--about", "--discover"} & set(extra_args):
        discovered = run_tap(workdir, config, extra_args=["--discover"], env=env, timeout=timeout)
        catalog = selecting(json.loads(discovered.stdout), *streams)
    command = [*tap_command(workdir, config, state, catalog), *extra_args]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        # The tap's temporary files stay in the run's folder, whatever the test does to it.
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(workdir), **(env or {})},
    )
    # --about and --discover print documents, not Singer messages.
    singer = not {"--about", "--discover"} & set(extra_args)
    messages = parse_messages(done.stdout) if singer else []
    return TapRun(messages, done.stderr, done.returncode, done.stdout)


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
