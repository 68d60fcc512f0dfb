"""Settings of the sandbox, as one frozen snapshot so a request sees a consistent set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal, TypedDict

from .faults import Fault

StatusCase = Literal["upper", "lower"]
HeaderCase = Literal["lower", "upper", "title"]
HEADER_CASES = ("lower", "upper", "title")

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
    #: (orgIdentifier, projectIdentifier) pairs the key may use; others get a 403 naming them,
    #: as an account's access control would. None: any pair.
    projects: Sequence[tuple[str, str]] | None = None
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
    # -- CSV dialects: what the API family may send besides the sandbox's own shape. --
    #: The CSV's status columns are these statuses' instead of the requested ones (the API
    #: page's example answers a request for four statuses with `in_progress_hours` and
    #: `to_do_hours`); None: one column per requested status.
    served_statuses: Sequence[str] | None = None
    #: Columns left out of the CSV, by their lower-case name (`team_hierarchy`,
    #: `total_issues`, `total_lead_time_hours`, a status column, ...).
    omit_columns: Sequence[str] = ()
    #: Name of the sprint column of sprint aggregation (`sprint_name` in some dialects).
    sprint_column: str = "sprint"
    #: Case of the header's names: `lower` (`in_progress_hours`), `upper`, `title`
    #: (`In_Progress_Hours`).
    header_case: HeaderCase = "lower"
    #: Serve this CSV file's bytes (gzip-compressed) as every export's file, instead of
    #: generated rows: e.g. the API page's example CSV.
    csv_file: Path | None = None
    # -- JSON dialects of create and poll answers. --
    #: Create answers carry no `status`: a new job answers `exportId`, `createdAt`,
    #: `createdBy`, `metadata` and `message`; a reused one `exportId`, `createdAt` and
    #: "Using existing export with identical parameters" (the Sprint and Efficiency pages).
    create_without_status: bool = False
    #: Answers carry `createdBy`, `scope` (with `teamName`), `metadata`, and once completed
    #: `completedAt`, a `download` object (`url`, `filename`, `sizeBytes`, `contentType`,
    #: `compression`) and `downloadUrl`; both URLs point off the documented download path.
    rich_answers: bool = False
    #: Added to the `download.sizeBytes` of rich answers: a stated size the file does not have.
    stated_size_offset: int = 0
    #: Shape of new export ids, `{hex}` standing for 8 random hex digits; e.g. `../../{hex}`
    #: or `a/b{hex}` for a server that answers ids a client must refuse.
    export_id_template: str = "exp_{hex}"
    #: When set, the `message` of every create and poll answer (e.g. one echoing the key).
    status_message: str = ""

    def __post_init__(self) -> None:
        # Tuples, so that a snapshot cannot change behind a running export's back.
        object.__setattr__(self, "extra_columns", tuple(self.extra_columns))
        object.__setattr__(self, "omit_columns", tuple(self.omit_columns))
        if self.served_statuses is not None:
            object.__setattr__(self, "served_statuses", tuple(self.served_statuses))
        object.__setattr__(self, "empty_ranges", tuple(self.empty_ranges))
        object.__setattr__(self, "faults", tuple(self.faults))
        object.__setattr__(self, "teams", tuple(self.teams))
        object.__setattr__(self, "org_trees", tuple(self.org_trees))
        pairs = None if self.projects is None else tuple((o, p) for o, p in self.projects)
        object.__setattr__(self, "projects", pairs)
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
        problems += self._serving_problems() + self._dialect_problems()
        problems += self._hostile_problems()
        if problems:
            raise ValueError("; ".join(problems))

    def _hostile_problems(self) -> list[str]:
        if "{hex}" not in self.export_id_template:
            return ["export_id_template must contain {hex}"]
        return []

    def _serving_problems(self) -> list[str]:
        if not self.base_path.startswith("/") or self.base_path.endswith("/"):
            return ["base_path must start with '/' and not end with one"]
        return []

    def _dialect_problems(self) -> list[str]:
        problems = []
        if self.served_statuses is not None and any(
            not isinstance(v, str) or not v.strip() for v in self.served_statuses
        ):
            problems.append("served_statuses must hold non-empty status names")
        if any(not c or "," in c for c in (*self.omit_columns, self.sprint_column)):
            problems.append("omit_columns and sprint_column must be names without commas")
        if self.header_case not in HEADER_CASES:
            problems.append(f"header_case must be one of {', '.join(HEADER_CASES)}")
        if self.csv_file is not None and not Path(self.csv_file).is_file():
            problems.append(f"csv_file {self.csv_file} is not a file")
        return problems


class ConfigChanges(TypedDict, total=False):
    """Keyword arguments of `set_config` (and the server's constructor): any config field."""

    api_key: str
    host: str
    port: int
    base_path: str
    teams: Sequence[str]
    org_trees: Sequence[str]
    projects: Sequence[tuple[str, str]] | None
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
    served_statuses: Sequence[str] | None
    omit_columns: Sequence[str]
    sprint_column: str
    header_case: HeaderCase
    csv_file: Path | None
    create_without_status: bool
    rich_answers: bool
    stated_size_offset: int
    export_id_template: str
    status_message: str
