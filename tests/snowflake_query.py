"""Run with target-snowflake's own Python (it has the connector): count or drop a test schema.

Usage: python snowflake_query.py count|drop SCHEMA, with the TARGET_SNOWFLAKE_* variables set.
"""

from __future__ import annotations

import os
import re
import sys

import snowflake.connector  # type: ignore[import-not-found]


def main(action: str, schema: str) -> None:
    if not re.fullmatch(r"SEI_TEST_[0-9A-F]{8}", schema):
        raise SystemExit(f"refusing to touch schema {schema!r}: not a throwaway test schema")
    connection = snowflake.connector.connect(
        account=os.environ["TARGET_SNOWFLAKE_ACCOUNT"],
        user=os.environ["TARGET_SNOWFLAKE_USER"],
        password=os.environ.get("TARGET_SNOWFLAKE_PASSWORD"),
        private_key_file=os.environ.get("TARGET_SNOWFLAKE_PRIVATE_KEY_PATH"),
        role=os.environ.get("TARGET_SNOWFLAKE_ROLE"),
        warehouse=os.environ["TARGET_SNOWFLAKE_WAREHOUSE"],
        database=os.environ["TARGET_SNOWFLAKE_DATABASE"],
    )
    cursor = connection.cursor()
    if action == "count":
        print(cursor.execute(f"select count(*) from {schema}.TIME_IN_STATUS").fetchone()[0])  # noqa: S608
    else:
        cursor.execute(f"drop schema if exists {schema} cascade")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
