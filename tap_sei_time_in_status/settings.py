"""The tap's settings, checked: the checks singer-sdk does not do, and the defaults applied.

Their declaration (JSON schema, titles, descriptions) is `settings_schema`.

Every problem is reported as one message that names the setting, before any request is sent,
so that a scheduler's log says what to fix instead of showing a traceback.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import ipaddress
import math
import re
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

from tap_sei_time_in_status.settings_schema import (
    AGGREGATION_LEVELS,
    DEFAULT_BASE_URL,
    DEFAULT_BATCH_SIZE_ROWS,
    DEFAULT_MAX_CSV_COLUMNS,
    DEFAULT_STATUSES,
    GRANULARITIES,
    TERMINAL_DATE_COLUMNS,
)
from tap_sei_time_in_status.url_secrets import has_userinfo, redact_url

DEFAULT_PERIODS_PER_WINDOW = {"daily": 31, "weekly": 13, "monthly": 3, "quarterly": 1}

Granularity = t.Literal["daily", "weekly", "monthly", "quarterly"]
ScopeType = t.Literal["team", "org_tree"]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Windows and bookmarks reach a little past a date: year 9999 would overflow `datetime.date`.
LAST_YEAR = 9998
FIRST_YEAR = 1900


class SettingsError(ValueError):
    """A setting the tap cannot run with; `errors` holds one message per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Scope:
    """One export scope, which is also one partition of the stream with its own bookmark."""

    scope_type: ScopeType
    scope_id: str

    @property
    def context(self) -> dict[str, str]:
        """The singer-sdk partition context of this scope."""
        return {"scope_type": self.scope_type, "scope_id": self.scope_id}

    def __str__(self) -> str:
        return f"{self.scope_type} {self.scope_id!r}"


@dataclass(frozen=True)
class CatalogSettings:
    """The only settings the catalog depends on, so discovery needs no secret and no scope."""

    issue_statuses: tuple[str, ...]
    aggregation_level: t.Literal["team", "sprint"]

    @property
    def status_columns(self) -> dict[str, str]:
        """Configured status -> its `<slug>_hours` column, in the configured order."""
        return {status: status_column(status) for status in self.issue_statuses}


@dataclass(frozen=True)
class BatchSettings:
    """BATCH output (`batch_config`): where the files go, their compression, their size bound."""

    root: str
    prefix: str
    params: t.Mapping[str, t.Any]
    compression: t.Literal["gzip", "none"]
    max_rows: int


@dataclass(frozen=True)
class Settings(CatalogSettings):
    """Validated settings, with every default applied."""

    api_key: str
    base_url: str
    org_identifier: str
    project_identifier: str
    scopes: tuple[Scope, ...]
    start_date: dt.date
    end_date: dt.date
    granularity: Granularity
    terminal_date_column: t.Literal["issue_resolved_at", "version_release_date"]
    periods_per_window: int
    lookback_days: int
    #: None: as many as the request budget allows, up to `concurrent_exports_ceiling`.
    max_concurrent_exports: int | None
    poll_interval_seconds: float
    max_poll_interval_seconds: float
    export_timeout_seconds: float
    max_export_attempts: int
    request_timeout_seconds: float
    # Operating limits (issue 11).
    max_run_seconds: float | None = None
    max_requests_per_minute: float = 600.0
    failed_export_wait_seconds: float = 30.0
    # Scale (issue 20).
    concurrent_exports_ceiling: int = 50
    # Trust limits (issue 10).
    max_csv_line_bytes: int = 1 << 20
    # Trust, round two (issue 18).
    max_csv_columns: int = DEFAULT_MAX_CSV_COLUMNS
    # Bounds in time and space (issue 10).
    min_download_bytes_per_second: float = 1024.0
    max_request_retry_seconds: float = 300.0
    window_timeout_seconds: float | None = None
    max_download_bytes: int = 4 << 30
    max_decompressed_bytes: int = 32 << 30
    max_decompression_ratio: float = 200.0
    max_json_answer_bytes: int = 1 << 20
    # BATCH output (issue 12).
    batch: BatchSettings | None = None


def status_column(status: str) -> str:
    """The CSV and record column of a status: `In Progress` -> `in_progress_hours`."""
    slug = re.sub(r"[^a-z0-9]+", "_", status.lower()).strip("_")
    return f"{slug}_hours"


