"""Export ids are data from the server, never syntax: checked, then percent-encoded.

An id goes into URL paths and into the state. One holding `/`, `..`, `?`, `#` or `&` could
send an authenticated request elsewhere or cut the query string, so only ids of a
conservative shape are accepted (the documented ones look like `exp_9F0A1B2C`), and even
those are encoded as one path segment. No file name is ever built from an id.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from tap_sei_time_in_status.errors import SeiTapError

EXPORT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
EXPORT_ID_RULE = "1 to 128 letters, digits, '_' or '-'"


class InvalidExportIdError(SeiTapError):
    """The server answered an export id the tap refuses to put in a URL or the state."""


def is_valid_export_id(value: object) -> bool:
    """True for an id of the accepted shape."""
    return isinstance(value, str) and EXPORT_ID_PATTERN.fullmatch(value) is not None


def check_export_id(value: object, where: str) -> str:
    """`value` when it is an acceptable id, else `InvalidExportIdError` naming `where`."""
    if isinstance(value, str) and EXPORT_ID_PATTERN.fullmatch(value):
        return value
    shown = repr(value)[:80]
    msg = (
        f"{where} answered the exportId {shown}, which is not {EXPORT_ID_RULE}; "
        "refusing to use it in a URL or store it in the state"
    )
    raise InvalidExportIdError(msg)


def id_segment(export_id: str) -> str:
    """The id as one percent-encoded URL path segment (checked again: defence in depth)."""
    check_export_id(export_id, "the state or the server")
    return quote(export_id, safe="")
