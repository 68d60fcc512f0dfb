"""Which connection failures no retry can cure, and what to tell the user about them.

Before the server has answered once in a sync, a name that does not resolve, a refused
connection or a TLS handshake with a server that does not speak TLS mean a wrong `base_url`
or a server that is not running: seven retries would only add a minute of waiting to the same
failure. Once the server has answered, the same errors are a passing network fault and are
retried as usual.
"""

from __future__ import annotations

import socket
import ssl
import typing as t
from urllib.parse import urlsplit

from tap_sei_time_in_status.errors import SeiTapError
from tap_sei_time_in_status.url_secrets import redact_url


class UnreachableServerError(SeiTapError):
    """`base_url` cannot be reached at all: nothing to retry, something to fix."""


def _causes(error: BaseException) -> t.Iterator[BaseException]:
    """The error and what it wraps: `__cause__`, `__context__`, urllib3's `reason`, args."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested += [a for a in current.args if isinstance(a, BaseException)]
        pending.extend(n for n in nested if isinstance(n, BaseException))


def _is_plain_server(error: ssl.SSLError) -> bool:
    """OpenSSL's ways of saying the other side answered a TLS hello with something else."""
    text = f"{error.reason or ''} {error}".upper()
    return any(
        marker in text
        for marker in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST", "RECORD_LAYER")
    )


def first_contact_cause(error: BaseException) -> str | None:
    """Why the connection failed, when retrying cannot help; None for a transient failure."""
    for cause in _causes(error):
        if isinstance(cause, socket.gaierror):
            return "the host name does not resolve (DNS)"
        if isinstance(cause, ConnectionRefusedError):
            return "the connection was refused (nothing listens on that port)"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return None  # reported as a certificate problem by the client
        if isinstance(cause, ssl.SSLError) and _is_plain_server(cause):
            return "the TLS handshake failed: the server does not speak TLS (https) on that port"
        if type(cause).__name__ == "NameResolutionError":  # urllib3 2, without its gaierror
            return "the host name does not resolve (DNS)"
    return None


def unreachable(method: str, url: str, cause: str) -> UnreachableServerError:
    """The error a sync (and `--test`) ends with, naming the host and the cause."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    hint = "Check base_url (scheme, host and port) and that the server is running."
    if "TLS" in cause:
        hint = "Check base_url: use http:// only for a plain-HTTP server (loopback only)."
    return UnreachableServerError(
        f"Cannot reach {host}:{port} ({method} {redact_url(url)}): {cause}. {hint}"
    )
