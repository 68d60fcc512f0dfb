"""When to poll an export: at a steady pace while it is young, then in step with its age.

An export that completes `T` seconds after its creation is seen done by the first poll after
`T`. Waiting `max(poll_interval, age / 4)` between polls puts that poll at most
`max(poll_interval, T / 4)` after `T`, so by `1.25 x T + poll_interval` at any `T`; the cap
(`max_poll_interval_seconds`) can only make it sooner. Past `4 x poll_interval` the waits grow
by 1.25 x per poll, so the polls of a long export grow with the logarithm of its duration
until the cap: with the defaults (1 s, 60 s) a 30-minute export costs 49 polls.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

#: The largest share of an export's age that a poll may come after its completion.
OVERSHOOT = 0.25


@dataclass(frozen=True)
class PollSchedule:
    """The waits between the status polls of one export."""

    first_wait: float
    longest_wait: float

    def wait(self, age: float) -> float:
        """Seconds to wait before the next poll of an export created `age` seconds ago."""
        return min(max(self.first_wait, age * OVERSHOOT), self.longest_wait)

    def poll_ages(self, until: float) -> t.Iterator[float]:
        """The ages at which an export is polled, up to the first poll at or after `until`."""
        age = 0.0
        while age < until:
            age += self.wait(age)
            yield age