NUMBER_SETTINGS = (
    "poll_interval_seconds",
    "max_poll_interval_seconds",
    "export_timeout_seconds",
    "request_timeout_seconds",
    "max_run_seconds",
    "max_requests_per_minute",
    "failed_export_wait_seconds",
    "min_download_bytes_per_second",
    "max_request_retry_seconds",
    "window_timeout_seconds",
    "max_decompression_ratio",
)
_NUMBER_TEXT = re.compile(r"^\s*[0-9]+(\.[0-9]*)?\s*$")


def coerce_number_strings(config: t.MutableMapping[str, t.Any]) -> None:
    """Read numbers that arrive as text ("2.5") as numbers.

    Environment variables carry them so, through singer-sdk's `--config ENV` and through
    Meltano (see meltano.yml); anything else is left for the checks to refuse.
    """
    for name in NUMBER_SETTINGS:
        value = config.get(name)
        if isinstance(value, str) and _NUMBER_TEXT.match(value):
            config[name] = float(value)


def parse_settings(config: t.Mapping[str, t.Any], *, today: dt.date | None = None) -> Settings:
    """Check every setting and apply defaults; raise `SettingsError` listing all problems."""
    config = dict(config)
    coerce_number_strings(config)
    errors: list[str] = []
    today = today or dt.datetime.now(dt.timezone.utc).date()

    api_key = _api_key(config, errors)
    org = _text(config, "org_identifier", errors)
    project = _text(config, "project_identifier", errors)
    base_url = _base_url(config.get("base_url") or DEFAULT_BASE_URL, errors)

    scopes = _scopes(config, errors)
    start = _date(config, "start_date", errors)
    end = _date(config, "end_date", errors) if config.get("end_date") else today
    if start and end and end < start:
        errors.append(f"end_date ({end.isoformat()}) is before start_date ({start.isoformat()}).")

    catalog = _catalog_settings(config, errors)
    granularity = _choice(config, "granularity", GRANULARITIES, "weekly", errors)
    terminal = _choice(
        config, "terminal_date_column", TERMINAL_DATE_COLUMNS, "issue_resolved_at", errors
    )
    periods = _number(
        config,
        "periods_per_window",
        DEFAULT_PERIODS_PER_WINDOW.get(granularity, 1),
        errors,
        integer=True,
    )
    lookback = _number(config, "lookback_days", 7, errors, integer=True, allow_zero=True)
    concurrency = (
        None
        if config.get("max_concurrent_exports") is None
        else _number(config, "max_concurrent_exports", 1, errors, integer=True)
    )
    ceiling = _number(config, "concurrent_exports_ceiling", 50, errors, integer=True)
    poll = _number(config, "poll_interval_seconds", 1, errors)
    max_poll = _number(config, "max_poll_interval_seconds", 60, errors)
    if poll and max_poll and max_poll < poll:
        errors.append(
            f"max_poll_interval_seconds ({max_poll}) is below poll_interval_seconds ({poll})."
        )
    timeout = _number(config, "export_timeout_seconds", 1800, errors)
    attempts = _number(config, "max_export_attempts", 3, errors, integer=True)
    request_timeout = _number(config, "request_timeout_seconds", 60, errors)
    max_run = _number(config, "max_run_seconds", math.inf, errors)
    per_minute = _number(config, "max_requests_per_minute", 600, errors)
    failed_wait = _number(config, "failed_export_wait_seconds", 30, errors, allow_zero=True)
    max_csv_line = _number(config, "max_csv_line_bytes", 1 << 20, errors, integer=True)
    max_csv_columns = _number(
        config, "max_csv_columns", DEFAULT_MAX_CSV_COLUMNS, errors, integer=True
    )
    bounds = _bounds(config, errors)
    batch = _batch(config, errors)

    if errors:
        raise SettingsError(errors)
    assert start is not None  # noqa: S101 - guaranteed by the checks above
    return Settings(
        api_key=api_key,
        base_url=base_url,
        org_identifier=org,
        project_identifier=project,
        scopes=scopes,
        start_date=start,
        end_date=end if end else today,
        issue_statuses=catalog.issue_statuses,
        aggregation_level=catalog.aggregation_level,
        granularity=t.cast("Granularity", granularity),
        terminal_date_column=t.cast(
            "t.Literal['issue_resolved_at', 'version_release_date']", terminal
        ),
        periods_per_window=int(periods),
        lookback_days=int(lookback),
        max_concurrent_exports=None if concurrency is None else int(concurrency),
        poll_interval_seconds=float(poll),
        max_poll_interval_seconds=float(max_poll),
        export_timeout_seconds=float(timeout),
        max_export_attempts=int(attempts),
        request_timeout_seconds=float(request_timeout),
        max_run_seconds=None if math.isinf(max_run) else float(max_run),
        max_requests_per_minute=float(per_minute),
        failed_export_wait_seconds=float(failed_wait),
        concurrent_exports_ceiling=int(ceiling),
        max_csv_line_bytes=int(max_csv_line),
        max_csv_columns=int(max_csv_columns),
        **bounds,
        batch=batch,
    )


