"""Trust, round two (issue 18), against answers no other test imitates: found by a red-team
pass with servers of its own, each now a test against a server of the tests' own
(`scripted_api`) that answers in exactly that way.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from tap_sei_time_in_status.api.client import EXPORTS_PATH
from tests.conftest import API_KEY
from tests.scripted_api import Request, ScriptedApi, answer, json_answer
from tests.tap_runner import TapRun
from tests.test_trust import no_key_anywhere, one_line_failure

Tap = t.Callable[..., TapRun]
HEADER = "granularity,team,team_hierarchy,total_issues,in_progress_hours,total_lead_time_hours"


def rows_of(labels: t.Callable[[dict[str, t.Any]], list[str]]) -> t.Callable[[t.Any], bytes]:
    """A CSV of one row per label `labels` gives for the create's body."""

    def csv_of(body: dict[str, t.Any]) -> bytes:
        rows = [f"{label},Team A,Eng/A,3,1.5,7.5" for label in labels(body)]
        return "\n".join([HEADER, *rows, ""]).encode()

    return csv_of


def weeks(body: dict[str, t.Any]) -> list[str]:
    """The ISO week labels of the create's window, as the API writes them."""
    day = dt.date.fromisoformat(body["dateRange"]["start"])
    end = dt.date.fromisoformat(body["dateRange"]["end"])
    labels: list[str] = []
    while day <= end:
        year, week, _ = day.isocalendar()
        labels += [] if f"{year}-W{week:02d}" in labels else [f"{year}-W{week:02d}"]
        day += dt.timedelta(days=1)
    return labels


def config(server: ScriptedApi, **overrides: t.Any) -> dict[str, t.Any]:
    """Two weekly windows of one team, small timings."""
    return {
        "api_key": API_KEY,
        "base_url": server.base_url,
        "org_identifier": "default",
        "project_identifier": "sei_demo",
        "team_ids": ["team_a"],
        "start_date": "2025-01-06",
        "end_date": "2025-01-19",
        "granularity": "weekly",
        "periods_per_window": 1,
        "poll_interval_seconds": 0.05,
        "max_poll_interval_seconds": 0.1,
        "request_timeout_seconds": 2,
        "max_request_retry_seconds": 2,
        "max_concurrent_exports": 1,
        **overrides,
    }


# --- period labels ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granularity", "start", "end", "label", "fragment"),
    [
        # A daily label in a monthly export: not this granularity's form, yet a date.
        ("monthly", "2025-01-01", "2025-02-28", "2019-03-15", "names 2019-03-15..2019-03-15"),
        ("weekly", "2025-01-06", "2025-01-19", "Jan 2019", "names 2019-01-01..2019-01-31"),
        (
            "weekly",
            "2025-01-06",
            "2025-01-19",
            "\u0662\u0660\u0661\u0669-W10",  # 2019-W10 in Arabic-Indic digits
            "(column 'granularity') is written in digits of another script",
        ),
    ],
)
def test_a_single_period_window_never_lends_its_dates_to_another_periods_label(
    tap: Tap, *, granularity: str, start: str, end: str, label: str, fragment: str
) -> None:
    with ScriptedApi(rows_of(lambda _: [label])) as server:
        run = tap(config(server, granularity=granularity, start_date=start, end_date=end))
    one_line_failure(run, "export exp_1, line 2: the period label", fragment)
    assert run.last_state is None or "replication_key_value" not in str(run.last_state)


# --- export ids -----------------------------------------------------------------------------


def test_an_id_the_state_holds_for_a_partition_no_longer_configured_is_refused(
    tap: Tap,
) -> None:
    # The API answers the first create with `exp_1`, which an earlier run recorded in flight
    # for a team this run does not export any more.
    state = {
        "bookmarks": {
            "time_in_status": {
                "partitions": [
                    {
                        "context": {"scope_type": "team", "scope_id": "team_gone"},
                        "in_flight_exports": [
                            {
                                "export_id": "EXP_1",
                                "window_start": "2020-01-06",
                                "window_end": "2020-01-12",
                                "request_digest": "0" * 16,
                            }
                        ],
                    }
                ]
            }
        }
    }
    with ScriptedApi(rows_of(weeks)) as server:
        run = tap(config(server), state)
    one_line_failure(
        run,
        "team 'team_a' window 2025-01-06..2025-01-12: the server answered with export exp_1, "
        "which the incoming state holds in flight for team 'team_gone' window "
        "2020-01-06..2020-01-12",
    )


# --- answers urllib3 cannot read --------------------------------------------------------------


def test_headers_urllib3_cannot_parse_are_warned_in_one_line_without_the_query_capped(
    tap: Tap,
) -> None:
    def bad_headers(request: Request, server: ScriptedApi) -> bytes:
        head, _, body = server.plain_answer(request).partition(b"\r\n\r\n")
        return head + b"\r\nThisLineHasNoColon\r\n\r\n" + body

    # Four windows, three answers each: twelve answers with a header line without a colon.
    with ScriptedApi(rows_of(weeks), bad_headers) as server:
        run = tap(config(server, end_date="2025-02-02"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert "projectIdentifier" not in run.stderr, "a URL logged with its query"
    warned = [line for line in run.stderr.splitlines() if "Failed to parse headers" in line]
    assert len(warned) == 6, run.stderr[-3000:]
    assert "further warnings like this one are not shown" in warned[-1]
    assert len(run.records()) == 4


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:99999999/x", "http://[::1/x", "http://127.0.0.1/\udcff\udcfe"],
    ids=["port-out-of-range", "broken-ipv6", "not-utf8"],
)
def test_a_redirect_to_a_location_that_is_no_url_ends_in_one_line(tap: Tap, location: str) -> None:
    raw = location.encode("utf-8", "surrogateescape").decode("latin-1")

    def redirect(request: Request, server: ScriptedApi) -> bytes | None:
        if request.path.split("?")[0].endswith("/download"):
            return answer(302, headers=[("Location", raw)])
        return None

    with ScriptedApi(rows_of(weeks), redirect) as server:
        run = tap(config(server))
    one_line_failure(run, "the download of export exp_1", "a redirect to a URL that cannot be read")


def test_a_create_redirected_off_the_api_host_is_refused_before_its_body_leaves(
    tap: Tap,
) -> None:
    def redirect(request: Request, server: ScriptedApi) -> bytes | None:
        if request.method == "POST" and request.port == server.port:
            return answer(307, headers=[("Location", f"{server.other_url}/create")])
        return json_answer({"message": "should never be asked"}, 500)

    with ScriptedApi(rows_of(weeks), redirect) as server:
        run = tap(config(server, org_tree_names=["Engineering"], team_ids=[]))
        create, port = f"POST {server.base_url}{EXPORTS_PATH}", server.port
        requests = list(server.requests)
    one_line_failure(run, f"{create} was redirected off the API host")
    assert [r.port for r in requests] == [port], "nothing went to the other host"
    no_key_anywhere(run)
