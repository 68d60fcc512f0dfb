"""Logs a hostile server cannot flood: repeated warnings capped, long lists shortened.

A file of 200,000 labels the tap cannot date, or a server that fails every poll, must not
write a log line per label or per retry. A warning that can repeat within a window goes
through a `RepeatedWarnings` of that window: the first few are logged as they come, the rest
are counted and said in one line when the window's work ends.
"""

from __future__ import annotations

import logging
import threading
import typing as t

#: Warnings of one kind logged per window before the rest are only counted.
SHOWN_PER_WINDOW = 5
#: Names listed in one log line or message before the rest are only counted.
SHOWN_NAMES = 20
#: Characters of a value quoted in a message (a cell, a label, a key).
SHOWN_CHARS = 80


class WarningSink(t.Protocol):
    """What logs a warning: a `logging.Logger`, or one kind of a `RepeatedWarnings`."""

    def warning(self, msg: str, *args: object) -> None:
        """Log (or count) one warning, %-formatted as `logging` does."""


class RepeatedWarnings:
    """The warnings of one window: per kind, the first `shown`, then a count at `close`.

    Thread-safe: a window's export work may move between threads.
    """

    def __init__(
        self, logger: logging.Logger, where: str, *, shown: int = SHOWN_PER_WINDOW
    ) -> None:
        self._logger = logger
        self._where = where
        self._shown = shown
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def note(self, kind: str, msg: str, *args: object) -> None:
        """Log the warning if fewer than `shown` of its kind were logged, else count it."""
        with self._lock:
            count = self._counts[kind] = self._counts.get(kind, 0) + 1
        if count <= self._shown:
            self._logger.warning(msg, *args)

    def of_kind(self, kind: str) -> WarningSink:
        """A sink that logs warnings of `kind` through this cap (for code that takes a logger)."""
        return _KindSink(self, kind)

    def hidden(self, kind: str) -> int:
        """How many warnings of `kind` were counted but not logged."""
        with self._lock:
            return max(0, self._counts.get(kind, 0) - self._shown)

    def close(self) -> None:
        """Say, in one line per kind, how many warnings were not logged; count afresh."""
        with self._lock:
            counts, self._counts = self._counts, {}
        for kind, count in counts.items():
            if count > self._shown:
                self._logger.warning(
                    "%s: %s more warning(s) of %s not shown (%s in all; the first %d are above)",
                    self._where,
                    f"{count - self._shown:,}",
                    kind,
                    f"{count:,}",
                    self._shown,
                )


class _KindSink:
    def __init__(self, warnings: RepeatedWarnings, kind: str) -> None:
        self._warnings = warnings
        self._kind = kind

    def warning(self, msg: str, *args: object) -> None:
        self._warnings.note(self._kind, msg, *args)


def some(names: t.Iterable[str], *, shown: int = SHOWN_NAMES) -> str:
    """`a, b, c` or, for a long list, its first `shown` names and how many more."""
    listed: list[str] = []
    more = 0
    for name in names:
        if len(listed) < shown:
            listed.append(short(name, SHOWN_CHARS))
        else:
            more += 1
    text = ", ".join(listed)
    return f"{text} and {more:,} more" if more else text


def short(value: str, limit: int = SHOWN_CHARS) -> str:
    """`value`, cut to `limit` characters (with `...`), for a message that must stay a line."""
    return value if len(value) <= limit else f"{value[:limit]}..."
