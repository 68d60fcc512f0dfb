"""Fixtures: a sandbox of the SEI API on 127.0.0.1 and the tap's settings pointing at it."""

from __future__ import annotations

import datetime as dt
import os
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap_sei_time_in_status.sandbox import SandboxConfig, SandboxServer, expected_rows
from tap_sei_time_in_status.settings import parse_settings
from tap_sei_time_in_status.windows import period_start
from tests.tap_runner import TapRun, run_tap

API_KEY = "test-key-7f3c9a1b2e"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers a core, as most tests wait (on the sandbox's timers), not compute.

    The CPU-bound Meltano tests run on two of them (`tests/xdist_groups.py`). At most 16: past
    that, starting workers costs more than it saves.
    """
    return min(16, max(2, 2 * (os.cpu_count() or 1)))


def pytest_xdist_make_scheduler(config: pytest.Config, log: t.Any) -> t.Any:
    """`--dist loadgroup`: the groups of `tests/xdist_groups.py` (by module and name)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.xdist_groups import SerialGroupScheduling  # noqa: PLC0415 - only with xdist

    return SerialGroupScheduling(config, log)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(api_key=API_KEY, export_seconds=0.05)) as server:
        yield server


def tap_config(server: SandboxServer, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings for a small, fast sync against `server`."""
    config: dict[str, t.Any] = {
        "api_key": API_KEY,
        "base_url": server.base_url,
        "org_identifier": "default",
        "project_identifier": "sei_demo",
        "team_ids": ["team_abc123"],
        "org_tree_names": ["Engineering"],
        "start_date": "2025-01-08",
        "end_date": "2025-04-16",
        "granularity": "weekly",
        "periods_per_window": 4,
        "poll_interval_seconds": 0.05,
        "max_poll_interval_seconds": 0.2,
        "request_timeout_seconds": 10,
        "failed_export_wait_seconds": 0,
    }
    config.update(overrides)
    return config


def served_rows(server: SandboxServer, config: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """Every row the sandbox holds for the configured range, as one export per scope would serve it.

    One export over the whole range (not the tap's windows) is the oracle: the sandbox's rows
    depend only on the period, so windows must add up to exactly this.
    """
    settings = parse_settings(config)
    rows: list[dict[str, t.Any]] = []
    for scope in settings.scopes:
        body = {
            "scope": (
                {"teamId": scope.scope_id}
                if scope.scope_type == "team"
                else {"orgTreeName": scope.scope_id, "orgIdentifier": settings.org_identifier}
            ),
            "dateRange": {
                "start": period_start(settings.start_date, settings.granularity).isoformat(),
                "end": settings.end_date.isoformat(),
            },
            "issueStatuses": list(settings.issue_statuses),
            "options": {
                "aggregationLevel": settings.aggregation_level,
                "granularity": settings.granularity,
                "terminalDateColumn": settings.terminal_date_column,
            },
        }
        _, scope_rows = expected_rows(body, server.config)
        rows.extend({**row, "scope_id": scope.scope_id} for row in scope_rows)
    return rows


def row_view(record: dict[str, t.Any], status_columns: t.Sequence[str]) -> tuple[t.Any, ...]:
    """A record reduced to what the CSV row said, for comparing with the sandbox's rows."""
    return (
        record["scope_id"],
        record["period"],
        record["team"],
        record["team_hierarchy"],
        record.get("sprint"),
        record["total_issues"],
        *(record[c] for c in status_columns),
        record["total_lead_time_hours"],
        tuple(sorted(record["additional_columns"].items())),
    )


def csv_view(row: dict[str, t.Any], status_columns: t.Sequence[str]) -> tuple[t.Any, ...]:
    """The same view of a sandbox CSV row, converted as the tap promises to convert it."""

    def number(cell: str) -> float | None:
        return float(cell) if cell != "" else None

    known = {"granularity", "team", "team_hierarchy", "sprint", "total_issues", "scope_id"}
    known |= {*status_columns, "total_lead_time_hours"}
    extra = {
        k: number(v) if k.endswith("_hours") else (v or None)
        for k, v in row.items()
        if k not in known
    }
    return (
        row["scope_id"],
        row["granularity"],
        row["team"],
        row["team_hierarchy"],
        row.get("sprint"),
        int(row["total_issues"]) if row["total_issues"] != "" else None,
        *(number(row[c]) for c in status_columns),
        number(row["total_lead_time_hours"]),
        tuple(sorted(extra.items())),
    )


@pytest.fixture
def tap(tmp_path: Path) -> t.Callable[..., TapRun]:
    """Run the tap in-process (`run_tap`) with a config (and optional state) in a temp folder."""
    counter = iter(range(1000))

    def run(config: dict[str, t.Any], state: dict[str, t.Any] | None = None, **kw: t.Any) -> TapRun:
        workdir = tmp_path / f"run{next(counter)}"
        workdir.mkdir()
        return run_tap(workdir, config, state, **kw)

    return run


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()
