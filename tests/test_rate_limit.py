"""The request budget: at most `per_minute` requests in any minute, bursts included."""

from __future__ import annotations

import random
import threading

from tap_sei_time_in_status.api.rate_limit import MARGIN_SECONDS, RateLimiter
from tap_sei_time_in_status.sandbox.observe import peak_requests


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_no_minute_holds_more_than_the_budget_bursts_included() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, 60, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(2000):  # far more than a minute's worth, asked as fast as possible
        limiter.acquire()
        sent.append(clock.now)
    assert sent[59] == 0.0, "the burst leaves at once"
    assert peak_requests(sent, 60.0) == 600
    # With the margin: any 601 consecutive requests span more than a minute plus it.
    spans = [b - a for a, b in zip(sent, sent[600:], strict=False)]
    assert min(spans) >= 60.0 + MARGIN_SECONDS - 1e-6
    # The budget is still used: 2,000 requests in a little over 3 x 61 s.
    assert sent[-1] <= 3 * (60.0 + MARGIN_SECONDS) + 60.0


def test_concurrent_callers_at_random_times_never_exceed_the_budget() -> None:
    """Callers that arrive in bursts and pauses, many at once: slots keep both bounds."""
    clock = FakeClock()
    limiter = RateLimiter(120, 12, clock=clock, sleep=lambda _: None)
    rng = random.Random(7)
    slots = []
    for _ in range(400):
        clock.now += rng.choice([0.0, 0.0, 0.1, 0.5, 3.0, 20.0])
        slots += [limiter.reserve() for _ in range(rng.choice([1, 1, 2, 5, 30]))]
    assert slots == sorted(slots), "slots are handed out in order"
    assert peak_requests(slots, 60.0) <= 120
    # The bucket smooths as before: any w seconds hold at most the burst plus w x the rate.
    for width in (0.5, 1.0, 5.0, 30.0):
        assert peak_requests(slots, width) <= 12 + width * 2 + 1e-9


def test_slots_from_many_threads_keep_the_budget() -> None:
    limiter = RateLimiter(200, 20, sleep=lambda _: None)
    slots: list[float] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(100):
            slot = limiter.reserve()
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slots) == 800
    assert peak_requests(slots, 60.0) <= 200


def test_tokens_come_back_while_idle() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, 2, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    clock.now += 5  # refills, but never above the burst
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == 0.0
    assert limiter.acquire() > 0


def test_delay_and_use_of_the_last_minute_are_reported() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, 3, clock=clock, sleep=clock.sleep)
    assert (limiter.delay(), limiter.used()) == (0.0, 0)
    for _ in range(3):
        limiter.acquire()
    assert limiter.used() == 3
    assert limiter.delay() == 1.0, "the burst is spent: the next token in a second"
    assert limiter.delay() == 1.0, "asking takes nothing"
    clock.now += 61
    assert (limiter.delay(), limiter.used()) == (0.0, 0)
