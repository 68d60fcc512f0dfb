"""Reading the API's answers within bounds, and judging what they say.

A server decides how much it sends: a body is read only as far as a limit allows (enough to
tell it is too large). A create or poll answer becomes an `ExportStatus` only with a
well-formed export id and nothing in it that carries the key. An error answer becomes the
error a caller acts on (retry, check the key, check `base_url`, the export is gone), with the
server's message and correlation id, redacted.
"""

from __future__ import annotations

import json
import time
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from tap_sei_time_in_status.api.api_errors import (
    AuthenticationError,
    ExportNotFoundError,
    SeiApiError,
)
from tap_sei_time_in_status.api.export_ids import check_export_id
from tap_sei_time_in_status.api.limits import SizeLimits
from tap_sei_time_in_status.api.retries import RetryableError, parse_retry_after
from tap_sei_time_in_status.api.secrets_guard import KeyInValueError, SecretGuard
from tap_sei_time_in_status.url_secrets import redact_url

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CHUNK_SIZE = 1 << 16
#: Of an error answer only the start is read: its message and correlation id.
ERROR_BODY_BYTES = 1 << 16
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


class AnswerReader:
    """Reads and judges the answers of one API: bounded, redacted, mapped to errors."""

    def __init__(
        self, secrets: SecretGuard, limits: SizeLimits, *, base_url: str, create_path: str
    ) -> None:
        self._secrets = secrets
        self._limits = limits
        #: Named in the error of a create answered 404 (a base_url without the API).
        self._base_url = base_url
        self._create_path = create_path

    def json_body(self, response: requests.Response, what: str) -> bytes:
        """A create or poll answer's body, refused once it is larger than the limit."""
        body = self.read_bounded(response, self._limits.max_json_answer_bytes)
        self._limits.check_json(len(body), what)
        return body

    def check_download_headers(self, response: requests.Response, what: str) -> None:
        """Refuse a download the tap cannot decode, or one that says it is too large."""
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            msg = f"{what} came with Content-Encoding {encoding!r}, which the tap cannot read"
            raise SeiApiError(msg)
        length = response.headers.get("Content-Length", "")
        if length.isdigit():
            self._limits.check_download(int(length), what)

    def read_bounded(self, response: requests.Response, limit: int) -> bytes:
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

    def status(
        self,
        response: requests.Response,
        body: bytes,
        export_id: str | None = None,
        *,
        status_required: bool = True,
    ) -> ExportStatus:
        """The export's status in a create or poll answer; `SeiApiError` if it has none."""
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

    def raise_for_status(self, method: str, url: str, response: requests.Response) -> None:
        """Raise the error an HTTP error status means: to retry, or one a user can act on."""
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
        if status == 404 and method == "POST" and urlsplit(url).path.endswith(self._create_path):
            raise SeiApiError(
                f"{where} answered {detail}: the server has no export API at this path. "
                f"Check base_url ({self._base_url}); it ends in /sei/api, e.g. "
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
            raw = self.read_bounded(response, ERROR_BODY_BYTES)
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

    def _redact(self, text: str) -> str:
        return self._secrets.redact(text)
