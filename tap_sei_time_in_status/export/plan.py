"""The sync's plan: per partition, the windows to export from its bookmark on, as requests.

Every partition's windows are planned before the first export, so that exports of later
partitions can start while earlier ones are still being emitted.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t
from dataclasses import dataclass

from tap_sei_time_in_status.export.job import ExportRequest
from tap_sei_time_in_status.settings import Scope, Settings
from tap_sei_time_in_status.windows import plan_windows, resume_windows


@dataclass(frozen=True)
class SyncPlan:
    """The requests of each partition, in the order their records must leave the tap."""

    requests: t.Mapping[Scope, t.Sequence[ExportRequest]]

    @classmethod
    def from_bookmarks(
        cls,
        settings: Settings,
        bookmark_of: t.Callable[[Scope], dt.date | None],
        logger: logging.Logger,
    ) -> SyncPlan:
        """Each partition restarts at the window holding its bookmark minus the lookback."""
        all_windows = plan_windows(
            settings.start_date,
            settings.end_date,
            settings.granularity,
            settings.periods_per_window,
        )
        requests: dict[Scope, list[ExportRequest]] = {}
        bookmarks: list[dt.date] = []
        for scope in settings.scopes:
            bookmark = bookmark_of(scope)
            windows = resume_windows(all_windows, bookmark, settings.lookback_days)
            requests[scope] = [ExportRequest.for_window(settings, scope, w) for w in windows]
            if bookmark is not None:
                bookmarks.append(bookmark)
            logger.debug(
                "%s: %d of %d window(s) to export (bookmark %s, lookback %d day(s))",
                scope,
                len(windows),
                len(all_windows),
                bookmark.isoformat() if bookmark else "none",
                settings.lookback_days,
            )
        logger.info(
            "Plan: %s window(s) to export over %s partition(s), %d window(s) each from "
            "start_date; %s (lookback %d day(s))",
            f"{sum(len(r) for r in requests.values()):,}",
            f"{len(requests):,}",
            len(all_windows),
            _bookmark_range(bookmarks, len(requests)),
            settings.lookback_days,
        )
        return cls(requests)

    def scope_of(self, context: t.Mapping[str, t.Any] | None) -> Scope:
        """The partition of a singer-sdk context (a scope's `context`)."""
        context = context or {}
        scope = Scope(context.get("scope_type"), context.get("scope_id"))  # type: ignore[arg-type]
        if scope not in self.requests:
            msg = f"no configured scope for partition {context!r}"
            raise KeyError(msg)
        return scope

    def in_order(self) -> t.Iterator[ExportRequest]:
        """Every request, partition after partition, window after window."""
        for requests in self.requests.values():
            yield from requests

    def windows(self) -> dict[Scope, int]:
        """How many windows each partition exports (a team and an org tree may share a name)."""
        return {scope: len(requests) for scope, requests in self.requests.items()}


def _bookmark_range(bookmarks: list[dt.date], partitions: int) -> str:
    """`bookmarks from A to B`, and how many partitions have none (they start at start_date)."""
    if not bookmarks:
        return "no bookmark yet"
    span = (
        f"bookmark {bookmarks[0].isoformat()}"
        if min(bookmarks) == max(bookmarks)
        else f"bookmarks from {min(bookmarks).isoformat()} to {max(bookmarks).isoformat()}"
    )
    missing = partitions - len(bookmarks)
    return f"{span}, {missing:,} partition(s) without one" if missing else span