def parse_catalog_settings(config: t.Mapping[str, t.Any]) -> CatalogSettings:
    """Check only what the catalog depends on; raise `SettingsError` listing the problems."""
    errors: list[str] = []
    catalog = _catalog_settings(config, errors)
    if errors:
        raise SettingsError(errors)
    return catalog


def _catalog_settings(config: t.Mapping[str, t.Any], errors: list[str]) -> CatalogSettings:
    statuses = _statuses(config.get("issue_statuses", list(DEFAULT_STATUSES)), errors)
    aggregation = _choice(config, "aggregation_level", AGGREGATION_LEVELS, "team", errors)
    return CatalogSettings(
        issue_statuses=statuses,
        aggregation_level=t.cast("t.Literal['team', 'sprint']", aggregation),
    )


def _bounds(config: t.Mapping[str, t.Any], errors: list[str]) -> dict[str, t.Any]:
    """The settings that bound time and space; each must be positive."""
    window = config.get("window_timeout_seconds")
    return {
        "min_download_bytes_per_second": _number(
            config, "min_download_bytes_per_second", 1024, errors, allow_zero=True
        ),
        "max_request_retry_seconds": _number(config, "max_request_retry_seconds", 300, errors),
        "window_timeout_seconds": (
            None if window is None else _number(config, "window_timeout_seconds", 1, errors)
        ),
        "max_download_bytes": int(
            _number(config, "max_download_bytes", 4 << 30, errors, integer=True)
        ),
        "max_decompressed_bytes": int(
            _number(config, "max_decompressed_bytes", 32 << 30, errors, integer=True)
        ),
        "max_decompression_ratio": _number(config, "max_decompression_ratio", 200, errors),
        "max_json_answer_bytes": int(
            _number(config, "max_json_answer_bytes", 1 << 20, errors, integer=True)
        ),
    }


def _text(config: t.Mapping[str, t.Any], name: str, errors: list[str]) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{name} is required and must be a non-empty string.")
        return ""
    return value.strip()


def _api_key(config: t.Mapping[str, t.Any], errors: list[str]) -> str:
    """The key, which must fit an HTTP header; the message never shows it."""
    key = _text(config, "api_key", errors)
    if key and not all(_header_safe(ord(c)) for c in key):
        errors.append(
            "api_key holds a character that cannot be sent in an HTTP header (a control "
            "character such as a line break, or one outside Latin-1); check that the whole "
            "key, and only the key, was copied."
        )
        return ""
    return key


def _header_safe(code: int) -> bool:
    """Printable ASCII, space, tab or Latin-1 letters: what http.client sends as is."""
    return code == 0x09 or 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF


def _base_url(value: t.Any, errors: list[str]) -> str:  # noqa: ANN401
    if not isinstance(value, str):
        errors.append("base_url must be a string such as https://app.harness.io/prod1/sei/api.")
        return ""
    url = value.strip()
    problem = _stray_at_sign(url) or _base_url_problem(url)
    if problem is not None:
        errors.append(problem)
        return ""
    return url.rstrip("/")


def _stray_at_sign(url: str) -> str | None:
    """An '@' after the host: credentials whose password holds '/', '?' or '#'.

    Such a password ends the host early, so that what looks like a path, query or fragment
    is part of it; no SEI base URL has an '@', and none of it is shown.
    """
    if not _stray_at(url) or url.partition(":")[0].lower() not in ("http", "https"):
        return None  # a URL of another scheme is refused as such, unseen
    return (
        "base_url holds an '@' after its host, most likely credentials whose password holds "
        "'/', '?' or '#'; the tap authenticates with api_key only. Remove them (the URL is "
        "not shown, so as not to show them)."
    )


def _stray_at(url: str) -> bool:
    return "@" in url and not has_userinfo(url)


