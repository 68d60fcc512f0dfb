"""Logs a hostile server cannot flood: repeated warnings capped, long lists shortened.

A file of 200,000 labels the tap cannot date, or a server that fails every poll, must not
write a log line per label or per retry. A warning that can repeat within a window goes
through a `RepeatedWarnings` of that window: the first few are logged as they come, the rest
are counted and said in one line when the window's work ends. The warnings of the HTTP
library itself (`LibraryWarnings`) are made one line, without a URL's secrets, and capped too.
"""

from __future__ import annotations

import logging
import threading
import typing as t

from tap_sei_time_in_status.url_secrets import redact_url

#: Warnings of one kind logged per window before the rest are only counted.
SHOWN_PER_WINDOW = 5
#: Names listed in one log line or message before the rest are only counted.
SHOWN_NAMES = 20
#: Characters of a value quoted in a message (a cell, a label, a key).
SHOWN_CHARS = 80
#: urllib3's loggers that warn about what a server sent.
LIBRARY_LOGGERS = ("urllib3.connection", "urllib3.connectionpool", "urllib3.response")
#: Characters of a library warning kept (it may quote what the server sent).
LIBRARY_CHARS = 300


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


class LibraryWarnings(logging.Filter):
    """urllib3's warnings in the tap's terms: one line, no URL secret, a few of each kind.

    A server that sends headers urllib3 cannot parse gets, on every answer, a WARNING with a
    traceback and the whole URL, its query (a signature, the identifiers) included. Here each
    becomes one line with the URL as `redact_url` shows it; after `shown` of one kind, one
    more line says the rest are not shown (for the whole run: these name no window).
    """

    def __init__(self, shown: int = SHOWN_PER_WINDOW) -> None:
        super().__init__("library-warnings")
        self._shown = shown
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record as one safe line, or drop it past the cap."""
        with self._lock:
            count = self._counts[str(record.msg)] = self._counts.get(str(record.msg), 0) + 1
        if count > self._shown + 1:
            return False
        args = record.args
        if isinstance(args, tuple):
            args = tuple(_shown_arg(arg) for arg in args)
        try:
            message = str(record.msg) % args if args else str(record.msg)
        except (TypeError, ValueError):
            message = str(record.msg)
        message = short(" ".join(message.split()), LIBRARY_CHARS)
        if count > self._shown:
            message += " (further warnings like this one are not shown)"
        record.msg, record.args = message, None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


_library_filter = LibraryWarnings()


def tame_library_warnings() -> None:
    """Put `LibraryWarnings` on urllib3's loggers, once."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _library_filter not in logger.filters:
            logger.addFilter(_library_filter)


def _shown_arg(arg: object) -> object:
    if isinstance(arg, str) and arg.lower().startswith(("http://", "https://")):
        return redact_url(arg)
    return arg
