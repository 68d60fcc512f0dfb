"""Meltano end to end: `meltano run` the tap into a real PostgreSQL 15 and into DuckDB.

Meltano comes from `make setup` (its own virtualenv, plugins from `meltano install`). Each test
gets its own Meltano system database (so its own state) and its own schema or file. The plugins
are installed once; each pytest worker has a `.meltano` of its own that links to them, so
that runs on other workers never share its run files (the tap's catalog, its config).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import typing as t
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pytest
import yaml

from tap_sei_time_in_status.sandbox import SandboxConfig, SandboxServer
from tests.conftest import API_KEY, csv_view, served_rows, tap_config
from tests.postgres_server import ENV_URL, MISSING_BINARIES, PostgresServer, find_bin_dir
from tests.readme_examples import commands as readme_commands
from tests.readme_examples import example as readme_example

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CSV = ROOT / "tests" / "fixtures" / "api_page_example.csv"
MELTANO = os.environ.get("MELTANO_BIN") or str(ROOT / ".venv-meltano" / "bin" / "meltano")
# Meltano, PostgreSQL and the loaders take seconds per test: `-m "not slow"` leaves them out.
pytestmark = pytest.mark.slow
STATUS_COLUMNS = ["in_progress_hours", "in_review_hours", "qa_hours", "done_hours"]
KEYS = ["scope_id", "granularity", "aggregation_level", "terminal_date_column", "period"]
KEYS += ["team_hierarchy"]
BOTH_STREAMS = ["time_in_status.*", "time_in_status_by_status.*"]
# The dev environment of meltano.yml, pinned here so the test knows what to expect.
TAP_SETTINGS: dict[str, t.Any] = {
    "team_ids": ["team_abc123"],
    "org_tree_names": ["Engineering"],
    "start_date": "2025-01-01",
    "end_date": "2025-06-30",
    "granularity": "weekly",
    "poll_interval_seconds": 0.05,
    "max_poll_interval_seconds": 0.2,
}


@pytest.fixture(scope="session")
def meltano() -> str:
    if not Path(MELTANO).exists():
        pytest.fail(f"Meltano is not installed at {MELTANO}: run `make setup` first")
    return MELTANO


@pytest.fixture(scope="session")
def meltano_sys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This worker's `.meltano`: the project's installed plugins, its own run files.

    `meltano run` writes the tap's catalog to `.meltano/run/`: runs on two workers at once
    must not share it (one selects the long stream, the other does not).
    """
    sys_dir = tmp_path_factory.mktemp("meltano-sys")
    for plugins in ("extractors", "loaders"):
        (sys_dir / plugins).symlink_to(ROOT / ".meltano" / plugins, target_is_directory=True)
    return sys_dir


def require_postgres_binaries(bin_dir: Path | None, *, ci: bool) -> Path:
    """The binaries' directory; without one, a skip that says why, or a failure on CI."""
    if bin_dir is None:
        if ci:
            pytest.fail(f"{MISSING_BINARIES} CI=true: failing instead of skipping.")
        pytest.skip(MISSING_BINARIES)
    return bin_dir


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if os.environ.get(ENV_URL):  # a server already there (CI's service container)
        server = PostgresServer.from_environment()
    else:
        bin_dir = require_postgres_binaries(find_bin_dir(), ci=os.environ.get("CI") == "true")
        server = PostgresServer(bin_dir=bin_dir)
    with server:
        yield server


class Meltano:
    """`meltano run` with one state database and the tap pointed at one sandbox."""

    extractor = "tap-sei-time-in-status"

    def __init__(self, binary: str, sandbox: SandboxServer, workdir: Path, sys_dir: Path) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "MELTANO_SYS_DIR_ROOT": str(sys_dir),
            "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_SEI_TIME_IN_STATUS_BASE_URL": sandbox.base_url,
            "TAP_SEI_TIME_IN_STATUS_API_KEY": API_KEY,
        }
        for name, value in TAP_SETTINGS.items():
            env_value = json.dumps(value) if isinstance(value, list) else str(value)
            self.env[f"TAP_SEI_TIME_IN_STATUS_{name.upper()}"] = env_value

    def command(self, loader: str, *options: str) -> list[str]:
        return [self.binary, "--environment=dev", "run", *options, self.extractor, loader]

    def run(self, loader: str, *options: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(loader, *options),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        assert API_KEY not in done.stdout + done.stderr
        return done

    def run_and_kill_after_first_window(self, loader: str) -> None:
        """SIGKILL the whole `meltano run` (tap and target too) once a window is done."""
        process = subprocess.Popen(
            self.command(loader),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert process.stderr is not None
        try:
            for line in process.stderr:
                if "Progress: 1/6 windows emitted" in line:  # the first progress line
                    break
            else:
                pytest.fail("the run ended before its first window was done")
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


def expected(sandbox: SandboxServer) -> list[tuple[t.Any, ...]]:
    rows = served_rows(sandbox, tap_config(sandbox, **TAP_SETTINGS))
    return sorted(csv_view(row, STATUS_COLUMNS) for row in rows)


def as_float(value: t.Any) -> t.Any:
    return float(value) if isinstance(value, Decimal) else value


def view(row: dict[str, t.Any]) -> tuple[t.Any, ...]:
    """A warehouse row reduced as `csv_view` reduces a CSV row."""
    extra = row["additional_columns"]
    extra = json.loads(extra) if isinstance(extra, str) else extra
    return (
        row["scope_id"],
        row["period"],
        row["team"],
        row["team_hierarchy"],
        row.get("sprint"),
        row["total_issues"],
        *(as_float(row[c]) for c in STATUS_COLUMNS),
        as_float(row["total_lead_time_hours"]),
        tuple(sorted(extra.items())),
    )


def pg_rows(pg: PostgresServer, schema: str) -> list[dict[str, t.Any]]:
    with psycopg.connect(pg.dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(f'select * from "{schema}".time_in_status')  # noqa: S608 - test's own name
        return list(cur.fetchall())


def pg_types(pg: PostgresServer, schema: str) -> dict[str, str]:
    with psycopg.connect(pg.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = 'time_in_status'",
            [schema],
        )
        return dict(cur.fetchall())


def pg_env(meltano: Meltano, pg: PostgresServer) -> str:
    schema = f"sei_{uuid.uuid4().hex[:8]}"
    meltano.env.update(pg.target_postgres_env(schema=schema))
    return schema


def assert_each_served_row_once(rows: list[dict[str, t.Any]], sandbox: SandboxServer) -> None:
    keys = collections.Counter(tuple(r[k] for k in KEYS) for r in rows)
    assert max(keys.values()) == 1, "a key is duplicated"
    assert sorted(map(view, rows)) == expected(sandbox)


def test_postgres_holds_every_row_once_then_upserts_incrementally(
    meltano: str,
    meltano_sys_dir: Path,
    postgres: PostgresServer,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    run = Meltano(meltano, sandbox, tmp_path, meltano_sys_dir)
    schema = pg_env(run, postgres)
    # The long stream is opt-in; this is `meltano select ... time_in_status_by_status '*'`.
    run.env["TAP_SEI_TIME_IN_STATUS__SELECT"] = json.dumps(BOTH_STREAMS)
    run.run("target-postgres")
    rows = pg_rows(postgres, schema)
    assert_each_served_row_once(rows, sandbox)
    types = pg_types(postgres, schema)
    assert types["total_issues"] == "bigint"
    for column in [*STATUS_COLUMNS, "total_lead_time_hours"]:
        assert types[column] in ("numeric", "double precision"), (column, types[column])

    # The README's query, on the long stream, answers per team and status.
    with psycopg.connect(postgres.dsn) as conn, conn.cursor() as cur:
        cur.execute(f'set search_path to "{schema}"')
        cur.execute((ROOT / "scripts" / "avg_hours_per_status.sql").read_text())
        answer = cur.fetchall()
    assert {status for _, status, _, _ in answer} >= {"In Progress", "In Review", "QA", "Done"}
    assert {team for team, _, _, _ in answer} == {r["team"] for r in rows}
    assert all(isinstance(avg, Decimal) for _, _, avg, _ in answer if avg is not None)

    # The second run switches to BATCH as the README says: the state copied to the batch
    # extractor's id, then its one command.
    copy, batch_run = (readme_command(meltano, argv) for argv in readme_commands("batch"))
    assert batch_run[1:] == ["run", "tap-sei-time-in-status--batch", "target-postgres"]
    done = run_in(ROOT, copy, run.env)
    assert done.returncode == 0, done.stderr[-3000:]
    run.env["TAP_SEI_TIME_IN_STATUS__BATCH_BATCH_CONFIG_STORAGE_ROOT"] = tmp_path.as_uri()
    sandbox.reset_log()
    done = run_in(ROOT, batch_run, run.env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(tmp_path.glob("time_in_status-*.jsonl.gz"))
    ranges = {
        (r.body["dateRange"]["start"], r.body["dateRange"]["end"])
        for r in sandbox.requests_of("create")
    }
    # Bookmark 2025-06-30 - 7 days lies in the window 2025-03-31..2025-06-29: that window and
    # the one after it are exported again, not the first.
    assert ranges == {("2025-03-31", "2025-06-29"), ("2025-06-30", "2025-06-30")}
    again = pg_rows(postgres, schema)
    assert sorted(map(view, again)) == sorted(map(view, rows))
    # target-postgres fills the _sdc_* columns from RECORD lines only: the rows the BATCH run
    # rewrote have none.
    for row in again:
        assert (row["_sdc_batched_at"] is None) == (str(row["window_start"]) >= "2025-03-31")


def test_postgres_after_sigkill_and_rerun_equals_a_clean_run(
    meltano: str,
    meltano_sys_dir: Path,
    postgres: PostgresServer,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "killed").mkdir()
    clean = Meltano(meltano, sandbox, tmp_path / "clean", meltano_sys_dir)
    clean_schema = pg_env(clean, postgres)
    clean.run("target-postgres")

    killed = Meltano(meltano, sandbox, tmp_path / "killed", meltano_sys_dir)
    killed_schema = pg_env(killed, postgres)
    killed.run_and_kill_after_first_window("target-postgres")
    # The killed run's job is still marked running in Meltano's database: `--force` (as an
    # operator would after a crash) rather than waiting for it to go stale.
    killed.run("target-postgres", "--force")

    def table(schema: str) -> list[tuple[t.Any, ...]]:
        return sorted(view(r) for r in pg_rows(postgres, schema))

    assert table(killed_schema) == table(clean_schema)
    assert len(table(clean_schema)) == len(expected(sandbox))


def use_batches(run: Meltano, root: Path) -> None:
    """The shipped BATCH extractor, its files in `root`, at most 10 rows each: several a window."""
    run.extractor = "tap-sei-time-in-status--batch"
    run.env["TAP_SEI_TIME_IN_STATUS__BATCH_BATCH_CONFIG_STORAGE_ROOT"] = root.as_uri()
    run.env["TAP_SEI_TIME_IN_STATUS_BATCH_SIZE_ROWS"] = "10"  # inherited from the plain one


def test_postgres_from_batches_after_sigkill_and_rerun_equals_the_record_path(
    meltano: str,
    meltano_sys_dir: Path,
    postgres: PostgresServer,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    (tmp_path / "lines").mkdir()
    (tmp_path / "batch").mkdir()
    lines = Meltano(meltano, sandbox, tmp_path / "lines", meltano_sys_dir)
    lines_schema = pg_env(lines, postgres)
    lines.run("target-postgres")

    batch = Meltano(meltano, sandbox, tmp_path / "batch", meltano_sys_dir)
    batch_schema = pg_env(batch, postgres)
    use_batches(batch, tmp_path / "batch" / "files")
    batch.run_and_kill_after_first_window("target-postgres")
    batch.run("target-postgres", "--force")

    def table(schema: str) -> list[tuple[t.Any, ...]]:
        return sorted(view(r) for r in pg_rows(postgres, schema))

    # 6 windows of up to 39 rows, 10 rows a file; the run that was killed wrote some more.
    assert len(list((tmp_path / "batch" / "files").glob("*.jsonl.gz"))) > 12
    assert table(lines_schema) == sorted(expected(sandbox))
    assert table(batch_schema) == table(lines_schema)


def test_duckdb_reads_no_batch_messages(
    meltano: str, meltano_sys_dir: Path, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """target-duckdb 0.8.0 stops at the first BATCH message: keep RECORD lines for it."""
    run = Meltano(meltano, sandbox, tmp_path, meltano_sys_dir)
    run.env["TARGET_DUCKDB_FILEPATH"] = str(tmp_path / "sei.duckdb")
    use_batches(run, tmp_path / "files")
    done = subprocess.run(
        run.command("target-duckdb"),
        cwd=ROOT,
        env=run.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode != 0
    assert "Unknown message type BATCH" in done.stderr


def test_duckdb_holds_every_row_once_then_upserts_incrementally(
    meltano: str, meltano_sys_dir: Path, sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = Meltano(meltano, sandbox, tmp_path, meltano_sys_dir)
    database = tmp_path / "sei.duckdb"
    run.env["TARGET_DUCKDB_FILEPATH"] = str(database)

    def rows() -> list[dict[str, t.Any]]:
        with duckdb.connect(str(database), read_only=True) as db:
            cursor = db.execute("select * from main.time_in_status")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    run.run("target-duckdb")
    first = rows()
    assert_each_served_row_once(first, sandbox)
    assert all(isinstance(r["qa_hours"], float | None) for r in first)
    sandbox.reset_log()
    run.run("target-duckdb")
    assert len(sandbox.requests_of("create")) == 4  # two windows per partition
    assert sorted(map(view, rows())) == sorted(map(view, first))


def test_postgres_loads_the_api_page_example_csv(
    meltano: str, meltano_sys_dir: Path, postgres: PostgresServer, tmp_path: Path
) -> None:
    """The API page's example CSV, served byte for byte, lands in PostgreSQL as it says."""
    config = SandboxConfig(api_key=API_KEY, export_seconds=0.15, csv_file=EXAMPLE_CSV)
    with SandboxServer(config) as sandbox:
        run = Meltano(meltano, sandbox, tmp_path, meltano_sys_dir)
        schema = pg_env(run, postgres)
        run.env["TAP_SEI_TIME_IN_STATUS__SELECT"] = json.dumps(BOTH_STREAMS)
        run.env.update(
            {
                "TAP_SEI_TIME_IN_STATUS_TEAM_IDS": '["team_abc123"]',
                "TAP_SEI_TIME_IN_STATUS_ORG_TREE_NAMES": "[]",
                "TAP_SEI_TIME_IN_STATUS_GRANULARITY": "monthly",
                "TAP_SEI_TIME_IN_STATUS_START_DATE": "2026-01-01",
                "TAP_SEI_TIME_IN_STATUS_END_DATE": "2026-01-31",
            }
        )
        done = run.run("target-postgres")
        [export] = sandbox.exports_created()
    assert "has no column in_review_hours, qa_hours, done_hours" in done.stderr
    wide = {r["team"]: r for r in pg_rows(postgres, schema)}
    assert set(wide) == {"Platform Team", "Payments Team"}
    for team, hierarchy, issues, in_progress, to_do, lead in [
        ("Platform Team", "Engineering/Platform", 2171, "5284151.09", 8706228.13, "13990379.22"),
        ("Payments Team", "Engineering/Payments", 100, "34870.41", 18285.37, "53155.78"),
    ]:
        row = wide[team]
        assert row["period"] == "Jan 2026"
        assert str(row["period_start"]) == "2026-01-01"
        assert str(row["period_end"]) == "2026-01-31"
        assert row["team_hierarchy"] == hierarchy
        assert row["total_issues"] == issues
        assert row["in_progress_hours"] == Decimal(in_progress)
        assert row["in_review_hours"] is None
        assert row["qa_hours"] is None
        assert row["done_hours"] is None
        assert row["total_lead_time_hours"] == Decimal(lead)
        assert row["additional_columns"] == {"to_do_hours": to_do}
        assert (row["scope_id"], row["granularity"], row["export_id"]) == (
            "team_abc123",
            "monthly",
            export.export_id,
        )
    with psycopg.connect(postgres.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            f'select team, status, hours from "{schema}".time_in_status_by_status'  # noqa: S608
            " order by team, status"
        )
        long = cur.fetchall()
    assert long == [
        ("Payments Team", "In Progress", Decimal("34870.41")),
        ("Payments Team", "to_do", Decimal("18285.37")),
        ("Platform Team", "In Progress", Decimal("5284151.09")),
        ("Platform Team", "to_do", Decimal("8706228.13")),
    ]


def test_stand_in_hierarchy_rows_are_dropped_by_the_readme_script(
    meltano: str,
    meltano_sys_dir: Path,
    postgres: PostgresServer,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    """Exports without `team_hierarchy`, then with it: the README's script keeps one row each."""
    sandbox.set_config(omit_columns=["team_hierarchy"])
    run = Meltano(meltano, sandbox, tmp_path, meltano_sys_dir)
    schema = pg_env(run, postgres)
    run.env["TAP_SEI_TIME_IN_STATUS__SELECT"] = json.dumps(BOTH_STREAMS)
    run.run("target-postgres")
    sandbox.set_config(omit_columns=[], duplicate_window_seconds=0)
    run.run("target-postgres")  # the lookback windows again, now with the hierarchy

    def counts(table: str, *extra: str) -> collections.Counter[tuple[t.Any, ...]]:
        columns = ["scope_id", "period", "team", *extra]
        with psycopg.connect(postgres.dsn) as conn, conn.cursor() as cur:
            cur.execute(f'select {", ".join(columns)} from "{schema}".{table}')  # noqa: S608
            return collections.Counter(cur.fetchall())

    def real_rows() -> int:
        return sum(1 for r in pg_rows(postgres, schema) if r["team_hierarchy"] != r["team"])

    before, real_before = counts("time_in_status"), real_rows()
    assert max(before.values()) == 2, "a team and period twice: the documented behaviour"
    assert 0 < real_before < len(pg_rows(postgres, schema))
    with psycopg.connect(postgres.dsn) as conn, conn.cursor() as cur:
        cur.execute(f'set search_path to "{schema}"')
        cur.execute((ROOT / "scripts" / "drop_stand_in_hierarchy_rows.sql").read_text())
    after = counts("time_in_status")
    assert set(after) == set(before)
    assert set(after.values()) == {1}
    assert real_rows() == real_before
    assert set(counts("time_in_status_by_status", "status").values()) == {1}


def test_snowflake_loader_installs_and_answers_about(
    meltano: str, meltano_sys_dir: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [meltano, "invoke", "target-snowflake", "--about", "--format=json"],
        cwd=ROOT,
        env={
            **os.environ,
            "MELTANO_SYS_DIR_ROOT": str(meltano_sys_dir),
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    about = json.loads(done.stdout[done.stdout.index("{") :])
    settings = set(about["settings"]["properties"])
    assert {"account", "user", "role", "warehouse", "database", "private_key"} <= settings


SNOWFLAKE_VARS = (
    "SNOWFLAKE_ACCOUNT",
    "SNOWFLAKE_USER",
    "SNOWFLAKE_DATABASE",
    "SNOWFLAKE_WAREHOUSE",
)


@pytest.mark.skipif(
    not all(os.environ.get(v) for v in SNOWFLAKE_VARS)
    or not (os.environ.get("SNOWFLAKE_PASSWORD") or os.environ.get("SNOWFLAKE_PRIVATE_KEY_PATH")),
    reason="real Snowflake: set SNOWFLAKE_ACCOUNT, _USER, _DATABASE, _WAREHOUSE and "
    "_PASSWORD or _PRIVATE_KEY_PATH (optionally _ROLE) to run it",
)
def test_snowflake_end_to_end(
    meltano: str, meltano_sys_dir: Path, sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = Meltano(meltano, sandbox, tmp_path, meltano_sys_dir)
    schema = f"SEI_TEST_{uuid.uuid4().hex[:8].upper()}"
    for name in ("ACCOUNT", "USER", "DATABASE", "WAREHOUSE", "ROLE", "PASSWORD"):
        if os.environ.get(f"SNOWFLAKE_{name}"):
            run.env[f"TARGET_SNOWFLAKE_{name}"] = os.environ[f"SNOWFLAKE_{name}"]
    if os.environ.get("SNOWFLAKE_PRIVATE_KEY_PATH"):
        run.env["TARGET_SNOWFLAKE_PRIVATE_KEY_PATH"] = os.environ["SNOWFLAKE_PRIVATE_KEY_PATH"]
    run.env["TARGET_SNOWFLAKE_DEFAULT_TARGET_SCHEMA"] = schema
    python = ROOT / ".meltano" / "loaders" / "target-snowflake" / "venv" / "bin" / "python"
    query = [str(python), str(ROOT / "tests" / "snowflake_query.py")]
    try:
        run.run("target-snowflake")
        run.run("target-snowflake")
        count = subprocess.run(
            [*query, "count", schema],
            env=run.env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert int(count.stdout.strip()) == len(expected(sandbox))
    finally:
        subprocess.run([*query, "drop", schema], env=run.env, check=False)


# --- PostgreSQL binaries: found on PATH, by pg_config or in Debian's layout ---------------------


def test_postgres_binaries_are_found_on_path_by_pg_config_and_in_debian_layout(
    tmp_path: Path,
) -> None:
    real = require_postgres_binaries(find_bin_dir(), ci=os.environ.get("CI") == "true")
    linked = tmp_path / "bin"
    linked.mkdir()
    for name in ("initdb", "pg_ctl", "postgres"):
        (linked / name).symlink_to(real / name)
    assert find_bin_dir(path=str(linked), pg_config=None, roots=()) == real
    assert find_bin_dir(path="", pg_config=None, roots=[real.parent.parent]) == real
    if shutil.which("pg_config"):
        assert find_bin_dir(path="", pg_config="pg_config", roots=()) is not None


def test_missing_postgres_binaries_skip_outside_ci_and_fail_on_ci(tmp_path: Path) -> None:
    assert find_bin_dir(path=str(tmp_path), pg_config=None, roots=[tmp_path]) is None
    with pytest.raises(pytest.skip.Exception, match="pg_config --bindir"):
        require_postgres_binaries(None, ci=False)
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_postgres_binaries(None, ci=True)


# --- day two: the README's Meltano examples, run as they are written ---------------------------


def readme_command(binary: str, argv: list[str]) -> list[str]:
    assert argv[0] == "meltano", argv
    return [binary, *argv[1:]]


def clean_env(workdir: Path) -> dict[str, str]:
    """The environment of a user with no tap settings yet and a Meltano database of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_SEI_TIME_IN_STATUS_")}
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{workdir / 'meltano.db'}"
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def run_in(
    cwd: Path, command: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_state_set_get_and_clear_as_in_the_readme(
    meltano: str, meltano_sys_dir: Path, sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = Meltano(meltano, sandbox, tmp_path, meltano_sys_dir)
    run.env["TARGET_JSONL_DESTINATION_PATH"] = str(tmp_path)
    get, set_, clear = (readme_command(meltano, argv) for argv in readme_commands("state"))
    assert set_[2:4] == ["set", "--force"]
    assert clear[2:4] == ["clear", "--force"]
    done = run_in(ROOT, set_, run.env)
    assert done.returncode == 0, done.stderr[-3000:]
    done = run_in(ROOT, get, run.env)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads(done.stdout[done.stdout.index("{") :])
    partition = state["singer_state"]["bookmarks"]["time_in_status"]["partitions"][0]
    assert partition["replication_key_value"] == "2025-04-07"

    # A run starts the team at the window holding 2025-04-07 minus the lookback (7 days), and
    # the org tree (left out of the state) at start_date.
    run.run("target-jsonl")
    starts = collections.defaultdict(set)
    for request in sandbox.requests_of("create"):
        scope = request.body["scope"]
        starts[scope.get("teamId") or scope["orgTreeName"]].add(request.body["dateRange"]["start"])
    assert min(starts["team_abc123"]) == "2025-03-31"
    assert min(starts["Engineering"]) == "2024-12-30"

    # Without --force, `state clear` asks; a script without a "y" clears nothing.
    asked = run_in(ROOT, [c for c in clear if c != "--force"], run.env, stdin="\n")
    assert "[y/N]" in asked.stdout + asked.stderr
    assert "2025-" in run_in(ROOT, get, run.env).stdout
    done = run_in(ROOT, clear, run.env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2025-" not in run_in(ROOT, get, run.env).stdout


def test_flattened_run_loads_the_additional_columns_into_postgres(
    meltano: str,
    meltano_sys_dir: Path,
    postgres: PostgresServer,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    run = Meltano(meltano, sandbox, tmp_path, meltano_sys_dir)
    schema = pg_env(run, postgres)
    run.env["TAP_SEI_TIME_IN_STATUS_FLATTENING_ENABLED"] = "true"
    run.env["TAP_SEI_TIME_IN_STATUS_FLATTENING_MAX_DEPTH"] = "1"
    run.run("target-postgres")
    types = pg_types(postgres, schema)
    assert "additional_columns__to_do_hours" in types, sorted(types)
    assert types["additional_columns__to_do_hours"] in ("numeric", "double precision")
    rows = pg_rows(postgres, schema)
    assert len(rows) == len(expected(sandbox))
    assert sum(r["additional_columns__to_do_hours"] is not None for r in rows) > len(rows) / 2


def test_the_readme_plugin_definition_in_a_new_project(
    meltano: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A wheel, the README's definition pasted into a new project, then its commands."""
    wheels = tmp_path / "dist"
    uv = Path(sys.executable).parent / "uv"  # from `make setup`; builds from its cache
    built = run_in(
        ROOT,
        [str(uv), "build", "--quiet", "--wheel", "--out-dir", str(wheels)],
        {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("tap_sei_time_in_status-*.whl")
    definition = yaml.safe_load(readme_example("plugin-definition"))[0]
    assert definition["pip_url"].startswith("git+https://")
    definition["pip_url"] = str(wheel)
    ours = yaml.safe_load((ROOT / "meltano.yml").read_text())["plugins"]["extractors"][0]
    assert [(s["name"], s["kind"]) for s in definition["settings"]] == [
        (s["name"], s["kind"]) for s in ours["settings"]
    ]
    assert definition["capabilities"] == ours["capabilities"]
    assert definition["commands"] == ours["commands"]
    project = tmp_path / "project"
    project.mkdir()
    (project / "meltano.yml").write_text(
        yaml.safe_dump(
            {
                "project_id": f"sei-test-{uuid.uuid4().hex[:8]}",
                "send_anonymous_usage_stats": False,
                "plugins": {"extractors": [definition]},
            }
        )
    )
    env = clean_env(tmp_path)

    for argv in [*readme_commands("install"), *readme_commands("select")]:
        done = run_in(project, readme_command(meltano, argv), env)  # no key, no scope
        assert done.returncode == 0, (argv, done.stderr[-3000:])
        if "--list" in argv:
            assert "time_in_status.in_progress_hours" in done.stdout
        if "--all" in argv:  # the opt-in long stream is listed, as excluded or selected
            assert "time_in_status_by_status.hours" in done.stdout
    for argv in readme_commands("config-list"):
        done = run_in(project, readme_command(meltano, argv), env)
        assert done.returncode == 0, (argv, done.stderr[-3000:])
        if "list" in argv:
            assert "max_requests_per_minute [env: TAP_SEI_TIME_IN_STATUS_MAX_REQUESTS" in (
                done.stdout
            )
    assert "max_run_seconds: '3000'" in (project / "meltano.yml").read_text()

    (test,) = readme_commands("connection-test")
    env.update(
        {
            "TAP_SEI_TIME_IN_STATUS_BASE_URL": sandbox.base_url,
            "TAP_SEI_TIME_IN_STATUS_API_KEY": API_KEY,
            "TAP_SEI_TIME_IN_STATUS_ORG_IDENTIFIER": "default",
            "TAP_SEI_TIME_IN_STATUS_PROJECT_IDENTIFIER": "sei_demo",
            "TAP_SEI_TIME_IN_STATUS_TEAM_IDS": '["team_abc123"]',
            "TAP_SEI_TIME_IN_STATUS_START_DATE": "2025-01-01",
        }
    )
    done = run_in(project, readme_command(meltano, test), env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Connection test 3/3: ok - team 'team_abc123' is known" in done.stderr
    env["TAP_SEI_TIME_IN_STATUS_TEAM_IDS"] = '["team_abc12"]'
    done = run_in(project, readme_command(meltano, test), env)
    assert done.returncode != 0
    assert "The SEI API refused team 'team_abc12'" in done.stderr
    assert API_KEY not in done.stdout + done.stderr
    assert not sandbox.exports_created()
