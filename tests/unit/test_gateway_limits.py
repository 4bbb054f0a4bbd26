"""The gateway's per-agency token bucket and its Retry-After."""

from __future__ import annotations

from fengqiao.connectors.gateway.limits import AuthThrottle, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate_with_whole_seconds_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=0.5, burst=3, clock=clock)
    assert [limiter.take("qs-jo-1") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("qs-jo-1") == 2  # one token per 2 s
    clock.now += 1.0
    assert limiter.take("qs-jo-1") == 1  # half a token: 1 s more, never a fraction
    clock.now += 1.0
    assert limiter.take("qs-jo-1") == 0
    # Each agency has its own bucket, and a bucket never holds more than the burst.
    assert limiter.take("qs-ps-1") == 0
    clock.now += 3600
    assert [limiter.take("qs-jo-1") for _ in range(4)] == [0, 0, 0, 2]


def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1000.0, burst=1, clock=clock)
    assert limiter.take("a") == 0
    assert limiter.take("a") == 1


def test_peek_takes_nothing_and_buckets_are_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock, max_buckets=3)
    assert limiter.peek("a") == 0 and limiter.peek("a") == 0
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 1]
    assert limiter.peek("a") == 1
    for name in ("b", "c", "d", "e"):  # many addresses: full buckets are forgotten, not kept
        limiter.take(name)
    assert len(limiter._buckets) <= 3


def test_auth_throttle_counts_only_failures() -> None:
    clock = Clock()
    throttle = AuthThrottle(rate=0.1, burst=2, clock=clock)
    assert throttle.blocked("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    throttle.failed("10.0.0.1")
    assert throttle.blocked("10.0.0.1") == 10 and throttle.blocked("10.0.0.2") == 0
    clock.now += 10
    assert throttle.blocked("10.0.0.1") == 0
