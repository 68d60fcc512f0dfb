"""The base of every error a user can act on from its message alone."""

from __future__ import annotations

import logging
import sys

from typing_extensions import override

#: The line singer-sdk logs before re-raising any error out of a stream's sync.
SDK_UNHANDLED_ERROR_LINE = "An unhandled error occurred while syncing"


class SeiTapError(Exception):
    """Reported as its message, without a traceback: the message names what to fix."""


class HandledErrorFilter(logging.Filter):
    """Drops singer-sdk's "unhandled error" line when the error is a `SeiTapError`.

    The tap's entry point reports such an error itself, as one line: the log says it once. Any
    other error (a bug) keeps the line and its traceback.
    """

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """False for singer-sdk's line about an error the tap reports itself."""
        # The SDK logs the line inside its `except` block, in the same thread.
        handled = isinstance(sys.exc_info()[1], SeiTapError)
        return not (handled and str(record.msg).startswith(SDK_UNHANDLED_ERROR_LINE))


def report_handled_errors_once(logger: logging.Logger) -> None:
    """Put `HandledErrorFilter` on a stream's logger, once."""
    if not any(isinstance(f, HandledErrorFilter) for f in logger.filters):
        logger.addFilter(HandledErrorFilter())
