"""How many exports to keep in flight: the user's cap, or as many as the request budget serves.

A sync's wall time is the server's export time divided by the exports in flight, until the
request budget (`max_requests_per_minute`) is what runs out. With `max_concurrent_exports`
set, that many are in flight, exactly. Without it, a new export is created while its polls
fit in the budget next to those of the exports already polling: an export of age `a` is
polled every `wait(a)` seconds (`poll_schedule`), so it asks `1 / wait(a)` requests a second,
most while it is young. Creates, downloads and retries are not in that estimate; the rate
limiter's queue is: no export is created while requests wait there for their slot. A
ceiling (`concurrent_exports_ceiling`) bounds the jobs one sync keeps on the server however
much budget is left, which long exports (polled seldom) would otherwise leave plenty of.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_sei_time_in_status.export.poll_schedule import PollSchedule
from tap_sei_time_in_status.settings import Settings

#: The share of the budget the estimated polls may take; the rest is for creates, downloads
#: and retries.
BUDGET_SHARE = 0.95


@dataclass(frozen=True)
class Admission:
    """Decides, between windows, whether one more export may be created now."""

    schedule: PollSchedule
    requests_per_minute: float
    #: `max_concurrent_exports`: when set, exactly this many, whatever the budget.
    cap: int | None = None
    #: `concurrent_exports_ceiling`: the most in flight when `cap` is not set.
    ceiling: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> Admission:
        """The admission the user configured."""
        schedule = PollSchedule(settings.poll_interval_seconds, settings.max_poll_interval_seconds)
        return cls(
            schedule=schedule,
            requests_per_minute=settings.max_requests_per_minute,
            cap=settings.max_concurrent_exports,
            ceiling=settings.concurrent_exports_ceiling,
        )

    @property
    def most_in_flight(self) -> int:
        """The most exports that can ever be in flight at once (the threads needed)."""
        return self.cap if self.cap is not None else self.ceiling

    def admits(self, in_flight: int, polling_ages: t.Iterable[float], queued: float) -> bool:
        """Whether to create one more export now.

        `in_flight` counts exports created and not yet handed back, `polling_ages` the ages
        of those still polling, `queued` how long a request asked now would wait for its
        slot in the rate limiter.
        """
        if in_flight >= self.most_in_flight:
            return False
        if self.cap is not None or in_flight == 0:
            return True
        if queued > self.schedule.first_wait:
            return False  # requests already wait for the budget: more exports would add to it
        demand = 1.0 / self.schedule.wait(0.0)  # the new export's polls
        demand += sum(1.0 / self.schedule.wait(age) for age in polling_ages)
        return demand <= BUDGET_SHARE * self.requests_per_minute / 60.0
