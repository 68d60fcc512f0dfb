"""The README's main job: the tap against the bundled sandbox, through Meltano, into DuckDB.

Starts `sei-sandbox` on a free loopback port, runs
`meltano run tap-sei-time-in-status target-duckdb` (environment `dev`, pointed at that port),
prints hours per status per team for the last periods from the DuckDB file, and stops the
sandbox, also when something fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
DUCKDB_FILE = ROOT / "output" / "sei.duckdb"
SANDBOX_KEY = "sandbox-key"  # the dev environment's key: the sandbox's, not a secret
STATUS_COLUMNS = ("in_progress_hours", "in_review_hours", "qa_hours", "done_hours")


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def sandbox(port: int, export_seconds: float) -> Iterator[str]:
    """Run `sei-sandbox` for the length of the block; yield its base URL."""
    command = [
        str(Path(sys.executable).parent / "sei-sandbox"),
        "--port",
        str(port),
        "--api-key",
        SANDBOX_KEY,
        "--export-seconds",
        str(export_seconds),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    msg = f"sei-sandbox did not start on port {port}"
                    raise SystemExit(msg) from None
                time.sleep(0.1)
        print(f"sandbox: http://127.0.0.1:{port}/sei/api", flush=True)
        yield f"http://127.0.0.1:{port}/sei/api"
    finally:
        process.terminate()
        process.wait(timeout=30)
        print("sandbox stopped", flush=True)


def run_meltano(meltano: str, base_url: str) -> None:
    """`meltano run` the tap into DuckDB; the dev environment points at the sandbox."""
    DUCKDB_FILE.parent.mkdir(exist_ok=True)  # target-duckdb does not create it
    env = {
        **os.environ,
        "TAP_SEI_TIME_IN_STATUS_BASE_URL": base_url,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        # The long stream is opt-in; the chart (scripts/chart.py) reads it. The same as
        # `meltano select tap-sei-time-in-status time_in_status_by_status '*'`.
        "TAP_SEI_TIME_IN_STATUS__SELECT": '["time_in_status.*", "time_in_status_by_status.*"]',
    }
    command = [meltano, "--environment=dev", "run", "tap-sei-time-in-status", "target-duckdb"]
    print("$", " ".join(command[1:]).replace(meltano, "meltano"), flush=True)
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def print_summary(periods: int) -> None:
    """Hours per status per team for the last `periods` periods, read back from DuckDB."""
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as db:
        total, partitions = db.execute(
            "select count(*), count(distinct scope_id) from time_in_status"
        ).fetchone() or (0, 0)
        rows = db.execute(
            f"""
            with recent as (
                select distinct period from time_in_status order by period desc limit ?
            )
            select t.period, t.team, t.total_issues, {", ".join(f"t.{c}" for c in STATUS_COLUMNS)}
            from time_in_status t join recent using (period)
            order by t.period desc, t.team
            """,  # noqa: S608 - the interpolated names are this module's constants
            [periods],
        ).fetchall()
    print(f"\n{total} rows from {partitions} partition(s) in {DUCKDB_FILE.relative_to(ROOT)}")
    print(f"hours per status per team, last {periods} periods:\n")
    header = ("period", "team", "issues", "in progress", "in review", "QA", "done")
    widths = (9, 32, 7, 12, 12, 12, 12)
    print(
        "  ".join(
            h.ljust(w) if i < 2 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    for row in rows:
        cells = [str(row[0]), str(row[1])[:32], str(row[2])]
        cells += ["" if v is None else f"{v:,.1f}" for v in row[3:]]
        print(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )


def main() -> None:
    """Sandbox up, Meltano run, summary, sandbox down."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meltano", default="meltano", help="the meltano executable")
    parser.add_argument("--export-seconds", type=float, default=1.0)
    parser.add_argument("--periods", type=int, default=3)
    args = parser.parse_args()
    with sandbox(free_port(), args.export_seconds) as base_url:
        run_meltano(args.meltano, base_url)
    print_summary(args.periods)


if __name__ == "__main__":
    main()
