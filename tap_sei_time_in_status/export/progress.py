"""Progress a person can follow: windows done per partition, rows, time left, a summary."""

from __future__ import annotations

import logging
import math
import time
import typing as t
from dataclasses import dataclass

from tap_sei_time_in_status.export.job import CompletedExport
from tap_sei_time_in_status.settings import Scope


@dataclass
class _Partition:
    windows: int
    done: int = 0
    exports: int = 0
    rows: int = 0
    seconds: float = 0.0


class Progress:
    """Counts per partition, logged as each window is emitted and once at the end."""

    def __init__(
        self,
        logger: logging.Logger,
        windows: t.Mapping[Scope, int],
        clock: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._clock = clock
        self._started = clock()
        self._partitions = {scope: _Partition(count) for scope, count in windows.items()}

    def window_done(
        self, scope: Scope, completed: CompletedExport, rows: int, *, last_part: bool = True
    ) -> None:
        """Log one emitted window (or part of a split one) and the time the sync still needs."""
        partition = self._partitions[scope]
        if last_part:
            partition.done += 1
        partition.exports += completed.exports_created
        partition.rows += rows
        partition.seconds = self._clock() - self._started
        done = sum(p.done for p in self._partitions.values())
        total = sum(p.windows for p in self._partitions.values())
        elapsed = self._clock() - self._started
        left = elapsed / done * (total - done) if done else float("nan")
        self._logger.info(
            "%s: window %s done, %d row(s), export %s; %d/%d windows of this partition, "
            "%d rows so far; all partitions %d/%d windows, about %s left",
            scope,
            completed.request.window,
            rows,
            completed.export_id,
            partition.done,
            partition.windows,
            partition.rows,
            done,
            total,
            _duration(left),
        )

    def summary(self, max_run_seconds: float | None = None) -> None:
        """One table: per partition, windows, exports, rows and when it finished.

        Windows left over can only be those `max_run_seconds` kept from starting: say so.
        """
        lines = [f"{'partition':<40} {'windows':>8} {'exports':>8} {'rows':>10} {'done at':>9}"]
        for scope, p in self._partitions.items():
            lines.append(
                f"{scope.scope_id[:40]:<40} {p.done:>8} {p.exports:>8} {p.rows:>10,} "
                f"{_duration(p.seconds):>9}"
            )
        self._logger.info("Sync summary:\n%s", "\n".join(lines))
        left = sum(p.windows - p.done for p in self._partitions.values())
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
