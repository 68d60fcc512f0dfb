"""Fault switches of the sandbox: which requests get a broken answer, and which one.

A plan is an ordered list of `Fault`s. Each fault counts the requests it matches on its own;
it fires for the `times` matches that follow the first `after` ones. When several faults fire
on the same request the first one in the plan wins (the others still count the request), so
a plan reads top to bottom like a script of what the client will meet.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, cast, get_args

#: `blob` is the pre-signed file URL a `redirect` leads to (not counted by `any`).
FaultEndpoint = Literal["create", "poll", "download", "blob", "any"]
FaultKind = Literal[
    "429",
    "429_no_retry_after",
    "500",
    "502",
    "503",
    "504",
    "drop",
    "slow",
    "html",
    "non_json",
    "cut",
    "content_encoding_gzip",
    "plain",
    "redirect",
    "malformed_non_numeric",
    "malformed_missing_column",
    "malformed_duplicate_keys",
    "ragged",
    "other_export",
    "late_non_numeric",
    "key_in_cell",
    "utf16",
    "invalid_utf8_header",
    "invalid_utf8_body",
    "long_line",
    "long_cell",
    "redirect_file",
    "redirect_ftp",
    "nested_json",
    # Bounds (issue 10): slow, huge or inflating answers.
    "drip_headers",
    "drip_body",
    "gzip_bomb",
    "huge_json",
    # Trust (issue 18): redirect chains that leave the API host and lead back to it.
    "redirect_back_other",
    "redirect_back_poll",
    "redirect_back_same",
    "plain_huge_line",
    # Trust, round two (issue 18): answers that move data or cannot be stored.
    "other_window_export",
    "other_window_labels",
    "undatable_labels",
    "nul_in_cell",
    "negative_hours",
    "negative_count",
    "non_ascii_digits",
    "wide_header",
]

FAULT_ENDPOINTS: Final[tuple[str, ...]] = get_args(FaultEndpoint)
FAULT_KINDS: Final[tuple[str, ...]] = get_args(FaultKind)

#: `times` value for a fault that never wears off.
ALWAYS: Final = sys.maxsize

#: Kinds answered with a plain HTTP error status (and a JSON error body).
STATUS_KINDS: Final[dict[str, int]] = {
    "429": 429,
    "429_no_retry_after": 429,
    "500": 500,
    "502": 502,
    "503": 503,
    "504": 504,
}

#: Kinds that only make sense for the file download.
DOWNLOAD_ONLY_KINDS: Final = frozenset(
    {
        "cut",
        "content_encoding_gzip",
        "plain",
        "redirect",
        "malformed_non_numeric",
        "malformed_missing_column",
        "malformed_duplicate_keys",
        "ragged",
        "late_non_numeric",
        "key_in_cell",
        "utf16",
        "invalid_utf8_header",
        "invalid_utf8_body",
        "long_line",
        "long_cell",
        "redirect_file",
        "redirect_ftp",
        "gzip_bomb",
        "redirect_back_other",
        "redirect_back_poll",
        "redirect_back_same",
        "plain_huge_line",
        "other_window_labels",
        "undatable_labels",
        "nul_in_cell",
        "negative_hours",
        "negative_count",
        "non_ascii_digits",
        "wide_header",
    }
)

#: Kinds that send the answer one byte every `delay` seconds (headers, or body only).
DRIP_KINDS: Final = frozenset({"drip_headers", "drip_body"})

#: Kinds that change the CSV content itself (the download serves a damaged copy).
#: `late_non_numeric`, `key_in_cell` and `invalid_utf8_body` damage the last row only;
#: `long_line` ends the file with a 10,000-byte line without newline, `long_cell` with a
#: quoted cell of 10,000 characters over lines of 900; `utf16` re-encodes the whole file.
#: `other_window_labels` gives every row the label of the period as many periods earlier as
#: the window holds (the previous window's labels); `undatable_labels` gives each row a
#: label of its own no parser can date (`Period 1`, `Period 2`, ...); `nul_in_cell`,
#: `negative_hours`, `negative_count` and `non_ascii_digits` damage the last row's team, first
#: non-empty hours cell, total_issues, and total_issues again (in Arabic-Indic digits);
#: `wide_header` adds `WIDE_COLUMNS` columns, half of them `*_hours`, empty in every row.
MALFORMED_KINDS: Final = frozenset(
    {
        "other_window_labels",
        "undatable_labels",
        "nul_in_cell",
        "negative_hours",
        "negative_count",
        "non_ascii_digits",
        "wide_header",
        "malformed_non_numeric",
        "malformed_missing_column",
        "malformed_duplicate_keys",
        "ragged",
        "late_non_numeric",
        "key_in_cell",
        "utf16",
        "invalid_utf8_header",
        "invalid_utf8_body",
        "long_line",
        "long_cell",
    }
)

#: Download redirects to a scheme no HTTP client should follow, by kind.
BAD_REDIRECTS: Final[dict[str, str]] = {
    "redirect_file": "file:///etc/passwd",
    "redirect_ftp": "ftp://127.0.0.1/export.csv.gz",
}

#: Download redirects to the blob host, which redirects back to the API host: at another
#: export's download (`other`), at this export's status (`poll`), or at this export's download
#: signed like a blob URL, which the sandbox then serves without the key (`same`).
REDIRECT_BACK_KINDS: Final = frozenset(
    {"redirect_back_other", "redirect_back_poll", "redirect_back_same"}
)

#: Kinds that only make sense for the JSON endpoints.
JSON_ONLY_KINDS: Final = frozenset({"non_json", "nested_json", "huge_json"})

#: Kinds that only make sense for a status poll: `other_export` answers about another export.
POLL_ONLY_KINDS: Final = frozenset({"other_export"})

#: Kinds that only make sense for a create: `other_window_export` answers with the latest
#: export of another request (another window), as a cache keyed without the date range
#: would; with `process=True` the request's own export is created first. The first create,
#: with no other export to answer, is served normally.
CREATE_ONLY_KINDS: Final = frozenset({"other_window_export"})

#: Columns `wide_header` adds: the wide header the trust review timed (150,000 columns).
WIDE_COLUMNS: Final = 150_000

#: Kinds that replace the answer; `process=True` lets the request take effect first.
REPLACING_KINDS: Final = frozenset(
    {*STATUS_KINDS, "drop", "html", "non_json", "nested_json", "huge_json"}
)

#: Kinds the blob host (a redirect's target) can answer with: errors, drops, delays, drips.
BLOB_KINDS: Final = frozenset({*STATUS_KINDS, "drop", "html", "slow", *DRIP_KINDS})


@dataclass(frozen=True)
class Fault:
    """One switch: `kind` for `times` `endpoint` requests, after letting `after` through.

    `delay` is how long a `slow` fault sleeps, or the seconds between two bytes of a `drip_*`
    fault; `retry_after` overrides the configured `Retry-After` of a `429` (text such as
    `nan`, `-5` or `1e9` is sent as is); `size` is the inflated bytes of a `gzip_bomb`, the
    padding of a `huge_json` answer, or the last line of a `plain_huge_line` download (a plain
    CSV whose last line has `size` bytes and no newline); `process=True` makes a replacing
    fault (a status, `drop`, `html`, `non_json`) act after the request took effect, e.g. a
    create whose export exists but whose answer was lost on the way.
    """

    endpoint: FaultEndpoint
    kind: FaultKind
    times: int = 1
    after: int = 0
    delay: float = 2.0
    retry_after: int | str | None = None
    process: bool = False
    size: int = 64 << 20

    def __post_init__(self) -> None:
        if self.endpoint not in FAULT_ENDPOINTS:
            msg = f"unknown fault endpoint {self.endpoint!r}; use one of {FAULT_ENDPOINTS}"
            raise ValueError(msg)
        if self.kind not in FAULT_KINDS:
            msg = f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}"
            raise ValueError(msg)
        if self.kind in DOWNLOAD_ONLY_KINDS and self.endpoint not in ("download", "any"):
            msg = f"fault {self.kind!r} only applies to downloads, not {self.endpoint!r}"
            raise ValueError(msg)
        if self.kind in JSON_ONLY_KINDS and self.endpoint == "download":
            msg = f"fault {self.kind!r} only applies to create and poll"
            raise ValueError(msg)
        if self.kind in POLL_ONLY_KINDS and self.endpoint not in ("poll", "any"):
            msg = f"fault {self.kind!r} only applies to polls, not {self.endpoint!r}"
            raise ValueError(msg)
        if self.endpoint == "blob" and self.kind not in BLOB_KINDS:
            msg = f"fault {self.kind!r} does not apply to blob; use one of {sorted(BLOB_KINDS)}"
            raise ValueError(msg)
        if self.kind in CREATE_ONLY_KINDS and self.endpoint not in ("create", "any"):
            msg = f"fault {self.kind!r} only applies to creates, not {self.endpoint!r}"
            raise ValueError(msg)
        if self.times < 1 or self.after < 0 or self.delay < 0:
            msg = "fault times must be >= 1, after >= 0 and delay >= 0"
            raise ValueError(msg)
        if isinstance(self.retry_after, int) and self.retry_after < 0:
            msg = "fault retry_after must be >= 0 (or text, sent as is)"
            raise ValueError(msg)
        if self.size < 0:
            msg = "fault size must be >= 0"
            raise ValueError(msg)

    def applies_to(self, endpoint: str) -> bool:
        """Whether a request to `endpoint` counts for this fault (and may get it)."""
        if endpoint not in ("create", "poll", "download", "blob"):
            return False
        if self.endpoint != endpoint and (self.endpoint != "any" or endpoint == "blob"):
            return False  # `any` does not count the blob host
        if self.kind in DOWNLOAD_ONLY_KINDS:
            return endpoint == "download"
        if self.kind in JSON_ONLY_KINDS:
            return endpoint != "download"
        for kinds, only in ((POLL_ONLY_KINDS, "poll"), (CREATE_ONLY_KINDS, "create")):
            if self.kind in kinds:
                return endpoint == only
        return True

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Read the CLI form `endpoint:kind[:times[:after]]`; `times` may be `always`."""
        parts = spec.split(":")
        if not 2 <= len(parts) <= 4:
            msg = f"fault {spec!r} is not endpoint:kind[:times[:after]]"
            raise ValueError(msg)
        endpoint, kind = parts[0].strip(), parts[1].strip()
        if endpoint not in FAULT_ENDPOINTS or kind not in FAULT_KINDS:
            msg = (
                f"fault {spec!r}: endpoint must be one of {FAULT_ENDPOINTS} "
                f"and kind one of {FAULT_KINDS}"
            )
            raise ValueError(msg)
        times = 1
        after = 0
        try:
            if len(parts) >= 3:
                times = ALWAYS if parts[2].strip() == "always" else int(parts[2])
            if len(parts) == 4:
                after = int(parts[3])
        except ValueError:
            msg = f"fault {spec!r}: times and after must be integers"
            raise ValueError(msg) from None
        return cls(
            endpoint=cast("FaultEndpoint", endpoint),
            kind=cast("FaultKind", kind),
            times=times,
            after=after,
        )


class FaultPlan:
    """The faults in force and how many matching requests each has seen, behind one lock."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._lock = threading.Lock()
        self._faults: tuple[Fault, ...] = ()
        self._seen: list[int] = []
        self._fired: list[int] = []
        self.replace(faults)

    def replace(self, faults: Iterable[Fault]) -> None:
        """Put a new plan in force, with fresh counters."""
        plan = tuple(faults)
        with self._lock:
            self._faults = plan
            self._seen = [0] * len(plan)
            self._fired = [0] * len(plan)

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The plan in force."""
        with self._lock:
            return self._faults

    def fired(self) -> list[tuple[Fault, int]]:
        """Each fault with how many times it has fired so far."""
        with self._lock:
            return list(zip(self._faults, self._fired, strict=True))

    def take(self, endpoint: str) -> Fault | None:
        """Count one request to `endpoint` and return the fault it gets, if any."""
        chosen: Fault | None = None
        with self._lock:
            for i, fault in enumerate(self._faults):
                if not fault.applies_to(endpoint):
                    continue
                self._seen[i] += 1
                seen = self._seen[i]
                if chosen is None and fault.after < seen <= fault.after + fault.times:
                    chosen = fault
                    self._fired[i] += 1
        return chosen
