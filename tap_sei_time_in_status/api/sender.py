"""Sending one request to the API: hop by hop under the redirect rule, within the budget.

Each hop waits its turn in the request budget (`rate_limit`) and goes out only if the tap is not
stopping; the `authorization` header and the identifiers ride along only where the redirect rule
(`redirects`) allows; a failure to connect says whether a retry can help (`network_errors`); an
error answer raises what it means (`answers`).
"""

from __future__ import annotations

import typing as t

import requests

from tap_sei_time_in_status.api.answers import AnswerReader
from tap_sei_time_in_status.api.api_errors import RedirectRefusedError, SeiApiError
from tap_sei_time_in_status.api.cancellation import StopSwitch
from tap_sei_time_in_status.api.deadlines import GuardedAdapter
from tap_sei_time_in_status.api.network_errors import first_contact_cause, unreachable
from tap_sei_time_in_status.api.rate_limit import RateLimiter
from tap_sei_time_in_status.api.redirects import (
    MAX_REDIRECTS,
    ManualRedirectSession,
    Route,
    is_redirect,
    origin,
)
from tap_sei_time_in_status.api.retries import RetryableError
from tap_sei_time_in_status.api.secrets_guard import SecretGuard
from tap_sei_time_in_status.url_secrets import redact_url


class RequestSender:
    """One `requests.Session` against one SEI base URL, safe to share between threads."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        params: dict[str, str],
        secrets: SecretGuard,
        answers: AnswerReader,
        limiter: RateLimiter,
        stop: StopSwitch,
        timeout_seconds: float,
        user_agent: str,
        max_connections: int,
    ) -> None:
        self.base_url = base_url
        self._api_key = api_key
        self._params = params
        self._secrets = secrets
        self._answers = answers
        self._limiter = limiter
        self._stop = stop
        # The client's watchdog bounds the request as a whole; the socket timeout, a little
        # longer, only backs it up.
        self._timeout = (min(10.0, timeout_seconds), timeout_seconds + 1.0)
        self._origin = origin(base_url)
        # Until the server answers once, an unreachable host fails at once (network_errors).
        self._answered = False
        self._session = ManualRedirectSession()
        # One kept-alive connection per thread that may send at once (exports in flight and
        # the caller's), so none is opened and dropped for each request.
        adapter = GuardedAdapter(pool_maxsize=max(10, max_connections))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # The key is added per request and only for our own host, never as a session default.
        self._session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})

    def close(self) -> None:
        """Release the pooled connections."""
        self._session.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, t.Any] | None = None,
        stream: bool = False,
        download: bool = False,
        what: str = "",
    ) -> requests.Response:
        """Send one request, following redirects by hand so the key stays on our host."""
        url = f"{self.base_url}{path}"
        what = what or f"{method} {redact_url(url)}"
        route = Route(url, self._origin, self._secrets, what=what, download=download)
        params: dict[str, str] | None = self._params
        for _ in range(MAX_REDIRECTS + 1):
            keyed = route.keyed(with_body=json_body is not None)
            url = route.url
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
                raise SeiApiError(self._secrets.redact(msg)) from None
            except ValueError as e:
                # A URL requests cannot send (a redirect's target with a port past 65535...).
                msg = (
                    f"{what} was answered with a redirect to a URL that cannot be read "
                    f"({type(e).__name__}); refusing to follow it"
                )
                raise RedirectRefusedError(msg) from None
            self._answered = True
            if is_redirect(response):
                response.close()
                route.follow(response.headers["Location"])
                params = None  # the Location carries its own query
                if response.status_code == 303:  # "see other": a GET, without the body
                    method, json_body = "GET", None
                continue
            self._answers.raise_for_status(method, url, response)
            return response
        msg = f"{method} {redact_url(route.url)}: more than {MAX_REDIRECTS} redirects"
        raise RedirectRefusedError(msg)

    def _fail_fast(self, method: str, url: str, error: BaseException) -> None:
        """On first contact, end at once when no retry can reach the server."""
        cause = None if self._answered else first_contact_cause(error)
        if cause is not None:
            raise unreachable(method, url, cause) from None


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An auth that adds nothing, so that requests adds nothing either."""
    return request
