"""HTTP client of the SEI Issue Time-in-Status Export API.

It owns everything about the wire: URLs, the `authorization` header and the identifiers every
request carries, timeouts, retries with jittered exponential backoff (honouring `Retry-After`),
redirects that must not carry the key to another host, and errors a user can act on.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import backoff
import requests

from tap_sei_time_in_status.downloads import CorruptDownloadError
from tap_sei_time_in_status.errors import SeiTapError
from tap_sei_time_in_status.export_ids import check_export_id, id_segment
from tap_sei_time_in_status.network_errors import first_contact_cause, unreachable
from tap_sei_time_in_status.rate_limit import RateLimiter
from tap_sei_time_in_status.secrets_guard import KeyInValueError, SecretGuard

EXPORTS_PATH = "/v2/insights/ticket-data/exports"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REDIRECT_SCHEMES = frozenset({"http", "https"})
MAX_REDIRECTS = 5
CHUNK_SIZE = 1 << 20
# Harness allows 1,000 requests per key per minute: keep well under it, bursts aside.
REQUESTS_PER_MINUTE = 600
REQUEST_BURST = 60


class SeiApiError(SeiTapError):
    """An answer of the API the tap cannot go on with."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.correlation_id = correlation_id


class AuthenticationError(SeiApiError):
    """401/403: the key is wrong, expired, or lacks access to the org/project."""


class ExportNotFoundError(SeiApiError):
    """404 for an export id: the server no longer knows the export."""


class ExportMismatchError(SeiApiError):
    """A poll answered about another export than the one asked for."""


class DownloadSizeError(CorruptDownloadError):
    """The downloaded file's size is not the `download.sizeBytes` the API stated."""


