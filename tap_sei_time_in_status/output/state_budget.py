"""How many STATE bytes a sync may write: linear in the windows it exports, not quadratic.

Every STATE message carries the whole state (each partition's bookmark and in-flight
exports), so one message per window and per created export costs partitions x windows x
partitions bytes: hundreds of megabytes for thousands of teams. A budget that grows by a
fixed amount per event (a window emitted, an export created) lets small syncs write every
message and makes large ones write a message only when the budget allows; the state of the
end of the sync is always written. A skipped message loses nothing: the next one carries
the same facts, and every message written is still taken at a window boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Spent freely: a sync of a few partitions writes every STATE message.
FIXED_BYTES = 64 * 1024
#: Added per window emitted and per export created.
BYTES_PER_EVENT = 1024


@dataclass
class StateBudget:
    """Decides whether the next STATE message may be written."""

    fixed_bytes: int = FIXED_BYTES
    bytes_per_event: int = BYTES_PER_EVENT
    events: int = 0
    written: int = 0
    messages: int = 0
    final: bool = False
    _last_size: int = field(default=0, repr=False)

    def event(self) -> None:
        """A window was emitted or an export created: the state has news worth writing."""
        self.events += 1

    def allows(self) -> bool:
        """True when a message of the size of the last one fits (always, once final)."""
        allowance = self.fixed_bytes + self.bytes_per_event * self.events
        return self.final or self.written + self._last_size <= allowance

    def spent(self, size: int) -> None:
        """A message of `size` bytes was written."""
        self.written += size
        self.messages += 1
        self._last_size = size
