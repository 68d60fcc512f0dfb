"""Scale benchmark: hundreds and thousands of team scopes against the sandbox, default settings.

    .venv/bin/python benchmarks/scale.py                     # four cases, about 12 minutes
    .venv/bin/python benchmarks/scale.py --teams 100 --windows 1

Time is scaled down 20 x so that a case runs in minutes: exports take 3 s on the server
instead of a minute, the tap polls from 0.05 s up to 3 s instead of 1 s up to 60 s, and its
budget is 12,000 requests a minute instead of 600. Everything else is the tap's defaults
(auto concurrency, `concurrent_exports_ceiling` 50). A case is a sync of N teams from no
state, one window each (incremental) or several (a backfill); each prints:

- wall: from starting the tap's process to its exit;
- bound: `max(requests / budget, chain)`, the least wall time any client needs for this
  work: `requests` is what the sandbox received in this run and the budget
  `max_requests_per_minute` / 60 per second; `chain` is ceil(exports / most in flight) x
  the export's time on the server (one export's time when everything can be in flight);
- the ratio wall / bound, the peak requests in any 60 s as the sandbox saw them against the
  budget, the peak exports in flight, the tap's peak RSS, the STATE bytes it wrote, and its
  log lines.

The tap runs as its own process (its RSS is its own); the sandbox runs here. Each case is
bounded: it is killed after 3 x its bound + 120 s. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

from tap_sei_time_in_status.sandbox import SandboxConfig, SandboxServer

KEY = "scale-bench-key"
TAP = [sys.executable, "-m", "tap_sei_time_in_status"]
#: The scaled world: a one-minute export is 3 s, polls from 0.05 s to 3 s, 600/min is 12,000.
EXPORT_SECONDS = 3.0
POLL_INTERVAL = 0.05
MAX_POLL_INTERVAL = 3.0
BUDGET_PER_MINUTE = 12_000
CEILING = 50  # concurrent_exports_ceiling's default
#: Weekly windows of 4 weeks: the first window and the end of the n-th.
FIRST_MONDAY = "2025-01-06"
WINDOW_ENDS = ["2025-02-02", "2025-03-02", "2025-03-30", "2025-04-27", "2025-05-25"]


@dataclass
class Case:
    """One sync: how many teams, windows each, and a fixed cap (None: automatic)."""

    teams: int
    windows: int
    max_concurrent_exports: int | None = None

    @property
    def label(self) -> str:
        """How the table names the case."""
        kind = "incremental" if self.windows == 1 else f"backfill {self.windows} windows"
        cap = (
            ""
            if self.max_concurrent_exports is None
            else f", max_concurrent_exports {self.max_concurrent_exports}"
        )
        return f"{self.teams:,} teams, {kind}{cap}"


@dataclass
class Result:
    """What one case measured."""

    case: Case
    returncode: int
    wall: float
    requests: int
    exports: int
    bound: float
    peak_minute: int
    peak_in_flight: int
    rss_mb: float
    state_bytes: int
    state_messages: int
    log_lines: int
    complete: bool

    @property
    def ratio(self) -> float:
        """Wall time over the bound: 1 is as fast as any client could be."""
        return self.wall / self.bound


def config_for(server: SandboxServer, case: Case, teams: list[str]) -> dict[str, t.Any]:
    config: dict[str, t.Any] = {
        "api_key": KEY,
        "base_url": server.base_url,
        "org_identifier": "default",
        "project_identifier": "scale",
        "team_ids": teams,
        "start_date": FIRST_MONDAY,
        "end_date": WINDOW_ENDS[case.windows - 1],
        "granularity": "weekly",
        "periods_per_window": 4,
        "poll_interval_seconds": POLL_INTERVAL,
        "max_poll_interval_seconds": MAX_POLL_INTERVAL,
        "max_requests_per_minute": BUDGET_PER_MINUTE,
        "failed_export_wait_seconds": 0,
    }
    if case.max_concurrent_exports is not None:
        config["max_concurrent_exports"] = case.max_concurrent_exports
    return config


class StateCounter:
    """Reads the tap's stdout as it comes: STATE bytes and the last STATE, nothing kept."""

    def __init__(self, stream: t.IO[bytes]) -> None:
        self.bytes = 0
        self.messages = 0
        self.last: bytes = b""
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: t.IO[bytes]) -> None:
        for line in stream:
            if line.startswith(b'{"type":"STATE"'):
                self.bytes += len(line)
                self.messages += 1
                self.last = line

    def join(self) -> None:
        """Wait for the end of the output."""
        self._thread.join()


