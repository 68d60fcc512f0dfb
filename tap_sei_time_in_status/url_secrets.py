"""What of a URL the tap may show: never its userinfo, its query or its fragment.

A URL can carry secrets in two places: `user:password@` before the host, and the query (a
download host's signature, a token). Every URL the tap puts in a log line or an error goes
through `redact_url`, the server's redirect targets included.
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: What stands in for a URL that cannot be shown safely.
WITHHELD = "(a URL not shown: it cannot be read safely)"


def redact_url(url: str) -> str:
    """`scheme://host:port/path`, without userinfo, query or fragment."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:  # a broken IPv6 host, a port that is not a number
        return WITHHELD
    host = parts.netloc.rpartition("@")[2]
    if not host:  # `file:///x`, `mailto:a@b`: no host, and the path may hold anything
        return WITHHELD if "@" in parts.path else f"{parts.scheme}://{parts.path}"
    return f"{parts.scheme}://{host}{parts.path}"


def has_userinfo(url: str) -> bool:
    """Whether the URL names a user (and maybe a password) before its host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return "@" in parts.netloc
