"""The sandbox SEI export API, exercised over real HTTP on 127.0.0.1."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests

from tap_sei_time_in_status.sandbox import (
    ALWAYS,
    ORG_TREE_TEAM_NAMES,
    Fault,
    InvalidRequestError,
    SandboxConfig,
    SandboxServer,
    expected_rows,
    period_label,
    periods,
    slugify,
    status_column,
)
from tap_sei_time_in_status.sandbox.api import EXPORTS_SUFFIX
from tap_sei_time_in_status.sandbox.cli import build_config, build_parser, is_loopback, main
from tap_sei_time_in_status.sandbox.config import ConfigChanges
from tap_sei_time_in_status.sandbox.observe import peak_requests

KEY = "test-key-123"
EXPORTS = "/v2/insights/ticket-data/exports"
STATUSES = ["In Progress", "In Review", "QA", "Done"]
ORG_BODY: dict[str, Any] = {
    "scope": {"orgTreeName": "Engineering", "orgIdentifier": "org1"},
    "dateRange": {"start": "2026-01-01", "end": "2026-02-28"},
    "issueStatuses": STATUSES,
    "options": {
        "aggregationLevel": "sprint",
        "granularity": "weekly",
        "terminalDateColumn": "issue_resolved_at",
    },
}
TEAM_BODY: dict[str, Any] = {
    "scope": {"teamId": "team_abc123"},
    "dateRange": {"start": "2025-11-15", "end": "2026-03-31"},
    "issueStatuses": ["In Progress", "QA"],
    "options": {
        "aggregationLevel": "team",
        "granularity": "monthly",
        "terminalDateColumn": "version_release_date",
    },
}


class Client:
    """A minimal, well-behaved client of the sandbox (the tap has its own)."""

    def __init__(self, server: SandboxServer, key: str = KEY) -> None:
        self.server = server
        self.session = requests.Session()
        self.headers = {"authorization": f"ApiKey {key}"}
        self.params = {"projectIdentifier": "proj1", "orgIdentifier": "org1"}

    def url(self, suffix: str = "") -> str:
        return f"{self.server.base_url}{EXPORTS}{suffix}"

    def create(self, body: dict[str, Any], **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.post(
            self.url(), json=body, headers=self.headers, params=self.params, **kwargs
        )

    def poll(self, export_id: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.get(
            self.url(f"/{export_id}"), headers=self.headers, params=self.params, **kwargs
        )

    def download(self, export_id: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.get(
            self.url(f"/{export_id}/download"), headers=self.headers, params=self.params, **kwargs
        )

    def wait(self, export_id: str, until: str = "COMPLETED", limit: float = 5.0) -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            status = self.poll(export_id).json()["status"]
            if not seen or seen[-1] != status:
                seen.append(status)
            if status.upper() in (until, "FAILED"):
                return seen
            time.sleep(0.02)
        pytest.fail(f"export {export_id} stuck at {seen}")

    def completed_export(self, body: dict[str, Any]) -> str:
        export_id: str = self.create(body).json()["exportId"]
        self.wait(export_id)
        return export_id


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(api_key=KEY, export_seconds=0.06)) as sandbox:
        yield sandbox
        assert sandbox.errors == []


@pytest.fixture
def client(server: SandboxServer) -> Client:
    return Client(server)


def csv_of(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    text = data.decode("utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


# -- data -------------------------------------------------------------------------------------


def test_slug_and_status_columns() -> None:
    assert status_column("In Progress") == "in_progress_hours"
    assert status_column("QA") == "qa_hours"
    assert slugify("  Won't Do / Blocked!! ") == "won_t_do_blocked"


@pytest.mark.parametrize(
    ("granularity", "day", "label"),
    [
        ("daily", date(2026, 1, 5), "2026-01-05"),
        ("weekly", date(2026, 1, 5), "2026-W02"),
        ("weekly", date(2027, 1, 1), "2026-W53"),
        ("weekly", date(2024, 12, 30), "2025-W01"),
        ("monthly", date(2026, 1, 31), "Jan 2026"),
        ("quarterly", date(2026, 6, 30), "Q2 2026"),
    ],
)
def test_period_labels(granularity: str, day: date, label: str) -> None:
    assert period_label(granularity, day) == label


def test_periods_cover_every_intersecting_period() -> None:
    weeks = list(periods("weekly", date(2026, 1, 1), date(2026, 1, 12)))
    assert [p.label for p in weeks] == ["2026-W01", "2026-W02", "2026-W03"]
    assert weeks[0].start == date(2025, 12, 29)
    assert weeks[0].end == date(2026, 1, 4)
    quarters = list(periods("quarterly", date(2025, 12, 31), date(2026, 4, 1)))
    assert [p.label for p in quarters] == ["Q4 2025", "Q1 2026", "Q2 2026"]


def test_expected_rows_shape_and_sums() -> None:
    header, rows = expected_rows(ORG_BODY, SandboxConfig())
    assert header == [
        "granularity",
        "team",
        "team_hierarchy",
        "sprint",
        "total_issues",
        "in_progress_hours",
        "in_review_hours",
        "qa_hours",
        "done_hours",
        "to_do_hours",
        "total_lead_time_hours",
    ]
    assert {r["team"] for r in rows} == set(ORG_TREE_TEAM_NAMES[:3])
    assert all(r["team_hierarchy"] == f"Engineering/{r['team']}" for r in rows)
    assert all(r["sprint"].startswith("Sprint ") for r in rows)
    hour_columns = header[5:-1]
    for row in rows:
        cents = sum(round(float(row[c]) * 100) for c in hour_columns if row[c])
        assert round(float(row["total_lead_time_hours"]) * 100) == cents
        assert row["total_issues"].isdigit()
    assert any(row[c] == "" for row in rows for c in header[5:9]), "some null cells"
    keys = [(r["granularity"], r["team"], r["sprint"]) for r in rows]
    assert len(keys) == len(set(keys))
    # 9 weeks x 3 teams, minus ~10% missing slots, times 1-2 sprints each.
    assert 20 <= len(rows) <= 54


def test_team_scope_and_extra_columns() -> None:
    config = SandboxConfig(extra_columns=["to_do_hours", "blocked_hours"])
    header, rows = expected_rows(TEAM_BODY, config)
    assert header[-3:] == ["to_do_hours", "blocked_hours", "total_lead_time_hours"]
    assert "sprint" not in header
    assert {r["team"] for r in rows} == {"Abc123 Team"}
    months = {"Nov 2025", "Dec 2025", "Jan 2026", "Feb 2026", "Mar 2026"}
    assert {r["granularity"] for r in rows} <= months
    assert all(r["team_hierarchy"] == "Engineering/Abc123 Team" for r in rows)


def test_rows_do_not_depend_on_the_date_range() -> None:
    wide = dict(ORG_BODY, dateRange={"start": "2026-01-01", "end": "2026-03-31"})
    narrow = dict(ORG_BODY, dateRange={"start": "2026-02-10", "end": "2026-02-20"})
    _, wide_rows = expected_rows(wide)
    _, narrow_rows = expected_rows(narrow)
    labels = {r["granularity"] for r in narrow_rows}
    assert labels <= {"2026-W07", "2026-W08"}
    assert narrow_rows == [r for r in wide_rows if r["granularity"] in labels]
    other_status_order = dict(narrow, issueStatuses=["Done", "QA"])
    _, reordered = expected_rows(other_status_order)
    assert [r["qa_hours"] for r in reordered] == [r["qa_hours"] for r in narrow_rows]


def test_empty_ranges_and_status_set_independence() -> None:
    config = SandboxConfig(empty_ranges=[(date(2026, 1, 12), date(2026, 1, 25))])
    _, rows = expected_rows(ORG_BODY, config)
    assert rows
    assert not {r["granularity"] for r in rows} & {"2026-W03", "2026-W04"}
    empty = dict(ORG_BODY, dateRange={"start": "2026-01-13", "end": "2026-01-20"})
    assert expected_rows(empty, config)[1] == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"scope": {"teamId": "t", "orgTreeName": "o", "orgIdentifier": "x"}}, "exactly one"),
        ({"scope": {}}, "exactly one"),
        ({"scope": {"orgTreeName": "Eng"}}, "orgIdentifier"),
        ({"dateRange": {"start": "2026-1-01", "end": "2026-02-01"}}, "yyyy-MM-dd"),
        ({"dateRange": {"start": "2026-02-30", "end": "2026-03-01"}}, "not a valid date"),
        ({"dateRange": {"start": "2026-03-01", "end": "2026-02-01"}}, "before"),
        ({"issueStatuses": []}, "non-empty"),
        ({"issueStatuses": ["QA", "qa"]}, "twice"),
        ({"options": {"granularity": "hourly"}}, "granularity"),
        ({"options": {"colour": "blue"}}, "unknown field"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_invalid_bodies(client: Client, change: dict[str, Any], fragment: str) -> None:
    body = {**ORG_BODY, **change}
    with pytest.raises(InvalidRequestError, match=fragment):
        expected_rows(body)
    response = client.create(body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "INVALID_ARGUMENT"
    assert fragment in payload["message"]
    assert payload["correlationId"]
    assert client.server.exports_created() == []


# -- auth, routes, lifecycle --------------------------------------------------------------------


def test_health_needs_no_key(server: SandboxServer) -> None:
    assert requests.get(f"{server.root_url}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{server.base_url}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("header", [None, "ApiKey wrong", f"Bearer {KEY}", KEY])
def test_bad_or_missing_key_is_401(
    server: SandboxServer, client: Client, header: str | None
) -> None:
    headers = {} if header is None else {"authorization": header}
    response = requests.post(
        client.url(), json=ORG_BODY, headers=headers, params=client.params, timeout=5
    )
    assert response.status_code == 401
    payload = response.json()
    assert payload["code"] == "UNAUTHORIZED"
    assert payload["message"] == "Invalid API key"
    assert len(payload["correlationId"]) == 36
    (entry,) = server.request_log
    assert (entry.auth_valid, entry.auth_present) == (False, header is not None)
    assert KEY not in repr(server.request_log) + repr(server.config)


@pytest.mark.parametrize("missing", ["projectIdentifier", "orgIdentifier"])
def test_query_identifiers_are_required(client: Client, missing: str) -> None:
    client.params.pop(missing)
    response = client.create(ORG_BODY)
    assert response.status_code == 400
    assert missing in response.json()["message"]


def test_a_project_the_key_may_not_use_is_refused_with_403(
    server: SandboxServer, client: Client
) -> None:
    assert client.create(ORG_BODY).status_code == 201  # by default any pair is accepted
    server.set_config(projects=[("org1", "other_project")])
    refused = client.create(ORG_BODY)
    assert refused.status_code == 403
    assert refused.json()["code"] == "ACCESS_DENIED"
    assert "project 'proj1' of org 'org1'" in refused.json()["message"]
    (export,) = server.exports_created()
    assert client.poll(export.export_id).status_code == 403  # every endpoint, not only create
    server.set_config(projects=[("org1", "other_project"), ("org1", "proj1")])
    assert client.poll(export.export_id).status_code == 200
    args = build_parser().parse_args(["--project", "org1/proj1", "--project", "o/p"])
    assert build_config(args).projects == (("org1", "proj1"), ("o", "p"))
    assert build_config(build_parser().parse_args([])).projects is None
    with pytest.raises(ValueError, match="ORG/PROJECT"):
        build_config(build_parser().parse_args(["--project", "no-slash"]))


def test_status_progresses_then_download_matches_expected_rows(
    server: SandboxServer, client: Client
) -> None:
    server.set_config(export_seconds=0.3)
    created = client.create(ORG_BODY)
    assert created.status_code == 201
    payload = created.json()
    assert payload["status"] == "QUEUED"
    assert payload["message"] == "Export job created successfully"
    assert payload["exportId"].startswith("exp_")
    assert len(payload["exportId"]) == 12
    assert payload["createdAt"].endswith("Z")
    export_id = payload["exportId"]
    early = client.download(export_id)
    assert early.status_code == 409
    assert client.wait(export_id) == ["QUEUED", "PROCESSING", "COMPLETED"]
    polled = client.poll(export_id).json()
    assert set(polled) == {"exportId", "status", "createdAt", "createdBy", "message"}
    assert set(polled["createdBy"]) == {"userId", "name", "email"}

    response = client.download(export_id)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    assert int(response.headers["Content-Length"]) == len(response.content)
    raw = gzip.decompress(response.content)
    assert raw.split(b"\r\n", 1)[0].startswith(b"granularity,team,team_hierarchy,sprint,")
    assert b'"Mobile ""iOS"" Team"' in raw
    assert b'"Payments, Billing & Invoicing"' in raw
    assert "Données Équipe".encode() in raw
    assert csv_of(raw) == expected_rows(ORG_BODY, server.config)

    record = server.export(export_id)
    assert record.body == ORG_BODY
    assert (record.polls, record.downloads) == (len(server.polls_for(export_id)), 2)
    assert [e.status for e in server.requests_of("download")] == [409, 200]
    assert server.requests_of("create")[0].body == ORG_BODY


def test_download_of_team_scope_and_unknown_ids(client: Client) -> None:
    export_id = client.completed_export(TEAM_BODY)
    assert csv_of(gzip.decompress(client.download(export_id).content)) == expected_rows(
        TEAM_BODY, client.server.config
    )
    assert client.poll("exp_00000000").status_code == 404
    assert client.download("exp_00000000").json()["code"] == "NOT_FOUND"
    client.params["projectIdentifier"] = "another"
    assert client.poll(export_id).status_code == 404


def test_duplicate_request_reuses_the_export(server: SandboxServer, client: Client) -> None:
    first = client.create(ORG_BODY).json()["exportId"]
    reordered = {k: ORG_BODY[k] for k in reversed(list(ORG_BODY))}
    again = client.create(reordered)
    assert again.status_code == 200
    assert again.json()["exportId"] == first
    assert again.json()["message"] == "Duplicate request - returning existing export"
    client.wait(first)
    assert client.create(ORG_BODY).json()["status"] == "COMPLETED"
    assert server.export(first).creates == 3
    other = dict(ORG_BODY, issueStatuses=["QA"])
    assert client.create(other).json()["exportId"] != first
    client.params["projectIdentifier"] = "proj2"
    assert client.create(ORG_BODY).status_code == 201
    server.set_config(duplicate_window_seconds=0)
    assert client.create(ORG_BODY).status_code == 201
    assert len(server.exports_created()) == 4


def test_the_log_tells_the_peak_minute_and_the_exports_in_flight(
    server: SandboxServer, client: Client
) -> None:
    assert peak_requests([0.0, 0.5, 59.9, 60.0, 60.1, 200.0], 60.0) == 4  # [0.5, 60.1]
    assert peak_requests([], 60.0) == 0
    first = client.create(ORG_BODY).json()["exportId"]
    second = client.create(dict(ORG_BODY, issueStatuses=["QA"])).json()["exportId"]
    client.wait(first)
    client.download(first)  # first: create .. download, both in flight until then
    client.wait(second)
    third = client.create(dict(ORG_BODY, issueStatuses=["Done"])).json()["exportId"]
    client.download(second)
    client.wait(third)
    client.download(third)
    assert server.peak_exports_in_flight() == 2
    assert server.peak_requests(60.0) == len(server.request_log)
    assert server.peak_requests(60.0, project="proj1") == len(server.request_log)
    assert server.peak_requests(60.0, project="other") == 0
    assert server.peak_exports_in_flight(project="other") == 0


def test_quiet_unless_verbose(server: SandboxServer, client: Client, capfd: Any) -> None:
    client.create(ORG_BODY)
    client.poll("exp_00000000")
    assert capfd.readouterr().err == ""
    server.set_config(verbose=True)
    client.poll("exp_00000000")
    err = capfd.readouterr().err
    assert "exp_00000000" in err
    assert KEY not in err


# -- faults ------------------------------------------------------------------------------------


def test_429_with_and_without_retry_after(server: SandboxServer, client: Client) -> None:
    server.set_faults(
        [
            Fault("create", "429", times=1),
            Fault("create", "429_no_retry_after", times=1, after=1),
            Fault("poll", "429", retry_after=7),
        ]
    )
    first = client.create(ORG_BODY)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "1"
    second = client.create(ORG_BODY)
    assert second.status_code == 429
    assert "Retry-After" not in second.headers
    third = client.create(ORG_BODY)
    assert third.status_code == 201
    assert client.poll(third.json()["exportId"]).headers["Retry-After"] == "7"
    assert [e.fault for e in server.requests_of("create")] == ["429", "429_no_retry_after", None]
    assert len(server.exports_created()) == 1


def test_after_and_times_and_any(server: SandboxServer, client: Client) -> None:
    server.set_faults([Fault("any", "503", times=2, after=1)])
    export_id = client.create(ORG_BODY).json()["exportId"]
    codes = [client.create(ORG_BODY).status_code]
    codes += [client.poll(export_id).status_code for _ in range(2)]
    assert codes == [503, 503, 200]
    server.set_faults([Fault("poll", "500", times=ALWAYS)])
    assert {client.poll(export_id).status_code for _ in range(3)} == {500}


def test_processed_fault_creates_the_export_but_loses_the_answer(
    server: SandboxServer, client: Client
) -> None:
    server.set_faults([Fault("create", "502", process=True)])
    assert client.create(ORG_BODY).status_code == 502
    (record,) = server.exports_created()
    retry = client.create(ORG_BODY)
    assert retry.status_code == 200
    assert retry.json()["exportId"] == record.export_id


def test_html_non_json_and_drop(server: SandboxServer, client: Client) -> None:
    server.set_faults(
        [
            Fault("create", "html"),
            Fault("create", "non_json", after=1),
            Fault("create", "drop", after=2),
        ]
    )
    html = client.create(ORG_BODY)
    assert (html.status_code, html.headers["Content-Type"]) == (502, "text/html; charset=utf-8")
    assert html.text.startswith("<!DOCTYPE html>")
    non_json = client.create(ORG_BODY)
    assert non_json.status_code == 200
    with pytest.raises(ValueError, match="Expecting value"):
        non_json.json()
    with pytest.raises(requests.ConnectionError):
        client.create(ORG_BODY)
    assert server.requests_of("create")[-1].status is None
    assert client.create(ORG_BODY).status_code == 201


def test_slow_triggers_a_read_timeout(server: SandboxServer, client: Client) -> None:
    server.set_faults([Fault("poll", "slow", delay=0.5)])
    export_id = client.create(ORG_BODY).json()["exportId"]
    with pytest.raises(requests.ReadTimeout):
        client.poll(export_id, timeout=0.15)
    assert client.poll(export_id).status_code == 200


def test_retry_after_text_is_sent_as_is(server: SandboxServer, client: Client) -> None:
    server.set_faults([Fault("create", "429", retry_after="nan")])
    assert client.create(ORG_BODY).headers["Retry-After"] == "nan"


def test_drip_sends_everything_one_byte_at_a_time(server: SandboxServer, client: Client) -> None:
    export_id = client.completed_export(ORG_BODY)
    whole = client.download(export_id).content
    server.set_faults(
        [Fault("download", "drip_body", delay=0.0005), Fault("poll", "drip_headers", delay=0)]
    )
    with client.download(export_id, stream=True) as response:
        chunks = list(response.raw.stream(1 << 16))
    assert b"".join(chunks) == whole
    assert client.poll(export_id).json()["exportId"] == export_id
    assert [count for _, count in server.fault_plan.fired()] == [1, 1]


def test_gzip_bomb_and_huge_json(server: SandboxServer, client: Client) -> None:
    export_id = client.completed_export(ORG_BODY)
    server.set_faults(
        [Fault("download", "gzip_bomb", size=8 << 20), Fault("poll", "huge_json", size=5000)]
    )
    packed = client.download(export_id, stream=True).raw.read()
    assert len(packed) < 20_000
    plain = gzip.decompress(packed)
    assert plain.startswith(b"granularity,")
    assert len(plain) > 8 << 20
    assert len(client.poll(export_id).content) > 5000


def test_plain_huge_line(server: SandboxServer, client: Client) -> None:
    export_id = client.completed_export(ORG_BODY)
    server.set_faults([Fault("download", "plain_huge_line", size=100_000)])
    answer = client.download(export_id)
    assert answer.headers["Content-Type"].startswith("text/csv")
    header, line = answer.content.split(b"\r\n")
    assert header.startswith(b"granularity,")
    assert len(line) == 100_000


def test_cut_download(server: SandboxServer, client: Client) -> None:
    export_id = client.completed_export(ORG_BODY)
    server.set_faults([Fault("download", "cut")])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.download(export_id)
    with client.download(export_id, stream=True) as response:
        assert gzip.decompress(response.raw.read()).startswith(b"granularity,")


def test_redirect_to_another_host_name(server: SandboxServer, client: Client) -> None:
    export_id = client.completed_export(ORG_BODY)
    server.set_faults([Fault("download", "redirect", times=2)])
    redirect = client.download(export_id, allow_redirects=False)
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert location.startswith(f"http://localhost:{server.port}/_blob/{export_id}?signature=")
    followed = client.download(export_id)  # requests drops the key on a host change
    assert csv_of(gzip.decompress(followed.content)) == expected_rows(ORG_BODY, server.config)
    leaky = requests.get(location, headers=client.headers, timeout=5)
    assert leaky.status_code == 200
    blobs = server.requests_of("blob")
    assert [(b.auth_present, b.status) for b in blobs] == [(False, 200), (True, 200)]
    forged = location.rsplit("=", 1)[0] + "=0"
    assert requests.get(forged, timeout=5).status_code == 404


def test_redirects_that_lead_back_to_the_api_host(server: SandboxServer, client: Client) -> None:
    first = client.completed_export(ORG_BODY)
    other = client.completed_export({**ORG_BODY, "issueStatuses": ["QA"]})
    exports = f"http://127.0.0.1:{server.port}{server.config.base_path}{EXPORTS_SUFFIX}"
    server.set_faults(
        [
            Fault("download", "redirect_back_other"),
            Fault("download", "redirect_back_poll", after=1),
            Fault("download", "redirect_back_same", after=2),
        ]
    )
    backs = []
    for _ in range(3):
        hop = client.download(other, allow_redirects=False).headers["Location"]
        assert hop.startswith(f"http://localhost:{server.port}/_blob/{other}?signature=")
        back = requests.get(hop, allow_redirects=False, timeout=5)
        assert back.status_code == 302
        backs.append(back.headers["Location"])
    assert backs[0] == f"{exports}/{first}/download"
    assert backs[1] == f"{exports}/{other}"
    assert backs[2].startswith(f"{exports}/{other}/download?signature=")
    # The signed download needs neither the key nor the identifiers, as a pre-signed URL.
    signed = requests.get(backs[2], timeout=5)
    assert signed.status_code == 200
    assert csv_of(gzip.decompress(signed.content)) == expected_rows(
        {**ORG_BODY, "issueStatuses": ["QA"]}, server.config
    )
    assert requests.get(backs[2].rsplit("=", 1)[0] + "=0", timeout=5).status_code == 401


def test_the_blob_host_can_fail_too(server: SandboxServer, client: Client) -> None:
    export_id = client.completed_export(ORG_BODY)
    server.set_faults([Fault("download", "redirect", times=2), Fault("blob", "503")])
    assert client.download(export_id).status_code == 503
    assert client.download(export_id).status_code == 200
    assert [b.status for b in server.requests_of("blob")] == [503, 200]
    with pytest.raises(ValueError, match="does not apply to blob"):
        Fault("blob", "non_json")


def test_plain_and_content_encoding(server: SandboxServer, client: Client) -> None:
    export_id = client.completed_export(ORG_BODY)
    expected = expected_rows(ORG_BODY, server.config)
    server.set_faults(
        [Fault("download", "plain"), Fault("download", "content_encoding_gzip", after=1)]
    )
    plain = client.download(export_id)
    assert plain.headers["Content-Type"].startswith("text/csv")
    assert int(plain.headers["Content-Length"]) == len(plain.content)
    assert csv_of(plain.content) == expected
    encoded = client.download(export_id, stream=True)
    assert encoded.headers["Content-Encoding"] == "gzip"
    assert csv_of(gzip.decompress(encoded.raw.read(decode_content=False))) == expected


@pytest.mark.parametrize(
    "kind",
    ["malformed_non_numeric", "malformed_missing_column", "malformed_duplicate_keys", "ragged"],
)
def test_malformed_downloads(server: SandboxServer, client: Client, kind: Any) -> None:
    export_id = client.completed_export(ORG_BODY)
    header, rows = expected_rows(ORG_BODY, server.config)
    server.set_faults([Fault("download", kind)])
    raw = gzip.decompress(client.download(export_id).content).decode()
    lines = list(csv.reader(io.StringIO(raw, newline="")))
    if kind == "malformed_non_numeric":
        assert lines[1][header.index("total_issues")] == "abc"
    elif kind == "malformed_missing_column":
        assert "team" not in lines[0]
        assert {len(line) for line in lines} == {len(header) - 1}
    elif kind == "malformed_duplicate_keys":
        assert lines[1] == lines[2]
        assert len(lines) == len(rows) + 2
    else:
        assert len(lines[1]) == len(header) + 1
    clean = client.download(export_id)  # the fault has worn off
    assert csv_of(gzip.decompress(clean.content)) == (header, rows)


def test_failed_and_stuck_exports(server: SandboxServer, client: Client) -> None:
    server.set_config(fail_exports=1, stuck_exports=1)
    failed = client.create(ORG_BODY).json()["exportId"]
    assert client.wait(failed)[-1] == "FAILED"
    assert client.download(failed).status_code == 409
    stuck = client.create(ORG_BODY).json()["exportId"]
    assert stuck != failed, "a FAILED export is never reused"
    time.sleep(0.1)
    assert client.poll(stuck).json()["status"] == "PROCESSING"
    assert client.create(ORG_BODY).json()["exportId"] == stuck
    fine = client.create(dict(ORG_BODY, issueStatuses=["QA"])).json()["exportId"]
    assert client.wait(fine)[-1] == "COMPLETED"


def test_status_case_code_unknown_status_and_forgetting(
    server: SandboxServer, client: Client
) -> None:
    server.set_config(status_case="lower", create_status_code=202)
    created = client.create(ORG_BODY)
    assert (created.status_code, created.json()["status"]) == (202, "queued")
    export_id = created.json()["exportId"]
    assert client.wait(export_id, until="COMPLETED")[-1] == "completed"
    server.set_config(unknown_status=True, status_case="upper")
    assert client.poll(export_id).json()["status"] == "ARCHIVED"
    server.forget_exports()
    assert client.poll(export_id).status_code == 404
    assert server.exports == {}


def test_fault_parsing_and_validation() -> None:
    assert Fault.parse("create:429:2") == Fault("create", "429", times=2)
    assert Fault.parse("any:500:always:3") == Fault("any", "500", times=ALWAYS, after=3)
    for bad in ("create", "create:teapot", "bogus:500", "create:500:x"):
        with pytest.raises(ValueError, match="fault"):
            Fault.parse(bad)
    with pytest.raises(ValueError, match="only applies to downloads"):
        Fault("create", "cut")
    with pytest.raises(ValueError, match="create and poll"):
        Fault("download", "non_json")
    assert not Fault("any", "cut").applies_to("poll")


def test_config_validation_and_changes(server: SandboxServer) -> None:
    with pytest.raises(ValueError, match="create_status_code"):
        SandboxConfig(create_status_code=204)
    with pytest.raises(ValueError, match="host and port"):
        server.set_config(port=1)
    assert set(ConfigChanges.__annotations__) == {f.name for f in dataclasses.fields(SandboxConfig)}
    server.set_faults([Fault("poll", "500")])
    assert server.fault_plan.faults == (Fault("poll", "500"),)
    assert server.base_url == f"http://127.0.0.1:{server.port}/sei/api"


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_refuses_remote_hosts() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("192.0.2.1")
    assert not is_loopback("example.com")
    with pytest.raises(SystemExit) as exit_info:
        main(["--host", "192.0.2.1", "--port", "0"])
    assert exit_info.value.code == 2


def test_cli_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_sei_time_in_status.sandbox.cli",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--fault",
            "create:503:1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/sei/api")
        url = f"{base_url}{EXPORTS}"
        params = {"projectIdentifier": "p", "orgIdentifier": "o"}
        headers = {"authorization": f"ApiKey {KEY}"}
        codes = [
            requests.post(url, json=ORG_BODY, headers=headers, params=params, timeout=5).status_code
            for _ in range(2)
        ]
        assert codes == [503, 201]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0


# -- dialects ----------------------------------------------------------------------------------


def test_csv_dialects_shape_the_header_and_the_rows() -> None:
    config = SandboxConfig(
        served_statuses=["In Progress"],
        extra_columns=["to_do_hours"],
        omit_columns=["team_hierarchy", "total_lead_time_hours"],
        sprint_column="sprint_name",
        header_case="title",
    )
    header, rows = expected_rows(ORG_BODY, config)
    assert header == [
        "Granularity",
        "Team",
        "Sprint_Name",
        "Total_Issues",
        "In_Progress_Hours",
        "To_Do_Hours",
    ]
    _, plain = expected_rows(ORG_BODY)
    assert len(rows) == len(plain)
    # The served status keeps the values it has when requested; the rest is left out.
    assert [r["In_Progress_Hours"] for r in rows] == [r["in_progress_hours"] for r in plain]
    assert [r["Sprint_Name"] for r in rows] == [r["sprint"] for r in plain]
    upper, _ = expected_rows(TEAM_BODY, SandboxConfig(header_case="upper"))
    assert upper[:3] == ["GRANULARITY", "TEAM", "TEAM_HIERARCHY"]


def test_dialect_download_matches_its_header(server: SandboxServer, client: Client) -> None:
    server.set_config(omit_columns=["team_hierarchy", "total_issues"], header_case="upper")
    export_id = client.completed_export(ORG_BODY)
    expected = expected_rows(ORG_BODY, server.config)
    assert csv_of(gzip.decompress(client.download(export_id).content)) == expected
    assert "TEAM_HIERARCHY" not in expected[0]
    assert "IN_PROGRESS_HOURS" in expected[0]


def test_csv_file_is_served_byte_for_byte(
    server: SandboxServer, client: Client, tmp_path: Any
) -> None:
    source = tmp_path / "given.csv"
    source.write_bytes(b"granularity,team\nJan 2026,\xc3\x89quipe\n")
    server.set_config(csv_file=source)
    export_id = client.completed_export(TEAM_BODY)
    assert gzip.decompress(client.download(export_id).content) == source.read_bytes()
    assert expected_rows(TEAM_BODY, server.config) == (
        ["granularity", "team"],
        [{"granularity": "Jan 2026", "team": "Équipe"}],
    )
    with pytest.raises(ValueError, match="csv_file"):
        SandboxConfig(csv_file=tmp_path / "absent.csv")


def test_create_answers_without_status(server: SandboxServer, client: Client) -> None:
    server.set_config(create_without_status=True)
    created = client.create(TEAM_BODY).json()
    assert set(created) == {"exportId", "createdAt", "createdBy", "metadata", "message"}
    assert created["metadata"]["dateRange"] == TEAM_BODY["dateRange"]
    assert created["metadata"]["options"] == TEAM_BODY["options"]
    reused = client.create(TEAM_BODY).json()
    assert reused == {
        "exportId": created["exportId"],
        "createdAt": created["createdAt"],
        "message": "Using existing export with identical parameters",
    }
    assert client.wait(created["exportId"])[-1] == "COMPLETED"


def test_rich_answers_state_the_file(server: SandboxServer, client: Client) -> None:
    server.set_config(rich_answers=True, status_case="lower")
    export_id = client.create(TEAM_BODY).json()["exportId"]
    client.wait(export_id, until="COMPLETED")
    answer = client.poll(export_id).json()
    assert answer["status"] == "completed"
    assert answer["scope"] == {"teamId": "team_abc123", "teamName": "Abc123 Team"}
    assert answer["metadata"]["scope"] == {"teamId": "team_abc123"}
    assert answer["completedAt"].endswith("Z")
    download = answer["download"]
    assert download["sizeBytes"] == len(client.download(export_id).content)
    assert (download["filename"], download["contentType"], download["compression"]) == (
        f"{export_id}.csv.gz",
        "application/gzip",
        "gzip",
    )
    assert answer["downloadUrl"] == download["url"]
    assert "/download" not in download["url"], "off the documented path on purpose"
    server.set_config(stated_size_offset=5)
    assert client.poll(export_id).json()["download"]["sizeBytes"] == download["sizeBytes"] + 5


def test_other_export_fault_answers_about_another_export(
    server: SandboxServer, client: Client
) -> None:
    first = client.completed_export(TEAM_BODY)
    second = client.create(ORG_BODY).json()["exportId"]
    server.set_faults([Fault("poll", "other_export")])
    answer = client.poll(second).json()
    assert answer["exportId"] == first
    assert answer["status"] == "COMPLETED"
    assert client.poll(second).json()["exportId"] == second  # worn off
    with pytest.raises(ValueError, match="only applies to polls"):
        Fault("create", "other_export")


def test_other_export_fault_without_another_export(server: SandboxServer, client: Client) -> None:
    only = client.create(TEAM_BODY).json()["exportId"]
    server.set_faults([Fault("poll", "other_export")])
    assert client.poll(only).json()["exportId"] == "exp_0THER000"


def test_requests_log_their_content_type(server: SandboxServer, client: Client) -> None:
    client.create(TEAM_BODY)
    client.session.get(
        client.url("/exp_NONE"),
        headers={**client.headers, "Content-Type": "application/json"},
        params=client.params,
        timeout=5,
    )
    create, poll = server.request_log
    assert create.content_type == "application/json"  # requests sets it for json=
    assert poll.content_type == "application/json"


def test_cli_dialect_switches() -> None:
    args = build_parser().parse_args(
        [
            "--served-status",
            "In Progress",
            "--served-status",
            "To Do",
            "--omit-column",
            "team_hierarchy",
            "--sprint-column",
            "sprint_name",
            "--header-case",
            "upper",
            "--create-without-status",
            "--rich-answers",
            "--lower-case-status",
        ]
    )
    config = build_config(args)
    assert config.served_statuses == ("In Progress", "To Do")
    assert config.omit_columns == ("team_hierarchy",)
    assert (config.sprint_column, config.header_case, config.status_case) == (
        "sprint_name",
        "upper",
        "lower",
    )
    assert config.create_without_status
    assert config.rich_answers
    defaults = build_config(build_parser().parse_args([]))
    assert defaults.served_statuses is None
    assert not defaults.rich_answers
    with pytest.raises(ValueError, match="header_case"):
        SandboxConfig(header_case="camel")  # type: ignore[arg-type]


# -- trust, round two (issue 18): answers that move data, or that no warehouse can hold ------


def test_other_window_export_answers_a_create_with_another_windows_export(
    server: SandboxServer, client: Client
) -> None:
    first = client.completed_export(TEAM_BODY)
    later = {**TEAM_BODY, "dateRange": {"start": "2026-04-01", "end": "2026-06-30"}}
    server.set_faults([Fault("create", "other_window_export", times=2)])
    answer = client.create(later).json()
    assert answer["exportId"] == first
    assert answer["status"] == "COMPLETED"
    assert len(server.exports_created()) == 1, "its own export was never kept"
    assert client.create(TEAM_BODY).json()["exportId"] == first, "the same request: itself"
    own = client.create(later).json()["exportId"]  # worn off
    assert own != first
    with pytest.raises(ValueError, match="only applies to creates"):
        Fault("poll", "other_window_export")


def test_other_window_export_with_process_keeps_the_export_it_hides(
    server: SandboxServer, client: Client
) -> None:
    first = client.completed_export(TEAM_BODY)
    later = {**TEAM_BODY, "dateRange": {"start": "2026-04-01", "end": "2026-06-30"}}
    server.set_faults([Fault("create", "other_window_export", process=True)])
    assert client.create(later).json()["exportId"] == first
    assert len(server.exports_created()) == 2


def test_other_window_export_with_nothing_to_mix_up_serves_the_create(
    server: SandboxServer, client: Client
) -> None:
    server.set_faults([Fault("create", "other_window_export")])
    answer = client.create(TEAM_BODY)
    assert answer.status_code == 201
    assert answer.json()["status"] == "QUEUED"


def _damaged(server: SandboxServer, client: Client, kind: Any, body: dict[str, Any]) -> Any:
    export_id = client.completed_export(body)
    header, rows = expected_rows(body, server.config)
    server.set_faults([Fault("download", kind)])
    raw = gzip.decompress(client.download(export_id).content)
    clean = client.download(export_id)  # the fault has worn off
    assert csv_of(gzip.decompress(clean.content)) == (header, rows)
    return header, rows, raw


def test_other_window_labels_are_the_previous_windows(
    server: SandboxServer, client: Client
) -> None:
    header, rows, raw = _damaged(server, client, "other_window_labels", TEAM_BODY)
    got_header, got = csv_of(raw)
    assert got_header == header
    # TEAM_BODY spans Nov 2025 .. Mar 2026, 5 months: each label moves 5 months back.
    moved = {"Nov 2025": "Jun 2025", "Dec 2025": "Jul 2025", "Jan 2026": "Aug 2025"}
    moved |= {"Feb 2026": "Sep 2025", "Mar 2026": "Oct 2025"}
    assert [r["granularity"] for r in got] == [moved[r["granularity"]] for r in rows]
    assert [{**r, "granularity": ""} for r in got] == [{**r, "granularity": ""} for r in rows]


def test_undatable_labels_are_each_rows_own(server: SandboxServer, client: Client) -> None:
    _, rows, raw = _damaged(server, client, "undatable_labels", ORG_BODY)
    _, got = csv_of(raw)
    assert [r["granularity"] for r in got] == [f"Period {n}" for n in range(1, len(rows) + 1)]


@pytest.mark.parametrize(
    ("kind", "column", "damaged"),
    [
        ("nul_in_cell", "team", lambda cell: f"{cell[:2]}\0{cell[2:]}"),
        ("negative_count", "total_issues", lambda cell: f"-{cell}"),
        (
            "non_ascii_digits",
            "total_issues",
            lambda cell: "".join(chr(0x660 + int(c)) for c in cell),
        ),
    ],
)
def test_cell_damage_of_the_last_row(
    server: SandboxServer, client: Client, kind: Any, column: str, damaged: Any
) -> None:
    _, rows, raw = _damaged(server, client, kind, ORG_BODY)
    _, got = csv_of(raw)
    assert got[:-1] == rows[:-1]
    assert got[-1] == {**rows[-1], column: damaged(rows[-1][column])}


def test_negative_hours_in_the_last_row(server: SandboxServer, client: Client) -> None:
    _, rows, raw = _damaged(server, client, "negative_hours", ORG_BODY)
    _, got = csv_of(raw)
    changed = {k: (v, got[-1][k]) for k, v in rows[-1].items() if got[-1][k] != v}
    [(before, after)] = changed.values()
    assert after == f"-{before or '1.5'}"
    assert next(iter(changed)).endswith("_hours")


def test_wide_header_adds_empty_columns(server: SandboxServer, client: Client) -> None:
    header, rows, raw = _damaged(server, client, "wide_header", TEAM_BODY)
    lines = list(csv.reader(io.StringIO(raw.decode(), newline="")))
    assert lines[0][: len(header)] == header
    assert len(lines[0]) == len(header) + 150_000
    assert len(set(lines[0])) == len(lines[0])
    assert sum(name.endswith("_hours") for name in lines[0][len(header) :]) == 75_000
    assert all(line[len(header) :] == [""] * 150_000 for line in lines[1:])
    assert len(lines) == len(rows) + 1