def run_case(case: Case, workdir: Path, tap_path: str | None) -> Result:
    teams = [f"team_{n:05d}" for n in range(case.teams)]
    config_sandbox = SandboxConfig(api_key=KEY, export_seconds=EXPORT_SECONDS, teams=teams)
    with SandboxServer(config_sandbox) as server:
        config = config_for(server, case, teams)
        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(config))
        exports = case.teams * case.windows
        most = case.max_concurrent_exports or CEILING
        # At least one poll per export: the least any client's requests can be.
        limit = 3 * max(exports * 3 / (BUDGET_PER_MINUTE / 60), exports / most * 3) + 120
        env = dict(os.environ)
        if tap_path:
            env["PYTHONPATH"] = tap_path + os.pathsep + env.get("PYTHONPATH", "")
        log_path = workdir / f"tap-{case.teams}-{case.windows}.log"
        started = time.perf_counter()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*TAP, "--config", str(config_path)],
                stdout=subprocess.PIPE,
                stderr=log,
                env={**env, "TMPDIR": str(workdir)},
                cwd=workdir,  # `-m` puts the working directory first: not a checkout's
            )
            states = StateCounter(t.cast("t.IO[bytes]", process.stdout))
            killer = threading.Timer(limit, process.kill)
            killer.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)
            finally:
                killer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        states.join()
        log_lines = len(log_path.read_bytes().splitlines())
        requests = len(server.request_log)
        created = len(server.exports_created())
        chain = math.ceil(created / most) * EXPORT_SECONDS
        bound = max(requests / (BUDGET_PER_MINUTE / 60), chain)
        complete = False
        if states.last:
            value = json.loads(states.last)["value"]
            partitions = value["bookmarks"]["time_in_status"]["partitions"]
            marks = {p["context"]["scope_id"]: p.get("replication_key_value") for p in partitions}
            complete = marks == dict.fromkeys(teams, WINDOW_ENDS[case.windows - 1])
        return Result(
            case=case,
            returncode=process.returncode,
            wall=wall,
            requests=requests,
            exports=created,
            bound=bound,
            peak_minute=server.peak_requests(60.0),
            peak_in_flight=server.peak_exports_in_flight(),
            rss_mb=usage.ru_maxrss / 1024,
            state_bytes=states.bytes,
            state_messages=states.messages,
            log_lines=log_lines,
            complete=complete,
        )


def print_header() -> None:
    print(
        f"{'case':<44} {'wall':>7} {'bound':>7} {'ratio':>6} {'requests':>9} "
        f"{'peak/min':>9} {'budget':>7} {'in flight':>9} {'RSS MB':>7} {'STATE KB':>9} "
        f"{'log lines':>9}  ok",
        flush=True,
    )


def print_row(r: Result) -> None:
    ok = r.returncode == 0 and r.complete and r.peak_minute <= BUDGET_PER_MINUTE
    print(
        f"{r.case.label:<44} {r.wall:>6.1f}s {r.bound:>6.1f}s {r.ratio:>6.2f} "
        f"{r.requests:>9,} {r.peak_minute:>9,} {BUDGET_PER_MINUTE:>7,} {r.peak_in_flight:>9} "
        f"{r.rss_mb:>7.0f} {r.state_bytes / 1024:>9,.0f} {r.log_lines:>9,}  "
        f"{'yes' if ok else 'NO'}"
        + ("" if r.returncode == 0 else f" (exit {r.returncode})")
        + ("" if r.complete else " (not every partition bookmarked)"),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teams", type=int, action="append", help="default: 100 and 1,000")
    parser.add_argument("--windows", type=int, action="append", help="default: 1 and 4")
    parser.add_argument(
        "--max-concurrent-exports", type=int, help="a fixed cap instead of the automatic one"
    )
    parser.add_argument(
        "--tap-path", help="run the tap from this source folder (e.g. an older checkout)"
    )
    args = parser.parse_args()
    windows = args.windows or [1, 4]
    if not all(1 <= w <= len(WINDOW_ENDS) for w in windows):
        parser.error(f"--windows is 1 to {len(WINDOW_ENDS)}")
    cases = [
        Case(teams, w, args.max_concurrent_exports)
        for teams in args.teams or [100, 1000]
        for w in windows
    ]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}; exports {EXPORT_SECONDS:g} s, polls "
        f"{POLL_INTERVAL:g}..{MAX_POLL_INTERVAL:g} s, max_requests_per_minute "
        f"{BUDGET_PER_MINUTE:,}",
        flush=True,
    )
    print_header()
    with tempfile.TemporaryDirectory(prefix="sei-scale-") as tmp:
        for case in cases:
            print_row(run_case(case, Path(tmp), args.tap_path))


if __name__ == "__main__":
    main()
