"""The SCHEMA grows with the columns an export adds, so flattening keeps every one.

A column the schema does not name is kept in the record's `additional_columns` object. Unflattened,
that object is one JSON column and needs no more. Flattened, singer-sdk turns it into
`additional_columns__<column>` fields but derives the SCHEMA from the declared properties only, so
a target would never create those columns. Before the first record that carries a new one, the
stream therefore declares it under `additional_columns` and emits its SCHEMA again.
"""

from __future__ import annotations

import copy
import typing as t

ADDITIONAL = "additional_columns"


def additional_column_type(column: str) -> dict[str, t.Any]:
    """The JSON schema of an extra cell, as the parser types it: hours are numbers."""
    return (
        {"type": ["number", "null"]} if column.endswith("_hours") else {"type": ["string", "null"]}
    )


def with_additional_columns(
    schema: dict[str, t.Any], columns: t.Iterable[str]
) -> dict[str, t.Any] | None:
    """A copy of `schema` declaring `columns` under `additional_columns`; None if nothing is new."""
    declared = schema["properties"][ADDITIONAL].get("properties", {})
    new = [c for c in columns if c not in declared]
    if not new:
        return None
    grown = copy.deepcopy(schema)
    properties = grown["properties"][ADDITIONAL].setdefault("properties", {})
    for column in new:
        properties[column] = additional_column_type(column)
    return grown
