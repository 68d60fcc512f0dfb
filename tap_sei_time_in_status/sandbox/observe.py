"""What the request log says about a client's pace, as a server counting arrivals sees it.

A rate limit is judged on arrivals: the most requests that arrived within any window of its
length. Concurrency is judged on exports: the most that were between their creation and
their last download at once.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable, Sequence

if t.TYPE_CHECKING:
    from .api import RequestRecord


def peak_requests(times: Sequence[float], window_seconds: float = 60.0) -> int:
    """The most arrivals within any `window_seconds` (a half-open window `[t, t + w)`)."""
    ordered = sorted(times)
    peak = 0
    first = 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - window_seconds:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def export_spans(log: Iterable[RequestRecord]) -> dict[str, tuple[float, float]]:
    """Per export id: its creation and the last request about it (its download, usually)."""
    spans: dict[str, tuple[float, float]] = {}
    for record in log:
        export_id = record.export_id
        if export_id is None or record.status is None or record.status >= 300:
            continue
        if export_id in spans:
            spans[export_id] = (spans[export_id][0], record.at)
        elif record.endpoint == "create":
            spans[export_id] = (record.at, record.at)
    return spans


def peak_exports_in_flight(log: Iterable[RequestRecord]) -> int:
    """The most exports that were between their creation and their last request at once."""
    # At equal times a start counts before an end: spans that touch overlap.
    events = sorted(
        (at, -step)
        for start, end in export_spans(log).values()
        for at, step in ((start, 1), (end, -1))
    )
    peak = running = 0
    for _, negated in events:
        step = -negated
        running += step
        peak = max(peak, running)
    return peak
