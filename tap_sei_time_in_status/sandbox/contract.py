"""The create-export request body: strict validation, as the real API would answer 400."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

AGGREGATION_LEVELS: Final = ("team", "sprint")
GRANULARITIES: Final = ("daily", "weekly", "monthly", "quarterly")
TERMINAL_DATE_COLUMNS: Final = ("issue_resolved_at", "version_release_date")

#: Options the client may leave out, with the values the sandbox assumes then.
DEFAULT_OPTIONS: Final[Mapping[str, str]] = {
    "aggregationLevel": "team",
    "granularity": "monthly",
    "terminalDateColumn": "issue_resolved_at",
}
_OPTION_VALUES: Final[Mapping[str, tuple[str, ...]]] = {
    "aggregationLevel": AGGREGATION_LEVELS,
    "granularity": GRANULARITIES,
    "terminalDateColumn": TERMINAL_DATE_COLUMNS,
}
_BODY_KEYS: Final = frozenset({"scope", "dateRange", "issueStatuses", "options"})
_SCOPE_KEYS: Final = frozenset({"teamId", "orgTreeName", "orgIdentifier", "projectIdentifier"})
_DATE_RANGE_KEYS: Final = frozenset({"start", "end"})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


class InvalidRequestError(ValueError):
    """The body breaks the contract; the message is what a 400 answer says."""


@dataclass(frozen=True)
class ExportRequest:
    """A validated create body, with the defaults of left-out options filled in."""

    scope: Mapping[str, str]
    start: date
    end: date
    statuses: tuple[str, ...]
    aggregation_level: str
    granularity: str
    terminal_date_column: str

    @property
    def team_id(self) -> str | None:
        """The single team of a `teamId` scope."""
        return self.scope.get("teamId")

    @property
    def org_tree_name(self) -> str | None:
        """The org tree of an `orgTreeName` scope."""
        return self.scope.get("orgTreeName")


def canonical_json(value: object) -> str:
    """One spelling per JSON value, so equal bodies compare (and hash) equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def slugify(name: str) -> str:
    """`In Progress` -> `in_progress`: lowercase, non-alphanumeric runs to `_`, trimmed."""
    return _NON_ALNUM.sub("_", name.lower()).strip("_")


def status_column(status: str) -> str:
    """The CSV column holding a status's hours: `QA` -> `qa_hours`."""
    return f"{slugify(status)}_hours"


ScopeCheck = Callable[[Mapping[str, str]], None]


def parse_export_request(body: object, *, check_scope: ScopeCheck | None = None) -> ExportRequest:
    """Validate a create body as the API would; raise `InvalidRequestError` saying why not.

    `check_scope` (the sandbox's known teams and trees) runs right after the scope's shape is
    checked and before the dates, so a request with an impossible date range still learns
    whether its scope exists without creating anything.
    """
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    _no_unknown_keys(body, _BODY_KEYS, "request body")
    scope = _scope(body.get("scope"))
    if check_scope is not None:
        check_scope(scope)
    start, end = _date_range(body.get("dateRange"))
    statuses = _statuses(body.get("issueStatuses"))
    options = _options(body.get("options"))
    return ExportRequest(
        scope=scope,
        start=start,
        end=end,
        statuses=statuses,
        aggregation_level=options["aggregationLevel"],
        granularity=options["granularity"],
        terminal_date_column=options["terminalDateColumn"],
    )


def _no_unknown_keys(obj: Mapping[str, object], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        msg = f"unknown field(s) in {where}: {', '.join(unknown)}"
        raise InvalidRequestError(msg)


def _scope(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidRequestError("scope is required and must be an object")
    _no_unknown_keys(value, _SCOPE_KEYS, "scope")
    scope: dict[str, str] = {}
    for key, item in value.items():
        if item is None:
            continue
        if not isinstance(item, str) or not item.strip():
            msg = f"scope.{key} must be a non-empty string"
            raise InvalidRequestError(msg)
        scope[key] = item
    has_team, has_tree = "teamId" in scope, "orgTreeName" in scope
    if has_team == has_tree:
        raise InvalidRequestError("scope must have exactly one of teamId or orgTreeName")
    if has_tree and "orgIdentifier" not in scope:
        raise InvalidRequestError("scope.orgIdentifier is required when using orgTreeName")
    return scope


def _date_range(value: object) -> tuple[date, date]:
    if not isinstance(value, dict):
        raise InvalidRequestError("dateRange is required and must be an object")
    _no_unknown_keys(value, _DATE_RANGE_KEYS, "dateRange")
    start = _date(value.get("start"), "dateRange.start")
    end = _date(value.get("end"), "dateRange.end")
    if end < start:
        msg = f"dateRange.end ({end}) is before dateRange.start ({start})"
        raise InvalidRequestError(msg)
    return start, end


def _date(value: object, where: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        msg = f"{where} is required in the form yyyy-MM-dd"
        raise InvalidRequestError(msg)
    try:
        return date.fromisoformat(value)
    except ValueError:
        msg = f"{where} is not a valid date: {value}"
        raise InvalidRequestError(msg) from None


def _statuses(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidRequestError("issueStatuses must be a non-empty list of status names")
    columns: set[str] = set()
    for status in value:
        if not isinstance(status, str) or not slugify(status):
            msg = f"issueStatuses holds an invalid status name: {status!r}"
            raise InvalidRequestError(msg)
        column = status_column(status)
        if column in columns:
            msg = f"issueStatuses names the status {status!r} twice"
            raise InvalidRequestError(msg)
        columns.add(column)
    return tuple(value)


def _options(value: object) -> dict[str, str]:
    if value is None:
        return dict(DEFAULT_OPTIONS)
    if not isinstance(value, dict):
        raise InvalidRequestError("options must be an object")
    _no_unknown_keys(value, frozenset(_OPTION_VALUES), "options")
    options = dict(DEFAULT_OPTIONS)
    for key, allowed in _OPTION_VALUES.items():
        item = value.get(key)
        if item is None:
            continue
        if item not in allowed:
            msg = f"options.{key} must be one of {', '.join(allowed)}, not {item!r}"
            raise InvalidRequestError(msg)
        options[key] = item
    return options
