"""`--test`: check base_url, the key, the identifiers and every scope without exporting.

The export API has no read-only way to look up a team or an org tree: its only requests are
create, poll and download. The cheapest request that still names a scope is a create the API
must refuse: the tap sends each configured scope with a date range that ends the day before
it starts, so no export can come of it. The API checks the key first (401/403), the path
(404: a wrong `base_url`), then the scope (400 naming the team or tree), and only then
refuses the dates (400 naming `dateRange`), which is the answer a good setting gets. One
request per scope; nothing is created, no record is emitted.

Every failure is the error a sync would end with, from the same client: an unreachable host,
a rejected key, a wrong `base_url`, an unknown scope.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t
from urllib.parse import urlsplit

from tap_sei_time_in_status.api.client import AuthenticationError, ExportApiClient, SeiApiError
from tap_sei_time_in_status.errors import SeiTapError
from tap_sei_time_in_status.export.job import ExportRequest, scope_error
from tap_sei_time_in_status.settings import Scope, Settings
from tap_sei_time_in_status.windows import Window

PROBE_FIELD = "dateRange"


class ConnectionTestError(SeiTapError):
    """The API answered a probe in a way the test cannot read as a pass."""


def probe_body(settings: Settings, scope: Scope) -> dict[str, t.Any]:
    """The scope's export request, with a date range no server can export."""
    day = settings.end_date
    body = ExportRequest.for_window(settings, scope, Window(day, day)).body()
    body["dateRange"] = {
        "start": day.isoformat(),
        "end": (day - dt.timedelta(days=1)).isoformat(),
    }
    return body


def run_connection_test(
    settings: Settings, client: ExportApiClient, logger: logging.Logger
) -> None:
    """Log one line per check; raise the sync's own error at the first failure."""
    checks = 2 + len(settings.scopes)
    parts = urlsplit(settings.base_url)
    host = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    identifiers = (
        f"org_identifier {settings.org_identifier!r}, "
        f"project_identifier {settings.project_identifier!r}"
    )
    done = 0

    def passed(what: str) -> None:
        nonlocal done
        done += 1
        logger.info("Connection test %d/%d: ok - %s", done, checks, what)

    for number, scope in enumerate(settings.scopes):
        try:
            error = _probe(client, settings, scope)
        except SeiTapError as e:
            if number == 0 and isinstance(e, AuthenticationError):  # the host did answer
                passed(f"reached {host} at base_url {settings.base_url}")
            logger.error("Connection test %d/%d: FAILED", done + 1, checks)  # noqa: TRY400
            raise
        if number == 0:  # answered, and not with 401/403/404: host, key and path are good
            passed(f"reached {host} at base_url {settings.base_url}")
            passed(f"api_key accepted for {identifiers}")
        if error is not None:
            logger.error("Connection test %d/%d: FAILED", done + 1, checks)
            raise error
        passed(f"{scope} is known to the API")
    logger.info(
        "Connection test passed: %d check(s), %d request(s), no export created, no record emitted.",
        checks,
        len(settings.scopes),
    )


def _probe(client: ExportApiClient, settings: Settings, scope: Scope) -> SeiTapError | None:
    """None when the scope passed; the error when the API refused the scope itself.

    Errors about anything else (host, key, path) are raised: the scope was never checked.
    """
    try:
        answer = client.create_export(probe_body(settings, scope))
    except SeiApiError as e:
        if e.status_code == 400 and PROBE_FIELD in str(e):
            return None  # the dates were refused, so everything before them was accepted
        if e.status_code == 400:
            return scope_error(scope, e)
        raise
    msg = (
        f"{scope}: the API accepted a create whose dateRange ends before it starts "
        f"(export {answer.export_id}, {answer.status}); it does not validate requests as "
        "this test expects, so the test cannot vouch for the scope."
    )
    return ConnectionTestError(msg)
