"""The sandbox's deterministic export data: periods, teams, sprints and the CSV rows.

Every value is drawn from a hash of (scope, granularity, aggregation level, terminal date
column, period label, team, sprint, column) and never from the date range, so two exports
whose ranges overlap agree on the rows of the periods they share.

A `hashlib.blake2b` digest keys each (team, period) slot; the cells come from mixing that
key with a per-column salt (splitmix64) rather than from a `random.Random` seeded per row:
seeding costs microseconds, and benchmark exports have millions of rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final

from .config import SandboxConfig
from .contract import ExportRequest, canonical_json, parse_export_request, status_column

MONTH_ABBREVIATIONS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)

#: Team names of an org tree, awkward for CSV on purpose: a comma, quotes, non-ASCII.
ORG_TREE_TEAM_NAMES: Final = (
    "Payments, Billing & Invoicing",
    'Mobile "iOS" Team',
    "Données Équipe",
    "Platform Team",
    "Data & Analytics",
    "Site Reliability",
    "Growth; Experiments",
    "Search 'n' Discovery",
)
TEAM_HIERARCHY_ROOT: Final = "Engineering"
LEAD_TIME_COLUMN: Final = "total_lead_time_hours"
_FIXED_COLUMNS: Final = frozenset(
    {"granularity", "team", "team_hierarchy", "sprint", "total_issues", LEAD_TIME_COLUMN}
)
_SPRINT_EPOCH: Final = date(2000, 1, 3)  # a Monday; sprints are two weeks from it
_MAX_HOURS_PER_ISSUE: Final = 48
_SEP: Final = "\x1f"
_MASK32: Final = (1 << 32) - 1
_MASK64: Final = (1 << 64) - 1
_GOLDEN: Final = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd
_WORDS = re.compile(r"[0-9A-Za-z]+")


@dataclass(frozen=True)
class Period:
    """One reporting interval: its label in the `granularity` column and its days."""

    label: str
    start: date
    end: date


@dataclass(frozen=True)
class Team:
    """A team as the export names it."""

    name: str
    hierarchy: str


def period_start(granularity: str, day: date) -> date:
    """The first day of the period holding `day` (ISO weeks start on Monday)."""
    if granularity == "daily":
        return day
    if granularity == "weekly":
        return day - timedelta(days=day.weekday())
    if granularity == "monthly":
        return day.replace(day=1)
    if granularity == "quarterly":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    msg = f"unknown granularity {granularity!r}"
    raise ValueError(msg)


def next_period_start(granularity: str, start: date) -> date:
    """The first day of the period after the one starting on `start`."""
    if granularity == "daily":
        return start + timedelta(days=1)
    if granularity == "weekly":
        return start + timedelta(days=7)
    months = 1 if granularity == "monthly" else 3
    month_index = start.year * 12 + start.month - 1 + months
    return date(month_index // 12, month_index % 12 + 1, 1)


def period_label(granularity: str, day: date) -> str:
    """`2026-01-05`, `2026-W02`, `Jan 2026` or `Q1 2026` for the period holding `day`."""
    if granularity == "daily":
        return day.isoformat()
    if granularity == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if granularity == "monthly":
        return f"{MONTH_ABBREVIATIONS[day.month - 1]} {day.year}"
    if granularity == "quarterly":
        return f"Q{(day.month - 1) // 3 + 1} {day.year}"
    msg = f"unknown granularity {granularity!r}"
    raise ValueError(msg)


def periods(granularity: str, first: date, last: date) -> Iterator[Period]:
    """Every period that intersects [first, last], in order."""
    start = period_start(granularity, first)
    while start <= last:
        following = next_period_start(granularity, start)
        yield Period(period_label(granularity, start), start, following - timedelta(days=1))
        start = following


def team_display_name(team_id: str) -> str:
    """A readable name for a `teamId`: `team_abc123` -> `Abc123 Team`."""
    words = [w.capitalize() for w in _WORDS.findall(team_id)]
    if words and words[0] == "Team":
        words = words[1:]
    return f"{' '.join(words)} Team" if words else f"Team {team_id}"


def teams_for(request: ExportRequest, config: SandboxConfig) -> list[Team]:
    """The teams of the request's scope, sorted by name (the row order)."""
    if request.team_id is not None:
        name = team_display_name(request.team_id)
        return [Team(name, f"{TEAM_HIERARCHY_ROOT}/{name}")]
    tree = request.org_tree_name or TEAM_HIERARCHY_ROOT
    names = [
        ORG_TREE_TEAM_NAMES[i] if i < len(ORG_TREE_TEAM_NAMES) else f"Team {i + 1:03d}"
        for i in range(config.org_tree_teams)
    ]
    return [Team(name, f"{tree}/{name}") for name in sorted(names)]


def csv_header(request: ExportRequest, config: SandboxConfig) -> list[str]:
    """The columns of the export as its header names them (dialect switches applied)."""
    kept = [c for c in _columns(request, config) if c not in config.omit_columns]
    return [_header_name(c, config) for c in kept]


def text_column_count(request: ExportRequest, config: SandboxConfig) -> int:
    """How many leading columns of the header are text (period, team, hierarchy, sprint)."""
    columns = _columns(request, config)
    text = columns[: columns.index("total_issues")]
    return len([c for c in text if c not in config.omit_columns])


