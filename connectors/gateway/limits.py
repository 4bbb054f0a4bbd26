"""Rate limits (限流): a token bucket each, refilled at ``rate`` per second up to ``burst``.

Two uses: per agency, for requests with a good key; and per client address, for failed
authentication (no key, an unknown, revoked or expired one), so guessing keys is throttled before
the key is even looked up (`AuthThrottle`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """``limiter.take(name)`` → 0 when the request may go, else the seconds to wait (Retry-After).

    At most ``max_buckets`` are kept: beyond that, full buckets (nothing to remember) are dropped,
    so a flood from many addresses cannot grow memory without bound.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 100_000,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_buckets = max_buckets
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _refilled(self, name: str, now: float) -> _Bucket:
        b = self._buckets.get(name)
        if b is None:
            if len(self._buckets) >= self.max_buckets:
                self._prune(now)
            b = self._buckets[name] = _Bucket(float(self.burst), now)
        b.tokens = min(float(self.burst), b.tokens + (now - b.at) * self.rate)
        b.at = now
        return b

    def _prune(self, now: float) -> None:
        full = [n for n, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for n in full:
            del self._buckets[n]
        if len(self._buckets) >= self.max_buckets:  # all busy: forget the oldest rather than grow
            for n in sorted(self._buckets, key=lambda n: self._buckets[n].at)[: len(self._buckets) // 2]:
                del self._buckets[n]

    def _wait(self, b: _Bucket) -> int:
        # Whole seconds, at least 1: HTTP's Retry-After has no fractions.
        return max(1, math.ceil((1.0 - b.tokens) / self.rate))

    def take(self, name: str) -> int:
        b = self._refilled(name, self._clock())
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0
        return self._wait(b)

    def peek(self, name: str) -> int:
        """As `take`, without taking: 0 when a token is there, else the seconds to wait."""
        if name not in self._buckets:
            return 0
        b = self._refilled(name, self._clock())
        return 0 if b.tokens >= 1.0 else self._wait(b)


class AuthThrottle:
    """Failed authentication per client address: each failure takes a token; an address without
    one is refused (429) before its key is checked, good key or not, until its bucket refills."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limiter = RateLimiter(rate, burst, clock)

    def blocked(self, address: str) -> int:
        """Seconds the address must wait (0: it may try a key)."""
        return self._limiter.peek(address)

    def failed(self, address: str) -> None:
        self._limiter.take(address)
