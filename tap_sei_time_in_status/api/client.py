"""HTTP client of the SEI Issue Time-in-Status Export API.

It owns everything about the wire: URLs, the `authorization` header and the identifiers every
request carries, deadlines (`deadlines`), retries (`retries`), size limits on what is read
(`limits`), redirects that must not carry the key to another host, and errors a user can act
on. Every request has an overall deadline, a download must keep a minimum rate, and a stop
cuts whatever is in flight.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from typing_extensions import override

from tap_sei_time_in_status.api.cancellation import CancelledError, StopSwitch
from tap_sei_time_in_status.api.deadlines import STOPPED, GuardedAdapter, RequestGuard, Watchdog
from tap_sei_time_in_status.api.export_ids import check_export_id, id_segment
from tap_sei_time_in_status.api.limits import SizeLimits
from tap_sei_time_in_status.api.network_errors import first_contact_cause, unreachable
from tap_sei_time_in_status.api.rate_limit import RateLimiter
from tap_sei_time_in_status.api.retries import (
    RetriesExhaustedError,
    RetryableError,
    RetryPolicy,
    parse_retry_after,
    with_retries,
)
from tap_sei_time_in_status.api.secrets_guard import KeyInValueError, SecretGuard
from tap_sei_time_in_status.errors import SeiTapError
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
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REDIRECT_SCHEMES = frozenset({"http", "https"})
MAX_REDIRECTS = 5
CHUNK_SIZE = 1 << 16
#: Of an error answer only the start is read: its message and correlation id.
ERROR_BODY_BYTES = 1 << 16
# Harness allows 1,000 requests per key per minute: keep well under it, bursts included.
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


class RedirectRefusedError(SeiApiError):
    """A redirect the tap will not follow: not http(s), or back to the API host elsewhere."""


class CorruptDownloadError(SeiTapError):
    """The downloaded bytes are not the complete file (cut, damaged, or of the wrong size)."""


class DownloadSizeError(CorruptDownloadError):
    """The downloaded file's size is not the `download.sizeBytes` the API stated."""


class DeadlineExceededError(SeiTapError):
    """A request was cut at the caller's deadline (a window's `window_timeout_seconds`)."""


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