def _base_url_problem(url: str) -> str | None:
    """What is wrong with the API's URL, said without its credentials or query."""
    shown = "(not shown: it holds an '@')" if _stray_at(url) else redact_url(url)
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:  # a broken IPv6 host or a port that is not a number
        return f"base_url {shown} is not a URL; expected e.g. {DEFAULT_BASE_URL}."
    if parts.scheme not in ("https", "http") or not host:
        return f"base_url {shown} is not an http(s) URL; expected e.g. {DEFAULT_BASE_URL}."
    if has_userinfo(url):
        return (
            "base_url carries credentials (user:password@ before the host), which would be "
            "sent instead of the api_key; the tap authenticates with api_key only. Remove "
            f"them: {shown}"
        )
    if parts.query or parts.fragment:
        return (
            "base_url has a query or a fragment (?... or #...); the tap appends the API's "
            f"paths to it, so it must end with the path: {shown}"
        )
    if parts.scheme == "http" and not is_loopback_host(host):
        return (
            f"base_url {shown} uses plain http:// to a non-loopback host; the API key "
            "would travel unencrypted. Use https://."
        )
    return None


def is_loopback_host(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 or ::1, the only hosts plain HTTP may reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _scopes(config: t.Mapping[str, t.Any], errors: list[str]) -> tuple[Scope, ...]:
    scopes: list[Scope] = []
    for name, scope_type in (("team_ids", "team"), ("org_tree_names", "org_tree")):
        values = config.get(name) or []
        if not isinstance(values, list) or not all(
            isinstance(v, str) and v.strip() for v in values
        ):
            errors.append(f"{name} must be a list of non-empty strings.")
            continue
        seen: set[str] = set()
        for value in values:
            if value.strip() in seen:
                errors.append(f"{name} lists {value.strip()!r} twice.")
            seen.add(value.strip())
            scopes.append(Scope(t.cast("ScopeType", scope_type), value.strip()))
    if not scopes and not any("team_ids" in e or "org_tree_names" in e for e in errors):
        errors.append("No scope: set team_ids and/or org_tree_names (together at least one entry).")
    return tuple(scopes)


def _batch(config: t.Mapping[str, t.Any], errors: list[str]) -> BatchSettings | None:
    """`batch_config` as singer-sdk defines it, limited to what this tap writes (JSON Lines)."""
    batch = config.get("batch_config")
    if batch is None:
        return None
    problems: list[str] = []
    if not isinstance(batch, dict):
        errors.append(f"batch_config must be an object, got {batch!r}.")
        return None
    encoding = batch.get("encoding") or {}
    storage = batch.get("storage") or {}
    if not isinstance(encoding, dict) or encoding.get("format") != "jsonl":
        problems.append(
            "batch_config.encoding.format must be 'jsonl' (the tap writes JSON Lines files)."
        )
        encoding = {}
    compression = encoding.get("compression") or "none"
    if compression not in ("gzip", "none"):
        problems.append(
            f"batch_config.encoding.compression must be 'gzip' or 'none', got {compression!r}."
        )
    root = storage.get("root") if isinstance(storage, dict) else None
    if not isinstance(root, str) or not root.strip():
        problems.append(
            "batch_config.storage.root must name the folder of the batch files, e.g. "
            "file:///var/lib/sei-batches."
        )
    prefix = storage.get("prefix") if isinstance(storage, dict) else None
    params = storage.get("params") if isinstance(storage, dict) else None
    if prefix is not None and not isinstance(prefix, str):
        problems.append("batch_config.storage.prefix must be a string.")
    if params is not None and not isinstance(params, dict):
        problems.append("batch_config.storage.params must be an object.")
    # singer-sdk's own `batch_config.batch_size` counts when `batch_size_rows` is not set.
    sdk_size = batch.get("batch_size")
    valid_sdk_size = isinstance(sdk_size, int) and not isinstance(sdk_size, bool) and sdk_size > 0
    rows_default = int(t.cast("int", sdk_size)) if valid_sdk_size else DEFAULT_BATCH_SIZE_ROWS
    rows = _number(config, "batch_size_rows", rows_default, problems, integer=True)
    errors.extend(problems)
    if problems:
        return None
    return BatchSettings(
        root=t.cast("str", root).strip(),
        prefix=prefix or "",
        params=params or {},
        compression=t.cast("t.Literal['gzip', 'none']", compression),
        max_rows=int(rows),
    )


def _date(config: t.Mapping[str, t.Any], name: str, errors: list[str]) -> dt.date | None:
    value = config.get(name)
    if not isinstance(value, str) or not _ISO_DATE.match(value.strip()):
        errors.append(f"{name} must be a date as YYYY-MM-DD, got {value!r}.")
        return None
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        errors.append(f"{name} {value!r} is not a real calendar date.")
        return None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        errors.append(
            f"{name} {value!r} is outside the years {FIRST_YEAR} to {LAST_YEAR} the tap handles."
        )
        return None
    return day


def _statuses(value: t.Any, errors: list[str]) -> tuple[str, ...]:  # noqa: ANN401
    if not isinstance(value, list) or not value:
        errors.append("issue_statuses must be a non-empty list of status names.")
        return ()
    if not all(isinstance(v, str) and v.strip() for v in value):
        errors.append("issue_statuses must hold non-empty strings only.")
        return ()
    columns: dict[str, str] = {}
    for status in value:
        column = status_column(status)
        if column == "_hours":
            errors.append(f"issue_statuses entry {status!r} has no letters or digits.")
        elif column in columns:
            errors.append(
                f"issue_statuses lists {columns[column]!r} and {status!r}, which both "
                f"become the field {column!r}."
            )
        elif column in ("total_lead_time_hours",):
            errors.append(f"issue_statuses entry {status!r} clashes with the field {column!r}.")
        columns[column] = status
    return tuple(value)


def _choice(
    config: t.Mapping[str, t.Any],
    name: str,
    allowed: tuple[str, ...],
    default: str,
    errors: list[str],
) -> str:
    value = config.get(name, default)
    if value is None:
        value = default
    if value not in allowed:
        errors.append(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
        return default
    return str(value)


def _number(
    config: t.Mapping[str, t.Any],
    name: str,
    default: float,
    errors: list[str],
    *,
    integer: bool = False,
    allow_zero: bool = False,
) -> float:
    """A positive number, or a non-negative one where zero makes sense."""
    value = config.get(name)
    if value is None:
        return default
    kind = "a whole number" if integer else "a number"
    # singer-sdk reads JSON numbers as Decimal.
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        errors.append(f"{name} must be {kind}, got {value!r}.")
        return default
    if not math.isfinite(value):
        errors.append(f"{name} must be a finite number, got {value!r}.")
        return default
    if integer and value != int(value):
        errors.append(f"{name} must be a whole number, got {value!r}.")
        return default
    if value < 0 or (value == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "greater than zero"
        errors.append(f"{name} must be {bound}, got {value!r}.")
        return default
    return float(value)


# --- settings the tap does not know -------------------------------------------------------------
# singer-sdk ignores a key its schema does not declare, so `granulrity: monthly` would run with
# the default granularity and say nothing. Meltano passes a setting it does not know as it is
# written: in the config file, and as an environment variable (read with `--config=ENV`, as
# `meltano invoke tap-sei-time-in-status:test` does). Only names are ever shown, never values
# (one could be a key).

#: Environment variables of the tap's prefix that are not settings: singer-sdk's log level.
NOT_SETTINGS = frozenset({"loglevel"})
#: The longest name a warning quotes (a name could be anything).
SHOWN_NAME_CHARS = 80


def unknown_settings(
    config: t.Mapping[str, t.Any],
    known: t.Collection[str],
    *,
    environ: t.Mapping[str, str],
    env_prefix: str,
) -> list[str]:
    """One warning per key of `config`, and per variable of `env_prefix`, that is no setting.

    A misspelt setting is most likely a typo: the warning names the closest known one.

    Meltano's own variables (`TAP_SEI_TIME_IN_STATUS__SELECT`, ...) start with a second `_`;
    a variable whose key is also in `config` is the same setting, warned about once.
    """
    warnings = [
        f"Unknown setting {_shown(name)!r} is ignored{_closest(name, known, repr)}; "
        "`tap-sei-time-in-status --about` lists the settings"
        for name in config
        if name not in known
    ]
    for variable in sorted(environ):
        name = variable[len(env_prefix) :].lower()
        if (
            not variable.startswith(env_prefix)
            or name.startswith("_")
            or name in known
            or name in NOT_SETTINGS
            or name in config
        ):
            continue
        warnings.append(
            f"Unknown setting in environment variable {_shown(variable)} is ignored"
            f"{_closest(name, known, lambda n: env_prefix + n.upper())}; "
            "`tap-sei-time-in-status --about` lists the settings"
        )
    return warnings


def _closest(name: str, known: t.Collection[str], shown: t.Callable[[str], str]) -> str:
    matches = difflib.get_close_matches(name.lower(), sorted(known), n=1)
    return f" (did you mean {shown(matches[0])}?)" if matches else ""


def _shown(name: str) -> str:
    return name if len(name) <= SHOWN_NAME_CHARS else name[:SHOWN_NAME_CHARS] + "..."
