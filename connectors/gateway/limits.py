"""Rate limits per agency (限流): a token bucket each, refilled at ``rate`` per second up to ``burst``."""

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
    """``limiter.take(agency)`` → 0 when the request may go, else the seconds to wait (Retry-After)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, agency_id: str) -> int:
        now = self._clock()
        b = self._buckets.get(agency_id)
        if b is None:
            b = self._buckets[agency_id] = _Bucket(float(self.burst), now)
        b.tokens = min(float(self.burst), b.tokens + (now - b.at) * self.rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0
        # Whole seconds, at least 1: HTTP's Retry-After has no fractions.
        return max(1, math.ceil((1.0 - b.tokens) / self.rate))
