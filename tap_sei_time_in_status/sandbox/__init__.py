"""A local, deterministic sandbox of the SEI Issue Time-in-Status Export API, with faults.

The tap's tests run against it over real HTTP on 127.0.0.1; `sei-sandbox` serves it from a
shell. `expected_rows` says what any export's download holds, to compare the tap's output.
"""

from .api import EndpointKind, RequestRecord, SandboxApi
from .config import KNOWN_ORG_TREES, KNOWN_TEAMS, SandboxConfig
from .contract import (
    ExportRequest,
    InvalidRequestError,
    canonical_json,
    parse_export_request,
    slugify,
    status_column,
)
from .data import (
    ORG_TREE_TEAM_NAMES,
    Period,
    Team,
    csv_header,
    expected_rows,
    iter_rows,
    period_label,
    periods,
    team_display_name,
    teams_for,
)
from .exports import ExportRecord
from .faults import ALWAYS, Fault, FaultEndpoint, FaultKind, FaultPlan
from .files import ExportFile
from .server import SandboxServer

__all__ = [
    "ALWAYS",
    "KNOWN_ORG_TREES",
    "KNOWN_TEAMS",
    "ORG_TREE_TEAM_NAMES",
    "EndpointKind",
    "ExportFile",
    "ExportRecord",
    "ExportRequest",
    "Fault",
    "FaultEndpoint",
    "FaultKind",
    "FaultPlan",
    "InvalidRequestError",
    "Period",
    "RequestRecord",
    "SandboxApi",
    "SandboxConfig",
    "SandboxServer",
    "Team",
    "canonical_json",
    "csv_header",
    "expected_rows",
    "iter_rows",
    "parse_export_request",
    "period_label",
    "periods",
    "slugify",
    "status_column",
    "team_display_name",
    "teams_for",
]
