"""End-to-end benchmark: `meltano run tap-sei-time-in-status target-postgres` on one export.

    .venv/bin/python -m benchmarks.meltano_postgres --meltano .venv-meltano/bin/meltano

(from the repository root; about six minutes on 2 cores). Starts the sandbox (one export of
>= 500,000 rows, `time_in_status` only, as shipped) and a throwaway PostgreSQL 15
(`tests/postgres_server.py`), then prints, measured in this one run:
1. wall time and rows/s of `meltano run` into PostgreSQL with the shipped meltano.yml, with
   target-postgres's own defaults for `use_copy` and `validate_records`, with BATCH output (the
   shipped `tap-sei-time-in-status--batch`), and without the loader's `_sdc_*` metadata columns
   (an opt-in the README describes); the tap alone to /dev/null (and a bare-Python roof on the
   same file); the loader's peak RSS. `--variants` runs only some of the `meltano run`s;
2. the poll schedule: 8 exports of 3 s on the server, 4 in flight, with the default
   `poll_interval_seconds` (1 s) and with 2 s, and the polls per export;
3. with `--ceiling`, target-postgres alone (`meltano invoke`) fed the tap's RECORD lines from a
   file, shipped and with its defaults: the most any tap or Meltano change could gain.
Not part of the test run: tests never assert timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

import psycopg

from benchmarks.bench import KEY, STATUSES, concurrency, prepare_export, roof, run_tap, tap_config
from tap_sei_time_in_status.sandbox import SandboxConfig, SandboxServer
from tests.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
TEAMS = 1530  # x 365 daily periods x ~0.9 present ~= 500,000 rows
START, END = "2025-01-01", "2025-12-31"
LARGE_START = "2023-01-01"  # three years: ~1,500,000 rows
#: A sandbox whose exports are ready at once: the runs measure the pipeline, not the server.
BIG_EXPORT = SandboxConfig(api_key=KEY, export_seconds=0, org_tree_teams=TEAMS)
#: target-postgres's own defaults for the two settings meltano.yml changes.
DEFAULTS = {"TARGET_POSTGRES_USE_COPY": "false", "TARGET_POSTGRES_VALIDATE_RECORDS": "true"}
#: The opt-in the README describes: no `_sdc_*` columns (and so no ACTIVATE_VERSION handling).
NO_METADATA = {
    "TARGET_POSTGRES_ADD_RECORD_METADATA": "false",
    "TARGET_POSTGRES_ACTIVATE_VERSION": "false",
}


class PeakRss:
    """The peak RSS (VmHWM) of every descendant process whose command line names `name`."""

    def __init__(self, root_pid: int, name: str) -> None:
        self._root, self._name = root_pid, name
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        """Stop sampling; the peak in KiB."""
        self._stop.set()
        self._thread.join()
        return self.peak_kib

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            for pid in self._descendants():
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                    if self._name.encode() not in cmdline:
                        continue
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                except OSError:
                    continue

    def _descendants(self) -> set[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        found = {self._root}
        grew = True
        while grew:
            new = {pid for pid, parent in parents.items() if parent in found} - found
            found |= new
            grew = bool(new)
        return found - {self._root}


EXTRACTOR = "tap-sei-time-in-status"
BATCH_EXTRACTOR = "tap-sei-time-in-status--batch"  # meltano.yml: the same tap with batch_config


def meltano_run(
    meltano: str, env: dict[str, str], workdir: Path, label: str, extractor: str = EXTRACTOR
) -> tuple[float, int]:
    """One `meltano run` (fresh state): wall seconds and the loader's peak RSS in KiB."""
    log = workdir / f"{label}.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [meltano, "--environment=dev", "run", extractor, "target-postgres"],
            cwd=ROOT,
            env={**env, "MELTANO_DATABASE_URI": f"sqlite:///{workdir / label}.db"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        rss = PeakRss(process.pid, "target-postgres")
        code = process.wait()
        peak = rss.stop()
    seconds = time.perf_counter() - started
    if code != 0:
        sys.exit(f"meltano run ({label}) failed, see {log}")
    return seconds, peak


def loaded_rows(pg: PostgresServer, schema: str) -> int:
    with psycopg.connect(pg.dsn) as conn, conn.cursor() as cur:
        cur.execute(f'select count(*) from "{schema}".time_in_status')  # noqa: S608 - own name
        row = cur.fetchone()
        return int(row[0]) if row else 0


def tap_env(sandbox: SandboxServer, start: str) -> dict[str, str]:
    """The dev environment of meltano.yml pointed at the sandbox's one big export."""
    return {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_SEI_TIME_IN_STATUS_BASE_URL": sandbox.base_url,
        "TAP_SEI_TIME_IN_STATUS_API_KEY": KEY,
        "TAP_SEI_TIME_IN_STATUS_PROJECT_IDENTIFIER": "bench",
        "TAP_SEI_TIME_IN_STATUS_TEAM_IDS": "[]",
        "TAP_SEI_TIME_IN_STATUS_ORG_TREE_NAMES": '["Engineering"]',
        "TAP_SEI_TIME_IN_STATUS_ISSUE_STATUSES": json.dumps(STATUSES),
        "TAP_SEI_TIME_IN_STATUS_START_DATE": start,
        "TAP_SEI_TIME_IN_STATUS_END_DATE": END,
        "TAP_SEI_TIME_IN_STATUS_GRANULARITY": "daily",
        "TAP_SEI_TIME_IN_STATUS_PERIODS_PER_WINDOW": "1200",
        "TAP_SEI_TIME_IN_STATUS_REQUEST_TIMEOUT_SECONDS": "300",
    }


def batch_env(workdir: Path) -> dict[str, str]:
    """The shipped BATCH extractor's files in `workdir`, with the default file size."""
    return {"TAP_SEI_TIME_IN_STATUS__BATCH_BATCH_CONFIG_STORAGE_ROOT": workdir.as_uri()}


#: The `meltano run`s of step 1, by the name `--variants` knows them by.
VARIANTS = {
    "shipped": "shipped meltano.yml",
    "defaults": "target-postgres defaults",
    "batch": "shipped + BATCH",
    "no-sdc": "shipped, no _sdc_ columns",
}
#: The ratios step 1 prints, of the runs it made: (name, slower, faster).
RATIOS = [
    ("target-postgres defaults / shipped", "target-postgres defaults", "shipped meltano.yml"),
    ("shipped / BATCH", "shipped meltano.yml", "shipped + BATCH"),
    ("defaults / BATCH", "target-postgres defaults", "shipped + BATCH"),
    ("defaults / no _sdc_ columns", "target-postgres defaults", "shipped, no _sdc_ columns"),
    ("tap alone / shipped", "tap alone", "shipped meltano.yml"),
]


def end_to_end(meltano: str, workdir: Path, labels: t.Collection[str]) -> None:
    print("1. one export into PostgreSQL 15 through `meltano run`", flush=True)
    with SandboxServer(BIG_EXPORT) as sandbox, PostgresServer() as pg:
        _, path = prepare_export(sandbox, START, END, workdir)
        rows, roof_seconds = roof(path)
        base_env = tap_env(sandbox, START)
        variants: dict[str, tuple[str, dict[str, str]]] = {
            "shipped meltano.yml": (EXTRACTOR, {}),
            "target-postgres defaults": (EXTRACTOR, DEFAULTS),
            "shipped + BATCH": (BATCH_EXTRACTOR, batch_env(workdir / "batches")),
            "shipped, no _sdc_ columns": (EXTRACTOR, NO_METADATA),
        }
        results: dict[str, float] = {}
        for number, (label, (extractor, extra)) in enumerate(variants.items()):
            if label not in labels:
                continue
            schema = f"bench_{number}"
            env = {**base_env, **pg.target_postgres_env(schema=schema), **extra}
            seconds, peak_kib = meltano_run(meltano, env, workdir, f"run{number}", extractor)
            loaded = loaded_rows(pg, schema)
            if loaded != rows:
                sys.exit(f"{label}: {loaded:,} rows in PostgreSQL, the export has {rows:,}")
            results[label] = seconds
            print(
                f"   {label:<26} {seconds:6.1f} s  {rows / seconds:8,.0f} rows/s  "
                f"loader peak RSS {peak_kib / 1024:5.0f} MB  ({loaded:,} rows loaded)",
                flush=True,
            )
        config = tap_config(
            sandbox,
            start_date=START,
            end_date=END,
            granularity="daily",
            periods_per_window=1200,
        )
        sandbox.reset_log()
        ended, tap_seconds, tap_rss = run_tap(config, workdir)
        from_download = ended - sandbox.requests_of("download")[0].at
        print(
            f"   {'tap alone to /dev/null':<26} {tap_seconds:6.1f} s  "
            f"{rows / tap_seconds:8,.0f} rows/s  tap peak RSS {tap_rss / 1024:5.0f} MB  "
            f"(download request to exit {from_download:.1f} s = {rows / from_download:,.0f} "
            f"rec/s; bare-Python roof {roof_seconds:.1f} s = {rows / roof_seconds:,.0f} rec/s; "
            f"tap/roof time {from_download / roof_seconds:.2f})",
            flush=True,
        )
        results["tap alone"] = tap_seconds
        ratios = [
            f"{name}: {results[slower] / results[faster]:.2f} x"
            for name, slower, faster in RATIOS
            if slower in results and faster in results
        ]
        print(f"   {rows:,} rows. {'; '.join(ratios)}", flush=True)


def invoke(meltano: str, plugin: str, env: dict[str, str], stdin: t.Any, stdout: t.Any) -> None:
    """`meltano invoke` one plugin of the dev environment; its log is not wanted."""
    subprocess.run(
        [meltano, "--environment=dev", "invoke", plugin],
        cwd=ROOT,
        env=env,
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        check=True,
    )


def ceiling(meltano: str, workdir: Path) -> None:
    """target-postgres alone on the tap's RECORD lines: the loader's own share of `meltano run`."""
    print("3. target-postgres alone, fed the tap's RECORD lines from a file", flush=True)
    with SandboxServer(BIG_EXPORT) as sandbox, PostgresServer() as pg:
        lines = workdir / "records.jsonl"
        env = {**tap_env(sandbox, START), "MELTANO_DATABASE_URI": f"sqlite:///{workdir}/c.db"}
        with lines.open("wb") as out:
            invoke(meltano, "tap-sei-time-in-status", env, stdin=subprocess.DEVNULL, stdout=out)
        variants = {"shipped meltano.yml": {}, "target-postgres defaults": DEFAULTS}
        results: dict[str, float] = {}
        for number, (label, extra) in enumerate(variants.items()):
            schema = f"ceiling_{number}"
            run_env = {**env, **pg.target_postgres_env(schema=schema), **extra}
            started = time.perf_counter()
            with lines.open("rb") as records:
                invoke(
                    meltano, "target-postgres", run_env, stdin=records, stdout=subprocess.DEVNULL
                )
            results[label] = time.perf_counter() - started
            print(
                f"   {label:<26} {results[label]:6.1f} s  "
                f"({loaded_rows(pg, schema):,} rows loaded)",
                flush=True,
            )
        print(
            f"   loader alone, defaults / shipped: "
            f"{results['target-postgres defaults'] / results['shipped meltano.yml']:.2f} x "
            "(the ceiling of the end-to-end ratio, reached only if the tap, Meltano and the "
            "export took no time)",
            flush=True,
        )


def large(meltano: str, workdir: Path) -> None:
    """The loader's peak RSS on an export three times as large: bounded by its batch size."""
    print("4. the loader's peak RSS on a 3-year export", flush=True)
    with SandboxServer(BIG_EXPORT) as sandbox, PostgresServer() as pg:
        _, path = prepare_export(sandbox, LARGE_START, END, workdir)
        rows, _ = roof(path)
        variants = {
            "shipped meltano.yml": (EXTRACTOR, {}),
            "shipped + BATCH": (BATCH_EXTRACTOR, batch_env(workdir / "batches")),
        }
        for number, (label, (extractor, extra)) in enumerate(variants.items()):
            schema = f"large_{number}"
            env = {**tap_env(sandbox, LARGE_START), **pg.target_postgres_env(schema), **extra}
            seconds, peak_kib = meltano_run(meltano, env, workdir, f"large{number}", extractor)
            loaded = loaded_rows(pg, schema)
            print(
                f"   {label:<26} {seconds:6.1f} s  {rows / seconds:8,.0f} rows/s  "
                f"loader peak RSS {peak_kib / 1024:5.0f} MB  ({loaded:,} of {rows:,} rows loaded)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meltano", default=str(ROOT / ".venv-meltano" / "bin" / "meltano"))
    parser.add_argument("--only", choices=["end-to-end", "polls"])
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        help="the `meltano run`s of step 1 (default: all)",
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also time target-postgres alone on the same RECORD lines (about 4 more minutes)",
    )
    parser.add_argument(
        "--large", action="store_true", help="also load a 1.5M-row export (about 8 more minutes)"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        if args.only != "polls":
            end_to_end(args.meltano, Path(tmp), [VARIANTS[v] for v in args.variants])
        if args.only != "end-to-end":
            concurrency(Path(tmp), (1.0, 2.0))
        if args.ceiling:
            ceiling(args.meltano, Path(tmp))
        if args.large:
            large(args.meltano, Path(tmp))


if __name__ == "__main__":
    main()
