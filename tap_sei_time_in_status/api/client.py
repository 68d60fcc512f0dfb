"""HTTP client of the SEI Issue Time-in-Status Export API: its three calls, with retries.

It owns the API's paths and what each call makes of its answer; the parts it is made of own
the rest of the wire: sending a request hop by hop with the key only where the redirect rule
allows (`sender`, `redirects`), an attempt's deadlines (`attempts`, over `deadlines`), reading
and judging answers (`answers`, under the size limits of `limits`), retries (`retries`) and
the request budget (`rate_limit`). Every request has an overall deadline, a download must keep
a minimum rate, and a stop cuts whatever is in flight.
"""

from __future__ import annotations

import logging
import typing as t

import requests
import urllib3

from tap_sei_time_in_status.api.answers import CHUNK_SIZE, AnswerReader, ExportStatus
from tap_sei_time_in_status.api.api_errors import (
    AuthenticationError,
    CorruptDownloadError,
    DeadlineExceededError,
    DownloadSizeError,
    ExportMismatchError,
    ExportNotFoundError,
    RedirectRefusedError,
    SeiApiError,
)
from tap_sei_time_in_status.api.attempts import AttemptDeadlines
from tap_sei_time_in_status.api.cancellation import StopSwitch
from tap_sei_time_in_status.api.export_ids import id_segment
from tap_sei_time_in_status.api.limits import SizeLimits
from tap_sei_time_in_status.api.rate_limit import RateLimiter
from tap_sei_time_in_status.api.retries import (
    RetriesExhaustedError,
    RetryableError,
    RetryPolicy,
    with_retries,
)
from tap_sei_time_in_status.api.secrets_guard import SecretGuard
from tap_sei_time_in_status.api.sender import RequestSender
from tap_sei_time_in_status.log_limits import WarningSink, tame_library_warnings
from tap_sei_time_in_status.url_secrets import redact_url

__all__ = [
    "AuthenticationError",
    "CorruptDownloadError",
    "DeadlineExceededError",
    "DownloadSizeError",
    "ExportApiClient",
    "ExportMismatchError",
    "ExportNotFoundError",
    "ExportStatus",
    "RedirectRefusedError",
    "RetriesExhaustedError",
    "RetryableError",
    "SeiApiError",
]

EXPORTS_PATH = "/v2/insights/ticket-data/exports"
# Harness allows 1,000 requests per key per minute: keep well under it, bursts included.
REQUESTS_PER_MINUTE = 600
REQUEST_BURST = 60