def _columns(request: ExportRequest, config: SandboxConfig) -> list[str]:
    """Every column the sandbox generates, by its canonical lower-case name."""
    header = ["granularity", "team", "team_hierarchy"]
    if request.aggregation_level == "sprint":
        header.append("sprint")
    header.append("total_issues")
    header.extend(status_column(s) for s in _served_statuses(request, config))
    header.extend(_extra_columns(request, config))
    header.append(LEAD_TIME_COLUMN)
    return header


def _header_name(column: str, config: SandboxConfig) -> str:
    if column == "sprint":
        column = config.sprint_column
    if config.header_case == "upper":
        return column.upper()
    if config.header_case == "title":
        return "_".join(word.capitalize() for word in column.split("_"))
    return column


def _served_statuses(request: ExportRequest, config: SandboxConfig) -> tuple[str, ...]:
    """The statuses the CSV has a column for: the requested ones unless a dialect says not."""
    return request.statuses if config.served_statuses is None else tuple(config.served_statuses)


def iter_rows(request: ExportRequest, config: SandboxConfig) -> Iterator[list[str]]:
    """The data rows, ordered by period, then team, then sprint (in sprint-number order)."""
    columns = _columns(request, config)
    if not any(c in config.omit_columns for c in columns):
        yield from _full_rows(request, config)
        return
    kept = [i for i, c in enumerate(columns) if c not in config.omit_columns]
    for row in _full_rows(request, config):
        yield [row[i] for i in kept]


def _full_rows(request: ExportRequest, config: SandboxConfig) -> Iterator[list[str]]:
    """Every generated column of every row, omitted ones included."""
    prefix = _SEP.join(
        (
            canonical_json(dict(request.scope)),
            request.granularity,
            request.aggregation_level,
            request.terminal_date_column,
        )
    )
    statuses = _served_statuses(request, config)
    cell_salts = [(_key64(f"status{_SEP}{s}"), True) for s in statuses] + [
        (_key64(f"extra{_SEP}{c}"), False) for c in _extra_columns(request, config)
    ]
    null_limit = int(config.null_cell_rate * 2**32)
    missing_limit = int(config.missing_row_rate * 2**32)
    by_sprint = request.aggregation_level == "sprint"
    sprint_salts: dict[str, int] = {"": _key64(f"sprint{_SEP}")}
    teams = teams_for(request, config)
    for period in periods(request.granularity, request.start, request.end):
        if _is_empty(period.start, config.empty_ranges):
            continue
        for team in teams:
            slot = _key64(_SEP.join((prefix, period.label, team.name)))
            if _mix(slot ^ _MISSING_SALT) & _MASK32 < missing_limit:
                continue
            sprints = [""]
            if by_sprint:
                number = (period.start - _SPRINT_EPOCH).days // 14 % 900 + 1
                count = 1 + (_mix(slot ^ _SPRINT_COUNT_SALT) & 1)
                sprints = [f"Sprint {number + i}" for i in range(count)]
            for sprint in sprints:
                salt = sprint_salts.get(sprint)
                if salt is None:
                    salt = sprint_salts[sprint] = _key64(f"sprint{_SEP}{sprint}")
                seed = _mix(slot ^ salt)
                total_issues = 1 + ((seed ^ _ISSUES_SALT) * _GOLDEN & _MASK64) % 400
                limit = total_issues * _MAX_HOURS_PER_ISSUE * 100 + 1
                row = [period.label, team.name, team.hierarchy]
                if by_sprint:
                    row.append(sprint)
                row.append(str(total_issues))
                total_cents = 0
                for cell_salt, nullable in cell_salts:
                    # `seed` is already well mixed: one multiply spreads it per column.
                    x = (seed ^ cell_salt) * _GOLDEN & _MASK64
                    if nullable and x & _MASK32 < null_limit:
                        row.append("")
                        continue
                    cents = (x >> 32) % limit
                    total_cents += cents
                    row.append(f"{cents // 100}.{cents % 100:02d}")
                row.append(f"{total_cents // 100}.{total_cents % 100:02d}")
                yield row


def expected_rows(
    body: Mapping[str, object], config: SandboxConfig | None = None
) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows a download of an export created with `body` holds.

    Raises `InvalidRequestError` for a body the API would refuse.
    """
    config = config or SandboxConfig()
    request = parse_export_request(dict(body))
    if config.csv_file is not None:
        text = Path(config.csv_file).read_text(encoding="utf-8-sig")
        header, *rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
        return header, [dict(zip(header, row, strict=True)) for row in rows]
    header = csv_header(request, config)
    return header, [dict(zip(header, row, strict=True)) for row in iter_rows(request, config)]


def _extra_columns(request: ExportRequest, config: SandboxConfig) -> list[str]:
    """Configured extra columns, minus any the requested statuses already produce."""
    taken = {status_column(s) for s in _served_statuses(request, config)} | _FIXED_COLUMNS
    return [c for c in dict.fromkeys(config.extra_columns) if c not in taken]


def _is_empty(start: date, empty_ranges: Sequence[tuple[date, date]]) -> bool:
    return any(first <= start <= last for first, last in empty_ranges)


def _key64(text: str) -> int:
    """A 64-bit key of `text` from a keyed-hash digest (stable, unlike `hash()`)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _mix(x: int) -> int:
    """splitmix64's finalizer: a cheap, well-spread 64-bit value per (key ^ salt)."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


_MISSING_SALT: Final = _key64("missing-row")
_SPRINT_COUNT_SALT: Final = _key64("sprint-count")
_ISSUES_SALT: Final = _key64("total-issues")
