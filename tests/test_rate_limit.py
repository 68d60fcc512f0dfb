"""The request budget: bursts pass, a sustained rate is held to the limit."""

from __future__ import annotations

from tap_sei_time_in_status.api.rate_limit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_burst_then_the_sustained_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, 10, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire() for _ in range(10)] == [0.0] * 10
    for _ in range(600):
        limiter.acquire()
    # 600 more requests at 600/min after the burst: about one minute.
    assert 59.0 <= clock.now <= 60.5


def test_tokens_come_back_while_idle() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, 2, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    clock.now += 5  # refills, but never above the burst
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == 0.0
    assert limiter.acquire() > 0