class _Progress:
    """What the watchdog knows of one request attempt, to judge it when its deadline passes."""

    def __init__(self) -> None:
        self.body_started = False
        self.received = 0
        self.checked = 0
        #: Why it was cut: `window`, `headers`, `stalled` or `timeout`.
        self.reason = ""
        self.stalled_bytes = 0


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
        self._api_key = api_key
        self._secrets = SecretGuard(api_key)
        self._params = {
            "projectIdentifier": project_identifier,
            "orgIdentifier": org_identifier,
        }
        self._timeout_seconds = timeout_seconds
        # The watchdog bounds the request as a whole; the socket timeout, a little longer,
        # only backs it up.
        self._timeout = (min(10.0, timeout_seconds), timeout_seconds + 1.0)
        self._min_rate = min_download_bytes_per_second
        self._retry = retry_policy or RetryPolicy()
        self._limits = limits or SizeLimits()
        self._stop = stop or StopSwitch()
        self._origin = _origin(self.base_url)
        self._logger = logger or logging.getLogger(__name__)
        self._limiter = RateLimiter(
            requests_per_minute,
            max(1, min(REQUEST_BURST, int(requests_per_minute // 10))),
            sleep=self._stop.sleep,
        )
        # Until the server answers once, an unreachable host fails at once (network_errors).
        self._answered = False
        self._watchdog = Watchdog()
        tame_library_warnings()  # urllib3's: one line each, no URL secrets, capped
        self._stop.on_stop(self._watchdog.abort_all)
        self._session = _ManualRedirectSession()
        # One kept-alive connection per thread that may send at once (exports in flight and
        # the caller's), so none is opened and dropped for each request.
        adapter = GuardedAdapter(pool_maxsize=max(10, max_connections))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # The key is added per request and only for our own host, never as a session default.
        self._session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})

    @property
    def rate_limiter(self) -> RateLimiter:
        """The sync's request budget: how long a request would wait, how many went out."""
        return self._limiter

    def close(self) -> None:
        """Release the pooled connections and end the watchdog's thread."""
        self._session.close()
        self._watchdog.close()

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
        return self._status(*answer, status_required=False)

    def get_export(
        self, export_id: str, *, deadline: float | None = None, log: WarningSink | None = None
    ) -> ExportStatus:
        """GET the export's current status; `ExportMismatchError` if it is another export's.

        Export ids are Base36, so `exp_9f0a1b2c` and `EXP_9F0A1B2C` name the same export.
        """
        path = f"{EXPORTS_PATH}/{id_segment(export_id)}"
        response, body = self._call("GET", path, deadline=deadline, log=log)
        status = self._status(response, body, export_id=export_id)
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
            progress = _Progress()
            guard = self._guard(deadline, progress, download=True)
            with self._guarded(guard, progress, what, deadline):
                with self._request("GET", path, stream=True, download=True, what=what) as response:
                    self._start_body(guard, progress, deadline, response, what)
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

    def _start_body(
        self,
        guard: RequestGuard,
        progress: _Progress,
        deadline: float | None,
        response: requests.Response,
        what: str,
    ) -> None:
        """Headers are in: from now on the download is judged by its rate."""
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            msg = f"{what} came with Content-Encoding {encoding!r}, which the tap cannot read"
            raise SeiApiError(msg)
        length = response.headers.get("Content-Length", "")
        if length.isdigit():
            self._limits.check_download(int(length), what)
        progress.body_started = True
        self._watchdog.rearm(guard, self._next_deadline(deadline))

    def _guard(
        self, deadline: float | None, progress: _Progress, *, download: bool = False
    ) -> RequestGuard:
        """A guard that cuts the attempt at its deadline, or a download that stalls."""

        def on_deadline() -> float | None:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                progress.reason = "window"
                return None
            if not download:
                progress.reason = "timeout"
                return None
            if not progress.body_started:
                progress.reason = "headers"
                return None
            got = progress.received - progress.checked
            if got < self._min_rate * self._timeout_seconds:
                progress.reason, progress.stalled_bytes = "stalled", got
                return None
            progress.checked = progress.received
            return self._next_deadline(deadline)

        return RequestGuard(self._next_deadline(deadline), on_deadline)

    def _next_deadline(self, deadline: float | None) -> float:
        soon = time.monotonic() + self._timeout_seconds
        return soon if deadline is None else min(soon, deadline)

    @contextlib.contextmanager
    def _guarded(
        self, guard: RequestGuard, progress: _Progress, what: str, deadline: float | None
    ) -> t.Iterator[None]:
        """Run one attempt under `guard`; a cut attempt raises what the cut means.

        Also when the attempt seemed to succeed: a body delimited by the connection's close
        ends, cut short, at the shutdown that cut it.
        """
        self._stop.check()
        try:
            with self._watchdog.guarding(guard):
                yield
        except Exception:
            if guard.tripped is None:
                raise
        if guard.tripped is None:
            return
        if guard.tripped == STOPPED or self._stop.stopped:
            raise CancelledError("the tap was told to stop") from None
        timeout = f"request_timeout_seconds ({self._timeout_seconds:g} s)"
        if progress.reason == "window":
            msg = f"{what} was cut at the window's deadline (window_timeout_seconds)"
            raise DeadlineExceededError(msg) from None
        if progress.reason == "stalled":
            msg = (
                f"{what} stalled: {progress.stalled_bytes} byte(s) in {timeout}, below "
                f"min_download_bytes_per_second ({self._min_rate:g}); "
                f"{progress.received} bytes so far"
            )
            raise RetryableError(msg) from None
        if progress.reason == "headers":
            msg = f"{what} got no answer headers within {timeout}"
            raise RetryableError(msg) from None
        msg = f"{what} did not complete within {timeout}"
        raise RetryableError(msg) from None

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
            progress = _Progress()
            with (
                self._guarded(self._guard(deadline, progress), progress, what, deadline),
                self._request(
                    method, path, json_body=json_body, stream=True, what=what
                ) as response,
            ):
                body = self._read_bounded(response, self._limits.max_json_answer_bytes)
                self._limits.check_json(len(body), what)
                return response, body

        return self._with_retries(attempt, deadline, log)

    def _read_bounded(self, response: requests.Response, limit: int) -> bytes:
        """At most `limit` + 1 bytes of the (decoded) body: enough to tell it is too large."""
        parts: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(CHUNK_SIZE):
                parts.append(chunk)
                size += len(chunk)
                if size > limit:
                    break
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
            where = f"{response.request.method} {redact_url(response.url)}"
            raise RetryableError(f"{where}: answer cut ({type(e).__name__})") from None
        except requests.RequestException as e:
            msg = f"{response.request.method} {redact_url(response.url)}: unreadable answer ({e})"
            raise SeiApiError(self._redact(msg)) from None
        return b"".join(parts)[: limit + 1]

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

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, t.Any] | None = None,
        stream: bool = False,
        download: bool = False,
        what: str = "",
    ) -> requests.Response:
        """Send one request, following redirects by hand so the key stays on our host.

        Once a redirect has left the API host, no later hop carries the key or the
        identifiers (a create's body, which holds them, never leaves the API host), and the
        only way back to the API host is this request's own path (for a download, the same
        export's file): another host must not be able to make the tap fetch, with its key,
        another export's file as this one's, or any other call.
        """
        url = f"{self.base_url}{path}"
        own_path = urlsplit(url).path
        what = what or f"{method} {redact_url(url)}"
        left = False
        params: dict[str, str] | None = self._params
        for _ in range(MAX_REDIRECTS + 1):
            own_host = _origin(url) == self._origin
            if not own_host and json_body is not None:
                msg = (
                    f"{what} was redirected off the API host to {redact_url(url)}; refusing to "
                    "send the request's body (scope, identifiers) anywhere but the API"
                )
                raise RedirectRefusedError(msg)
            left = left or not own_host
            if own_host and left and not (download and urlsplit(url).path == own_path):
                msg = (
                    f"{what} was redirected off the API host and then back to it at "
                    f"{redact_url(url)}; refusing to follow it: once a redirect has left the "
                    "API host, only the same export's download may lead back to it (and "
                    "without the key)"
                )
                raise RedirectRefusedError(msg)
            keyed = own_host and not left
            # The API page: every request carries both headers, GETs included.
            headers = (
                {"authorization": f"ApiKey {self._api_key}", "Content-Type": "application/json"}
                if keyed
                else {}
            )
            if download:
                # Read as sent and decompressed by the tap, under its size limits.
                headers["Accept-Encoding"] = "gzip"
            self._limiter.acquire()
            self._stop.check()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params if keyed else None,
                    json=json_body,
                    headers=headers,
                    timeout=self._timeout,
                    stream=stream,
                    allow_redirects=False,
                    # The key header is the only credential: no Basic auth from a URL's
                    # userinfo or from ~/.netrc, which requests would put in its place.
                    auth=_no_auth,
                )
            except requests.exceptions.SSLError as e:
                self._fail_fast(method, url, e)
                msg = (
                    f"{method} {redact_url(url)}: TLS certificate verification failed "
                    f"({type(e).__name__}). The tap always verifies certificates; for a "
                    "private CA set REQUESTS_CA_BUNDLE to its bundle."
                )
                raise SeiApiError(msg) from None
            except (requests.ConnectionError, requests.Timeout) as e:
                self._fail_fast(method, url, e)
                msg = f"{method} {redact_url(url)} failed: {type(e).__name__}"
                raise RetryableError(msg) from None
            except requests.RequestException as e:
                msg = f"{method} {redact_url(url)} failed: {type(e).__name__}"
                raise SeiApiError(self._redact(msg)) from None
            except ValueError as e:
                # A URL requests cannot send (a redirect's target with a port past 65535...).
                msg = (
                    f"{what} was answered with a redirect to a URL that cannot be read "
                    f"({type(e).__name__}); refusing to follow it"
                )
                raise RedirectRefusedError(msg) from None
            self._answered = True
            if response.status_code in REDIRECT_STATUSES and "Location" in response.headers:
                response.close()
                url = self._redirect_target(what, url, response.headers["Location"])
                params = None  # the Location carries its own query
                if response.status_code == 303:  # "see other": a GET, without the body
                    method, json_body = "GET", None
                continue
            self._raise_for_status(method, url, response)
            return response
        msg = f"{method} {redact_url(url)}: more than {MAX_REDIRECTS} redirects"
        raise RedirectRefusedError(msg)

    def _redirect_target(self, what: str, url: str, location: str) -> str:
        """Where a redirect leads, if the tap may follow it at all (http or https)."""
        try:
            target = urljoin(url, location)
            parts = urlsplit(target)
            _ = parts.port
            target.encode("ascii")  # http.client sends a request line of ASCII only
        except (ValueError, UnicodeEncodeError):
            msg = (
                f"{what} was answered with a redirect to a URL that cannot be read; refusing "
                "to follow it"
            )
            raise RedirectRefusedError(msg) from None
        if parts.scheme.lower() not in REDIRECT_SCHEMES or not parts.hostname:
            msg = (
                f"{what} was redirected to "
                f"{self._redact(redact_url(target))!r}, which is not http(s); "
                "refusing to follow it"
            )
            raise RedirectRefusedError(msg)
        return target

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
        where = f"{method} {redact_url(url)}"
        detail = f"HTTP {status}: {message}" + (
            f" (correlationId {correlation_id})" if correlation_id else ""
        )
        response.close()
        if status in RETRY_STATUSES:
            raise RetryableError(
                f"{where} answered {detail}",
                retry_after=parse_retry_after(response.headers.get("Retry-After"), time.time()),
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
            raw = self._read_bounded(response, ERROR_BODY_BYTES)
        except RetryableError:
            return "(no body)", None
        text = raw.decode(response.encoding or "utf-8", "replace")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return f"non-JSON body starting {self._redact(text[:200])!r}", None
        if not isinstance(data, dict):
            return self._redact(text[:200]), None
        message = str(data.get("message") or data.get("error") or data.get("code") or "")
        correlation = str(data.get("correlationId") or "") or None
        if correlation is not None and self._secrets.contains(correlation):
            correlation = "(withheld: it contains the api_key)"
        return self._redact(message) or "(no message)", correlation

    def _status(
        self,
        response: requests.Response,
        body: bytes,
        export_id: str | None = None,
        *,
        status_required: bool = True,
    ) -> ExportStatus:
        text = body.decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except RecursionError:
            msg = (
                f"{response.request.method} {redact_url(response.url)} answered HTTP "
                f"{response.status_code} with JSON nested too deeply to read"
            )
            raise SeiApiError(msg, status_code=response.status_code) from None
        except ValueError:
            msg = (
                f"{response.request.method} {redact_url(response.url)} answered HTTP "
                f"{response.status_code} with a non-JSON body starting "
                f"{self._redact(text[:200])!r}"
            )
            raise SeiApiError(msg, status_code=response.status_code) from None
        found_id = data.get("exportId") if isinstance(data, dict) else None
        status = data.get("status") if isinstance(data, dict) else None
        if status is None and not status_required:
            status = NO_STATUS
        if not isinstance(status, str) or not (found_id or export_id):
            msg = (
                f"{response.request.method} {redact_url(response.url)} answered without "
                f"exportId/status: {self._redact(text[:200])!r}"
            )
            raise SeiApiError(msg, status_code=response.status_code)
        where = f"{response.request.method} {redact_url(response.url)}"
        try:
            if isinstance(found_id, int) and not isinstance(found_id, bool):
                found_id = str(found_id)  # a number is still a well-formed id
            checked_id = check_export_id(found_id or export_id, where)
            self._secrets.refuse(checked_id, f"{where}: the exportId")
            message = self._secrets.refuse(str(data.get("message") or ""), f"{where}: the message")
            self._secrets.refuse(status, f"{where}: the status")
        except KeyInValueError as e:
            raise SeiApiError(str(e), status_code=response.status_code) from None
        return ExportStatus(
            export_id=checked_id,
            status=status if status == NO_STATUS else status.strip().upper(),
            message=message,
            raw=data,
        )

    def _redact(self, text: str) -> str:
        return self._secrets.redact(text)


_T = t.TypeVar("_T")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class _ManualRedirectSession(requests.Session):
    """A session that leaves redirects to the client, Location unread.

    requests reads a redirect's Location even when it follows none, and one that is no URL (a
    port past 65535, a broken IPv6 host, bytes that are not UTF-8) raises there, with the
    answer and its connection still open; the client reads it instead (`_redirect_target`).
    """

    @override
    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An auth that adds nothing, so that requests adds nothing either."""
    return request
