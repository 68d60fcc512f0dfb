"""The errors that stop one window's export, each naming the window and what to change.

The client's errors name a request, but a user acts on a window: `about_window` says which
window an error of the client's stopped, and as what (out of time, too large, out of retries,
a redirect refused). The pipeline answers `ExportFailedError` by splitting the window in two.
"""

from __future__ import annotations

import contextlib
import typing as t

from tap_sei_time_in_status.api.client import (
    DeadlineExceededError,
    RedirectRefusedError,
    RetriesExhaustedError,
)
from tap_sei_time_in_status.api.limits import LimitExceededError
from tap_sei_time_in_status.errors import SeiTapError


class ExportFailedError(SeiTapError):
    """A window's export could not be completed within its attempts."""


class WindowTimeoutError(SeiTapError):
    """A window's export work (attempts and halvings together) ran past its time budget."""


class ExportLimitError(SeiTapError):
    """A window's download (or an answer about it) is larger than a size limit allows."""


class WindowRequestError(SeiTapError):
    """A request of a window's export failed on every try, or ran out of its retry time."""


class UnknownExportStatusError(SeiTapError):
    """The API reported a status this tap does not know; waiting on it could hang forever."""


def window_timeout_error(window: object, budget_seconds: float) -> WindowTimeoutError:
    """The window's time budget is spent: say what to change."""
    return WindowTimeoutError(
        f"{window}: the window's export work (attempts and halvings together) ran "
        f"past window_timeout_seconds ({budget_seconds:g} s). Retry "
        "later, raise window_timeout_seconds, or use a smaller periods_per_window."
    )


@contextlib.contextmanager
def about_window(window: object, budget_seconds: float) -> t.Iterator[None]:
    """Say which window (`window`, its request) an error of the client's stopped."""
    try:
        yield
    except DeadlineExceededError:
        raise window_timeout_error(window, budget_seconds) from None
    except LimitExceededError as e:
        msg = f"{window}: {e} Nothing of this window was emitted."
        raise ExportLimitError(msg) from None
    except RetriesExhaustedError as e:
        raise WindowRequestError(f"{window}: {e}") from None
    except RedirectRefusedError as e:
        raise RedirectRefusedError(f"{window}: {e}", status_code=e.status_code) from None
