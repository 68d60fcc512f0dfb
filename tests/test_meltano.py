"""Meltano end to end: `meltano run` the tap into a real PostgreSQL 15 and into DuckDB.

Meltano comes from `make setup` (its own virtualenv, plugins from `meltano install`). Each test
gets its own Meltano system database (so its own state) and its own schema or file.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import typing as t
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pytest

from tap_sei_time_in_status.sandbox import SandboxConfig, SandboxServer
from tests.conftest import API_KEY, csv_view, served_rows, tap_config
from tests.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CSV = ROOT / "tests" / "fixtures" / "api_page_example.csv"
MELTANO = os.environ.get("MELTANO_BIN") or str(ROOT / ".venv-meltano" / "bin" / "meltano")
STATUS_COLUMNS = ["in_progress_hours", "in_review_hours", "qa_hours", "done_hours"]
KEYS = ["scope_id", "granularity", "aggregation_level", "terminal_date_column", "period"]
KEYS += ["team_hierarchy"]
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
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


class Meltano:
    """`meltano run` with one state database and the tap pointed at one sandbox."""

    def __init__(self, binary: str, sandbox: SandboxServer, workdir: Path) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_SEI_TIME_IN_STATUS_BASE_URL": sandbox.base_url,
            "TAP_SEI_TIME_IN_STATUS_API_KEY": API_KEY,
        }
        for name, value in TAP_SETTINGS.items():
            env_value = json.dumps(value) if isinstance(value, list) else str(value)
            self.env[f"TAP_SEI_TIME_IN_STATUS_{name.upper()}"] = env_value

    def command(self, loader: str, *options: str) -> list[str]:
        return [self.binary, "--environment=dev", "run", *options, "tap-sei-time-in-status", loader]

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
                if "1/3 windows of this partition" in line:
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
    meltano: str, postgres: PostgresServer, sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = Meltano(meltano, sandbox, tmp_path)
    schema = pg_env(run, postgres)
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

    sandbox.reset_log()
    run.run("target-postgres")
    ranges = {
        (r.body["dateRange"]["start"], r.body["dateRange"]["end"])
        for r in sandbox.requests_of("create")
    }
    # Bookmark 2025-06-30 - 7 days lies in the window 2025-03-31..2025-06-29: that window and
    # the one after it are exported again, not the first.
    assert ranges == {("2025-03-31", "2025-06-29"), ("2025-06-30", "2025-06-30")}
    assert len(pg_rows(postgres, schema)) == len(rows)


def test_postgres_after_sigkill_and_rerun_equals_a_clean_run(
    meltano: str, postgres: PostgresServer, sandbox: SandboxServer, tmp_path: Path
) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "killed").mkdir()
    clean = Meltano(meltano, sandbox, tmp_path / "clean")
    clean_schema = pg_env(clean, postgres)
    clean.run("target-postgres")

    killed = Meltano(meltano, sandbox, tmp_path / "killed")
    killed_schema = pg_env(killed, postgres)
    killed.run_and_kill_after_first_window("target-postgres")
    # The killed run's job is still marked running in Meltano's database: `--force` (as an
    # operator would after a crash) rather than waiting for it to go stale.
    killed.run("target-postgres", "--force")

    def table(schema: str) -> list[tuple[t.Any, ...]]:
        return sorted(view(r) for r in pg_rows(postgres, schema))

    assert table(killed_schema) == table(clean_schema)
    assert len(table(clean_schema)) == len(expected(sandbox))


def test_duckdb_holds_every_row_once_then_upserts_incrementally(
    meltano: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = Meltano(meltano, sandbox, tmp_path)
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
    meltano: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    """The API page's example CSV, served byte for byte, lands in PostgreSQL as it says."""
    config = SandboxConfig(api_key=API_KEY, export_seconds=0.15, csv_file=EXAMPLE_CSV)
    with SandboxServer(config) as sandbox:
        run = Meltano(meltano, sandbox, tmp_path)
        schema = pg_env(run, postgres)
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
    meltano: str, postgres: PostgresServer, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Exports without `team_hierarchy`, then with it: the README's script keeps one row each."""
    sandbox.set_config(omit_columns=["team_hierarchy"])
    run = Meltano(meltano, sandbox, tmp_path)
    schema = pg_env(run, postgres)
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


def test_snowflake_loader_installs_and_answers_about(meltano: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [meltano, "invoke", "target-snowflake", "--about", "--format=json"],
        cwd=ROOT,
        env={**os.environ, "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}"},
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
def test_snowflake_end_to_end(meltano: str, sandbox: SandboxServer, tmp_path: Path) -> None:
    run = Meltano(meltano, sandbox, tmp_path)
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
