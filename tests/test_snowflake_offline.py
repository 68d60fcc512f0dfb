"""target-snowflake without an account: its own code and SQL on fakesnow, read back.

fakesnow runs Snowflake's SQL on DuckDB; `make setup` installs it beside target-snowflake in
Meltano's venv of the loader (Python >= 3.11: fakesnow needs it), and tests/fakesnow_target.py
stands in for the user stage it lacks. The tap's real output from the sandbox is loaded twice,
the second run overlapping the first: RECORD lines (the shipped extractor), then BATCH files
(the shipped `tap-sei-time-in-status--batch`, as after switching to it with the state copied).
Both go through the loader's stage and MERGE. What this proves and what only a real account
does: README, Snowflake.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import typing as t
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tap_sei_time_in_status.sandbox import SandboxServer
from tests.conftest import tap_config
from tests.tap_runner import BOTH_STREAMS, TapRun, run_tap, selecting

# A loader run: slow (make test-quick leaves it out).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LOADER_VENV = ROOT / ".meltano" / "loaders" / "target-snowflake" / "venv"
ADAPTER = ROOT / "tests" / "fakesnow_target.py"
#: The tap's JSON-schema types as target-snowflake maps them (DATE for `format: date`).
SQL_TYPES = {"string": "TEXT", "integer": "NUMBER", "number": "FLOAT", "object": "VARIANT"}
#: The loader's metadata columns, kept in meltano.yml (`add_record_metadata: true`).
SDC_COLUMNS = {
    "_sdc_extracted_at": "TIMESTAMP_NTZ",
    "_sdc_received_at": "TIMESTAMP_NTZ",
    "_sdc_batched_at": "TIMESTAMP_NTZ",
    "_sdc_deleted_at": "TIMESTAMP_NTZ",
    "_sdc_sequence": "NUMBER",
    "_sdc_table_version": "NUMBER",
    "_sdc_sync_started_at": "NUMBER",
}
#: Two runs, the second exporting the first's last window again (lookback_days 7).
END_DATES = ["2025-03-12", "2025-04-16"]

Record = dict[str, t.Any]


def loader_python(venv: Path = LOADER_VENV, *, ci: bool) -> Path:
    """target-snowflake's Python with fakesnow; a skip that says why, or a failure on CI.

    Python 3.10 always skips: fakesnow needs 3.11, so `make setup` installs it only from 3.11.
    """
    sites = sorted(venv.glob("lib/python3.*/site-packages"))
    if sites and sites[0].parent.name == "python3.10":
        pytest.skip("fakesnow needs Python >= 3.11; the loader's venv has 3.10")
    if not (sites and (sites[0] / "fakesnow").is_dir()):
        problem = f"no fakesnow beside target-snowflake in {venv}: run `make setup`."
        if ci:
            pytest.fail(f"{problem} CI=true: failing instead of skipping.")
        pytest.skip(problem)
    return venv / "bin" / "python"


def shipped(plugin_type: str, name: str) -> dict[str, t.Any]:
    """The `config` of one plugin of meltano.yml."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    (plugin,) = [p for p in project["plugins"][plugin_type] if p["name"] == name]
    return t.cast("dict[str, t.Any]", plugin["config"])


def records_of(run: TapRun, stream: str) -> list[Record]:
    """A run's records of `stream`: RECORD messages, or the lines of its BATCH files."""
    records = run.records(stream)
    for message in run.messages:
        if message["type"] == "BATCH" and message["stream"] == stream:
            for url in message["manifest"]:
                with gzip.open(urlparse(url).path, "rt", encoding="utf-8") as lines:
                    records.extend(json.loads(line) for line in lines)
    return records


