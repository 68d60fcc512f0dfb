"""The `time_in_status` record schema and keys, which follow the configured statuses."""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_sei_time_in_status.settings import CatalogSettings

STREAM_NAME = "time_in_status"
LONG_STREAM_NAME = "time_in_status_by_status"
REPLICATION_KEY = "window_end"


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
        th.Property("team_hierarchy", th.StringType, required=True),
    ]
    if settings.aggregation_level == "sprint":
        properties.append(th.Property("sprint", th.StringType, required=True))
    properties.append(th.Property("total_issues", th.IntegerType))
    properties.extend(
        th.Property(column, th.NumberType, description=f"Hours in status {status!r}")
        for status, column in settings.status_columns.items()
    )
    properties += [
        th.Property("total_lead_time_hours", th.NumberType),
        th.Property(
            "additional_columns",
            th.ObjectType(additional_properties=True),
            description="CSV columns the schema does not name, kept rather than dropped",
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
        th.Property("team_hierarchy", th.StringType, required=True),
    ]
    if settings.aggregation_level == "sprint":
        properties.append(th.Property("sprint", th.StringType, required=True))
    properties += [
        th.Property(
            "status",
            th.StringType,
            required=True,
            description="The configured status name, or the column name without _hours for "
            "a status column the export added",
        ),
        th.Property("hours", th.NumberType, description="Hours in the status"),
        th.Property("total_issues", th.IntegerType),
        *_export_fields(),
    ]
    return th.PropertiesList(*properties).to_dict()
