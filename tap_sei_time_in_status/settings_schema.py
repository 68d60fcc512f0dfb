"""The tap's settings as declared: the JSON schema singer-sdk, `--about` and Meltano show.

The checks that the schema cannot express (dates, bounds, combinations), each message naming
its setting, are in `settings`.
"""

from __future__ import annotations

import copy
import typing as t

from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import BATCH_CONFIG

GRANULARITIES = ("daily", "weekly", "monthly", "quarterly")
AGGREGATION_LEVELS = ("team", "sprint")
TERMINAL_DATE_COLUMNS = ("issue_resolved_at", "version_release_date")
DEFAULT_STATUSES = ("In Progress", "In Review", "QA", "Done")
DEFAULT_BASE_URL = "https://app.harness.io/prod1/sei/api"
DEFAULT_BATCH_SIZE_ROWS = 10_000
#: Far more columns than a time-in-status export has (one per status), few enough for logs
#: and targets.
DEFAULT_MAX_CSV_COLUMNS = 10_000


def config_jsonschema() -> dict[str, t.Any]:
    """The settings as singer-sdk and `--about` show them."""
    schema: dict[str, t.Any] = th.PropertiesList(
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            title="API key",
            description="Harness SEI API key, sent as `authorization: ApiKey <key>`.",
        ),
        th.Property(
            "base_url",
            th.StringType,
            default=DEFAULT_BASE_URL,
            title="Base URL",
            description=(
                "SEI API base URL of your Harness cluster, e.g. "
                "https://app.harness.io/prod1/sei/api (Prod 1), "
                "https://app.harness.io/gratis/sei/api (Prod 2), "
                "https://accounts.eu.harness.io/sei/api (EU). "
                "Plain http:// is accepted for loopback hosts only; no credentials "
                "(user:password@), query or fragment."
            ),
        ),
        th.Property(
            "org_identifier",
            th.StringType,
            required=True,
            title="Organization identifier",
            description="Harness organization identifier (`orgIdentifier`).",
        ),
        th.Property(
            "project_identifier",
            th.StringType,
            required=True,
            title="Project identifier",
            description="Harness project identifier (`projectIdentifier`).",
        ),
        th.Property(
            "team_ids",
            th.ArrayType(th.StringType),
            default=[],
            title="Team IDs",
            description="Teams to export (`scope.teamId`); each is one partition with its "
            "own bookmark. With `org_tree_names`, at least one entry in all.",
        ),
        th.Property(
            "org_tree_names",
            th.ArrayType(th.StringType),
            default=[],
            title="Org tree names",
            description="Organization trees to export (`scope.orgTreeName`); each is one "
            "partition with its own bookmark.",
        ),
        th.Property(
            "start_date",
            th.StringType,
            required=True,
            title="Start date",
            description="First day to export, YYYY-MM-DD. The first window starts at the "
            "start of the period that contains it.",
        ),
        th.Property(
            "end_date",
            th.StringType,
            title="End date",
            description="Last day to export, YYYY-MM-DD. Default: today (UTC).",
        ),
        th.Property(
            "issue_statuses",
            th.ArrayType(th.StringType),
            default=list(DEFAULT_STATUSES),
            title="Issue statuses",
            description="Workflow statuses to measure; each becomes a `<slug>_hours` field.",
        ),
        th.Property(
            "aggregation_level",
            th.StringType,
            default="team",
            allowed_values=list(AGGREGATION_LEVELS),
            title="Aggregation level",
            description="`team` or `sprint`.",
        ),
        th.Property(
            "granularity",
            th.StringType,
            default="weekly",
            allowed_values=list(GRANULARITIES),
            title="Granularity",
            description="Reporting period: `daily`, `weekly`, `monthly` or `quarterly`.",
        ),
        th.Property(
            "terminal_date_column",
            th.StringType,
            default="issue_resolved_at",
            allowed_values=list(TERMINAL_DATE_COLUMNS),
            title="Terminal date column",
            description="`issue_resolved_at` or `version_release_date`.",
        ),
        th.Property(
            "periods_per_window",
            th.IntegerType,
            title="Periods per window",
            description="Whole periods per export. Default: daily 31, weekly 13, "
            "monthly 3, quarterly 1.",
        ),
        th.Property(
            "lookback_days",
            th.IntegerType,
            default=7,
            title="Lookback days",
            description="A run starts again at the window containing (bookmark - lookback).",
        ),
        th.Property(
            "max_concurrent_exports",
            th.IntegerType,
            title="Max concurrent exports",
            description="Exports in flight at once, exactly (a hard cap). Default: automatic, "
            "as many as max_requests_per_minute can create, poll and download, up to "
            "concurrent_exports_ceiling.",
        ),
        th.Property(
            "concurrent_exports_ceiling",
            th.IntegerType,
            default=50,
            title="Concurrent exports ceiling",
            description="With max_concurrent_exports unset: the most exports in flight at "
            "once, however much of the request budget is left; it spares the service "
            "(each export is a job on the server).",
        ),
        th.Property(
            "poll_interval_seconds",
            th.NumberType,
            default=1,
            title="Poll interval (s)",
            description="Shortest wait between status polls. An export is polled every "
            "poll_interval_seconds, then every quarter of its age (up to the maximum), so one "
            "that completes after T seconds is seen done by 1.25 x T + poll_interval_seconds.",
        ),
        th.Property(
            "max_poll_interval_seconds",
            th.NumberType,
            default=60,
            title="Max poll interval (s)",
            description="Longest wait between status polls.",
        ),
        th.Property(
            "export_timeout_seconds",
            th.NumberType,
            default=1800,
            title="Export timeout (s)",
            description="How long one export may take before it is created again.",
        ),
        th.Property(
            "max_export_attempts",
            th.IntegerType,
            default=3,
            title="Max export attempts",
            description="Creations of one window's export before the sync fails.",
        ),
        th.Property(
            "request_timeout_seconds",
            th.NumberType,
            default=60,
            title="Request timeout (s)",
            description="Overall deadline of each API request, headers and body together; "
            "for a download, the period over which it must keep "
            "`min_download_bytes_per_second`.",
        ),
        # Bounds in time and space (issue 10).
        th.Property(
            "min_download_bytes_per_second",
            th.NumberType,
            default=1024,
            title="Min download rate (B/s)",
            description="A download that receives fewer bytes than this rate over "
            "`request_timeout_seconds` is cut and tried again; 0 turns the check off.",
        ),
        th.Property(
            "max_request_retry_seconds",
            th.NumberType,
            default=300,
            title="Max request retry time (s)",
            description="Time budget of one request's retries (429, 5xx, timeouts); no wait "
            "starts that would end past it.",
        ),
        th.Property(
            "window_timeout_seconds",
            th.NumberType,
            title="Window timeout (s)",
            description="Time budget of one window's export work, attempts and halvings "
            "together. Default: 2 x max_export_attempts x export_timeout_seconds.",
        ),
        th.Property(
            "max_download_bytes",
            th.IntegerType,
            default=4 << 30,
            title="Max download bytes",
            description="Largest export file the tap downloads (as sent, usually gzip).",
        ),
        th.Property(
            "max_decompressed_bytes",
            th.IntegerType,
            default=32 << 30,
            title="Max decompressed bytes",
            description="Largest CSV an export may decompress to.",
        ),
        th.Property(
            "max_decompression_ratio",
            th.NumberType,
            default=200,
            title="Max decompression ratio",
            description="Largest decompressed / downloaded size ratio (judged from 1 MiB "
            "on); catches gzip bombs early.",
        ),
        th.Property(
            "max_json_answer_bytes",
            th.IntegerType,
            default=1 << 20,
            title="Max JSON answer bytes",
            description="Largest create or status answer the tap reads (before parsing it).",
        ),
        # Operating limits (issue 11).
        th.Property(
            "max_run_seconds",
            th.NumberType,
            title="Max run time (s)",
            description="After this many seconds no new export is created: the windows in "
            "flight are finished and emitted, state is written and the sync exits 0; the "
            "next run goes on from there. Default: no limit.",
        ),
        th.Property(
            "max_requests_per_minute",
            th.NumberType,
            default=600,
            title="Max requests per minute",
            description="Requests this sync sends in any 60 seconds at most, bursts "
            "included. Harness allows 1,000 per API key: split it between jobs sharing a key.",
        ),
        th.Property(
            "failed_export_wait_seconds",
            th.NumberType,
            default=30,
            title="Wait after a FAILED export (s)",
            description="Pause before an export that ended FAILED is created again.",
        ),
        # Trust limits (issue 10).
        th.Property(
            "max_csv_line_bytes",
            th.IntegerType,
            default=1 << 20,
            title="Max CSV line (bytes)",
            description="Longest line (and longest cell) of an export's CSV the tap reads; "
            "a longer one stops the window before it is held in memory.",
        ),
        # Trust, round two (issue 18).
        th.Property(
            "max_csv_columns",
            th.IntegerType,
            default=DEFAULT_MAX_CSV_COLUMNS,
            title="Max CSV columns",
            description="Most columns an export's CSV header may have; a wider one stops "
            "the window before any row is read.",
        ),
        # BATCH output (issue 12).
        th.Property(
            "batch_size_rows",
            th.IntegerType,
            default=DEFAULT_BATCH_SIZE_ROWS,
            title="Batch size (rows)",
            description="With `batch_config`: most rows in one BATCH file. A loader holds a "
            "whole file in memory; a window of more rows is written as several files.",
        ),
    ).to_dict()
    schema["properties"]["batch_config"] = batch_config_property()
    return schema


def batch_config_property() -> dict[str, t.Any]:
    """singer-sdk's `batch_config`, with what this tap writes as its description.

    Declared here rather than left to singer-sdk, so that `--about`, Meltano and the README say
    what the tap does with it; the schema itself stays singer-sdk's.
    """
    builtin: dict[str, t.Any] = copy.deepcopy(BATCH_CONFIG["properties"]["batch_config"])
    return {
        **builtin,
        "description": (
            "BATCH messages (files of records) instead of RECORD lines, for target-postgres "
            "and target-snowflake (not target-duckdb or target-jsonl), e.g. "
            '`{"encoding": {"format": "jsonl", "compression": "gzip"}, "storage": {"root": '
            '"file:///var/lib/sei-batches", "prefix": "..."}}`: JSON Lines only; '
            "`compression` `gzip` or `none`; its `batch_size`, if given, counts when "
            "`batch_size_rows` is not set."
        ),
    }
