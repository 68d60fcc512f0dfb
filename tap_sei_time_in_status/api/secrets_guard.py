"""The API key never leaves the process: redacted from every log line, refused in any value.

A server may echo the key back (in a status `message`, a `correlationId`, an `exportId`, a
CSV cell); the key must then reach neither the logs nor the state nor a record. Logs are
redacted case-insensitively by a filter on the handlers; values are refused outright, since
a redacted value would be silently wrong data.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from types import TracebackType

from typing_extensions import override

REDACTED = "***"


class KeyInValueError(ValueError):
    """A value from the server contains the API key."""


#: Values are refused for holding a key at least this long; a shorter one (never a real SEI
#: key) would match ordinary text. Logs are redacted of any key.
MIN_REFUSED_KEY = 8


class SecretGuard:
    """Knows the key; finds and redacts it in any case."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._pattern = re.compile(re.escape(secret), re.IGNORECASE) if secret else None
        refusable = len(secret) >= MIN_REFUSED_KEY
        self.secret_bytes_lower = secret.encode("utf-8").lower() if refusable else b""
        self._refusable = refusable

    def redact(self, text: str) -> str:
        """`text` with every occurrence of the key, in any case, replaced by `***`."""
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def contains(self, text: str) -> bool:
        """True when the key (of `MIN_REFUSED_KEY` characters or more) is in `text`, any case."""
        return (
            self._refusable and self._pattern is not None and self._pattern.search(text) is not None
        )

    def refuse(self, value: str, what: str) -> str:
        """`value` unless it holds the key; then `KeyInValueError` naming `what`."""
        if self.contains(value):
            msg = f"{what} contains the api_key; refusing to use or store it"
            raise KeyInValueError(msg)
        return value


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message (and traceback text) without the key."""

    def __init__(self, guard: SecretGuard) -> None:
        super().__init__("redact-api-key")
        self.guard = guard

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record, redacted."""
        guard = self.guard
        try:
            message = record.getMessage()
        except Exception:  # a broken format string still gets logged
            message = str(record.msg)
        redacted = guard.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = guard.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = guard.redact(record.stack_info)
        return True


def install_redaction(guard: SecretGuard, *loggers: logging.Logger) -> None:
    """Put the filter on every handler of the root and of `loggers`, once.

    Also on the last resort: the traceback of an exception nothing caught, in any thread.
    """
    handlers = list(logging.getLogger().handlers)
    for logger in loggers:
        handlers += logger.handlers
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(guard))
    if not isinstance(sys.excepthook, _RedactingExceptHook):
        sys.excepthook = _RedactingExceptHook(guard)
    if not isinstance(threading.excepthook, _RedactingThreadHook):
        threading.excepthook = _RedactingThreadHook(guard)


def _write_redacted(guard: SecretGuard, text: str) -> None:
    stderr = sys.stderr
    if stderr is not None:  # None under pythonw and in some daemons: nowhere to write
        stderr.write(guard.redact(text))
        stderr.flush()


class _RedactingExceptHook:
    """`sys.excepthook` that prints the standard traceback, redacted."""

    def __init__(self, guard: SecretGuard) -> None:
        self.guard = guard

    def __call__(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        _write_redacted(self.guard, "".join(traceback.format_exception(exc_type, exc, tb)))


class _RedactingThreadHook:
    """`threading.excepthook` that prints what the default one does, redacted."""

    def __init__(self, guard: SecretGuard) -> None:
        self.guard = guard

    def __call__(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:  # as the default hook: a thread's exit is silent
            return
        name = args.thread.name if args.thread is not None else threading.get_ident()
        details = traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
        _write_redacted(self.guard, f"Exception in thread {name}:\n" + "".join(details))
