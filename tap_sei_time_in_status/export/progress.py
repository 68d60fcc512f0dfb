"""Progress a person can follow: one line for the whole sync every so often, and a summary.

A sync of a thousand teams emits thousands of windows, so progress is a sync-wide line at a
fixed interval (windows emitted, rows, exports queued / in flight, requests of the last
minute against the budget, time left), and when the first and the last window are out; not
a line per partition and step: those are at DEBUG. Totals are kept as windows are emitted,
so each line costs the same however many partitions there are.
"""

from __future__ import annotations

import logging
import math
import time
import typing as t
from dataclasses import dataclass

from tap_sei_time_in_status.export.job import CompletedExport
from tap_sei_time_in_status.export.pipeline import PipelineStatus
from tap_sei_time_in_status.settings import Scope

#: Seconds between two progress lines.
PROGRESS_INTERVAL_SECONDS = 30.0
#: Up to this many partitions the summary's per-partition table is logged at INFO (else DEBUG).
SUMMARY_TABLE_PARTITIONS = 20


@dataclass
class _Partition:
    windows: int
    done: int = 0
    exports: int = 0
    rows: int = 0
    seconds: float = 0.0


class Progress:
    """Counts per partition and in all; a progress line every interval, a summary at the end."""

    def __init__(
        self,
        logger: logging.Logger,
        windows: t.Mapping[Scope, int],
        clock: t.Callable[[], float] = time.monotonic,
        interval: float = PROGRESS_INTERVAL_SECONDS,
    ) -> None:
        self._logger = logger
        self._clock = clock
        self._interval = interval
        self._started = self._last_line = clock()
        self._partitions = {scope: _Partition(count) for scope, count in windows.items()}
        self._windows = sum(windows.values())
        self._done = 0
        self._rows = 0
        self._exports = 0
        self._status: t.Callable[[], PipelineStatus] | None = None

    def follow(self, status: t.Callable[[], PipelineStatus]) -> None:
        """Report the exports' state (queued, in flight, requests) from `status`."""
        self._status = status

    def window_done(
        self, scope: Scope, completed: CompletedExport, rows: int, *, last_part: bool = True
    ) -> None:
        """Count one emitted window (or part of a split one); a progress line when one is due."""
        partition = self._partitions[scope]
        if last_part:
            partition.done += 1
            self._done += 1
        partition.exports += completed.exports_created
        partition.rows += rows
        partition.seconds = self._clock() - self._started
        self._exports += completed.exports_created
        self._rows += rows
        self._logger.debug(
            "%s: window %s done, %d row(s), export %s; %d/%d windows of this partition, "
            "%d rows so far",
            scope,
            completed.request.window,
            rows,
            completed.export_id,
            partition.done,
            partition.windows,
            partition.rows,
        )
        # The first window (the sync produces) and the last (it is done) are always shown.
        self.tick(now=self._done in (1, self._windows) and last_part)

    def tick(self, *, now: bool = False) -> None:
        """Log the sync's progress if the interval has passed since the last line (or `now`)."""
        at = self._clock()
        if not now and at - self._last_line < self._interval:
            return
        self._last_line = at
        elapsed = at - self._started
        left = elapsed / self._done * (self._windows - self._done) if self._done else math.nan
        exports = ""
        if self._status is not None:
            status = self._status()
            exports = (
                f"; exports: {status.in_flight:,} in flight, {status.queued:,} to create; "
                f"{status.requests_last_minute:,} requests in the last minute "
                f"(max_requests_per_minute {status.requests_per_minute:g})"
            )
        self._logger.info(
            "Progress: %s/%s windows emitted, %s rows%s; about %s left",
            f"{self._done:,}",
            f"{self._windows:,}",
            f"{self._rows:,}",
            exports,
            _duration(left),
        )

    def summary(self, max_run_seconds: float | None = None) -> None:
        """The sync's totals; per partition, a table of windows, exports, rows, when it ended.

        The table is at INFO for a few partitions, at DEBUG for many. Windows left over can
        only be those `max_run_seconds` kept from starting: say so.
        """
        self._logger.info(
            "Sync summary: %s of %s window(s) emitted from %s export(s) over %s partition(s), "
            "%s row(s), in %s",
            f"{self._done:,}",
            f"{self._windows:,}",
            f"{self._exports:,}",
            f"{len(self._partitions):,}",
            f"{self._rows:,}",
            _duration(self._clock() - self._started),
        )
        level = logging.INFO if len(self._partitions) <= SUMMARY_TABLE_PARTITIONS else logging.DEBUG
        if self._logger.isEnabledFor(level):
            lines = [f"{'partition':<40} {'windows':>8} {'exports':>8} {'rows':>10} {'done at':>9}"]
            for scope, p in self._partitions.items():
                lines.append(
                    f"{scope.scope_id[:40]:<40} {p.done:>8} {p.exports:>8} {p.rows:>10,} "
                    f"{_duration(p.seconds):>9}"
                )
            self._logger.log(level, "Partitions:\n%s", "\n".join(lines))
        left = self._windows - self._done
        if left and max_run_seconds is not None:
            self._logger.warning(
                "max_run_seconds (%g s) reached: no export was created after it; the windows "
                "in flight were finished and emitted and their state written. %d window(s) "
                "are left for the next run, which starts from this state.",
                max_run_seconds,
                left,
            )


def _duration(seconds: float) -> str:
    if math.isnan(seconds):  # nothing done yet
        return "?"
    seconds = round(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
