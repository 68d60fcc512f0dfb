"""The `time_in_status` record schema and keys, which follow the configured statuses.

Descriptions say what `--discover` readers need to know about the CSV's dialects: what is
null when the export lacks a column, and where columns of unconfigured statuses land.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_sei_time_in_status.settings import CatalogSettings

STREAM_NAME = "time_in_status"
LONG_STREAM_NAME = "time_in_status_by_status"
REPLICATION_KEY = "window_end"
HIERARCHY_DESCRIPTION = (
    "Team hierarchy, e.g. Engineering/Platform; the team name when the export has no "
    "team_hierarchy column (a key: see the README, 'What the tap expects of the CSV')"
)
ADDITIONAL_COLUMNS_DESCRIPTION = (
    "CSV columns the schema does not name, kept rather than dropped, by their lower-case "
    "name: e.g. the *_hours column of a status not in issue_statuses (to_do_hours), which "
    "also becomes the status 'to_do' in time_in_status_by_status"
)


def primary_keys(settings: CatalogSettings) -> list[str]:
    """Keys that make a re-exported window upsert instead of duplicating."""
    keys = [
        "scope_id",
        "granularity",
        "aggregation_level",
        "terminal_date_column",
        "period",
        "team_hierarchy",
    ]
    if settings.aggregation_level == "sprint":
        keys.append("sprint")
    return keys


def record_schema(settings: CatalogSettings) -> dict[str, t.Any]:
    """JSON schema of a record: CSV fields, one `<slug>_hours` per status, tap fields."""
    properties: list[th.Property[t.Any]] = [
        th.Property("period", th.StringType, required=True, description="Period label"),
        *_period_dates(),
        th.Property("team", th.StringType, description="Team name"),
        th.Property(
            "team_hierarchy", th.StringType, required=True, description=HIERARCHY_DESCRIPTION
        ),
    ]
    if settings.aggregation_level == "sprint":
        properties.append(_sprint())
    properties.append(_total_issues())
    properties.extend(
        th.Property(
            column,
            th.NumberType,
            description=f"Hours in status {status!r}; null when the export has no {column} "
            "column (not measured)",
        )
        for status, column in settings.status_columns.items()
    )
    properties += [
        th.Property(
            "total_lead_time_hours",
            th.NumberType,
            description="Lead time hours; null when the export has no such column",
        ),
        th.Property(
            "additional_columns",
            th.ObjectType(additional_properties=True),
            description=ADDITIONAL_COLUMNS_DESCRIPTION,
        ),
        *_export_fields(),
    ]
    return th.PropertiesList(*properties).to_dict()


def _export_fields() -> list[th.Property[t.Any]]:
    """Fields the tap adds: which scope, window, options and export a row came from."""
    return [
        th.Property(
            "scope_type", th.StringType, required=True, allowed_values=["team", "org_tree"]
        ),
        th.Property("scope_id", th.StringType, required=True),
        th.Property("window_start", th.DateType, required=True),
        th.Property(REPLICATION_KEY, th.DateType, required=True),
        th.Property("granularity", th.StringType, required=True),
        th.Property("aggregation_level", th.StringType, required=True),
        th.Property("terminal_date_column", th.StringType, required=True),
        th.Property("export_id", th.StringType, required=True),
    ]


def _sprint() -> th.Property[t.Any]:
    return th.Property(
        "sprint",
        th.StringType,
        required=True,
        description="Sprint name, from the CSV column sprint or sprint_name (any case)",
    )


def _total_issues() -> th.Property[t.Any]:
    return th.Property(
        "total_issues",
        th.IntegerType,
        description="Issues counted; null when the export has no total_issues column",
    )


def _period_dates() -> list[th.Property[t.Any]]:
    return [
        th.Property("period_start", th.DateType, description="First day of the period"),
        th.Property("period_end", th.DateType, description="Last day of the period"),
    ]


def long_primary_keys(settings: CatalogSettings) -> list[str]:
    """The wide stream's keys plus the status."""
    return [*primary_keys(settings), "status"]


def long_record_schema(settings: CatalogSettings) -> dict[str, t.Any]:
    """One record per period x team (x sprint) x status."""
    properties: list[th.Property[t.Any]] = [
        th.Property("period", th.StringType, required=True, description="Period label"),
        *_period_dates(),
        th.Property("team", th.StringType),
        th.Property(
            "team_hierarchy", th.StringType, required=True, description=HIERARCHY_DESCRIPTION
        ),
    ]
    if settings.aggregation_level == "sprint":
        properties.append(_sprint())
    properties += [
        th.Property(
            "status",
            th.StringType,
            required=True,
            description="The configured status name, or the column name without _hours for "
            "a status column the export added (to_do_hours: to_do); a configured status "
            "whose column the export lacks has no record",
        ),
        th.Property("hours", th.NumberType, description="Hours in the status"),
        _total_issues(),
        *_export_fields(),
    ]
    return th.PropertiesList(*properties).to_dict()
