"""The redirect rule: where a request may be redirected, and which of its hops carries the key.

requests would follow a redirect on its own terms; the tap follows them by hand, one hop at a
time, under one rule. Only http(s) targets are followed, at most `MAX_REDIRECTS` of them; the
key and the identifiers go only to the API's own host, and once a redirect has left that host
no later hop carries them. The only way back to the API host is the request's own path (for a
download, the same export's file), so another host cannot make the tap fetch, with its key,
another export's file as this one's, or any other call. A create is never redirected off the
API host: its body holds the scope and identifiers.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests
from typing_extensions import override

from tap_sei_time_in_status.api.api_errors import RedirectRefusedError
from tap_sei_time_in_status.api.secrets_guard import SecretGuard
from tap_sei_time_in_status.url_secrets import redact_url

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REDIRECT_SCHEMES = frozenset({"http", "https"})
MAX_REDIRECTS = 5

Origin = tuple[str, str, int | None]


def origin(url: str) -> Origin:
    """Scheme, host and port (the scheme's default if none): what "the same host" compares."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def is_redirect(response: requests.Response) -> bool:
    """An answer that sends the request elsewhere (a redirect without Location is an answer)."""
    return response.status_code in REDIRECT_STATUSES and "Location" in response.headers


class Route:
    """The hops of one request under the redirect rule, starting at the API host."""

    def __init__(
        self, url: str, api_origin: Origin, secrets: SecretGuard, *, what: str, download: bool
    ) -> None:
        #: Where the next hop goes.
        self.url = url
        self._api_origin = api_origin
        self._secrets = secrets
        self._what = what
        self._download = download
        self._own_path = urlsplit(url).path
        self._left = False

    def keyed(self, *, with_body: bool) -> bool:
        """Whether the next hop may carry the key and identifiers; refuse it if it may not go.

        `with_body`: the hop would send the request's body (a create's scope and identifiers).
        """
        own_host = origin(self.url) == self._api_origin
        if not own_host and with_body:
            msg = (
                f"{self._what} was redirected off the API host to {redact_url(self.url)}; "
                "refusing to send the request's body (scope, identifiers) anywhere but the API"
            )
            raise RedirectRefusedError(msg)
        self._left = self._left or not own_host
        if own_host and self._left and not (self._download and self._back_home()):
            msg = (
                f"{self._what} was redirected off the API host and then back to it at "
                f"{redact_url(self.url)}; refusing to follow it: once a redirect has left the "
                "API host, only the same export's download may lead back to it (and "
                "without the key)"
            )
            raise RedirectRefusedError(msg)
        return own_host and not self._left

    def follow(self, location: str) -> None:
        """Go where a redirect leads, if the tap may follow it at all (http or https)."""
        try:
            target = urljoin(self.url, location)
            parts = urlsplit(target)
            _ = parts.port
            target.encode("ascii")  # http.client sends a request line of ASCII only
        except (ValueError, UnicodeEncodeError):
            msg = (
                f"{self._what} was answered with a redirect to a URL that cannot be read; "
                "refusing to follow it"
            )
            raise RedirectRefusedError(msg) from None
        if parts.scheme.lower() not in REDIRECT_SCHEMES or not parts.hostname:
            msg = (
                f"{self._what} was redirected to "
                f"{self._secrets.redact(redact_url(target))!r}, which is not http(s); "
                "refusing to follow it"
            )
            raise RedirectRefusedError(msg)
        self.url = target

    def _back_home(self) -> bool:
        return urlsplit(self.url).path == self._own_path


class ManualRedirectSession(requests.Session):
    """A session that leaves redirects to the client, Location unread.

    requests reads a redirect's Location even when it follows none, and one that is no URL (a
    port past 65535, a broken IPv6 host, bytes that are not UTF-8) raises there, with the
    answer and its connection still open; the route reads it instead (`Route.follow`).
    """

    @override
    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None
