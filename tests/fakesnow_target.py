"""target-snowflake's own code and SQL on fakesnow (Snowflake's SQL run by DuckDB): no account.

Run with the loader's Python (Meltano's venv of target-snowflake, where `make setup` installs
fakesnow); DIRECTORY holds the DuckDB files and a folder standing for the user stage @~:

    python fakesnow_target.py DIRECTORY --config target.json --load run1.jsonl --load run2.jsonl \
        --database SEI_DB --sql "select ..." --results results.json

Each --load is one run of target-snowflake's own CLI (`--input FILE`) on a new fakesnow
connection, as a separate process would have; then each --sql is read back into RESULTS (JSON,
one list of rows per statement). One process for all: the loader's imports take seconds.

fakesnow runs the loader's CREATE TABLE, CREATE FILE FORMAT, MERGE and QUALIFY itself. The cursor
below rewrites only the staging statements it lacks, one comment per rewrite.
"""

# The SQL built here is the loader's own, with local paths in it.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import typing as t
from collections.abc import Iterator
from pathlib import Path
from unittest import mock
from urllib.parse import urlparse

import fakesnow  # type: ignore[import-not-found]
import snowflake.connector  # type: ignore[import-not-found]
from fakesnow.cursor import FakeSnowflakeCursor  # type: ignore[import-not-found]
from target_snowflake.target import TargetSnowflake  # type: ignore[import-not-found]

PATH = r"'@~/([\w/.-]+)'"  # a folder of the user stage: target-snowflake/<stream>-<uuid>


class StagingCursor(FakeSnowflakeCursor):  # type: ignore[misc]
    user_stage: Path  # a local folder standing for the user stage @~

    def execute(self, command: str, params: t.Any = None, *args: t.Any, **kwargs: t.Any) -> t.Any:
        # PUT file://... '@~/path': fakesnow has no user stage (@~), only named and table stages.
        if put := re.fullmatch(rf"put %\(file_uri\)s {PATH}", command):
            folder = self.user_stage / put[1]
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(urlparse(params["file_uri"]).path, folder)
            return super().execute("select 'UPLOADED' as status")
        # REMOVE '@~/path/': fakesnow has no REMOVE.
        if remove := re.fullmatch(rf"remove {PATH}", command):
            shutil.rmtree(self.user_stage / remove[1], ignore_errors=True)
            return super().execute("select 'REMOVED' as status")
        # DROP FILE FORMAT: fakesnow has CREATE FILE FORMAT but no DROP FILE FORMAT.
        if command.startswith("drop file format "):
            return super().execute("select 'DROPPED' as status")
        if command.startswith("merge into ") and "'@~/" in command:
            # A current schema: fakesnow's MERGE fails without one (it files the rows it merges
            # under it), Snowflake's needs none. Only a first run's CREATE SCHEMA sets one.
            target = re.match(r'merge into ("[^"]+"\."[^"]+")\.', command)
            assert target, command
            super().execute(f"use schema {target[1]}")
            command = self._merge_source(command)
        return super().execute(command, params, *args, **kwargs)

    def _merge_source(self, command: str) -> str:
        source = re.search(
            rf"using \(select (.+) from {PATH}\(file_format => [^)]+\) (QUALIFY .+?)\) s on ",
            command,
        )
        assert source, command
        columns, path, qualify = source.groups()
        # Selecting from staged files (FROM '@~/path', $1 a file's row) outside COPY INTO:
        # fakesnow lacks it. DuckDB's JSON reader reads them, each line's object as "$1".
        files = f"{(self.user_stage / path).as_posix()}/*"
        staged = f"""select json as "$1", ordinality as _seq
            from read_json_objects('{files}') with ordinality"""
        columns = columns.replace("$1:", '"$1":')
        # SEQ8(): fakesnow lacks it. The reader's row number orders the rows the same way.
        qualify = qualify.replace("SEQ8()", "_seq")
        # QUALIFY ... PARTITION BY on the select's own aliases: fakesnow (DuckDB) binds those
        # names to the MERGE target's columns instead, so QUALIFY filters an outer select.
        rows = f"select {columns}, _seq from ({staged})"
        using = f"using (select * from ({rows}) {qualify}) s on "
        return command[: source.start()] + using + command[source.end() :]


@contextlib.contextmanager
def fake_snowflake(directory: Path) -> Iterator[None]:
    """Every `snowflake.connector.connect` on fakesnow, with the databases in `directory`."""
    StagingCursor.user_stage = directory / "user_stage"
    with (
        fakesnow.patch(db_path=directory),
        mock.patch("fakesnow.conn.FakeSnowflakeCursor", StagingCursor),
        # One sink drained at a time: two MERGEs at once (two streams) collide in fakesnow's
        # own metadata (a write-write conflict in DuckDB); Snowflake runs them side by side.
        mock.patch("singer_sdk.target_base._MAX_PARALLELISM", 1),
    ):
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--config", required=True)
    parser.add_argument("--load", action="append", default=[], help="Singer messages of a run")
    parser.add_argument("--database", required=True)
    parser.add_argument("--sql", action="append", default=[])
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    directory = args.directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    for messages in args.load:
        with fake_snowflake(directory):
            TargetSnowflake.cli.main(
                ["--config", args.config, "--input", messages],
                prog_name="target-snowflake",
                standalone_mode=False,
            )
    with fake_snowflake(directory):
        connection = snowflake.connector.connect(database=args.database)
        cursor = connection.cursor(snowflake.connector.DictCursor)
        rows = [cursor.execute(sql).fetchall() for sql in args.sql]
    args.results.write_text(json.dumps(rows, default=str))


if __name__ == "__main__":
    main()