def test_target_snowflake_on_fakesnow_types_keys_and_upserts_two_overlapping_runs(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    python = loader_python(ci=os.environ.get("CI") == "true")
    # The shipped BATCH extractor's settings, its $MELTANO_PROJECT_ROOT being tmp_path.
    batch = json.loads(
        json.dumps(shipped("extractors", "tap-sei-time-in-status--batch")).replace(
            "file://$MELTANO_PROJECT_ROOT", tmp_path.as_uri()
        )
    )
    configs = [tap_config(sandbox, end_date=end) for end in END_DATES]
    configs[1].update(batch)
    discovered = run_tap(tmp_path, configs[0], extra_args=["--discover"])
    catalog = selecting(json.loads(discovered.stdout), *BOTH_STREAMS)
    runs: list[TapRun] = []
    emitted: list[dict[str, list[Record]]] = []  # per run and stream (the loader removes files)
    for number, config in enumerate(configs):
        workdir = tmp_path / f"run{number}"
        workdir.mkdir()
        state = runs[-1].last_state if runs else None
        run = run_tap(workdir, config, state, catalog=catalog)
        assert run.returncode == 0, run.stderr[-3000:]
        (workdir / "messages.jsonl").write_text(run.stdout, encoding="utf-8")
        runs.append(run)
        emitted.append({stream: records_of(run, stream) for stream in BOTH_STREAMS})
    assert runs[1].records() == []
    assert any(m["type"] == "BATCH" for m in runs[1].messages)

    target = tmp_path / "target.json"
    config = {
        **shipped("loaders", "target-snowflake"),
        **{"account": "fakesnow", "user": "test", "password": "test", "database": "SEI_DB"},
    }
    target.write_text(json.dumps(config), encoding="utf-8")
    schema = config["default_target_schema"]
    # The shipped schema's and the streams' names, no input: ruff's S608 does not apply.
    statements = [
        f"select * from information_schema.columns where table_schema = '{schema}'",  # noqa: S608
        *(f"select * from {schema}.{stream.upper()}" for stream in BOTH_STREAMS),  # noqa: S608
    ]
    results = tmp_path / "results.json"
    done = subprocess.run(
        [str(python), str(ADAPTER), str(tmp_path / "snowflake"), "--config", str(target)]
        + [f"--load={tmp_path / f'run{n}' / 'messages.jsonl'}" for n in range(len(runs))]
        + ["--database=SEI_DB", f"--results={results}"]
        + [f"--sql={sql}" for sql in statements],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        # The loader's and fakesnow's temporary files stay in the test's folder.
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    columns, *table_rows = json.loads(results.read_text(encoding="utf-8"))

    for stream, rows in zip(BOTH_STREAMS, table_rows, strict=True):
        message = runs[0].schema(stream)
        keys, properties = message["key_properties"], message["schema"]["properties"]

        def key(record: Record, keys: list[str] = keys) -> tuple[t.Any, ...]:
            return tuple(record[k] for k in keys)

        # What upserts leave: the last record of each key, run after run.
        expected: dict[tuple[t.Any, ...], tuple[int, Record]] = {}
        for number, by_stream in enumerate(emitted):
            records = by_stream[stream]
            assert records, (stream, number)
            if number:
                assert {key(r) for r in records} & expected.keys(), "runs must overlap"
            expected.update({key(r): (number, r) for r in records})

        # Column types: the tap's schema as target-snowflake maps it, and the seven _sdc_*.
        types = {
            c["COLUMN_NAME"].lower(): c["DATA_TYPE"]
            for c in columns
            if c["TABLE_NAME"] == stream.upper()
        }
        want = {
            name: "DATE"
            if prop.get("format") == "date"
            else SQL_TYPES[next(k for k in prop["type"] if k != "null")]
            for name, prop in properties.items()
        }
        assert types == {**want, **SDC_COLUMNS}, stream
        # Keys: NOT NULL (the keys only: a required non-key field stays nullable), one row each.
        not_null = {
            c["COLUMN_NAME"].lower()
            for c in columns
            if c["TABLE_NAME"] == stream.upper() and c["IS_NULLABLE"] == "NO"
        }
        assert not_null == set(keys), stream
        loaded = {tuple(row[k.upper()] for k in keys): row for row in rows}
        assert len(loaded) == len(rows) == len(expected), stream
        # Values: every field of each key's last record, as read back.
        for record_key, (number, record) in expected.items():
            row = loaded[record_key]
            for name in properties:
                got = row[name.upper()]
                if types[name] == "VARIANT" and got is not None:
                    got = json.loads(got)
                assert got == record.get(name), (stream, record_key, name)
            # The loader fills _sdc_* from RECORD lines only: BATCH rows leave them null.
            assert (row["_SDC_BATCHED_AT"] is None) == (number == 1), (stream, record_key)


def test_without_fakesnow_it_skips_outside_ci_and_fails_on_ci_but_on_python_3_10(
    tmp_path: Path,
) -> None:
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    with pytest.raises(pytest.skip.Exception, match="run `make setup`"):
        loader_python(tmp_path, ci=False)
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        loader_python(tmp_path, ci=True)
    (site / "fakesnow").mkdir()
    assert loader_python(tmp_path, ci=True) == tmp_path / "bin" / "python"
    site.parent.rename(tmp_path / "lib" / "python3.10")
    with pytest.raises(pytest.skip.Exception, match="fakesnow needs Python"):
        loader_python(tmp_path, ci=True)
