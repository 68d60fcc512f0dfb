"""Settings of the sandbox, as one frozen snapshot so a request sees a consistent set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, TypedDict

from .faults import Fault

StatusCase = Literal["upper", "lower"]

CREATE_STATUS_CODES = frozenset({200, 201, 202})

#: The teams (`scope.teamId`) the sandbox knows; any other is refused with a 400.
KNOWN_TEAMS: tuple[str, ...] = ("team_abc123", "team_def456", "team_pay1", "team_pay2")
#: The org trees (`scope.orgTreeName`) the sandbox knows; any other is refused with a 400.
KNOWN_ORG_TREES: tuple[str, ...] = ("Engineering", "Platform", "Payments")
#: The path prefix the API is served under; any other path answers 404.
DEFAULT_BASE_PATH = "/sei/api"


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that shapes the sandbox's answers; change it at runtime with `set_config`.

    Data settings (`org_tree_teams`, `extra_columns`, `empty_ranges`, the rates) are taken
    as of an export's creation, the rest as of each request. `fail_exports` and
    `stuck_exports` count exports created since they were last set.
    """

    #: Kept out of repr so that it never lands in a log.
    api_key: str = field(default="sandbox-key", repr=False)
    host: str = "127.0.0.1"
    port: int = 0
    #: The API is served under this path only (`/healthz` aside), as a Harness cluster's.
    base_path: str = DEFAULT_BASE_PATH
    #: Teams a create may name; others get a 400 naming the team.
    teams: Sequence[str] = KNOWN_TEAMS
    #: Org trees a create may name; others get a 400 naming the tree.
    org_trees: Sequence[str] = KNOWN_ORG_TREES
    #: Seconds from creation to COMPLETED; QUEUED for the first third, then PROCESSING.
    export_seconds: float = 0.2
    #: Teams of an `orgTreeName` scope.
    org_tree_teams: int = 3
    #: Columns the client did not ask for, placed before `total_lead_time_hours`.
    extra_columns: Sequence[str] = ("to_do_hours",)
    #: Inclusive date ranges: periods starting inside one have no rows.
    empty_ranges: Sequence[tuple[date, date]] = ()
    #: Share of status hour cells left empty.
    null_cell_rate: float = 0.05
    #: Share of (team, period) slots without any row.
    missing_row_rate: float = 0.10
    #: An identical create within this many seconds reuses the earlier export.
    duplicate_window_seconds: float = 1800.0
    #: `Retry-After` of a `429` fault (unless the fault says otherwise).
    retry_after_seconds: int = 1
    #: The next N created exports end FAILED.
    fail_exports: int = 0
    #: The next N created exports stay PROCESSING forever.
    stuck_exports: int = 0
    #: `lower` sends `completed` and friends.
    status_case: StatusCase = "upper"
    #: Status of a successful (non-duplicate) create: 201, or 200/202 as some gateways do.
    create_status_code: int = 201
    #: Exports report the undocumented status `ARCHIVED`.
    unknown_status: bool = False
    #: Host name of the `redirect` fault's blob URL; differs from 127.0.0.1 on purpose.
    blob_host: str = "localhost"
    #: The fault plan put in force when the server starts (or when set with `set_config`).
    faults: Sequence[Fault] = ()
    #: Log each request line to stderr.
    verbose: bool = False
    #: Bytes per write when streaming a download.
    chunk_size: int = 64 * 1024

    def __post_init__(self) -> None:
        # Tuples, so that a snapshot cannot change behind a running export's back.
        object.__setattr__(self, "extra_columns", tuple(self.extra_columns))
        object.__setattr__(self, "empty_ranges", tuple(self.empty_ranges))
        object.__setattr__(self, "faults", tuple(self.faults))
        object.__setattr__(self, "teams", tuple(self.teams))
        object.__setattr__(self, "org_trees", tuple(self.org_trees))
        problems = []
        if self.export_seconds < 0:
            problems.append("export_seconds must be >= 0")
        if self.org_tree_teams < 1:
            problems.append("org_tree_teams must be >= 1")
        if not 0.0 <= self.null_cell_rate <= 1.0 or not 0.0 <= self.missing_row_rate <= 1.0:
            problems.append("null_cell_rate and missing_row_rate must be within [0, 1]")
        if self.status_case not in ("upper", "lower"):
            problems.append("status_case must be 'upper' or 'lower'")
        if self.create_status_code not in CREATE_STATUS_CODES:
            problems.append(f"create_status_code must be one of {sorted(CREATE_STATUS_CODES)}")
        if min(self.fail_exports, self.stuck_exports, self.retry_after_seconds) < 0:
            problems.append("fail_exports, stuck_exports and retry_after_seconds must be >= 0")
        if self.chunk_size < 1:
            problems.append("chunk_size must be >= 1")
        if any(not c or "," in c for c in self.extra_columns):
            problems.append("extra_columns must be non-empty names without commas")
        if any(a > b for a, b in self.empty_ranges):
            problems.append("each empty_ranges entry must be (first, last) with first <= last")
        if not self.api_key:
            problems.append("api_key must not be empty")
        if not self.base_path.startswith("/") or self.base_path.endswith("/"):
            problems.append("base_path must start with '/' and not end with one")
        if problems:
            raise ValueError("; ".join(problems))


class ConfigChanges(TypedDict, total=False):
    """Keyword arguments of `set_config` (and the server's constructor): any config field."""

    api_key: str
    host: str
    port: int
    base_path: str
    teams: Sequence[str]
    org_trees: Sequence[str]
    export_seconds: float
    org_tree_teams: int
    extra_columns: Sequence[str]
    empty_ranges: Sequence[tuple[date, date]]
    null_cell_rate: float
    missing_row_rate: float
    duplicate_window_seconds: float
    retry_after_seconds: int
    fail_exports: int
    stuck_exports: int
    status_case: StatusCase
    create_status_code: int
    unknown_status: bool
    blob_host: str
    faults: Sequence[Fault]
    verbose: bool
    chunk_size: int