class RetryableError(SeiApiError):
    """A 429, a 5xx or a broken connection: worth trying again after a pause."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, correlation_id=correlation_id)
        self.retry_after = retry_after


#: The status of a create answer that states none (a new job, or an existing export reused).
NO_STATUS = "(no status)"


@dataclass(frozen=True)
class ExportStatus:
    """One answer of create or poll, with `status` upper-cased (the API's case may vary)."""

    export_id: str
    status: str
    message: str = ""
    raw: dict[str, t.Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def size_bytes(self) -> int | None:
        """The file's size when the answer states it (`download.sizeBytes`), else None."""
        download = self.raw.get("download")
        size = download.get("sizeBytes") if isinstance(download, dict) else None
        if isinstance(size, str) and size.strip().isdigit():
            return int(size)
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            return size
        return None


def retry_waits(base: float, cap: float) -> t.Generator[float, BaseException | None, None]:
    """Full-jitter exponential waits, or the server's `Retry-After` when it gives one.

    `backoff` sends each failure into this generator, which is how `Retry-After` reaches it.
    """
    failure = yield 0.0
    attempt = 0
    while True:
        retry_after = failure.retry_after if isinstance(failure, RetryableError) else None
        if retry_after is not None:
            wait = min(retry_after, cap)
        else:
            wait = random.uniform(base, min(cap, base * 2**attempt))  # noqa: S311 - jitter
        attempt += 1
        failure = yield wait


class ExportApiClient:
    """One `requests.Session` against one SEI base URL, safe to share between threads."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        org_identifier: str,
        project_identifier: str,
        timeout_seconds: float = 60.0,
        max_tries: int = 8,
        retry_base_seconds: float = 0.5,
        retry_cap_seconds: float = 60.0,
        user_agent: str = "tap-sei-time-in-status",
        logger: logging.Logger | None = None,
        requests_per_minute: float = REQUESTS_PER_MINUTE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._guard = SecretGuard(api_key)
        self._params = {
            "projectIdentifier": project_identifier,
            "orgIdentifier": org_identifier,
        }
        self._timeout = (min(10.0, timeout_seconds), timeout_seconds)
        self._max_tries = max_tries
        self._retry_base = retry_base_seconds
        self._retry_cap = retry_cap_seconds
        self._origin = _origin(self.base_url)
        self._logger = logger or logging.getLogger(__name__)
        self._limiter = RateLimiter(
            requests_per_minute, max(1, min(REQUEST_BURST, int(requests_per_minute // 10)))
        )
        # Until the server answers once, an unreachable host fails at once (network_errors).
        self._answered = False
        self._session = requests.Session()
        # The key is added per request and only for our own host, never as a session default.
        self._session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})

    def close(self) -> None:
        """Release the pooled connections."""
        self._session.close()

    def __enter__(self) -> ExportApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def create_export(self, body: dict[str, t.Any]) -> ExportStatus:
        """POST an export; the answer may already be COMPLETED for a duplicate request.

        An answer with an `exportId` but no `status` (the API family writes those for a new
        job and for an existing export reused) has the status `NO_STATUS`: poll it.
        """
        response = self._call("POST", EXPORTS_PATH, json_body=body)
        return self._status(response, status_required=False)

    def get_export(self, export_id: str) -> ExportStatus:
        """GET the export's current status; `ExportMismatchError` if it is another export's.

        Export ids are Base36, so `exp_9f0a1b2c` and `EXP_9F0A1B2C` name the same export.
        """
        response = self._call("GET", f"{EXPORTS_PATH}/{id_segment(export_id)}")
        status = self._status(response, export_id=export_id)
        if status.export_id.casefold() != export_id.casefold():
            msg = (
                f"the poll of export {export_id} answered about export {status.export_id} "
                f"({status.status}); not downloading another export in its place"
            )
            raise ExportMismatchError(msg, status_code=response.status_code)
        return status

    def download_export(
        self, export_id: str, sink: t.BinaryIO, *, expected_size: int | None = None
    ) -> int:
        """Stream the export's file into `sink` and return the bytes written.

        A cut connection raises `RetryableError` from inside the retry loop, so the whole
        download starts again on a truncated `sink`. With `expected_size` (the API's
        `download.sizeBytes`), a file of another size, as written or as it came over the
        wire before HTTP content decoding, raises `DownloadSizeError`.
        """

        def attempt() -> int:
            sink.seek(0)
            sink.truncate()
            written = 0
            path = f"{EXPORTS_PATH}/{id_segment(export_id)}/download"
            with self._request("GET", path, stream=True) as r:
                try:
                    for chunk in r.iter_content(CHUNK_SIZE):
                        sink.write(chunk)
                        written += len(chunk)
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
                    msg = f"download of export {export_id} was cut after {written} bytes ({e})"
                    raise RetryableError(msg) from None
                on_wire = r.raw.tell() if r.raw is not None else written
            sink.flush()
            if expected_size is not None and expected_size not in (written, on_wire):
                msg = (
                    f"export {export_id}: downloaded {written:,} bytes, but the API stated "
                    f"download.sizeBytes {expected_size:,}"
                )
                raise DownloadSizeError(msg)
            return written

        return self._with_retries(attempt)

    def _call(
        self, method: str, path: str, *, json_body: dict[str, t.Any] | None = None
    ) -> requests.Response:
        def attempt() -> requests.Response:
            with self._request(method, path, json_body=json_body) as response:
                try:
                    _ = response.content  # read it inside the retry loop
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
                    msg = f"{method} {_redact_url(response.url)}: answer cut ({type(e).__name__})"
                    raise RetryableError(msg) from None
                except requests.RequestException as e:
                    msg = f"{method} {_redact_url(response.url)}: unreadable answer ({e})"
                    raise SeiApiError(self._redact(msg)) from None
                return response

        return self._with_retries(attempt)

    def _with_retries(self, attempt: t.Callable[[], _T]) -> _T:
        retrying = backoff.on_exception(
            retry_waits,
            RetryableError,
            max_tries=self._max_tries,
            jitter=None,
            on_backoff=self._log_backoff,
            logger=None,
            base=self._retry_base,
            cap=self._retry_cap,
        )(attempt)
        return retrying()

    def _log_backoff(self, details: t.Any) -> None:  # noqa: ANN401 - backoff's Details
        self._logger.warning(
            "%s; retry %d of %d in %.1f s",
            details.get("exception"),
            details["tries"],
            self._max_tries - 1,
            details["wait"],
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, t.Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send one request, following redirects by hand so the key stays on our host."""
        url = f"{self.base_url}{path}"
        params: dict[str, str] | None = self._params
        for _ in range(MAX_REDIRECTS + 1):
            own_host = _origin(url) == self._origin
            # The API page: every request carries both headers, GETs included.
            headers = (
                {"authorization": f"ApiKey {self._api_key}", "Content-Type": "application/json"}
                if own_host
                else {}
            )
            self._limiter.acquire()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params if own_host else None,
                    json=json_body,
                    headers=headers,
                    timeout=self._timeout,
                    stream=stream,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as e:
                self._fail_fast(method, url, e)
                msg = (
                    f"{method} {_redact_url(url)}: TLS certificate verification failed "
                    f"({type(e).__name__}). The tap always verifies certificates; for a "
                    "private CA set REQUESTS_CA_BUNDLE to its bundle."
                )
                raise SeiApiError(msg) from None
            except (requests.ConnectionError, requests.Timeout) as e:
                self._fail_fast(method, url, e)
                msg = f"{method} {_redact_url(url)} failed: {type(e).__name__}"
                raise RetryableError(msg) from None
            except requests.RequestException as e:
                msg = f"{method} {_redact_url(url)} failed: {type(e).__name__}"
                raise SeiApiError(self._redact(msg)) from None
            self._answered = True
            if response.status_code in REDIRECT_STATUSES and "Location" in response.headers:
                target = urljoin(response.url, response.headers["Location"])
                if urlsplit(target).scheme.lower() not in REDIRECT_SCHEMES:
                    response.close()
                    msg = (
                        f"{method} {_redact_url(url)} redirected to "
                        f"{self._redact(_redact_url(target))!r}, which is not http(s); "
                        "refusing to follow it"
                    )
                    raise SeiApiError(msg)
                url = target
                params = None  # the Location carries its own query
                method = "GET" if response.status_code == 303 else method
                response.close()
                continue
            self._raise_for_status(method, url, response)
            return response
        msg = f"{method} {_redact_url(url)}: more than {MAX_REDIRECTS} redirects"
        raise SeiApiError(msg)

    def _fail_fast(self, method: str, url: str, error: BaseException) -> None:
        """On first contact, end at once when no retry can reach the server."""
        cause = None if self._answered else first_contact_cause(error)
        if cause is not None:
            raise unreachable(method, url, cause) from None

    def _raise_for_status(self, method: str, url: str, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        message, correlation_id = self._error_details(response)
        where = f"{method} {_redact_url(url)}"
        detail = f"HTTP {status}: {message}" + (
            f" (correlationId {correlation_id})" if correlation_id else ""
        )
        response.close()
        if status in RETRY_STATUSES:
            raise RetryableError(
                f"{where} answered {detail}",
                retry_after=_retry_after(response.headers.get("Retry-After")),
                status_code=status,
                correlation_id=correlation_id,
            )
        if status in (401, 403):
            raise AuthenticationError(
                f"The SEI API rejected the api_key ({detail}). Check that api_key is a valid, "
                "unexpired SEI API key with access to org_identifier/project_identifier, and "
                "that base_url is your Harness cluster's.",
                status_code=status,
                correlation_id=correlation_id,
            )
        if status == 404 and method == "POST" and urlsplit(url).path.endswith(EXPORTS_PATH):
            raise SeiApiError(
                f"{where} answered {detail}: the server has no export API at this path. "
                f"Check base_url ({self.base_url}); it ends in /sei/api, e.g. "
                "https://app.harness.io/prod1/sei/api.",
                status_code=status,
                correlation_id=correlation_id,
            )
        if status == 404:
            raise ExportNotFoundError(
                f"{where} answered {detail}", status_code=status, correlation_id=correlation_id
            )
        raise SeiApiError(
            f"{where} answered {detail}", status_code=status, correlation_id=correlation_id
        )

    def _error_details(self, response: requests.Response) -> tuple[str, str | None]:
        """The server's `message` and `correlationId`, or the start of a non-JSON body."""
        try:
            text = response.text
        except requests.RequestException:
            return "(no body)", None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return f"non-JSON body starting {self._redact(text[:200])!r}", None
        if not isinstance(data, dict):
            return self._redact(text[:200]), None
        message = str(data.get("message") or data.get("error") or data.get("code") or "")
        correlation = str(data.get("correlationId") or "") or None
        if correlation is not None and self._guard.contains(correlation):
            correlation = "(withheld: it contains the api_key)"
        return self._redact(message) or "(no message)", correlation

    def _status(
        self,
        response: requests.Response,
        export_id: str | None = None,
        *,
        status_required: bool = True,
    ) -> ExportStatus:
        try:
            data = response.json()
        except RecursionError:
            msg = (
                f"{response.request.method} {_redact_url(response.url)} answered HTTP "
                f"{response.status_code} with JSON nested too deeply to read"
            )
            raise SeiApiError(msg, status_code=response.status_code) from None
        except ValueError:
            msg = (
                f"{response.request.method} {_redact_url(response.url)} answered HTTP "
                f"{response.status_code} with a non-JSON body starting "
                f"{self._redact(response.text[:200])!r}"
            )
            raise SeiApiError(msg, status_code=response.status_code) from None
        found_id = data.get("exportId") if isinstance(data, dict) else None
        status = data.get("status") if isinstance(data, dict) else None
        if status is None and not status_required:
            status = NO_STATUS
        if not isinstance(status, str) or not (found_id or export_id):
            msg = (
                f"{response.request.method} {_redact_url(response.url)} answered without "
                f"exportId/status: {self._redact(response.text[:200])!r}"
            )
            raise SeiApiError(msg, status_code=response.status_code)
        where = f"{response.request.method} {_redact_url(response.url)}"
        try:
            if isinstance(found_id, int) and not isinstance(found_id, bool):
                found_id = str(found_id)  # a number is still a well-formed id
            checked_id = check_export_id(found_id or export_id, where)
            self._guard.refuse(checked_id, f"{where}: the exportId")
            message = self._guard.refuse(str(data.get("message") or ""), f"{where}: the message")
            self._guard.refuse(status, f"{where}: the status")
        except KeyInValueError as e:
            raise SeiApiError(str(e), status_code=response.status_code) from None
        return ExportStatus(
            export_id=checked_id,
            status=status if status == NO_STATUS else status.strip().upper(),
            message=message,
            raw=data,
        )

    def _redact(self, text: str) -> str:
        return self._guard.redact(text)


_T = t.TypeVar("_T")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _redact_url(url: str) -> str:
    """The URL without its query, which may hold a download host's signature."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
