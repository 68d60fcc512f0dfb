"""What each column of an export's CSV header feeds, decided once per export.

The header the export actually has decides, within the declared schema. Only the period
label (`granularity`) and `team` are indispensable. A schema column the export lacks (a
configured status, `total_issues`, `total_lead_time_hours`) is null in every record, never
0: the export did not measure it. Without `team_hierarchy` the team name stands in for it,
so that keys stay complete and unique. Names are matched after trimming and case-folding;
columns the schema does not name are kept in `additional_columns`.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_sei_time_in_status.errors import SeiTapError
from tap_sei_time_in_status.log_limits import some
from tap_sei_time_in_status.settings_schema import DEFAULT_MAX_CSV_COLUMNS

PERIOD_COLUMN = "granularity"  # the CSV names the period label after the option
TEAM_COLUMN = "team"
HIERARCHY_COLUMN = "team_hierarchy"
REQUIRED_COLUMNS = (PERIOD_COLUMN, TEAM_COLUMN)
#: Names the sprint column may have, in order of preference.
SPRINT_COLUMNS = ("sprint", "sprint_name")
TOTAL_ISSUES_COLUMN = "total_issues"
LEAD_TIME_COLUMN = "total_lead_time_hours"
#: CSV column -> record field of the text columns.
TEXT_FIELDS = {PERIOD_COLUMN: "period", TEAM_COLUMN: "team", HIERARCHY_COLUMN: "team_hierarchy"}

#: Columns of a header the tap reads by default (`max_csv_columns`).
DEFAULT_MAX_COLUMNS = DEFAULT_MAX_CSV_COLUMNS

#: A cell's index in a row and the field it feeds.
Slot = tuple[int, str]


class CsvFormatError(SeiTapError):
    """The export's CSV does not have the shape or the values the tap expects."""


def column_key(name: str) -> str:
    """How a header name is matched: `' In_Progress_Hours'` is `in_progress_hours`."""
    return name.strip().casefold()


@dataclass(frozen=True)
class HeaderLayout:
    """Where each cell of a row goes, by kind, so that a row is only converted and placed."""

    #: The header's names, trimmed and case-folded.
    header: list[str]
    text: list[Slot]
    ints: list[Slot]
    floats: list[Slot]
    extra_text: list[Slot]
    extra_floats: list[Slot]
    #: Columns the schema does not name, kept in `additional_columns`, in header order.
    additional_columns: list[str]
    #: Schema columns the export lacks, in schema order (`team_hierarchy` included).
    missing: list[str]
    #: Fields null in every record because their column is missing.
    null_fields: list[str]
    #: The key's record fields, and the cells they come from.
    key_fields: list[str]
    key_indexes: list[int]


def header_layout(
    raw_header: t.Sequence[str],
    *,
    status_columns: t.Sequence[str],
    sprint: bool,
    export_id: str,
    max_columns: int = DEFAULT_MAX_COLUMNS,
) -> HeaderLayout:
    """The layout of one export's header; `CsvFormatError` when it cannot feed the schema.

    Linear in the header's width: names are looked up in one index, never searched.
    """
    if len(raw_header) > max_columns:
        msg = (
            f"export {export_id}: the CSV header has {len(raw_header):,} columns, more than "
            f"max_csv_columns ({max_columns:,}); raise max_csv_columns if such exports are "
            f"expected (its header: {some(name.strip() for name in raw_header)})"
        )
        raise CsvFormatError(msg)
    header = [column_key(name) for name in raw_header]
    index: dict[str, int] = {}
    repeated: set[str] = set()
    for position, name in enumerate(header):
        if index.setdefault(name, position) != position:
            repeated.add(name)
    missing_required = [name for name in REQUIRED_COLUMNS if name not in index]
    if missing_required:
        msg = (
            f"export {export_id}: the CSV has no column {', '.join(map(repr, missing_required))} "
            f"(its header: {some(name.strip() for name in raw_header)})"
        )
        raise CsvFormatError(msg)
    if repeated:
        msg = f"export {export_id}: the CSV header repeats {some(sorted(repeated))}"
        raise CsvFormatError(msg)
    sprint_column = None
    if sprint:
        sprint_column = next((name for name in SPRINT_COLUMNS if name in index), None)
        if sprint_column is None:
            msg = (
                f"export {export_id}: the CSV has no sprint column ('sprint' or 'sprint_name', "
                f"any case), which aggregation_level sprint needs (its header: "
                f"{some(name.strip() for name in raw_header)})"
            )
            raise CsvFormatError(msg)
    schema_columns = [
        PERIOD_COLUMN,
        TEAM_COLUMN,
        HIERARCHY_COLUMN,
        TOTAL_ISSUES_COLUMN,
        *status_columns,
        LEAD_TIME_COLUMN,
    ]
    missing = [name for name in schema_columns if name not in index]
    slots = _slots(header, {*status_columns, LEAD_TIME_COLUMN}, sprint_column)
    # The team name stands in for a missing hierarchy, in the record and in the key.
    hierarchy = HIERARCHY_COLUMN
    if HIERARCHY_COLUMN not in index:
        hierarchy = TEAM_COLUMN
        slots["text"].append((index[TEAM_COLUMN], "team_hierarchy"))
    key_columns = [PERIOD_COLUMN, hierarchy, *([sprint_column] if sprint_column else [])]
    return HeaderLayout(
        header=header,
        text=slots["text"],
        ints=slots["ints"],
        floats=slots["floats"],
        extra_text=slots["extra_text"],
        extra_floats=slots["extra_floats"],
        additional_columns=[name for _, name in slots["additional"]],
        missing=missing,
        null_fields=[name for name in missing if name != HIERARCHY_COLUMN],
        key_fields=["period", "team_hierarchy", *(["sprint"] if sprint_column else [])],
        key_indexes=[index[name] for name in key_columns],
    )


def _slots(
    header: list[str], numbers: set[str], sprint_column: str | None
) -> dict[str, list[Slot]]:
    """Each cell's kind and field, in header order (`additional`: the extra columns)."""
    slots: dict[str, list[Slot]] = {
        kind: [] for kind in ("text", "ints", "floats", "extra_text", "extra_floats", "additional")
    }
    for position, name in enumerate(header):
        if name in TEXT_FIELDS:
            slots["text"].append((position, TEXT_FIELDS[name]))
        elif name == sprint_column:
            slots["text"].append((position, "sprint"))
        elif name == TOTAL_ISSUES_COLUMN:
            slots["ints"].append((position, name))
        elif name in numbers:
            slots["floats"].append((position, name))
        else:
            kind = "extra_floats" if name.endswith("_hours") else "extra_text"
            slots[kind].append((position, name))
            slots["additional"].append((position, name))
    return slots


def missing_columns_effect(missing: t.Sequence[str]) -> str:
    """What the tap does about the missing schema columns, for the sync's warning."""
    effects = []
    nulls = [name for name in missing if name != HIERARCHY_COLUMN]
    if nulls:
        # Named only when the warning also speaks of the hierarchy; else it just did.
        named = f"{', '.join(nulls)} " if HIERARCHY_COLUMN in missing else ""
        effect = f"{named}null in its records (not measured, so never 0)"
        if any(name not in (TOTAL_ISSUES_COLUMN, LEAD_TIME_COLUMN) for name in nulls):
            effect += ", and no time_in_status_by_status record for those statuses"
        effects.append(effect)
    if HIERARCHY_COLUMN in missing:
        effects.append("the team name stands in for team_hierarchy, in the keys too")
    return "; ".join(effects)
