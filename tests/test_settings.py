"""Settings are checked before any request, each problem named by its setting."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from tap_sei_time_in_status.settings import SettingsError, parse_settings, status_column
from tap_sei_time_in_status.settings_schema import DEFAULT_BASE_URL

GOOD: dict[str, t.Any] = {
    "api_key": "k",
    "org_identifier": "org",
    "project_identifier": "proj",
    "team_ids": ["team_a"],
    "start_date": "2024-01-01",
}


def errors_of(**changes: t.Any) -> list[str]:
    config = {**GOOD, **changes}
    config = {k: v for k, v in config.items() if v is not ...}
    with pytest.raises(SettingsError) as caught:
        parse_settings(config)
    return caught.value.errors


def test_defaults() -> None:
    s = parse_settings(GOOD, today=dt.date(2024, 6, 1))
    assert s.base_url == DEFAULT_BASE_URL
    assert s.end_date == dt.date(2024, 6, 1)
    assert s.issue_statuses == ("In Progress", "In Review", "QA", "Done")
    assert (s.granularity, s.aggregation_level, s.terminal_date_column) == (
        "weekly",
        "team",
        "issue_resolved_at",
    )
    assert s.periods_per_window == 13
    assert (s.lookback_days, s.max_export_attempts) == (7, 3)
    # No cap: as many exports as the request budget serves, up to the ceiling.
    assert (s.max_concurrent_exports, s.concurrent_exports_ceiling) == (None, 50)
    assert s.max_requests_per_minute == 600
    assert (s.poll_interval_seconds, s.max_poll_interval_seconds) == (1, 60)
    assert s.export_timeout_seconds == 1800
    assert [(x.scope_type, x.scope_id) for x in s.scopes] == [("team", "team_a")]


@pytest.mark.parametrize(
    ("granularity", "periods"), [("daily", 31), ("weekly", 13), ("monthly", 3), ("quarterly", 1)]
)
def test_periods_per_window_default_follows_granularity(granularity: str, periods: int) -> None:
    assert parse_settings({**GOOD, "granularity": granularity}).periods_per_window == periods


def test_status_columns() -> None:
    assert status_column("In Progress") == "in_progress_hours"
    assert status_column("QA") == "qa_hours"
    assert status_column("  Won't Do / Dropped ") == "won_t_do_dropped_hours"


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"api_key": ...}, "api_key"),
        ({"api_key": "  "}, "api_key"),
        ({"org_identifier": ""}, "org_identifier"),
        ({"project_identifier": ...}, "project_identifier"),
        ({"team_ids": [], "org_tree_names": []}, "team_ids and/or org_tree_names"),
        ({"team_ids": ...}, "team_ids and/or org_tree_names"),
        ({"team_ids": ["a", "a"]}, "team_ids"),
        ({"start_date": "2024-02-30"}, "start_date"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2023-12-31"}, "end_date"),
        ({"granularity": "hourly"}, "granularity"),
        ({"aggregation_level": "org"}, "aggregation_level"),
        ({"terminal_date_column": "created_at"}, "terminal_date_column"),
        ({"issue_statuses": []}, "issue_statuses"),
        ({"issue_statuses": ["QA", "qa"]}, "issue_statuses"),
        ({"issue_statuses": ["QA", ""]}, "issue_statuses"),
        ({"periods_per_window": 0}, "periods_per_window"),
        ({"periods_per_window": 1.5}, "periods_per_window"),
        ({"max_concurrent_exports": -1}, "max_concurrent_exports"),
        ({"max_concurrent_exports": 0}, "max_concurrent_exports"),
        ({"concurrent_exports_ceiling": 0}, "concurrent_exports_ceiling"),
        ({"concurrent_exports_ceiling": 2.5}, "concurrent_exports_ceiling"),
        ({"poll_interval_seconds": 0}, "poll_interval_seconds"),
        ({"export_timeout_seconds": -5}, "export_timeout_seconds"),
        ({"max_export_attempts": 0}, "max_export_attempts"),
        ({"lookback_days": -1}, "lookback_days"),
        ({"base_url": "http://sei.example.com/api"}, "base_url"),
        ({"base_url": "ftp://127.0.0.1/api"}, "base_url"),
    ],
)
def test_each_bad_setting_is_named(changes: dict[str, t.Any], setting: str) -> None:
    errors = errors_of(**changes)
    assert len(errors) == 1, errors
    assert setting in errors[0]


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost", "127.8.9.10", "[::1]:80"])
def test_plain_http_is_allowed_to_loopback_only(host: str) -> None:
    url = f"http://{host}/sei/api/"
    assert parse_settings({**GOOD, "base_url": url}).base_url == url.rstrip("/")


def test_all_problems_are_reported_together() -> None:
    errors = errors_of(api_key="", granularity="hourly", start_date="2024-13-01")
    assert len(errors) == 3


def test_numbers_given_as_text_are_read_as_numbers() -> None:
    s = parse_settings({**GOOD, "poll_interval_seconds": "0.5", "export_timeout_seconds": "60"})
    assert (s.poll_interval_seconds, s.export_timeout_seconds) == (0.5, 60.0)
    assert "poll_interval_seconds" in errors_of(poll_interval_seconds="soon")[0]


BOUND_SETTINGS = [
    "max_request_retry_seconds",
    "window_timeout_seconds",
    "max_download_bytes",
    "max_decompressed_bytes",
    "max_decompression_ratio",
    "max_json_answer_bytes",
]


@pytest.mark.parametrize("name", BOUND_SETTINGS)
@pytest.mark.parametrize("value", [0, -1, float("nan"), "many"])
def test_bounds_must_be_positive_numbers(name: str, value: t.Any) -> None:
    assert any(name in e for e in errors_of(**{name: value}))


def test_bounds_defaults_and_text_numbers() -> None:
    s = parse_settings(
        {**GOOD, "min_download_bytes_per_second": "0", "max_decompression_ratio": "50"}
    )
    assert s.min_download_bytes_per_second == 0  # zero turns the rate check off
    assert s.max_decompression_ratio == 50
    assert s.window_timeout_seconds is None  # derived: 2 x attempts x export timeout
    assert (s.max_request_retry_seconds, s.max_json_answer_bytes) == (300, 1 << 20)
    assert (s.max_download_bytes, s.max_decompressed_bytes) == (4 << 30, 32 << 30)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://alice:hunter2@app.harness.io/prod1/sei/api", "carries credentials"),
        ("https://alice@app.harness.io/prod1/sei/api", "carries credentials"),
        ("https://app.harness.io/prod1/sei/api?alice=hunter2", "query or a fragment"),
        ("https://app.harness.io/prod1/sei/api#alice-hunter2", "query or a fragment"),
        ("alice:hunter2@app.harness.io/prod1/sei/api", "not an http(s) URL"),
        ("ftp://alice:hunter2@app.harness.io/prod1/sei/api", "not an http(s) URL"),
        ("https://app.harness.io:alice/prod1/sei/api", "is not a URL"),
        ("https://[alice::hunter2/prod1/sei/api", "is not a URL"),
        # A password holding '#', '/' or '?' ends the host early: `alice` would be the host.
        ("https://alice:hunter2#x@app.harness.io/prod1/sei/api", "holds an '@' after its host"),
        ("https://alice:hunter2/x@app.harness.io/prod1/sei/api", "holds an '@' after its host"),
        ("https://alice:1?hunter2@app.harness.io/prod1/sei/api", "holds an '@' after its host"),
        ("ftp://alice:1#hunter2@app.harness.io/prod1/sei/api", "not an http(s) URL"),
    ],
)
def test_a_base_url_with_secrets_or_unreadable_is_refused_without_echoing_them(
    url: str, fragment: str
) -> None:
    errors = errors_of(base_url=url)
    assert len(errors) == 1, errors
    assert "base_url" in errors[0]
    assert fragment in errors[0]
    assert "alice" not in errors[0]
    assert "hunter2" not in errors[0]
