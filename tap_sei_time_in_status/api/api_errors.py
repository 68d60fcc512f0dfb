"""The errors of talking to the export API that no retry cures, each one a user can act on.

They live apart from the client so that the parts it is made of (`redirects`, `sender`,
`attempts`, `answers`) raise the same classes the client's callers catch; `client` exports
them all.
"""

from __future__ import annotations

from tap_sei_time_in_status.errors import SeiTapError


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