class ExportApiClient:
    """The export API's calls against one SEI base URL, safe to share between threads."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        org_identifier: str,
        project_identifier: str,
        timeout_seconds: float = 60.0,
        min_download_bytes_per_second: float = 1024.0,
        retry_policy: RetryPolicy | None = None,
        limits: SizeLimits | None = None,
        stop: StopSwitch | None = None,
        user_agent: str = "tap-sei-time-in-status",
        logger: logging.Logger | None = None,
        requests_per_minute: float = REQUESTS_PER_MINUTE,
        max_connections: int = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        secrets = SecretGuard(api_key)
        self._retry = retry_policy or RetryPolicy()
        self._limits = limits or SizeLimits()
        self._stop = stop or StopSwitch()
        self._logger = logger or logging.getLogger(__name__)
        self._limiter = RateLimiter(
            requests_per_minute,
            max(1, min(REQUEST_BURST, int(requests_per_minute // 10))),
            sleep=self._stop.sleep,
        )
        self._attempts = AttemptDeadlines(
            timeout_seconds=timeout_seconds,
            min_download_bytes_per_second=min_download_bytes_per_second,
            stop=self._stop,
        )
        tame_library_warnings()  # urllib3's: one line each, no URL secrets, capped
        self._answers = AnswerReader(
            secrets, self._limits, base_url=self.base_url, create_path=EXPORTS_PATH
        )
        self._sender = RequestSender(
            base_url=self.base_url,
            api_key=api_key,
            params={"projectIdentifier": project_identifier, "orgIdentifier": org_identifier},
            secrets=secrets,
            answers=self._answers,
            limiter=self._limiter,
            stop=self._stop,
            timeout_seconds=timeout_seconds,
            user_agent=user_agent,
            max_connections=max_connections,
        )

    @property
    def rate_limiter(self) -> RateLimiter:
        """The sync's request budget: how long a request would wait, how many went out."""
        return self._limiter

    def close(self) -> None:
        """Release the pooled connections and end the watchdog's thread."""
        self._sender.close()
        self._attempts.close()

    def __enter__(self) -> ExportApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def create_export(
        self,
        body: dict[str, t.Any],
        *,
        deadline: float | None = None,
        log: WarningSink | None = None,
    ) -> ExportStatus:
        """POST an export; the answer may already be COMPLETED for a duplicate request.

        An answer with an `exportId` but no `status` (the API family writes those for a new
        job and for an existing export reused) has the status `NO_STATUS`: poll it.
        """
        answer = self._call("POST", EXPORTS_PATH, json_body=body, deadline=deadline, log=log)
        return self._answers.status(*answer, status_required=False)

    def get_export(
        self, export_id: str, *, deadline: float | None = None, log: WarningSink | None = None
    ) -> ExportStatus:
        """GET the export's current status; `ExportMismatchError` if it is another export's.

        Export ids are Base36, so `exp_9f0a1b2c` and `EXP_9F0A1B2C` name the same export.
        """
        path = f"{EXPORTS_PATH}/{id_segment(export_id)}"
        response, body = self._call("GET", path, deadline=deadline, log=log)
        status = self._answers.status(response, body, export_id=export_id)
        if status.export_id.casefold() != export_id.casefold():
            msg = (
                f"the poll of export {export_id} answered about export {status.export_id} "
                f"({status.status}); not downloading another export in its place"
            )
            raise ExportMismatchError(msg, status_code=response.status_code)
        return status

    def download_export(
        self,
        export_id: str,
        sink: t.BinaryIO,
        *,
        expected_size: int | None = None,
        deadline: float | None = None,
        log: WarningSink | None = None,
    ) -> int:
        """Stream the export's file, as sent (gzip stays gzip), into `sink`; return its size.

        A cut or stalled connection raises `RetryableError` inside the retry loop, so the
        whole download starts again on a truncated `sink`. Writes to `sink` may raise
        `OSError` (a full disk), which is no reason to download again. With `expected_size`
        (the API's `download.sizeBytes`), a file of another size as it came over the wire
        (before any HTTP content decoding) raises `DownloadSizeError`.
        """
        path = f"{EXPORTS_PATH}/{id_segment(export_id)}/download"
        what = f"the download of export {export_id}"

        def attempt() -> int:
            sink.seek(0)
            sink.truncate()
            with self._attempts.guarded(what, deadline, download=True) as progress:
                with self._sender.send(
                    "GET", path, stream=True, download=True, what=what
                ) as response:
                    self._answers.check_download_headers(response, what)
                    progress.start_body()
                    while True:
                        try:
                            chunk = response.raw.read1(CHUNK_SIZE, decode_content=False)
                        except (urllib3.exceptions.HTTPError, OSError) as e:
                            msg = f"{what} was cut after {progress.received} bytes ({e})"
                            raise RetryableError(msg) from None
                        if not chunk:
                            break
                        progress.received += len(chunk)
                        self._limits.check_download(progress.received, what)
                        sink.write(chunk)
                sink.flush()
            if expected_size is not None and expected_size != progress.received:
                msg = (
                    f"export {export_id}: downloaded {progress.received:,} bytes, but the API "
                    f"stated download.sizeBytes {expected_size:,}"
                )
                raise DownloadSizeError(msg)
            return progress.received

        return self._with_retries(attempt, deadline, log)

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, t.Any] | None = None,
        deadline: float | None = None,
        log: WarningSink | None = None,
    ) -> tuple[requests.Response, bytes]:
        what = f"{method} {redact_url(self.base_url + path)}"

        def attempt() -> tuple[requests.Response, bytes]:
            with (
                self._attempts.guarded(what, deadline),
                self._sender.send(
                    method, path, json_body=json_body, stream=True, what=what
                ) as response,
            ):
                return response, self._answers.json_body(response, what)

        return self._with_retries(attempt, deadline, log)

    def _with_retries(
        self, attempt: t.Callable[[], _T], deadline: float | None, log: WarningSink | None = None
    ) -> _T:
        """`log` takes the retries' warnings (a window's capped ones); default the logger."""
        return with_retries(
            attempt,
            self._retry,
            sleep=self._stop.sleep,
            logger=log or self._logger,
            deadline=deadline,
        )


_T = t.TypeVar("_T")
