"""The API key never leaves the process: redacted from every log line, refused in any value.

A server may echo the key back (in a status `message`, a `correlationId`, an `exportId`, a
CSV cell); the key must then reach neither the logs nor the state nor a record. Logs are
redacted case-insensitively by a filter on the handlers; values are refused outright, since
a redacted value would be silently wrong data.
"""

from __future__ import annotations

import logging
import re

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
    """Put the filter on every handler of the root and of `loggers`, once."""
    handlers = list(logging.getLogger().handlers)
    for logger in loggers:
        handlers += logger.handlers
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(guard))
