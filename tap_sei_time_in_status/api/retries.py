"""Retries of one request: jittered exponential waits, `Retry-After`, and a time budget.

Tries are bounded in number and in total time, so a server that keeps answering 429 with a
huge `Retry-After` cannot hold a request for ever, and the final error says how many tries
were made over how long. Waits are cut short when the tap is told to stop, which is why the
loop is ours: `backoff`'s decorators sleep with `time.sleep`, which no signal can cut short.
The wait sequence itself is `backoff`'s (exponential, full jitter).
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
import typing as t
from dataclasses import dataclass

import backoff

from tap_sei_time_in_status.errors import SeiTapError
from tap_sei_time_in_status.log_limits import WarningSink

_T = t.TypeVar("_T")


class RetryableError(SeiTapError):
    """A 429, a 5xx or a broken connection: worth trying again after a pause."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code
        self.correlation_id = correlation_id


class RetriesExhaustedError(SeiTapError):
    """The last failure of a request whose tries or time budget ran out."""

    def __init__(self, message: str, last: RetryableError) -> None:
        super().__init__(message)
        self.status_code = last.status_code
        self.correlation_id = last.correlation_id


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long one request is tried."""

    max_tries: int = 8
    base_seconds: float = 0.5
    cap_seconds: float = 60.0
    #: `max_request_retry_seconds`: no wait starts that would end past it.
    budget_seconds: float = 300.0


def retry_waits(base: float, cap: float) -> t.Generator[float, BaseException | None, None]:
    """Full-jitter exponential waits, lengthened to the server's `Retry-After` when it asks.

    A `Retry-After` never shortens a wait: 0, or a date in the past, would otherwise give a
    burst of immediate retries against the server that just refused; and one above `cap`
    counts as `cap`.
    """
    ceilings = backoff.expo(base=2, factor=base, max_value=cap)
    next(ceilings)  # backoff's generators are primed by one step
    failure = yield 0.0
    while True:
        ceiling = next(ceilings)
        # Never below `base`: a retry at once would only meet the same overloaded server.
        wait = base + backoff.full_jitter(max(0.0, ceiling - base))
        retry_after = failure.retry_after if isinstance(failure, RetryableError) else None
        if retry_after is not None:
            wait = max(wait, min(retry_after, cap))
        failure = yield wait


def with_retries(
    attempt: t.Callable[[], _T],
    policy: RetryPolicy,
    *,
    sleep: t.Callable[[float], None],
    logger: logging.Logger | WarningSink,
    deadline: float | None = None,
    clock: t.Callable[[], float] = time.monotonic,
) -> _T:
    """Run `attempt` until it succeeds, retrying `RetryableError` within the policy.

    `deadline` (a `clock` time) is a bound of the caller's on top of the budget.
    """
    started = clock()
    waits = retry_waits(policy.base_seconds, policy.cap_seconds)
    next(waits)
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except RetryableError as failure:
            now = clock()
            wait = waits.send(failure)
            elapsed = now - started
            over_budget = elapsed + wait > policy.budget_seconds
            past_deadline = deadline is not None and now + wait > deadline
            if tries >= policy.max_tries or over_budget or past_deadline:
                raise RetriesExhaustedError(
                    f"{failure} - gave up after {tries} {'try' if tries == 1 else 'tries'} "
                    f"over {elapsed:.1f} s ({_why(policy, tries, wait, past_deadline)})",
                    failure,
                ) from None
            logger.warning(
                "%s; retry %d of %d in %.1f s", failure, tries, policy.max_tries - 1, wait
            )
            sleep(wait)


def _why(policy: RetryPolicy, tries: int, wait: float, past_deadline: bool) -> str:
    if tries >= policy.max_tries:
        return f"at most {policy.max_tries} tries per request"
    if past_deadline:
        return f"the next try, in {wait:.1f} s, would pass window_timeout_seconds"
    return (
        f"the next try, in {wait:.1f} s, would pass max_request_retry_seconds "
        f"({policy.budget_seconds:g} s)"
    )


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), else None.

    A value that is not a finite, non-negative number counts as absent: `nan` or `-1` must
    not turn into a storm of immediate retries.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        try:
            seconds = when.timestamp() - now
        except (OverflowError, ValueError, OSError):
            return None
        return max(0.0, seconds) if math.isfinite(seconds) else None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds
