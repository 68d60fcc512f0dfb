"""The direct RECORD path writes the very bytes singer-sdk's path writes, or stands aside."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import typing as t

import pytest
from singer_sdk import Stream

from tap_sei_time_in_status.output.record_writer import RecordWriter, can_write_directly
from tap_sei_time_in_status.tap import TapSeiTimeInStatus

CONFIG: dict[str, t.Any] = {
    "api_key": "k",
    "base_url": "http://127.0.0.1:9/sei/api",
    "org_identifier": "org",
    "project_identifier": "proj",
    "team_ids": ["team_a"],
    "start_date": "2025-01-01",
    "end_date": "2025-02-01",
}
RECORD: dict[str, t.Any] = {
    "scope_type": "team",
    "scope_id": "team_a",
    "window_start": "2025-01-01",
    "window_end": "2025-02-01",
    "granularity": "weekly",
    "aggregation_level": "team",
    "terminal_date_column": "issue_resolved_at",
    "export_id": "exp_1",
    "period": "2025-W02",
    "team": 'Payments, "Billing" & Données',
    "team_hierarchy": "Eng/Payments",
    "total_issues": 12,
    "in_progress_hours": 1.5,
    "in_review_hours": None,
    "qa_hours": 1e-7,
    "done_hours": 123456789.25,
    "total_lead_time_hours": 0.0,
    "additional_columns": {"to_do_hours": 2.0, "owner": None},
}


def sdk_line(stream: Stream, record: dict[str, t.Any], monkeypatch: pytest.MonkeyPatch) -> bytes:
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out, write_through=True))
    Stream._write_record_message(stream, dict(record))  # singer-sdk's own path
    sys.stdout.flush()
    return out.getvalue()


def test_direct_line_equals_the_sdk_line(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = TapSeiTimeInStatus(config=CONFIG).streams["time_in_status"]
    assert can_write_directly(stream)
    expected = sdk_line(stream, RECORD, monkeypatch)
    out = io.BytesIO()
    writer = RecordWriter("time_in_status", out=out)
    writer.time_extracted = dt.datetime.fromisoformat(json.loads(expected)["time_extracted"])
    writer.write(RECORD)
    assert out.getvalue() == expected


@pytest.mark.parametrize(
    "extra",
    [
        {"stream_maps": {"time_in_status": {"team": "team.upper()"}}},
        {"flattening_enabled": True, "flattening_max_depth": 1},
    ],
)
def test_maps_and_flattening_take_the_sdk_path(extra: dict[str, t.Any]) -> None:
    stream = TapSeiTimeInStatus(config={**CONFIG, **extra}).streams["time_in_status"]
    assert not can_write_directly(stream)
